"""Writing IDX files (the MNIST format; `texmnist.sources.read_idx` reads them).

Used to write subsets of a digit source as a source of their own, e.g. the real MNIST test
set split into disjoint train and test files for honest measurements.
"""

from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np


def idx_bytes(array: np.ndarray) -> bytes:
    """The IDX encoding of a uint8 array: magic 0x0000 08 <ndim>, big-endian dims, data."""
    array = np.ascontiguousarray(array, dtype=np.uint8)
    header = bytes([0, 0, 0x08, array.ndim])
    header += b"".join(int(d).to_bytes(4, "big") for d in array.shape)
    return header + array.tobytes()


def write_idx(path: str | Path, array: np.ndarray, *, gz: bool) -> Path:
    """Write ``array`` as an IDX file (magic 2051 for 3-D, 2049 for 1-D); gzip if ``gz``."""
    path = Path(path)
    data = idx_bytes(array)
    if gz:
        data = gzip.compress(data, mtime=0)  # mtime=0: byte-identical output
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path
