"""The recipe's random draws against hand-computed counts and binomial bounds: photos
uniform over their pool and every one reachable, largest-remainder counts, categories,
crops, and the per-split plan's invariants."""

from __future__ import annotations

import numpy as np
import pytest

from texmnist.generate.config import named_config
from texmnist.generate.recipe import (
    BACKGROUND_ONLY,
    NONE_TEXTURE,
    PLAIN,
    TEXTURED,
    Cells,
    Pools,
    assign_cells,
    draw_categories,
    draw_crops,
    draw_photos,
    exact_counts,
    group_names,
    other_category,
    plan_splits,
    stream,
)
from texmnist.generate.splits import split_spec


def _within_binomial(count: int, n: int, p: float, sigmas: float = 5.0) -> bool:
    return abs(count - n * p) <= sigmas * np.sqrt(n * p * (1 - p))


# -- photos ---------------------------------------------------------------------------

# Category c owns bank photos 10c .. 10c + size_c - 1; pool sizes differ per category.
POOL = [np.arange(size) + 10 * c for c, size in enumerate([1, 2, 3, 4, 5, 6, 7, 8, 9, 3])]


def test_photos_come_from_their_own_category_pool():
    categories = np.arange(2000) % 10
    photo = draw_photos(categories, POOL, np.random.default_rng(0))
    assert photo.dtype == np.int32
    assert np.array_equal(photo // 10, categories)
    assert all(p in set(POOL[c].tolist()) for p, c in zip(photo, categories, strict=True))


@pytest.mark.parametrize("category", [2, 8, 9])
def test_photo_draws_are_uniform_within_a_binomial_bound(category):
    n = 9000
    photo = draw_photos(np.full(n, category), POOL, np.random.default_rng(category))
    size = len(POOL[category])
    counts = np.bincount(photo - 10 * category, minlength=size)
    assert len(counts) == size  # nothing outside the pool
    assert all(_within_binomial(int(k), n, 1 / size) for k in counts), counts


def test_every_photo_of_a_small_pool_is_reachable():
    pool = [np.array([40, 41, 42])] * 10
    for category in range(10):
        photo = draw_photos(np.full(200, category), pool, np.random.default_rng(category))
        assert set(photo.tolist()) == {40, 41, 42}


# -- categories ------------------------------------------------------------------------


def test_other_category_is_uniform_over_the_nine_others():
    labels = np.arange(45_000) % 10
    other = other_category(labels, np.random.default_rng(1))
    assert not np.any(other == labels)
    offsets = np.bincount((other - labels) % 10, minlength=10)
    assert offsets[0] == 0
    assert all(_within_binomial(int(k), len(labels), 1 / 9) for k in offsets[1:]), offsets


@pytest.mark.parametrize("rho", [0.0, 0.3, 1.0])
def test_draw_categories_aligned_exactly_where_the_label_is_kept(rho):
    labels = np.arange(10_000) % 10
    category, aligned = draw_categories(labels, rho, np.random.default_rng(2))
    assert aligned.dtype == bool
    assert np.array_equal(aligned, category == labels)
    assert _within_binomial(int(aligned.sum()), len(labels), rho) or rho in (0.0, 1.0)
    assert aligned.sum() == {0.0: 0, 1.0: len(labels)}.get(rho, aligned.sum())


# -- counts ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("n", "weights", "expected"),
    [
        # shares 1.4, 2.1, 3.5: floors 1, 2, 3, one left for the largest remainder (0.5)
        (7, [2, 3, 5], [1, 2, 4]),
        # shares 1.1, 2.2, 3.3, 4.4: the one left goes to the last (0.4)
        (11, [1, 2, 3, 4], [1, 2, 3, 5]),
        # shares 45/23, 63/23, 99/23 = 1.96, 2.74, 4.30: two left, to the 0.96 and the 0.74
        (9, [5, 7, 11], [2, 3, 4]),
        # shares 0.3, 0.3, 0.4 of 1: the single count goes to the 0.4
        (1, [3, 3, 4], [0, 0, 1]),
        # exact shares: nothing left over
        (10, [0.5, 0.3, 0.2], [5, 3, 2]),
    ],
)
def test_largest_remainder_counts_by_hand(n, weights, expected):
    counts = exact_counts(n, np.array(weights, dtype=float))
    assert counts.tolist() == expected
    assert counts.dtype == np.int64


