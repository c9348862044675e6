"""Minimal fast PNG writer for small images (no PIL in the hot path).

Each file is: signature, IHDR, one IDAT (zlib stream), IEND. The signature+IHDR
prefix and IEND are precomputed per shape, so the work per image is one
``zlib.compress`` and one CRC. For 28x28 images PIL's per-call overhead would
dominate (~80 us/image through PIL vs ~30 us here).

Measured on 10,000 real composites (MNIST t10k digits over DTD photos resized
to 28x28; one core; microseconds per image and mean IDAT bytes):

    kind  filter  level=1        level=6        level=9
    gray  none    32.9 / 728.3   32.4 / 726.0   32.0 / 726.0
    gray  sub     33.8 / 712.3   32.9 / 710.2   33.5 / 710.2
    gray  up      31.4 / 711.3   33.2 / 709.0   34.4 / 708.8
    rgb   none    51.0 / 1910.5  57.6 / 1898.3  57.7 / 1898.1
    rgb   sub     61.4 / 1866.9  73.1 / 1855.9  80.1 / 1855.6
    rgb   up      56.1 / 1850.9  66.8 / 1837.5  71.9 / 1836.7
    mask  none     6.1 / 66.9     7.9 / 62.2     8.1 / 62.1
    mask  up       6.8 / 77.1     8.7 / 71.6     8.4 / 71.6

So: "up" (computed for the whole batch at once) for gray and RGB, no filter
for 1-bit masks, zlib level 6. The level barely matters at this size (the
rows are ~800 bytes); 6 is zlib's default and the smallest here at no
measurable cost for gray.

Determinism: decoded pixels are always exact. The PNG *bytes* are a function
of the zlib implementation: identical for every stock zlib 1.2.x/1.3.x at a
given level (deflate has not changed), but forks such as zlib-ng would
produce different (equally valid) streams.
"""

from __future__ import annotations

import functools
import struct
import zlib

import numpy as np

DEFAULT_LEVEL = 6

FILTER_NONE = 0
FILTER_UP = 2

_SIGNATURE = b"\x89PNG\r\n\x1a\n"
_IDAT_CRC = zlib.crc32(b"IDAT")
_COLOR_GRAY = 0
_COLOR_RGB = 2


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


_IEND = _chunk(b"IEND", b"")


@functools.lru_cache(maxsize=256)
def _prefix(width: int, height: int, bit_depth: int, color_type: int) -> bytes:
    """Signature plus IHDR for one image shape."""
    # compression 0 (deflate), filter method 0, no interlace
    ihdr = struct.pack(">IIBBBBB", width, height, bit_depth, color_type, 0, 0, 0)
    return _SIGNATURE + _chunk(b"IHDR", ihdr)


def _png(prefix: bytes, scanlines: np.ndarray, level: int) -> bytes:
    data = zlib.compress(memoryview(np.ascontiguousarray(scanlines)).cast("B"), level)
    return b"".join(
        (
            prefix,
            struct.pack(">I", len(data)),
            b"IDAT",
            data,
            struct.pack(">I", zlib.crc32(data, _IDAT_CRC)),
            _IEND,
        )
    )


def _scanlines(rows: np.ndarray, filter_type: int) -> np.ndarray:
    """Filtered scanlines [n, H, 1 + rowbytes] for a batch of raw rows [n, H, rowbytes]."""
    n, height, rowbytes = rows.shape
    out = np.empty((n, height, rowbytes + 1), dtype=np.uint8)
    out[:, :, 0] = filter_type
    if filter_type == FILTER_UP:
        # Up: byte minus the byte above (mod 256); the first row's "above" is zero.
        out[:, :1, 1:] = rows[:, :1]
        np.subtract(rows[:, 1:], rows[:, :-1], out=out[:, 1:, 1:])
    else:
        out[:, :, 1:] = rows
    return out


