"""The output folder of a build, guarded: the lock, the hidden staging sibling and the swap,
the recovery of what a killed build left, and what of the old folder a build keeps.

A build renders into `.<out>.texmnist-tmp-*` beside `out` and swaps it in with two renames,
under a lock: an interrupted or failed build leaves the previous folder (or nothing), and
two builds into one folder cannot interleave. Only what texmnist wrote is replaced; every
other file, folder and symbolic link of the old folder is carried over as it was.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import os
import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path

from ..errors import OutputError, first_line
from ..sources.claims import glob_escape
from .meta import META_FILE, config_dir, read_metadata
from .verify.rules import CARD_FILE

STAGING_TAG = ".texmnist-tmp-"
BACKUP_TAG = ".texmnist-old-"


def check_out(out: Path, name: str, overwrite: bool) -> dict | None:
    """Refuse an --out we may not write; return its metadata when it is ours."""
    if out.exists() and not out.is_dir():
        raise OutputError(f"{out}: --out names a file, not a folder")
    if not out.exists() or not any(out.iterdir()):
        return None
    meta = read_metadata(out)
    if meta is None:
        raise OutputError(
            f"{out}: folder is not empty and was not made by texmnist (no {META_FILE}); "
            "choose another --out"
        )
    if name in meta["configs"] and not overwrite:
        raise OutputError(
            f"{out}: config {name!r} is already built there; pass --overwrite to rebuild it"
        )
    return meta


@contextlib.contextmanager
def locked(out: Path) -> Iterator[None]:
    """An exclusive lock on `out` held by this process: a sibling lock file, removed on exit.

    The holder removes the file before it lets go, so a process that opened it meanwhile
    finds, once it holds the lock, that the path no longer names the file it locked, and
    tries again. A kill -9 leaves the file; the next build takes it and removes it.
    """
    lock_path = out.parent / f".{out.name}.lock"
    while True:
        try:
            fd = os.open(lock_path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW, 0o644)
        except OSError as e:
            raise OutputError(f"{out}: cannot write beside it in {out.parent} ({why(e)})") from e
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            raise OutputError(f"{out}: another texmnist build is writing this folder") from None
        try:
            current = os.stat(lock_path, follow_symlinks=False).st_ino
        except FileNotFoundError:
            current = None
        if current == os.fstat(fd).st_ino:
            break
        os.close(fd)
    try:
        yield
    finally:
        lock_path.unlink(missing_ok=True)  # still held: nobody else can be using it
        os.close(fd)


def try_locked(out: Path) -> contextlib.AbstractContextManager[bool]:
    """`locked(out)` yielding True, or a no-op yielding False when another build holds it."""
    try:
        lock = locked(out)
        lock.__enter__()
    except OutputError:
        return contextlib.nullcontext(False)

    @contextlib.contextmanager
    def held() -> Iterator[bool]:
        try:
            yield True
        finally:
            lock.__exit__(None, None, None)

    return held()


def recover(out: Path) -> None:
    """Finish or undo a swap that a killed build left half done; drop stale staging."""
    parent = out.parent
    backups = sorted(parent.glob(f".{glob_escape(out.name)}{BACKUP_TAG}*"))
    if backups and not out.exists():
        os.replace(backups[-1], out)  # the kill fell between the two renames
        backups = backups[:-1]
    for stale in [*backups, *parent.glob(f".{glob_escape(out.name)}{STAGING_TAG}*")]:
        shutil.rmtree(stale, ignore_errors=True)


def recover_siblings(out: Path) -> None:
    """`recover` every other folder beside `out` that a killed build left staging or a
    backup for, unless a live build holds its lock (it is still writing them)."""
    names = set()
    for tag in (STAGING_TAG, BACKUP_TAG):
        for leftover in out.parent.glob(f".*{tag}*"):
            names.add(leftover.name[1 : leftover.name.rindex(tag)])
    for name in sorted(names - {out.name}):
        sibling = out.parent / name
        with try_locked(sibling) as ours:
            if ours:
                recover(sibling)


def swap_in(staged: Path, out: Path) -> None:
    """Replace `out` by `staged` with two renames; `recover` repairs a kill between them."""
    if not out.exists():
        os.replace(staged, out)
        return
    backup = out.parent / f".{out.name}{BACKUP_TAG}{uuid.uuid4().hex[:8]}"
    os.replace(out, backup)
    os.replace(staged, out)
    shutil.rmtree(backup, ignore_errors=True)


def written_by_texmnist(meta: dict, names: list[str], write_card: bool) -> set[str]:
    """What a build of `names` replaces in the folder (relative paths): the files texmnist.json
    lists for them, texmnist.json, and the card and their previews when it writes those."""
    replaced = {META_FILE}
    for name in names:
        for split in meta["configs"].get(name, {}).get("splits", {}).values():
            replaced.update(split["files"])
        if write_card:
            replaced.add(f"images/preview-{name}.png")
    if write_card:
        replaced.add(CARD_FILE)
    return replaced


def check_kept(out: Path, names: list[str]) -> None:
    """Refuse what a build cannot keep: a folder it writes into that is a symbolic link (the
    writes would land elsewhere), a Parquet file texmnist.json does not list in a config
    folder it rebuilds (its name could be taken, and the Hub's patterns would pick it up)."""
    meta = read_metadata(out) or {"configs": {}}
    listed = {f for c in meta["configs"].values() for s in c["splits"].values() for f in s["files"]}
    for folder in ["images", *(config_dir(n) for n in names)]:
        path = out / folder
        if path.is_symlink():
            raise OutputError(
                f"{path}: a symbolic link where the build writes {folder}/; "
                "replace it by a folder or choose another --out"
            )
        if folder == "images" or not path.is_dir():
            continue
        for shard in sorted(path.glob("*.parquet")):
            if f"{folder}/{shard.name}" not in listed:
                raise OutputError(
                    f"{shard}: not written by texmnist (not in {META_FILE}), in the config "
                    f"folder this build rewrites; move it elsewhere"
                )


def copy_tree_kept(src: Path, dst: Path, drop: set[str]) -> None:
    """Copy `src` into `dst` but the relative paths in `drop` (what the build replaces).

    Symbolic links are copied as links, dangling and directory ones too (never followed: the
    folder is untrusted). Parquet files are hard-linked (cheap: nothing edits them); every
    other file is copied: the build rewrites README.md, texmnist.json and previews in
    place, and through a hard link that would edit the live folder before the swap.
    """
    for dirpath, dirnames, filenames in os.walk(src):
        here = Path(dirpath)
        rel_dir = here.relative_to(src)
        (dst / rel_dir).mkdir(exist_ok=True)
        for name in sorted([*dirnames, *filenames]):
            path, rel = here / name, rel_dir / name
            if rel.as_posix() in drop:
                continue
            target = dst / rel
            if path.is_symlink():
                os.symlink(os.readlink(path), target)
            elif name in dirnames:
                continue  # os.walk goes into it next
            elif not path.is_file():
                raise OutputError(f"{path}: not a file, folder or link; move it elsewhere")
            elif path.suffix == ".parquet":
                try:
                    os.link(path, target)
                except OSError:
                    shutil.copy2(path, target)
            else:
                shutil.copy2(path, target)


def resolve_out(out: str | os.PathLike[str]) -> Path:
    """`--out` made absolute. A symbolic link is followed: the build replaces the folder it
    points to (staging and swap happen beside that folder), and the link stays as it is."""
    out = Path(out).absolute()
    return out.resolve() if out.is_symlink() else out


# Operating-system faults of writing the output: one line naming the path, not a traceback.
_WRITE_FAULTS = {errno.ENOSPC, errno.EDQUOT, errno.EROFS, errno.EACCES, errno.EPERM,
                 errno.ENOTDIR, errno.EEXIST, errno.EISDIR, errno.ENAMETOOLONG}  # fmt: skip


def why(e: OSError) -> str:
    return e.strerror or first_line(e)


def write_fault(error: BaseException, out: Path) -> OutputError | None:
    """The one-line error for a write fault behind `error` (datasets wraps them), or None.

    Faults inside the hidden staging folder are reported against `out` itself.
    """
    seen = set()
    while error is not None and id(error) not in seen:
        seen.add(id(error))
        if isinstance(error, OSError) and error.errno in _WRITE_FAULTS:
            name = str(error.filename or "")
            if not name or name.startswith(str(out.parent / f".{out.name}")):
                return OutputError(f"{out}: cannot write the dataset ({why(error)})")
            return OutputError(f"{name}: cannot write ({why(error)}); check --out")
        error = error.__cause__ or error.__context__
    return None
