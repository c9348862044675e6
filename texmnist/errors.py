"""The project's error types.

Every message is one line that names the file (or parameter) and the problem,
and says how to fix it where there is a fix. The CLI prints ``str(error)`` and
exits non-zero; tracebacks only with ``--debug``.
"""

from __future__ import annotations

from pathlib import Path


class TexmnistError(Exception):
    """Base class of every error texmnist raises on purpose."""


class ConfigError(TexmnistError, ValueError):
    """A recipe parameter, config name or CLI option is invalid."""


class SourceError(TexmnistError):
    """A source file (IDX, DTD photo, partition list) is missing or malformed."""


class SourceNotFoundError(SourceError):
    """Source data is neither in the given folder nor downloadable."""


class DownloadError(SourceError):
    """Every mirror failed, or a downloaded file failed its checksum."""


class OutputError(TexmnistError):
    """The output folder cannot be written as asked (exists, not ours, locked)."""


class PublishError(TexmnistError):
    """Verification or upload of a dataset folder failed."""


def first_line(e: BaseException) -> str:
    """A foreign exception's message cut to one line (its type when it has no message),
    for wrapping in one of ours: third-party messages often span a traceback's worth."""
    text = str(e)
    return text.splitlines()[0] if text else type(e).__name__


def write_reason(e: OSError, path: Path) -> str:
    """Why writing `path` failed, in words: a file standing where a folder of the path must be
    (mkdir says only "File exists" or "Not a directory"), else the system's reason."""
    for parent in path.parents:
        if parent.exists() or parent.is_symlink():
            if not parent.is_dir():
                return f"{parent} is a file, not a folder"
            break
    return e.strerror or first_line(e)
