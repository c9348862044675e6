"""Generic, verified downloads and safe archive extraction.

Knows nothing about MNIST or DTD: callers describe each file as a
:class:`Remote` (name, mirrors, sha256, size) and get back a verified path.
"""

from __future__ import annotations

import gzip
import hashlib
import os
import shutil
import tarfile
import tempfile
import urllib.error
import urllib.request
import zlib
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from tqdm.auto import tqdm

from texmnist.errors import DownloadError, SourceError

from .claims import claimed, clean_stale

TIMEOUT_S = 30
# tarfile's "data" filter (3.10.12+, 3.11.4+) adds a second line of defence and sane modes;
# our own member checks below suffice where it is missing.
_DATA_FILTER = {"filter": "data"} if hasattr(tarfile, "data_filter") else {}
_CHUNK = 1 << 20
PART_SUFFIX = ".part"
# `huggingface_hub` and `datasets` turn their own downloads off with these; a user who set
# either expects no network from texmnist either.
OFFLINE_VARIABLES = ("HF_HUB_OFFLINE", "HF_DATASETS_OFFLINE")
_TRUE = {"1", "ON", "YES", "TRUE"}
# The extraction cap, as a multiple of the archive's own size: the DTD archive (JPEGs)
# extracts to about its own size, a tar bomb to thousands of times it.
EXTRACT_RATIO_CAP = 4


@dataclass(frozen=True)
class Remote:
    """One downloadable file: where to get it and what it must hash to."""

    filename: str
    urls: tuple[str, ...]
    sha256: str
    size: int


def default_cache_dir() -> Path:
    """The texmnist folder inside the ``datasets`` downloads cache."""
    import datasets.config  # lazy: importing datasets is slow

    return Path(datasets.config.DOWNLOADED_DATASETS_PATH) / "texmnist"


def downloads_off(download: bool = True) -> str | None:
    """Why downloads are off (the option or the variable that turned them off), or None."""
    if not download:
        return "--no-download"
    for name in OFFLINE_VARIABLES:
        if os.environ.get(name, "").strip().upper() in _TRUE:
            return f"{name}={os.environ[name].strip()}"
    return None


def _sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def verify_file(path: str | os.PathLike[str], remote: Remote) -> str | None:
    """Return None if ``path`` has the size and sha256 of ``remote``, else why not."""
    path = Path(path)
    try:
        size = path.stat().st_size
        if size != remote.size:
            return f"size {size} bytes, expected {remote.size}"
        digest = _sha256_of(path)
    except OSError as e:
        return f"cannot read ({e.strerror or e})"
    if digest != remote.sha256.lower():
        return f"sha256 {digest[:12]}… does not match expected {remote.sha256[:12]}…"
    return None


def _one_line(text: object) -> str:
    return " ".join(str(text).split())


def _reason(error: BaseException) -> str:
    if isinstance(error, urllib.error.HTTPError):
        return f"HTTP {error.code} {_one_line(error.reason)}"
    if isinstance(error, urllib.error.URLError):
        return _one_line(error.reason)
    if isinstance(error, TimeoutError):
        return f"timed out after {TIMEOUT_S} s"
    if isinstance(error, OSError) and error.strerror:
        return _one_line(error.strerror)
    return _one_line(error) or type(error).__name__


def _fetch(url: str, remote: Remote, tmp: Path, progress: bool) -> str | None:
    """Stream ``url`` into ``tmp``, hashing as we go; return None or why it failed."""
    digest = hashlib.sha256()
    received = 0
    with (
        urllib.request.urlopen(url, timeout=TIMEOUT_S) as response,
        open(tmp, "wb") as out,
        tqdm(
            total=remote.size,
            unit="B",
            unit_scale=True,
            unit_divisor=1024,
            desc=remote.filename,
            disable=not progress,
            leave=False,
        ) as bar,
    ):
        while chunk := response.read(_CHUNK):
            received += len(chunk)
            # A wrong file can be huge (an HTML error page is not, a wrong archive may be).
            if received > remote.size:
                return f"more than the expected {remote.size} bytes"
            digest.update(chunk)
            out.write(chunk)
            bar.update(len(chunk))
    if received != remote.size:
        return f"got {received} bytes, expected {remote.size}"
    if digest.hexdigest() != remote.sha256.lower():
        return f"sha256 mismatch (got {digest.hexdigest()[:12]}…)"
    return None


