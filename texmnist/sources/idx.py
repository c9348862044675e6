"""IDX files (the MNIST on-disk format): read and check one file, gzipped or raw.

The file is streamed: the header is checked first, then exactly the payload it promises is
read into its array, so memory stays at the array's size whatever the file holds (a 13 MB
gzip bomb behind a small header costs a few MB, not gigabytes).
"""

from __future__ import annotations

import contextlib
import gzip
import os
import zlib
from pathlib import Path
from typing import BinaryIO

import numpy as np

from texmnist.errors import SourceError

IDX_IMAGES_MAGIC = 2051  # 0x00000803: unsigned bytes, 3 dimensions
IDX_LABELS_MAGIC = 2049  # 0x00000801: unsigned bytes, 1 dimension
_IDX_UBYTE = 0x08
_KIND = {IDX_IMAGES_MAGIC: "IDX image file", IDX_LABELS_MAGIC: "IDX label file"}
# The largest payload read_idx accepts: 20x the full MNIST training images (47 MB) and
# above EMNIST's largest file (0.64 GB), so a forged header cannot ask for more memory.
MAX_IDX_BYTES = 2**30
# Trailing bytes are counted up to this many, then reported as "more than".
_TRAILING_COUNT_LIMIT = 1 << 20
_CHUNK = 1 << 20
_GZIP_ERRORS = (OSError, EOFError, zlib.error)


def _read_exactly(stream: BinaryIO, into: memoryview) -> int:
    """Fill `into` from `stream`; return how many bytes were read (fewer only at the end)."""
    done = 0
    while done < len(into):
        # In chunks: GzipFile.readinto allocates a temporary as large as what it is asked.
        n = stream.readinto(into[done : done + _CHUNK])
        if not n:
            break
        done += n
    return done


def _trailing(stream: BinaryIO) -> int:
    """How many bytes are left in `stream`, counted up to `_TRAILING_COUNT_LIMIT` (+1)."""
    count = 0
    while count <= _TRAILING_COUNT_LIMIT and (chunk := stream.read(_CHUNK)):
        count += len(chunk)
    return count


def _parse(path: Path, stream: BinaryIO, gz: bool, expected_magic: int | None) -> np.ndarray:
    head = stream.read(4)
    if not head:
        raise SourceError(
            f"{path}: gzip data decompresses to an empty file" if gz else f"{path}: empty file"
        )
    if len(head) < 4:
        raise SourceError(f"{path}: incomplete IDX header ({len(head)} bytes, need at least 4)")
    magic = int.from_bytes(head, "big")
    if expected_magic is not None and magic != expected_magic:
        kind = _KIND.get(expected_magic, "this IDX file")
        raise SourceError(
            f"{path}: bad magic number {magic} (expected {expected_magic} for an {kind})"
        )
    if head[0] != 0 or head[1] != 0 or head[2] != _IDX_UBYTE or head[3] == 0:
        raise SourceError(
            f"{path}: bad magic number {magic} (not an unsigned-byte IDX file; "
            f"expected {IDX_IMAGES_MAGIC} for images or {IDX_LABELS_MAGIC} for labels)"
        )
    ndim = head[3]
    dims = stream.read(4 * ndim)
    if len(dims) < 4 * ndim:
        raise SourceError(
            f"{path}: incomplete IDX header ({4 + len(dims)} bytes, "
            f"need {4 + 4 * ndim} for {ndim} dims)"
        )
    shape = tuple(int.from_bytes(dims[4 * i : 4 * i + 4], "big") for i in range(ndim))
    expected = 1
    for dim in shape:
        expected *= dim  # Python ints: no overflow for absurd headers
    shown = "×".join(map(str, shape))
    if expected > MAX_IDX_BYTES:
        raise SourceError(
            f"{path}: IDX header promises {shown} = {expected} bytes, more than the "
            f"{MAX_IDX_BYTES} this reader accepts"
        )
    array = np.empty(expected, dtype=np.uint8)
    got = _read_exactly(stream, memoryview(array))
    if got < expected:
        raise SourceError(
            f"{path}: truncated IDX data ({got} bytes, header promises {shown} = {expected})"
        )
    extra = _trailing(stream)
    if extra > _TRAILING_COUNT_LIMIT:
        raise SourceError(
            f"{path}: more than {_TRAILING_COUNT_LIMIT} unexpected trailing bytes after the "
            "IDX data"
        )
    if extra:
        raise SourceError(f"{path}: {extra} unexpected trailing bytes after the IDX data")
    return array.reshape(shape)


def read_idx(path: str | os.PathLike[str], expected_magic: int | None = None) -> np.ndarray:
    """Read an unsigned-byte IDX file (optionally gzipped) into a uint8 array.

    Raises SourceError, and nothing else, for any malformed content.
    """
    path = Path(path).absolute()
    with contextlib.ExitStack() as stack:
        try:
            raw = stack.enter_context(open(path, "rb"))
            # Detect gzip by content, not name: torchvision keeps both forms, users rename.
            gz = raw.read(2) == b"\x1f\x8b"
            raw.seek(0)
        except OSError as e:
            raise SourceError(f"{path}: cannot read ({e.strerror or e})") from e
        if not gz:
            try:
                return _parse(path, raw, False, expected_magic)
            except OSError as e:
                raise SourceError(f"{path}: cannot read ({e.strerror or e})") from e
        stream = stack.enter_context(gzip.GzipFile(fileobj=raw, mode="rb"))
        try:
            return _parse(path, stream, True, expected_magic)
        except _GZIP_ERRORS as e:
            raise SourceError(f"{path}: truncated or corrupt gzip data ({e})") from e


def idx_bytes(array: np.ndarray) -> bytes:
    """The IDX encoding of a uint8 array: magic 0x0000 08 <ndim>, big-endian dims, data."""
    array = np.ascontiguousarray(array, dtype=np.uint8)
    header = bytes([0, 0, _IDX_UBYTE, array.ndim])
    header += b"".join(int(d).to_bytes(4, "big") for d in array.shape)
    return header + array.tobytes()


def write_idx(path: str | os.PathLike[str], array: np.ndarray, *, gz: bool = True) -> Path:
    """Write ``array`` as an IDX file (magic 2051 for 3-D, 2049 for 1-D); gzip if ``gz``."""
    path = Path(path)
    data = idx_bytes(array)
    if gz:
        data = gzip.compress(data, mtime=0)  # mtime=0: byte-identical output
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path
