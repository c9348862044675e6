"""Exact antialiased resizing of uint8 image batches (pure NumPy).

One resize serves the whole pipeline: texture photos become banks and crops
(`texmnist.sources.photos`), digits are scaled onto their canvas
(`texmnist.generate.render`). Integer weights make every result bit-identical on
every machine and BLAS.
"""

from __future__ import annotations

import functools
import math

import numpy as np

# Resize weights are integers summing to exactly 2**WEIGHT_BITS per output pixel.
WEIGHT_BITS = 14
_ONE = 1 << WEIGHT_BITS


def check_dtype(name: str, array: np.ndarray, dtype: type) -> None:
    """Refuse an array of another dtype, naming it (silent casts would change pixels)."""
    if array.dtype != dtype:
        raise ValueError(f"{name}: expected dtype {np.dtype(dtype)}, got {array.dtype}")


def resize_batch(images: np.ndarray, size: int | tuple[int, int]) -> np.ndarray:
    """Antialiased bilinear resize of uint8 [n,h,w] or [n,h,w,3] to ``size``.

    ``size`` is an int (square) or (height, width). The filter is PIL's
    antialiased BILINEAR (triangle whose support widens by the downscale
    factor); weights are integers summing to 2**14, so each output is
    ``round_half_up(sum(w_y * w_x * pixel) / 2**28)`` computed exactly: the
    products and every partial sum are integers below 2**53, so the float64
    matrix products below are exact whatever order BLAS sums in.
    """
    images = np.asarray(images)
    check_dtype("images", images, np.uint8)
    if images.ndim not in (3, 4) or (images.ndim == 4 and images.shape[-1] != 3):
        raise ValueError(f"images: expected shape [n,h,w] or [n,h,w,3], got {images.shape}")
    out_h, out_w = _parse_size(size)
    n, in_h, in_w = images.shape[:3]
    if (out_h, out_w) == (in_h, in_w):
        return images.copy()
    if in_h == 0 or in_w == 0:
        raise ValueError(f"images: cannot resize empty images of shape {images.shape}")
    wy = _weights(in_h, out_h)  # [out_h, in_h], float64 holding integers
    wx = _weights(in_w, out_w)  # [out_w, in_w]
    # RGB: channels become batch entries [n, 3, h, w] so both passes are plain matmuls.
    planes = images if images.ndim == 3 else images.transpose(0, 3, 1, 2)
    x = np.matmul(planes.astype(np.float64, order="C"), wx.T)  # [..., in_h, out_w]
    x = np.matmul(wy, x)  # [..., out_h, out_w]
    if images.ndim == 4:
        x = x.transpose(0, 2, 3, 1)
    total = x.astype(np.int64)
    shift = 2 * WEIGHT_BITS
    out = (total + (1 << (shift - 1))) >> shift  # round half up
    return np.clip(out, 0, 255).astype(np.uint8)


def _parse_size(size: int | tuple[int, int]) -> tuple[int, int]:
    if isinstance(size, (int, np.integer)) and not isinstance(size, bool):
        pair = (int(size), int(size))
    elif isinstance(size, tuple) and len(size) == 2:
        pair = (int(size[0]), int(size[1]))
    else:
        raise ValueError(f"size: expected an int or (height, width), got {size!r}")
    if min(pair) < 1:
        raise ValueError(f"size: must be positive, got {size!r}")
    return pair


@functools.lru_cache(maxsize=4096)
def _weights(src: int, dst: int) -> np.ndarray:
    """Integer weight matrix [dst, src] (as float64), each row summing to 2**14.

    Mirrors PIL's precompute_coeffs for the bilinear filter. Elementwise float64
    operations are IEEE-exact, so vectorising them changes no bit; each row's
    total is `math.fsum` (exactly rounded, independent of summation order), so
    the matrix is identical everywhere.
    """
    scale = src / dst
    filterscale = max(scale, 1.0)
    support = filterscale  # bilinear support is 1.0, widened when reducing
    centers = (np.arange(dst) + 0.5) * scale
    xmin = np.maximum((centers - support + 0.5).astype(np.int64), 0)
    xmax = np.minimum((centers + support + 0.5).astype(np.int64), src)
    width = int((xmax - xmin).max())
    x = xmin[:, None] + np.arange(width)[None, :]  # [dst, width] source pixels
    valid = x < xmax[:, None]
    raw = np.where(valid, 1.0 - np.abs((x - centers[:, None] + 0.5) / filterscale), 0.0)
    raw = np.maximum(raw, 0.0)  # the triangle is zero beyond |x| >= 1
    # Padding entries are 0.0 and leave fsum unchanged; a row total is never 0 for
    # src, dst >= 1 (the centre pixel always has a positive weight).
    totals = np.array([math.fsum(row) for row in raw.tolist()])
    if not np.all(totals > 0.0):
        raise ValueError(f"resize weights: an empty filter row for {src} -> {dst} px")
    quantised = np.floor(raw / totals[:, None] * _ONE + 0.5).astype(np.int64)
    # Give the rounding residue to the largest weight so rows sum to 2**14
    # exactly: then constant images stay exactly constant.
    rows = np.arange(dst)
    quantised[rows, np.argmax(quantised, axis=1)] += _ONE - quantised.sum(axis=1)
    matrix = np.zeros((dst, src + 1), dtype=np.int64)  # padding lands in the extra column
    np.put_along_axis(matrix, np.where(valid, x, src), quantised, axis=1)
    matrix = matrix[:, :src]
    result = matrix.astype(np.float64)
    result.setflags(write=False)
    return result
