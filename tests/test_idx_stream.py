"""The IDX reader streams: the header is checked before the payload is decompressed, and
memory stays at the size of the array the header promises, whatever the file holds."""

from __future__ import annotations

import gzip
import tracemalloc
import zlib
from pathlib import Path

import numpy as np
import pytest

from texmnist.errors import SourceError
from texmnist.sources.idx import IDX_IMAGES_MAGIC, MAX_IDX_BYTES, idx_bytes, read_idx

BOMB = 64 * 2**20  # decompressed bytes behind the header: 64 MB of zeros, 64 kB gzipped


def _gzip_stream(head: bytes, zeros: int) -> bytes:
    """gzip of `head` + `zeros` zero bytes, compressed without building them in memory."""
    z = zlib.compressobj(9, zlib.DEFLATED, 31)
    parts = [z.compress(head)]
    block = bytes(1 << 20)
    for _ in range(zeros // len(block)):
        parts.append(z.compress(block))
    parts.append(z.flush())
    return b"".join(parts)


def _peak_while(fn) -> tuple[BaseException | None, int]:
    tracemalloc.start()
    try:
        fn()
        error = None
    except SourceError as e:
        error = e
    finally:
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
    return error, peak


@pytest.mark.parametrize(
    "head, needle",
    [
        # a valid header for one 28x28 image, then 64 MB more
        (idx_bytes(np.zeros((1, 28, 28), np.uint8)), "more than 1048576 unexpected trailing"),
        # a wrong magic number: refused at the first four bytes
        (b"\x00\x00\x08\x01" + (5).to_bytes(4, "big"), "bad magic number 2049"),
        # not an IDX file at all
        (b"PK\x03\x04", "bad magic number"),
    ],
)
def test_gzip_bomb_is_refused_in_bounded_memory(tmp_path: Path, head: bytes, needle: str):
    path = tmp_path / "train-images-idx3-ubyte.gz"
    path.write_bytes(_gzip_stream(head, BOMB))
    assert path.stat().st_size < 2**20
    error, peak = _peak_while(lambda: read_idx(path, expected_magic=IDX_IMAGES_MAGIC))
    assert error is not None and needle in str(error) and str(path) in str(error)
    assert peak < 8 * 2**20, f"peak {peak} bytes while reading a 64 MB bomb"


def test_a_header_promising_too_much_is_refused_before_reading(tmp_path: Path):
    dims = (70_000, 4000, 4000)  # 1.1 TB promised by a 20-byte file
    head = bytes([0, 0, 8, 3]) + b"".join(d.to_bytes(4, "big") for d in dims)
    path = tmp_path / "big.idx"
    path.write_bytes(gzip.compress(head + bytes(8)))
    error, peak = _peak_while(lambda: read_idx(path))
    assert error is not None and str(error) == (
        f"{path}: IDX header promises 70000×4000×4000 = 1120000000000 bytes, "
        f"more than the {MAX_IDX_BYTES} this reader accepts"
    )
    assert peak < 2**20


def test_the_array_is_the_only_large_allocation(tmp_path: Path):
    images = np.random.default_rng(0).integers(0, 256, (10_000, 28, 28), dtype=np.uint8)
    path = tmp_path / "images.gz"
    path.write_bytes(gzip.compress(idx_bytes(images)))
    tracemalloc.start()
    array = read_idx(path)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    np.testing.assert_array_equal(array, images)
    assert array.flags.writeable
    # one array and a few chunks, not the whole decompressed file beside the array
    assert peak < images.nbytes + 4 * 2**20