def test_assign_cells_has_exact_counts_in_random_order():
    weights = np.array([5.0, 7.0, 11.0])
    cells = assign_cells(9, weights, np.random.default_rng(0))
    assert np.bincount(cells, minlength=3).tolist() == [2, 3, 4]
    many = assign_cells(2300, weights, np.random.default_rng(0))
    assert np.bincount(many).tolist() == [500, 700, 1100]
    assert not np.array_equal(many, np.sort(many))  # shuffled, not in blocks


# -- crops -----------------------------------------------------------------------------


def test_crops_lie_inside_their_photo_and_reach_every_offset():
    sizes = np.array([[5, 7], [100, 100], [3, 2]])  # (height, width) per bank photo
    photo = np.repeat(np.arange(3), 400)
    boxes = draw_crops(photo, sizes, 4, np.random.default_rng(0))
    assert boxes.dtype == np.int32 and boxes.shape == (1200, 4)
    x0, y0, x1, y1 = boxes.T
    side = np.minimum(4, sizes[photo].min(axis=1))
    assert np.array_equal(x1 - x0, side) and np.array_equal(y1 - y0, side)
    assert np.all(x0 >= 0) and np.all(y0 >= 0)
    assert np.all(x1 <= sizes[photo, 1]) and np.all(y1 <= sizes[photo, 0])
    first = photo == 0  # a 4x4 crop of 5 rows x 7 columns: x0 in 0..3, y0 in 0..1
    assert set(x0[first].tolist()) == {0, 1, 2, 3} and set(y0[first].tolist()) == {0, 1}
    last = photo == 2  # smaller than the crop: the whole short side, x0 = 0
    assert set(x0[last].tolist()) == {0} and set(y0[last].tolist()) == {0, 1}


# -- streams, names and kinds -------------------------------------------------------------


def test_streams_are_reproducible_and_independent():
    a = stream(3, "train", "photo").random(4)
    assert np.array_equal(a, stream(3, "train", "photo").random(4))
    assert not np.array_equal(a, stream(3, "train", "crop").random(4))
    assert not np.array_equal(a, stream(3, "test", "photo").random(4))
    assert not np.array_equal(a, stream(4, "train", "photo").random(4))


def test_group_names_by_hand():
    grid = Cells((14, 28), ("center", "corner")).grid()
    assert grid == [(14, "center"), (28, "center"), (14, "corner"), (28, "corner")]
    cell = np.array([0, 1, 2, 3])
    aligned = np.array([True, False, True, False])
    assert group_names(grid, cell, aligned, TEXTURED).tolist() == [
        "CeO-14",
        "CeR-28",
        "CoO-14",
        "CoR-28",
    ]
    assert group_names(grid, cell, aligned, PLAIN).tolist() == [
        "CeN-14",
        "CeN-28",
        "CoN-14",
        "CoN-28",
    ]
    assert group_names(grid, cell[:1], aligned[:1], BACKGROUND_ONLY).tolist() == ["CeB-14"]
    assert group_names(grid, cell, aligned, TEXTURED).dtype == object  # like the Arrow strings


def test_split_kinds():
    assert split_spec("test_no_background").kind == PLAIN
    assert split_spec("test_background_only").kind == BACKGROUND_ONLY
    assert split_spec("test_random").kind == split_spec("train").kind == TEXTURED
    assert split_spec("test_counterfactual").kind == TEXTURED


# -- whole plans --------------------------------------------------------------------------


def _plans(name: str, n_train: int = 600, n_test: int = 200, **kw):
    labels = np.arange(n_train) % 10
    tests = (np.arange(n_test) * 3) % 10
    pool = [np.arange(3) + 3 * c for c in range(10)]
    sizes = np.tile([[40, 50]], (30, 1))
    return plan_splits(named_config(name, **kw), labels, tests, Pools(pool, pool, sizes))


