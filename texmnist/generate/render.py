"""Turn rows of a split plan into pixels: pure NumPy over a batch.

`render(plan, digits, textures, config)` returns the composited images and the
foreground masks of every row of `plan`. Texture pixels come from a callable so
the same code serves whole-photo banks and crops.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from ..sources.resize import resize_batch
from .composite import composite, foreground_mask, place
from .config import TexturedMNISTConfig
from .recipe import BACKGROUND_ONLY, PLAIN, SplitPlan

TextureFn = Callable[[SplitPlan], np.ndarray]


def place_digits(plan: SplitPlan, digits: np.ndarray, canvas: int) -> np.ndarray:
    """The plan's digits resized to their scale and pasted on a black canvas."""
    picked = digits[plan.mnist_index]
    if canvas == picked.shape[1] and np.all(plan.scale == canvas):
        return picked  # the author's recipe: the MNIST bytes, untouched
    out = np.zeros((len(plan), canvas, canvas), dtype=np.uint8)
    for s in np.unique(plan.scale):
        sel = plan.scale == s
        out[sel] = place(resize_batch(picked[sel], int(s)), plan.box[sel], canvas)
    return out


def render(
    plan: SplitPlan, digits: np.ndarray, textures: TextureFn, config: TexturedMNISTConfig
) -> tuple[np.ndarray, np.ndarray]:
    """Images (uint8 [n,H,W] or [n,H,W,3]) and masks (bool [n,H,W]) of the plan's rows."""
    placed = place_digits(plan, digits, config.canvas)
    if plan.kind == BACKGROUND_ONLY:
        return textures(plan), np.zeros(placed.shape, dtype=bool)
    mask = foreground_mask(placed, config.threshold)
    if plan.kind == PLAIN:
        return _as_color(placed, config.color), mask
    tex = textures(plan)
    if config.foreground == "texture":
        # The author's "further work": strokes filled with texture, on black.
        return composite(np.zeros_like(placed), tex, ~mask), mask
    return composite(placed, tex, mask), mask


def _as_color(gray: np.ndarray, color: str) -> np.ndarray:
    return np.repeat(gray[..., None], 3, axis=-1) if color == "rgb" else gray