def _check(images: np.ndarray, dtype: type, ndim: int, what: str) -> np.ndarray:
    images = np.asarray(images)
    if images.dtype != dtype or images.ndim != ndim:
        raise ValueError(f"{what}: got dtype {images.dtype} and shape {images.shape}")
    if images.ndim >= 3 and (images.shape[1] == 0 or images.shape[2] == 0):
        raise ValueError(f"{what}: PNG images need at least 1x1 pixels, got {images.shape}")
    return images


def encode_gray_batch(images: np.ndarray, level: int = DEFAULT_LEVEL) -> list[bytes]:
    """PNGs (8-bit grayscale, mode 'L') of uint8 [n, H, W]."""
    images = _check(images, np.uint8, 3, "gray images: expected uint8 [n,H,W]")
    n, height, width = images.shape
    prefix = _prefix(width, height, 8, _COLOR_GRAY)
    lines = _scanlines(images, FILTER_UP)
    return [_png(prefix, lines[i], level) for i in range(n)]


def encode_rgb_batch(images: np.ndarray, level: int = DEFAULT_LEVEL) -> list[bytes]:
    """PNGs (8-bit RGB, mode 'RGB') of uint8 [n, H, W, 3]."""
    images = _check(images, np.uint8, 4, "rgb images: expected uint8 [n,H,W,3]")
    n, height, width, channels = images.shape
    if channels != 3:
        raise ValueError(f"rgb images: expected uint8 [n,H,W,3], got shape {images.shape}")
    prefix = _prefix(width, height, 8, _COLOR_RGB)
    lines = _scanlines(images.reshape(n, height, width * 3), FILTER_UP)
    return [_png(prefix, lines[i], level) for i in range(n)]


def encode_mask_batch(masks: np.ndarray, level: int = DEFAULT_LEVEL) -> list[bytes]:
    """PNGs (1-bit grayscale, mode '1') of bool [n, H, W]; True is white."""
    masks = _check(masks, np.bool_, 3, "masks: expected bool [n,H,W]")
    n, height, width = masks.shape
    prefix = _prefix(width, height, 1, _COLOR_GRAY)
    # packbits pads each row's last byte with zero bits, as PNG requires.
    lines = _scanlines(np.packbits(masks, axis=-1), FILTER_NONE)
    return [_png(prefix, lines[i], level) for i in range(n)]


def encode_gray(img: np.ndarray, level: int = DEFAULT_LEVEL) -> bytes:
    """PNG of one uint8 [H, W] image (mode 'L')."""
    img = _check(img, np.uint8, 2, "gray image: expected uint8 [H,W]")
    return encode_gray_batch(img[None], level)[0]


def encode_rgb(img: np.ndarray, level: int = DEFAULT_LEVEL) -> bytes:
    """PNG of one uint8 [H, W, 3] image (mode 'RGB')."""
    img = _check(img, np.uint8, 3, "rgb image: expected uint8 [H,W,3]")
    return encode_rgb_batch(img[None], level)[0]


def encode_mask(mask: np.ndarray, level: int = DEFAULT_LEVEL) -> bytes:
    """PNG of one bool [H, W] mask (1-bit, mode '1')."""
    mask = _check(mask, np.bool_, 2, "mask: expected bool [H,W]")
    return encode_mask_batch(mask[None], level)[0]


def encode_batch(images: np.ndarray, level: int = DEFAULT_LEVEL) -> list[bytes]:
    """PNGs of a batch: bool [n,H,W] masks, uint8 [n,H,W] gray, uint8 [n,H,W,3] RGB."""
    images = np.asarray(images)
    if images.dtype == np.bool_ and images.ndim == 3:
        return encode_mask_batch(images, level)
    if images.dtype == np.uint8 and images.ndim == 3:
        return encode_gray_batch(images, level)
    if images.dtype == np.uint8 and images.ndim == 4:
        return encode_rgb_batch(images, level)
    raise ValueError(
        "images: expected bool [n,H,W], uint8 [n,H,W] or uint8 [n,H,W,3], "
        f"got dtype {images.dtype} and shape {images.shape}"
    )
