"""Pure NumPy image core: foreground masks, compositing, exact resizing, placement.

No I/O, no PIL, no per-pixel Python loops; every function works on a whole batch.
All arithmetic is exact (integer, or float64 on integers small enough to be exact),
so every result is bit-identical on every machine.
"""

from __future__ import annotations

import functools
import math

import numpy as np

from texmnist.errors import ConfigError

POSITIONS = ("center", "corner", "random")

# Resize weights are integers summing to exactly 2**WEIGHT_BITS per output pixel.
WEIGHT_BITS = 14
_ONE = 1 << WEIGHT_BITS


def foreground_mask(digits: np.ndarray, threshold: float = 0.1) -> np.ndarray:
    """Boolean mask ``digits / 255 > threshold`` (any leading shape)."""
    threshold = check_threshold(threshold)
    digits = np.asarray(digits)
    if digits.dtype != np.uint8:
        raise ValueError(f"digits: expected dtype uint8, got {digits.dtype}")
    # A lookup table evaluates the float comparison once per byte value, so the
    # mask cannot depend on how a machine vectorises the division.
    table = np.arange(256) / 255.0 > threshold
    return table[digits]


def check_threshold(threshold: float) -> float:
    if isinstance(threshold, (bool, np.bool_)) or not isinstance(
        threshold, (int, float, np.integer, np.floating)
    ):
        raise ConfigError(f"threshold: expected a number, got {threshold!r}")
    value = float(threshold)
    if not math.isfinite(value):
        raise ConfigError(f"threshold: expected a number, got {threshold!r}")
    if not 0.0 <= value < 1.0:
        raise ConfigError(f"threshold: must be in [0, 1), got {threshold!r}")
    return value


def composite(digits: np.ndarray, textures: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """Digit bytes where ``mask``, texture bytes elsewhere.

    digits [n,H,W] uint8, mask [n,H,W] bool, textures [n,H,W] or [n,H,W,3] uint8
    (for RGB the digit's gray value goes to all three channels).
    """
    digits, textures, mask = np.asarray(digits), np.asarray(textures), np.asarray(mask)
    _check_dtype("digits", digits, np.uint8)
    _check_dtype("textures", textures, np.uint8)
    _check_dtype("mask", mask, np.bool_)
    if digits.ndim != 3:
        raise ValueError(f"digits: expected shape [n,H,W], got {digits.shape}")
    if mask.shape != digits.shape:
        raise ValueError(f"mask: shape {mask.shape} differs from digits shape {digits.shape}")
    if textures.shape == digits.shape:
        return np.where(mask, digits, textures)
    if textures.shape == (*digits.shape, 3):
        return np.where(mask[..., None], digits[..., None], textures)
    raise ValueError(
        f"textures: expected shape {digits.shape} or {(*digits.shape, 3)}, got {textures.shape}"
    )


def _check_dtype(name: str, array: np.ndarray, dtype: type) -> None:
    if array.dtype != dtype:
        raise ValueError(f"{name}: expected dtype {np.dtype(dtype)}, got {array.dtype}")


# --------------------------------------------------------------------------- resize


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
    _check_dtype("images", images, np.uint8)
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


# ------------------------------------------------------------------------ placement


def placement_boxes(
    n: int,
    scale: np.ndarray | int,
    canvas: int,
    position: str,
    rng: np.random.Generator | None = None,
) -> np.ndarray:
    """Boxes (x0, y0, x1, y1) int32 [n,4] of side ``scale`` on a ``canvas`` square.

    "center": offsets (canvas - s) // 2; "corner": top-right (x0 = canvas - s,
    y0 = 0); "random": x0 then y0 drawn uniformly from 0..canvas - s inclusive
    (all n x0 values first, then all n y0 values, from ``rng``).
    """
    if position not in POSITIONS:
        raise ConfigError(f"position: unknown value {position!r} (expected one of {POSITIONS})")
    if isinstance(canvas, bool) or not isinstance(canvas, (int, np.integer)) or canvas < 1:
        raise ConfigError(f"canvas: expected a positive int, got {canvas!r}")
    sides = np.broadcast_to(np.asarray(scale), (n,)).astype(np.int64)
    if not np.issubdtype(np.asarray(scale).dtype, np.integer):
        raise ConfigError(f"scale: expected integers, got dtype {np.asarray(scale).dtype}")
    if n and (sides.min() < 1 or sides.max() > canvas):
        raise ConfigError(
            f"scale: every side must be in 1..{canvas}, got {sides.min()}..{sides.max()}"
        )
    span = canvas - sides
    if position == "center":
        x0 = y0 = span // 2
    elif position == "corner":
        x0, y0 = span, np.zeros(n, dtype=np.int64)
    else:
        if rng is None:
            raise ConfigError("rng: position 'random' needs a numpy Generator")
        x0 = rng.integers(0, span + 1, size=n) if n else span
        y0 = rng.integers(0, span + 1, size=n) if n else span
    boxes = np.stack([x0, y0, x0 + sides, y0 + sides], axis=1)
    return boxes.astype(np.int32)


def place(digits: np.ndarray, boxes: np.ndarray, canvas: int) -> np.ndarray:
    """Zero canvases [n,canvas,canvas] with digit i pasted at boxes[i] (all sides s)."""
    digits, boxes = np.asarray(digits), np.asarray(boxes)
    _check_dtype("digits", digits, np.uint8)
    if digits.ndim != 3 or digits.shape[1] != digits.shape[2]:
        raise ValueError(f"digits: expected shape [n,s,s], got {digits.shape}")
    n, side = digits.shape[:2]
    if boxes.shape != (n, 4) or not np.issubdtype(boxes.dtype, np.integer):
        raise ValueError(f"boxes: expected integer shape ({n}, 4), got {boxes.dtype} {boxes.shape}")
    boxes = boxes.astype(np.int64)
    x0, y0, x1, y1 = boxes.T
    if np.any(x1 - x0 != side) or np.any(y1 - y0 != side):
        raise ValueError(f"boxes: every box must be {side}x{side} to match the digits")
    if n and (boxes[:, :2].min() < 0 or boxes[:, 2:].max() > canvas):
        raise ValueError(f"boxes: every box must lie inside the {canvas}x{canvas} canvas")
    out = np.zeros((n, canvas, canvas), dtype=np.uint8)
    offsets = np.arange(side)
    rows = (y0[:, None] + offsets)[:, :, None]  # [n, s, 1]
    cols = (x0[:, None] + offsets)[:, None, :]  # [n, 1, s]
    out[np.arange(n)[:, None, None], rows, cols] = digits
    return out
