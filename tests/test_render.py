"""render: a plan's rows to pixels, checked pixel by pixel on tiny hand-made plans."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest

from texmnist.generate.recipe import BACKGROUND_ONLY, PLAIN, TEXTURED, SplitPlan
from texmnist.generate.render import place_digits, render

# Two 2x2 "digits": bytes above 0.1 * 255 = 25.5 are foreground.
DIGITS = np.array([[[0, 200], [26, 25]], [[255, 0], [0, 90]]], dtype=np.uint8)


def _plan(kind: str, scale: int, box: list[list[int]], index=(1, 0)) -> SplitPlan:
    n = len(index)
    return SplitPlan(
        name="test", kind=kind, source_split="test",
        mnist_index=np.array(index, dtype=np.int32), label=np.zeros(n, np.int64),
        texture=np.zeros(n, np.int64), photo=np.zeros(n, np.int32),
        aligned=np.zeros(n, bool), scale=np.full(n, scale, np.int32),
        box=np.array(box, dtype=np.int32),
    )  # fmt: skip


def _textures(value: int, channels: int | None = None):
    def fn(plan: SplitPlan) -> np.ndarray:
        shape = (len(plan), 4, 4) if channels is None else (len(plan), 4, 4, channels)
        return np.full(shape, value, dtype=np.uint8)

    return fn


def _config(**kw):
    """The four fields render reads (a real config's canvas is at least 8 pixels)."""
    return SimpleNamespace(**{"canvas": 4, "threshold": 0.1, "color": "gray",
                              "foreground": "digit", **kw})  # fmt: skip


def test_textured_rows_put_digit_bytes_on_the_mask_and_texture_elsewhere():
    plan = _plan(TEXTURED, 2, [[0, 0, 2, 2], [2, 2, 4, 4]])
    images, masks = render(plan, DIGITS, _textures(7), _config())
    expected_mask = np.zeros((2, 4, 4), bool)
    expected_mask[0, 0, 0] = expected_mask[0, 1, 1] = True  # digit 1: 255 and 90
    expected_mask[1, 2, 3] = expected_mask[1, 3, 2] = True  # digit 0: 200 and 26, not 25
    assert np.array_equal(masks, expected_mask)
    expected = np.full((2, 4, 4), 7, np.uint8)
    expected[0, 0, 0], expected[0, 1, 1] = 255, 90
    expected[1, 2, 3], expected[1, 3, 2] = 200, 26
    assert np.array_equal(images, expected)


def test_texture_foreground_fills_the_strokes_on_black():
    plan = _plan(TEXTURED, 2, [[0, 0, 2, 2], [2, 2, 4, 4]])
    images, masks = render(plan, DIGITS, _textures(7), _config(foreground="texture"))
    assert np.array_equal(images, np.where(masks, 7, 0).astype(np.uint8))


def test_plain_rows_are_the_placed_digit_gray_or_rgb():
    plan = _plan(PLAIN, 2, [[0, 0, 2, 2], [2, 0, 4, 2]])
    placed = np.zeros((2, 4, 4), np.uint8)
    placed[0, :2, :2], placed[1, :2, 2:] = DIGITS[1], DIGITS[0]
    images, masks = render(plan, DIGITS, _textures(7), _config())
    assert np.array_equal(images, placed)
    assert np.array_equal(masks, placed > 25)
    rgb, _ = render(plan, DIGITS, _textures(7, 3), _config(color="rgb"))
    assert rgb.shape == (2, 4, 4, 3)
    assert all(np.array_equal(rgb[..., c], placed) for c in range(3))


def test_background_only_rows_are_the_texture_and_an_empty_mask():
    plan = _plan(BACKGROUND_ONLY, 2, [[0, 0, 2, 2], [2, 2, 4, 4]])
    images, masks = render(plan, DIGITS, _textures(9), _config())
    assert np.array_equal(images, np.full((2, 4, 4), 9, np.uint8))
    assert masks.shape == (2, 4, 4) and masks.dtype == bool and not masks.any()


def test_full_canvas_digits_are_the_source_bytes_untouched():
    plan = _plan(PLAIN, 2, [[0, 0, 2, 2], [0, 0, 2, 2]])
    assert np.array_equal(place_digits(plan, DIGITS, 2), DIGITS[[1, 0]])


@pytest.mark.parametrize("scales", [(1, 2), (2, 1)])
def test_mixed_scales_are_resized_each_to_its_own_side(scales):
    plan = _plan(PLAIN, 2, [[0, 0, 2, 2], [0, 0, 2, 2]])
    plan.scale = np.array(scales, np.int32)
    plan.box = np.array([[0, 0, s, s] for s in scales], np.int32)
    out = place_digits(plan, DIGITS, 3)
    assert out.shape == (2, 3, 3)
    for i, s in enumerate(scales):
        digit = DIGITS[plan.mnist_index[i]]
        # 2x2 -> 1x1 averages the four bytes (round half up); 2x2 stays as it is.
        expected = digit if s == 2 else np.array([[(int(digit.sum()) * 2 + 4) // 8]])
        assert np.array_equal(out[i, :s, :s], expected)
        assert not out[i, s:].any() and not out[i, :, s:].any()


def test_digits_smaller_than_their_own_canvas_are_shrunk_and_placed():
    """Canvas = the digits' side, but every scale smaller: no shortcut to the source bytes."""
    plan = _plan(PLAIN, 1, [[1, 0, 2, 1], [0, 1, 1, 2]])
    out = place_digits(plan, DIGITS, 2)
    for i, (x0, y0) in enumerate([(1, 0), (0, 1)]):
        digit = DIGITS[plan.mnist_index[i]]
        expected = np.zeros((2, 2), np.uint8)
        expected[y0, x0] = (int(digit.sum()) * 2 + 4) // 8  # the 2x2 mean, round half up
        assert np.array_equal(out[i], expected)


def test_full_scale_digits_on_a_larger_canvas_are_pasted_not_returned():
    """Every scale equals the canvas, but the canvas is larger than the source digits."""
    plan = _plan(PLAIN, 3, [[0, 0, 3, 3], [0, 0, 3, 3]])
    out = place_digits(plan, DIGITS, 3)
    assert out.shape == (2, 3, 3)