def test_plan_of_every_split():
    plans = _plans("default", validation_size=100, background_only=True, correlation=0.5)
    assert set(plans) == {
        "train",
        "validation",
        "test_correlated",
        "test_random",
        "test_no_background",
        "test_background_only",
    }
    train, val = plans["train"], plans["validation"]
    assert len(train) == 500 and len(val) == 100
    assert train.source_split == val.source_split == "train"
    # Validation digits are drawn out of train: disjoint, together all 600, both sorted.
    assert not set(train.mnist_index.tolist()) & set(val.mnist_index.tolist())
    assert sorted([*train.mnist_index, *val.mnist_index]) == list(range(600))
    assert np.all(np.diff(train.mnist_index) > 0) and np.all(np.diff(val.mnist_index) > 0)
    assert np.array_equal(train.label, train.mnist_index % 10)
    assert _within_binomial(int(train.aligned.sum()), 500, 0.5)
    tests = [plans[s] for s in plans if s.startswith("test_")]
    for plan in tests:
        # The test splits hold the same digits at the same place: they are paired.
        assert plan.source_split == "test" and plan.mnist_index.dtype == np.int32
        assert np.array_equal(plan.mnist_index, np.arange(200))
        assert np.array_equal(plan.label, (np.arange(200) * 3) % 10)
        assert np.array_equal(plan.box, tests[0].box)
        assert np.array_equal(plan.scale, tests[0].scale)
    corr, rand = plans["test_correlated"], plans["test_random"]
    assert np.array_equal(corr.texture, corr.label) and corr.aligned.all()
    assert not np.any(rand.texture == rand.label) and not rand.aligned.any()
    plain = plans["test_no_background"]
    assert plain.kind == PLAIN and np.all(plain.photo == -1)
    assert np.all(plain.texture == NONE_TEXTURE) and not plain.aligned.any()
    only = plans["test_background_only"]
    assert only.kind == BACKGROUND_ONLY and np.array_equal(only.texture, only.label)
    for plan in (train, val, corr, rand, only):
        assert np.array_equal(plan.photo // 3, plan.texture)  # a photo of its category
        assert plan.crop_box is None and plan.group is None


def test_crop_sampling_plans_crop_boxes_except_without_background():
    plans = _plans("default", texture_sampling="crop", crop_size=16)
    boxes = plans["train"].crop_box
    assert boxes.shape == (600, 4)
    assert np.all(boxes[:, 2] - boxes[:, 0] == 16) and np.all(boxes[:, 3] <= 40)
    assert np.all(plans["test_no_background"].crop_box == 0)


def test_rows_cut_every_per_example_field():
    plan = _plans("groups", validation_size=60)["test_random"]
    part = plan.rows(5, 9)
    assert len(part) == 4 and part.name == plan.name and part.kind == plan.kind
    for field in ("mnist_index", "label", "texture", "photo", "aligned", "scale", "box", "group"):
        assert np.array_equal(getattr(part, field), getattr(plan, field)[5:9]), field


def test_groups_background_only_is_one_group():
    plans = _plans("groups", validation_size=60, background_only=True)
    assert set(plans["test_background_only"].group.tolist()) == {"BG"}
    # Test groups are balanced over the grid's cells: 200 digits, 6 cells.
    counts = np.unique(plans["test_random"].group, return_counts=True)[1]
    assert counts.max() - counts.min() <= 1


def test_random_positions_in_the_test_splits_are_drawn_and_shared():
    plans = _plans("default", canvas=40, scale=(14,), position=("random",))
    boxes = plans["test_random"].box
    assert np.array_equal(boxes, plans["test_correlated"].box)
    assert np.all(boxes[:, 2] - boxes[:, 0] == 14) and np.all(boxes[:, :2] >= 0)
    assert np.all(boxes[:, 2:] <= 40)
    assert len(np.unique(boxes[:, 0])) > 20 and len(np.unique(boxes[:, 1])) > 20
