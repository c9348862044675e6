from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp
from PIL import Image

from texmnist.errors import ConfigError
from texmnist.generate.composite import composite, foreground_mask, place, placement_boxes
from texmnist.sources.resize import resize_batch

# ----------------------------------------------------------------------- mask


@settings(max_examples=100, deadline=None)
@given(
    hnp.arrays(np.uint8, st.tuples(st.integers(0, 3), st.integers(1, 9), st.integers(1, 9))),
    st.floats(0.0, 1.0, exclude_max=True),
)
def test_mask_matches_definition(digits, threshold):
    mask = foreground_mask(digits, threshold)
    assert mask.dtype == np.bool_ and mask.shape == digits.shape
    expected = np.array(
        [[[v / 255 > threshold for v in row] for row in img] for img in digits.tolist()]
    )
    assert np.array_equal(mask, expected.reshape(digits.shape))


def test_mask_boundaries():
    digits = np.arange(256, dtype=np.uint8).reshape(1, 16, 16)
    assert foreground_mask(digits, 0.1).sum() == 256 - 26  # 25.5 -> 26/255 > 0.1
    assert foreground_mask(digits, 0.0).sum() == 255
    assert foreground_mask(digits, 0.999).sum() == 1
    assert not foreground_mask(digits, 254 / 255)[0].ravel()[254]


@pytest.mark.parametrize("threshold", [-0.1, 1.0, 1.5, float("nan"), "0.1", True, None])
def test_mask_rejects_bad_threshold(threshold):
    with pytest.raises(ConfigError):
        foreground_mask(np.zeros((1, 2, 2), np.uint8), threshold)


def test_mask_rejects_non_uint8():
    with pytest.raises(ValueError):
        foreground_mask(np.zeros((1, 2, 2), np.float32))


# ------------------------------------------------------------------ composite

batch_shapes = st.tuples(st.integers(1, 4), st.integers(1, 12), st.integers(1, 12))


@settings(max_examples=60, deadline=None)
@given(st.data(), batch_shapes, st.booleans())
def test_composite_property(data, shape, rgb):
    digits = data.draw(hnp.arrays(np.uint8, shape))
    mask = data.draw(hnp.arrays(np.bool_, shape))
    tex_shape = (*shape, 3) if rgb else shape
    textures = data.draw(hnp.arrays(np.uint8, tex_shape))
    out = composite(digits, textures, mask)
    assert out.dtype == np.uint8 and out.shape == tex_shape
    if rgb:
        for c in range(3):
            assert np.array_equal(out[..., c][mask], digits[mask])
            assert np.array_equal(out[..., c][~mask], textures[..., c][~mask])
    else:
        assert np.array_equal(out[mask], digits[mask])
        assert np.array_equal(out[~mask], textures[~mask])


@pytest.mark.parametrize(
    "digits, textures, mask",
    [
        (np.zeros((2, 4, 4), np.uint8), np.zeros((2, 4, 5), np.uint8), np.zeros((2, 4, 4), bool)),
        (
            np.zeros((2, 4, 4), np.uint8),
            np.zeros((2, 4, 4, 4), np.uint8),
            np.zeros((2, 4, 4), bool),
        ),
        (
            np.zeros((2, 4, 4), np.uint8),
            np.zeros((2, 4, 4), np.uint8),
            np.zeros((2, 4, 4), np.uint8),
        ),
        (np.zeros((2, 4, 4), np.int32), np.zeros((2, 4, 4), np.uint8), np.zeros((2, 4, 4), bool)),
        (np.zeros((2, 4, 4), np.uint8), np.zeros((2, 4, 4), np.float64), np.zeros((2, 4, 4), bool)),
        (np.zeros((2, 4, 4), np.uint8), np.zeros((2, 4, 4), np.uint8), np.zeros((1, 4, 4), bool)),
        (np.zeros((4, 4), np.uint8), np.zeros((4, 4), np.uint8), np.zeros((4, 4), bool)),
    ],
)
def test_composite_rejects_bad_inputs(digits, textures, mask):
    with pytest.raises(ValueError):
        composite(digits, textures, mask)


# --------------------------------------------------------------------- resize


def float_reference(images: np.ndarray, out_h: int, out_w: int) -> np.ndarray:
    """Independent float64 bilinear-antialias resize (PIL's filter, no quantisation)."""

    def matrix(src: int, dst: int) -> np.ndarray:
        scale = src / dst
        fs = max(scale, 1.0)
        m = np.zeros((dst, src))
        for i in range(dst):
            center = (i + 0.5) * scale
            lo, hi = max(int(center - fs + 0.5), 0), min(int(center + fs + 0.5), src)
            for x in range(lo, hi):
                m[i, x] = max(0.0, 1.0 - abs((x - center + 0.5) / fs))
            m[i] /= m[i].sum()
        return m

    wy, wx = matrix(images.shape[1], out_h), matrix(images.shape[2], out_w)
    return np.einsum("ph,nhw...,ow->npo...", wy, images.astype(np.float64), wx)


