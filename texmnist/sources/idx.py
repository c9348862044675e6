"""IDX files (the MNIST on-disk format): read and check one file, gzipped or raw."""

from __future__ import annotations

import gzip
import os
import zlib
from pathlib import Path

import numpy as np

from texmnist.errors import SourceError

IDX_IMAGES_MAGIC = 2051  # 0x00000803: unsigned bytes, 3 dimensions
IDX_LABELS_MAGIC = 2049  # 0x00000801: unsigned bytes, 1 dimension
_IDX_UBYTE = 0x08
_KIND = {IDX_IMAGES_MAGIC: "IDX image file", IDX_LABELS_MAGIC: "IDX label file"}


def _raw_bytes(path: Path) -> bytes:
    try:
        data = path.read_bytes()
    except OSError as e:
        raise SourceError(f"{path}: cannot read ({e.strerror or e})") from e
    if not data:
        raise SourceError(f"{path}: empty file")
    # Detect gzip by content, not name: torchvision keeps both forms, users rename files.
    if data[:2] == b"\x1f\x8b":
        try:
            data = gzip.decompress(data)
        except (OSError, EOFError, zlib.error) as e:
            raise SourceError(f"{path}: truncated or corrupt gzip data ({e})") from e
        if not data:
            raise SourceError(f"{path}: gzip data decompresses to an empty file")
    return data


def read_idx(path: str | os.PathLike[str], expected_magic: int | None = None) -> np.ndarray:
    """Read an unsigned-byte IDX file (optionally gzipped) into a uint8 array.

    Raises SourceError, and nothing else, for any malformed content.
    """
    path = Path(path).absolute()
    data = _raw_bytes(path)
    if len(data) < 4:
        raise SourceError(f"{path}: incomplete IDX header ({len(data)} bytes, need at least 4)")
    magic = int.from_bytes(data[:4], "big")
    if expected_magic is not None and magic != expected_magic:
        kind = _KIND.get(expected_magic, "this IDX file")
        raise SourceError(
            f"{path}: bad magic number {magic} (expected {expected_magic} for an {kind})"
        )
    if data[0] != 0 or data[1] != 0 or data[2] != _IDX_UBYTE or data[3] == 0:
        raise SourceError(
            f"{path}: bad magic number {magic} (not an unsigned-byte IDX file; "
            f"expected {IDX_IMAGES_MAGIC} for images or {IDX_LABELS_MAGIC} for labels)"
        )
    ndim = data[3]
    header = 4 + 4 * ndim
    if len(data) < header:
        raise SourceError(
            f"{path}: incomplete IDX header ({len(data)} bytes, need {header} for {ndim} dims)"
        )
    shape = tuple(int.from_bytes(data[4 + 4 * i : 8 + 4 * i], "big") for i in range(ndim))
    expected = 1
    for dim in shape:
        expected *= dim  # Python ints: no overflow for absurd headers
    payload = len(data) - header
    if payload < expected:
        dims = "×".join(map(str, shape))
        raise SourceError(
            f"{path}: truncated IDX data ({payload} bytes, header promises {dims} = {expected})"
        )
    if payload > expected:
        raise SourceError(
            f"{path}: {payload - expected} unexpected trailing bytes after the IDX data"
        )
    # copy(): frombuffer on bytes is read-only, which surprises callers (torch warns).
    return np.frombuffer(data, dtype=np.uint8, offset=header).reshape(shape).copy()


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
