"""Pure NumPy image core: foreground masks, compositing, exact resizing, placement.

No I/O, no PIL, no per-pixel Python loops; every function works on a whole batch.
All arithmetic is exact (integer, or float64 on integers small enough to be exact),
so every result is bit-identical on every machine.
"""

from __future__ import annotations

import math

import numpy as np

from ..errors import ConfigError
from ..sources.resize import check_dtype

POSITIONS = ("center", "corner", "random")


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
    check_dtype("digits", digits, np.uint8)
    check_dtype("textures", textures, np.uint8)
    check_dtype("mask", mask, np.bool_)
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
    check_dtype("digits", digits, np.uint8)
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