image_batches = st.tuples(st.integers(1, 3), st.integers(1, 40), st.integers(1, 40)).flatmap(
    lambda s: hnp.arrays(np.uint8, s)
)


@settings(max_examples=60, deadline=None)
@given(image_batches, st.integers(1, 40), st.integers(1, 40))
def test_resize_matches_float_reference(images, out_h, out_w):
    out = resize_batch(images, (out_h, out_w))
    assert out.shape == (len(images), out_h, out_w) and out.dtype == np.uint8
    ref = float_reference(images, out_h, out_w)
    assert np.abs(out.astype(np.float64) - ref).max() <= 1.0


@settings(max_examples=30, deadline=None)
@given(image_batches, st.integers(1, 40))
def test_resize_close_to_pil(images, size):
    out = resize_batch(images, size)
    for img, got in zip(images, out, strict=True):
        pil = Image.fromarray(img).resize(
            (size, size), Image.Resampling.BILINEAR, reducing_gap=None
        )
        assert np.abs(got.astype(int) - np.asarray(pil)).max() <= 1


@settings(max_examples=40, deadline=None)
@given(image_batches)
def test_resize_identity_is_exact(images):
    out = resize_batch(images, (images.shape[1], images.shape[2]))
    assert np.array_equal(out, images)
    assert out is not images


@settings(max_examples=60, deadline=None)
@given(
    st.integers(0, 255),
    st.integers(1, 50),
    st.integers(1, 50),
    st.integers(1, 50),
    st.booleans(),
)
def test_resize_constant_stays_constant(value, h, w, size, rgb):
    shape = (2, h, w, 3) if rgb else (2, h, w)
    out = resize_batch(np.full(shape, value, np.uint8), size)
    assert np.all(out == value)


def test_resize_rgb_is_per_channel_gray():
    rng = np.random.default_rng(4)
    rgb = rng.integers(0, 256, (3, 31, 45, 3), dtype=np.uint8)
    out = resize_batch(rgb, (17, 23))
    assert out.shape == (3, 17, 23, 3)
    for c in range(3):
        assert np.array_equal(
            out[..., c], resize_batch(np.ascontiguousarray(rgb[..., c]), (17, 23))
        )


def test_resize_deterministic_and_batch_independent():
    rng = np.random.default_rng(5)
    images = rng.integers(0, 256, (6, 300, 211), dtype=np.uint8)
    once = resize_batch(images, 28)
    assert np.array_equal(once, resize_batch(images.copy(), 28))
    assert np.array_equal(once[2:3], resize_batch(images[2:3], 28))


def test_resize_equals_exact_integer_arithmetic():
    # The float64 matmuls must give exactly the integer result, rounded half up.
    rng = np.random.default_rng(6)
    images = rng.integers(0, 256, (2, 61, 45), dtype=np.uint8)
    wy, wx = _exact_weights(61, 28).astype(object), _exact_weights(45, 19).astype(object)
    for img, got in zip(images, resize_batch(images, (28, 19)), strict=True):
        acc = wy @ img.astype(object) @ wx.T  # exact Python ints
        expected = np.array([[(int(v) + (1 << 27)) >> 28 for v in row] for row in acc])
        assert np.array_equal(got, expected)


def _exact_weights(src: int, dst: int) -> np.ndarray:
    from texmnist.sources.resize import _weights

    w = _weights(src, dst)
    assert np.all(w.sum(axis=1) == 1 << 14)
    return w.astype(np.int64)


def test_resize_extreme_shapes():
    line = np.arange(500, dtype=np.int64).reshape(1, 1, 500) % 256
    out = resize_batch(line.astype(np.uint8), 28)
    assert out.shape == (1, 28, 28)
    assert np.all(out == out[:, :1, :])  # one source row -> identical rows
    tiny = np.array([[[0, 255, 0], [255, 0, 255], [0, 255, 0]]], np.uint8)
    up = resize_batch(tiny, 28)
    assert up.shape == (1, 28, 28) and up.min() < 64 and up.max() > 191


@pytest.mark.parametrize("size", [0, -3, (0, 4), "28", (1, 2, 3), 2.5])
def test_resize_rejects_bad_size(size):
    with pytest.raises(ValueError):
        resize_batch(np.zeros((1, 4, 4), np.uint8), size)


@pytest.mark.parametrize(
    "images",
    [np.zeros((4, 4), np.uint8), np.zeros((1, 4, 4), np.float32), np.zeros((1, 4, 4, 4), np.uint8)],
)
def test_resize_rejects_bad_images(images):
    with pytest.raises(ValueError):
        resize_batch(images, 3)


# ------------------------------------------------------------------ placement


