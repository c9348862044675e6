"""Every error of the image core, word for word: each names the argument, what was
expected and what came (the messages are what a user sees)."""

from __future__ import annotations

import numpy as np
import pytest

from texmnist.errors import ConfigError
from texmnist.generate.composite import composite, foreground_mask, place, placement_boxes
from texmnist.sources.resize import resize_batch

U8 = np.uint8
D = np.zeros((2, 3, 3), U8)
M = np.zeros((2, 3, 3), bool)

ERRORS = [
    (lambda: foreground_mask(np.zeros(3, np.int16)), ValueError,
     "digits: expected dtype uint8, got int16"),
    (lambda: foreground_mask(D, "0.1"), ConfigError,
     "threshold: expected a number, got '0.1'"),
    (lambda: foreground_mask(D, True), ConfigError,
     "threshold: expected a number, got True"),
    (lambda: foreground_mask(D, 1.0), ConfigError, "threshold: must be in [0, 1), got 1.0"),
    (lambda: foreground_mask(D, -0.5), ConfigError, "threshold: must be in [0, 1), got -0.5"),
    (lambda: foreground_mask(D, float("nan")), ConfigError,
     "threshold: expected a number, got nan"),
    (lambda: composite(D.astype(np.int8), D, M), ValueError,
     "digits: expected dtype uint8, got int8"),
    (lambda: composite(D, D, D), ValueError, "mask: expected dtype bool, got uint8"),
    (lambda: composite(D[0], D[0], M[0]), ValueError,
     "digits: expected shape [n,H,W], got (3, 3)"),
    (lambda: composite(D, D, M[:1]), ValueError,
     "mask: shape (1, 3, 3) differs from digits shape (2, 3, 3)"),
    (lambda: composite(D, np.zeros((2, 3, 3, 4), U8), M), ValueError,
     "textures: expected shape (2, 3, 3) or (2, 3, 3, 3), got (2, 3, 3, 4)"),
    (lambda: resize_batch(np.zeros((2, 3), U8), 2), ValueError,
     "images: expected shape [n,h,w] or [n,h,w,3], got (2, 3)"),
    (lambda: resize_batch(np.zeros((2, 3, 3, 4), U8), 2), ValueError,
     "images: expected shape [n,h,w] or [n,h,w,3], got (2, 3, 3, 4)"),
    (lambda: resize_batch(np.zeros((2, 0, 3), U8), 2), ValueError,
     "images: cannot resize empty images of shape (2, 0, 3)"),
    (lambda: resize_batch(D, "2"), ValueError,
     "size: expected an int or (height, width), got '2'"),
    (lambda: resize_batch(D, True), ValueError,
     "size: expected an int or (height, width), got True"),
    (lambda: resize_batch(D, (2, 2, 2)), ValueError,
     "size: expected an int or (height, width), got (2, 2, 2)"),
    (lambda: resize_batch(D, (2, 0)), ValueError, "size: must be positive, got (2, 0)"),
    (lambda: placement_boxes(2, 3, 5, "left"), ConfigError,
     "position: unknown value 'left' (expected one of ('center', 'corner', 'random'))"),
    (lambda: placement_boxes(2, 3, 0, "center"), ConfigError,
     "canvas: expected a positive int, got 0"),
    (lambda: placement_boxes(2, 3, True, "center"), ConfigError,
     "canvas: expected a positive int, got True"),
    (lambda: placement_boxes(2, 3, 5.0, "center"), ConfigError,
     "canvas: expected a positive int, got 5.0"),
    (lambda: placement_boxes(2, 3.0, 5, "center"), ConfigError,
     "scale: expected integers, got dtype float64"),
    (lambda: placement_boxes(2, np.array([0, 3]), 5, "center"), ConfigError,
     "scale: every side must be in 1..5, got 0..3"),
    (lambda: placement_boxes(2, np.array([3, 6]), 5, "center"), ConfigError,
     "scale: every side must be in 1..5, got 3..6"),
    (lambda: placement_boxes(2, 3, 5, "random"), ConfigError,
     "rng: position 'random' needs a numpy Generator"),
    (lambda: place(D.astype(np.int16), np.zeros((2, 4), int), 5), ValueError,
     "digits: expected dtype uint8, got int16"),
    (lambda: place(np.zeros((2, 3, 4), U8), np.zeros((2, 4), int), 5), ValueError,
     "digits: expected shape [n,s,s], got (2, 3, 4)"),
    (lambda: place(D, np.zeros((2, 4), float), 5), ValueError,
     "boxes: expected integer shape (2, 4), got float64 (2, 4)"),
    (lambda: place(D, np.zeros((1, 4), int), 5), ValueError,
     "boxes: expected integer shape (2, 4), got int64 (1, 4)"),
    (lambda: place(D, np.array([[0, 0, 3, 2]] * 2), 5), ValueError,
     "boxes: every box must be 3x3 to match the digits"),
    (lambda: place(D, np.array([[0, 0, 2, 3]] * 2), 5), ValueError,
     "boxes: every box must be 3x3 to match the digits"),
    (lambda: place(D, np.array([[-1, 0, 2, 3]] * 2), 5), ValueError,
     "boxes: every box must lie inside the 5x5 canvas"),
    (lambda: place(D, np.array([[3, 0, 6, 3]] * 2), 5), ValueError,
     "boxes: every box must lie inside the 5x5 canvas"),
]  # fmt: skip


@pytest.mark.parametrize(("call", "kind", "message"), ERRORS)
def test_error_messages(call, kind, message):
    with pytest.raises(kind) as e:
        call()
    assert str(e.value) == message


def test_random_boxes_reach_every_offset_and_stay_inside():
    sides = np.array([3, 5] * 300)
    boxes = placement_boxes(600, sides, 5, "random", np.random.default_rng(0))
    assert boxes.dtype == np.int32
    x0, y0, x1, y1 = boxes.T.astype(int)
    assert np.array_equal(x1 - x0, sides) and np.array_equal(y1 - y0, sides)
    small = sides == 3  # offsets 0..2 on a 5-pixel canvas, each one drawn
    assert set(x0[small].tolist()) == {0, 1, 2} and set(y0[small].tolist()) == {0, 1, 2}
    assert set(x0[~small].tolist()) == {0} and set(y0[~small].tolist()) == {0}
    assert placement_boxes(0, 3, 5, "random", np.random.default_rng(0)).shape == (0, 4)


def test_center_and_corner_boxes_by_hand():
    assert placement_boxes(1, 3, 8, "center").tolist() == [[2, 2, 5, 5]]
    assert placement_boxes(1, 3, 8, "corner").tolist() == [[5, 0, 8, 3]]
    assert placement_boxes(2, np.array([8, 1]), 8, "corner").tolist() == [
        [0, 0, 8, 8],
        [7, 0, 8, 1],
    ]
