"""Files and folders a run writes under a temporary name, and a killed run leaves behind.

Each is held with `flock` while in use (`claimed`). The kernel drops a dead process's locks,
so the next run can tell a leftover of a killed run (nobody holds it: `clean_stale` removes
it) from one that another live run is still writing (held: kept).
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import shutil
from collections.abc import Iterator
from pathlib import Path


@contextlib.contextmanager
def claimed(path: Path, fd: int | None = None) -> Iterator[None]:
    """Hold an exclusive lock on the file or folder `path` (through `fd` when given)."""
    own = fd is None
    if own:
        fd = os.open(path, os.O_RDONLY)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        if own:
            os.close(fd)  # closing drops the lock


def clean_stale(folder: Path, prefix: str, suffix: str = "") -> None:
    """Remove `folder/<prefix>*<suffix>` files and folders that no live process holds."""
    if not folder.is_dir():
        return
    for leftover in folder.glob(f"{glob_escape(prefix)}*{glob_escape(suffix)}"):
        try:
            fd = os.open(leftover, os.O_RDONLY | os.O_NOFOLLOW)
        except OSError:
            continue  # gone already, a symlink, or not ours to open
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            continue  # a live run holds it
        else:
            if leftover.is_dir():
                shutil.rmtree(leftover, ignore_errors=True)
            else:
                leftover.unlink(missing_ok=True)
        finally:
            os.close(fd)


def glob_escape(text: str) -> str:
    """`text` with glob's special characters made literal."""
    return "".join(f"[{c}]" if c in "*?[" else c for c in text)