@settings(max_examples=60, deadline=None)
@given(
    st.data(),
    st.integers(0, 6),
    st.integers(1, 40),
    st.sampled_from(["center", "corner", "random"]),
)
def test_boxes_inside_canvas(data, n, canvas, position):
    scale = np.array(data.draw(st.lists(st.integers(1, canvas), min_size=n, max_size=n)), np.int32)
    boxes = placement_boxes(
        n, scale, canvas, position, np.random.default_rng(data.draw(st.integers(0, 9)))
    )
    assert boxes.dtype == np.int32 and boxes.shape == (n, 4)
    x0, y0, x1, y1 = boxes.T
    assert np.all(x0 >= 0) and np.all(y0 >= 0) and np.all(x1 <= canvas) and np.all(y1 <= canvas)
    assert np.array_equal(x1 - x0, scale) and np.array_equal(y1 - y0, scale)
    if position == "center":
        assert np.array_equal(x0, (canvas - scale) // 2) and np.array_equal(y0, x0)
    if position == "corner":
        assert np.all(x1 == canvas) and np.all(y0 == 0)


def test_random_boxes_cover_range_and_are_reproducible():
    scale = np.full(2000, 10, np.int32)
    a = placement_boxes(2000, scale, 14, "random", np.random.default_rng(0))
    b = placement_boxes(2000, scale, 14, "random", np.random.default_rng(0))
    assert np.array_equal(a, b)
    assert set(a[:, 0].tolist()) == set(range(5)) and set(a[:, 1].tolist()) == set(range(5))


def test_boxes_reject_bad_inputs():
    with pytest.raises(ConfigError):
        placement_boxes(2, np.array([10, 10]), 28, "middle", np.random.default_rng(0))
    with pytest.raises(ConfigError):
        placement_boxes(2, np.array([10, 29]), 28, "center", None)
    with pytest.raises(ConfigError):
        placement_boxes(1, np.array([0]), 28, "center", None)
    with pytest.raises(ConfigError):
        placement_boxes(1, np.array([10]), 28, "random", None)
    with pytest.raises(ConfigError):
        placement_boxes(1, np.array([10.0]), 28, "center", None)


@settings(max_examples=60, deadline=None)
@given(st.data(), st.integers(1, 5), st.integers(1, 30))
def test_place_puts_digit_exactly_at_box(data, n, canvas):
    side = data.draw(st.integers(1, canvas))
    digits = data.draw(hnp.arrays(np.uint8, (n, side, side), elements=st.integers(1, 255)))
    boxes = placement_boxes(n, np.full(n, side), canvas, "random", np.random.default_rng(n))
    out = place(digits, boxes, canvas)
    assert out.shape == (n, canvas, canvas) and out.dtype == np.uint8
    for i, (x0, y0, x1, y1) in enumerate(boxes):
        assert np.array_equal(out[i, y0:y1, x0:x1], digits[i])
        rest = out[i].copy()
        rest[y0:y1, x0:x1] = 0
        assert not rest.any()
        assert np.count_nonzero(out[i]) == side * side


def test_place_rejects_bad_boxes():
    digits = np.ones((1, 4, 4), np.uint8)
    with pytest.raises(ValueError):
        place(digits, np.array([[0, 0, 5, 4]]), 10)  # wrong size
    with pytest.raises(ValueError):
        place(digits, np.array([[8, 0, 12, 4]]), 10)  # outside
    with pytest.raises(ValueError):
        place(digits, np.array([[-1, 0, 3, 4]]), 10)
    with pytest.raises(ValueError):
        place(digits, np.array([[0, 0, 4, 4], [0, 0, 4, 4]]), 10)  # count mismatch
    with pytest.raises(ValueError):
        place(np.ones((1, 4, 3), np.uint8), np.array([[0, 0, 4, 4]]), 10)


def test_exact_weights_sum():
    for src, dst in [(1, 28), (3, 28), (28, 28), (500, 28), (56, 28), (29, 28)]:
        assert _exact_weights(src, dst).sum() == dst << 14
    assert math.isclose(float(_exact_weights(56, 28)[5].max()), 2**14 * 0.375, rel_tol=0.01)


def _reference_weights(src: int, dst: int) -> list[list[int]]:
    """PIL's precompute_coeffs for BILINEAR, row by row in plain Python."""
    scale = src / dst
    filterscale = max(scale, 1.0)
    rows = []
    for i in range(dst):
        center = (i + 0.5) * scale
        xmin = max(int(center - filterscale + 0.5), 0)
        xmax = min(int(center + filterscale + 0.5), src)
        raw = [max(0.0, 1.0 - abs((x - center + 0.5) / filterscale)) for x in range(xmin, xmax)]
        total = math.fsum(raw)
        q = [math.floor(w / total * 2**14 + 0.5) for w in raw]
        q[max(range(len(q)), key=q.__getitem__)] += 2**14 - sum(q)
        rows.append([0] * xmin + q + [0] * (src - xmax))
    return rows


@pytest.mark.parametrize("src", [1, 2, 3, 5, 28, 29, 56, 97, 271, 480, 640, 901])
@pytest.mark.parametrize("dst", [1, 3, 14, 28, 56, 96])
def test_vectorised_weights_equal_the_row_by_row_reference(src, dst):
    assert _exact_weights(src, dst).tolist() == _reference_weights(src, dst)