def download(
    remote: Remote,
    dest_dir: str | os.PathLike[str],
    *,
    progress: bool = True,
    hint: str = "",
) -> Path:
    """Return ``dest_dir/remote.filename``, downloading it from the first good mirror.

    An existing file that verifies is reused. The file only appears under its
    final name once complete and verified (temp file + ``os.replace``).
    """
    dest_dir = Path(dest_dir).absolute()
    target = dest_dir / remote.filename
    if target.is_file() and verify_file(target, remote) is None:
        return target
    try:
        dest_dir.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise DownloadError(
            f"could not download {remote.filename}: cannot create {dest_dir} ({_reason(e)})"
        ) from e
    clean_stale(dest_dir, f".{remote.filename}.", PART_SUFFIX)
    failures: list[str] = []
    for url in remote.urls:
        fd, name = tempfile.mkstemp(prefix=f".{remote.filename}.", suffix=PART_SUFFIX, dir=dest_dir)
        tmp = Path(name)
        try:
            try:
                with claimed(tmp, fd):
                    problem = _fetch(url, remote, tmp, progress)
            except (OSError, urllib.error.URLError, ValueError) as e:
                # ValueError: a malformed URL; OSError covers timeouts and HTTP errors.
                problem = _reason(e)
            if problem is None:
                os.replace(tmp, target)
                return target
            failures.append(f"{url}: {problem}")
        finally:
            os.close(fd)
            tmp.unlink(missing_ok=True)
    detail = "; ".join(failures) if failures else "no mirror configured"
    message = f"could not download {remote.filename}: {detail}"
    if hint:
        message += f"; {hint}"
    raise DownloadError(message)


def _check_member(archive: Path, member: tarfile.TarInfo) -> None:
    """Refuse members that could write outside the target or create special files."""
    name = member.name
    path = PurePosixPath(name)
    problem = None
    if path.is_absolute() or name.startswith(("\\", "/")) or (len(name) > 1 and name[1] == ":"):
        problem = "has an absolute path"
    elif ".." in path.parts or ".." in name.split("\\"):
        problem = "has a '..' path component"
    elif member.issym():
        problem = "is a symbolic link"
    elif member.islnk():
        problem = "is a hard link"
    elif member.isdev():
        problem = "is a device or fifo"
    elif not (member.isfile() or member.isdir()):
        problem = "is not a regular file or folder"
    if problem:
        raise SourceError(f"{archive}: refusing to extract member '{name}': it {problem}")


def safe_extract_tar(
    archive: str | os.PathLike[str],
    dest: str | os.PathLike[str],
    *,
    max_bytes: int | None = None,
) -> Path:
    """Extract ``archive`` into the new folder ``dest``, all or nothing.

    Members are extracted into a hidden sibling folder which is renamed to
    ``dest`` only once every member is in place; such a folder left by a killed run is
    removed by the next. Extraction stops once the members add up to more than
    ``max_bytes`` (default: `EXTRACT_RATIO_CAP` times the archive's size).
    """
    archive = Path(archive).absolute()
    dest = Path(dest).absolute()
    if dest.exists():
        raise SourceError(f"{dest}: cannot extract {archive} here: the folder already exists")
    dest.parent.mkdir(parents=True, exist_ok=True)
    clean_stale(dest.parent, f".{dest.name}.", PART_SUFFIX)
    tmp = Path(tempfile.mkdtemp(prefix=f".{dest.name}.", suffix=PART_SUFFIX, dir=dest.parent))
    try:
        if max_bytes is None:
            max_bytes = EXTRACT_RATIO_CAP * archive.stat().st_size
        with claimed(tmp), tarfile.open(archive, "r:*") as tar:
            total = 0
            # One pass: check each member just before extracting it, so a
            # 600 MB archive is decompressed once.
            for member in tar:
                _check_member(archive, member)
                total += member.size
                if total > max_bytes:
                    raise SourceError(
                        f"{archive}: refusing to extract member '{member.name}': the members "
                        f"add up to more than {max_bytes} bytes, far more than the archive "
                        "should hold; delete it and retry"
                    )
                tar.extract(member, tmp, **_DATA_FILTER)
        os.rename(tmp, dest)
    except SourceError:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    except (tarfile.TarError, EOFError, zlib.error, OSError) as e:
        shutil.rmtree(tmp, ignore_errors=True)
        corrupt = not isinstance(e, OSError) or isinstance(e, gzip.BadGzipFile)
        kind = "corrupt or truncated archive" if corrupt else "cannot extract"
        raise SourceError(f"{archive}: {kind} ({_one_line(e) or type(e).__name__})") from e
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return dest
