"""From a config to a per-example plan: which digit, which texture photo, where.

Pure NumPy, no I/O. The whole plan of a split is drawn up front from streams
derived from (seed, split, purpose), so a split's content does not depend on how
it is later cut into chunks (any `num_proc`, any chunk size), and adding a split
or a parameter changes no other split's draws.
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass, fields, replace

import numpy as np

from ..errors import ConfigError
from . import splits as S
from .composite import placement_boxes
from .config import TexturedMNISTConfig
from .splits import (
    BACKGROUND_ONLY,
    NONE_TEXTURE,
    NUM_CLASSES,
    PLAIN,
    TEXTURED,
    SplitSpec,
    split_spec,
)

# The dataset's columns of `SplitPlan.box` and `.crop_box`, one int32 column per edge:
# the dataset viewer describes numeric columns (range, mean, histogram) but not fixed-length
# lists, so four columns show where digits sit and which part of a photo was cropped.
BOX_COLUMNS = ("box_x0", "box_y0", "box_x1", "box_y1")
CROP_COLUMNS = ("crop_x0", "crop_y0", "crop_x1", "crop_y1")


def stream(seed: int, split: str, purpose: str) -> np.random.Generator:
    """An independent random stream for one (seed, split, purpose).

    crc32 of the name is stable across machines and Python runs (unlike hash()).
    """
    return np.random.default_rng([seed, zlib.crc32(f"{split}/{purpose}".encode())])


@dataclass
class Pools:
    """Texture photos available to a split, by category id.

    `train[c]` / `test[c]` hold indices into the texture bank of the photos of
    category c in the train / test partition. `sizes[i]` is (height, width) of
    bank photo i at the stored resolution (used to draw crop boxes).
    """

    train: list[np.ndarray]
    test: list[np.ndarray]
    sizes: np.ndarray | None = None


@dataclass
class SplitPlan:
    """Everything needed to render the examples of one split, one row each."""

    name: str
    kind: str
    source_split: str  # "train" or "test": which source arrays mnist_index points into
    mnist_index: np.ndarray  # int32 [n]
    label: np.ndarray  # int64 [n]
    texture: np.ndarray  # int64 [n], category id 0..9 or NONE_TEXTURE
    photo: np.ndarray  # int32 [n], bank index or -1
    aligned: np.ndarray  # bool [n]
    scale: np.ndarray  # int32 [n]
    box: np.ndarray  # int32 [n, 4] (x0, y0, x1, y1) of the digit on the canvas
    crop_box: np.ndarray | None = None  # int32 [n, 4] in stored photo pixels
    group: np.ndarray | None = None  # str [n]

    def __len__(self) -> int:
        return len(self.mnist_index)

    def rows(self, start: int, stop: int) -> SplitPlan:
        """The plan of rows [start, stop)."""
        cut = {}
        for f in fields(self):
            value = getattr(self, f.name)
            cut[f.name] = value[start:stop] if isinstance(value, np.ndarray) else value
        return replace(self, **cut)


# -- drawing categories and photos --------------------------------------------


def other_category(labels: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A category drawn uniformly from the nine not mapped to each label."""
    return (labels + rng.integers(1, NUM_CLASSES, size=len(labels))) % NUM_CLASSES


def draw_categories(
    labels: np.ndarray, correlation: float, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """With probability rho the label's own category, else one of the other nine."""
    aligned = rng.random(len(labels)) < correlation
    other = other_category(labels, rng)
    return np.where(aligned, labels, other), aligned


def draw_photos(categories: np.ndarray, pool: list[np.ndarray], rng) -> np.ndarray:
    """A uniformly drawn photo of each example's category from `pool`."""
    sizes = np.array([len(p) for p in pool])
    offsets = np.concatenate([[0], np.cumsum(sizes)[:-1]])
    flat = np.concatenate(pool).astype(np.int32)
    pick = np.floor(rng.random(len(categories)) * sizes[categories]).astype(np.int64)
    return flat[offsets[categories] + pick]


def draw_crops(photo: np.ndarray, sizes: np.ndarray, crop: int, rng) -> np.ndarray:
    """A random square crop box (x0, y0, x1, y1) per example inside its photo."""
    h, w = sizes[photo, 0], sizes[photo, 1]
    side = np.minimum(crop, np.minimum(h, w))
    x0 = np.floor(rng.random(len(photo)) * (w - side + 1)).astype(np.int32)
    y0 = np.floor(rng.random(len(photo)) * (h - side + 1)).astype(np.int32)
    return np.stack([x0, y0, x0 + side, y0 + side], axis=1).astype(np.int32)


# -- placement and groups -----------------------------------------------------

POSITION_CODE = {"center": "Ce", "corner": "Co"}
BACKGROUND_CODE = {TEXTURED: None, PLAIN: "N", BACKGROUND_ONLY: "B"}


def exact_counts(n: int, weights: np.ndarray) -> np.ndarray:
    """Integer counts summing to n, proportional to weights (largest remainder)."""
    share = n * weights / weights.sum()
    counts = np.floor(share).astype(np.int64)
    short = n - counts.sum()
    counts[np.argsort(-(share - counts), kind="stable")[:short]] += 1
    return counts


def assign_cells(n: int, weights: np.ndarray, rng) -> np.ndarray:
    """Each example's cell index, with exact cell counts, in random order."""
    cells = np.repeat(np.arange(len(weights)), exact_counts(n, weights))
    return cells[rng.permutation(n)]


@dataclass(frozen=True)
class Cells:
    """The scale x position (x background) grid of a config."""

    scales: tuple[int, ...]
    positions: tuple[str, ...]

    def grid(self) -> list[tuple[int, str]]:
        return [(s, p) for p in self.positions for s in self.scales]


def placements(
    config: TexturedMNISTConfig, n: int, rng_cells, rng_boxes
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Uniformly drawn (scale, position) per example, and the digit's box."""
    grid = Cells(config.scale, config.position).grid()
    cell = rng_cells.integers(0, len(grid), size=n)
    return _boxes_for(config, grid, cell, rng_boxes)


def _boxes_for(config, grid, cell, rng_boxes):
    scale = np.array([grid[c][0] for c in range(len(grid))], dtype=np.int32)[cell]
    box = np.zeros((len(cell), 4), dtype=np.int32)
    for position in dict.fromkeys(p for _, p in grid):
        sel = np.array([grid[c][1] == position for c in range(len(grid))])[cell]
        box[sel] = placement_boxes(int(sel.sum()), scale[sel], config.canvas, position, rng_boxes)
    return scale, box, cell


def group_names(grid, cell: np.ndarray, aligned: np.ndarray, kind: str) -> np.ndarray:
    """Group names like `CeO-14`: Center/Corner x Original/Random (or None/Bg) x scale."""
    bg_fixed = BACKGROUND_CODE[kind]
    names = []
    for c, a in zip(cell.tolist(), aligned.tolist(), strict=True):
        scale, position = grid[c]
        bg = bg_fixed or ("O" if a else "R")
        names.append(f"{POSITION_CODE[position]}{bg}-{scale}")
    return np.array(names, dtype=object)


# -- the plan -----------------------------------------------------------------


def plan_splits(
    config: TexturedMNISTConfig,
    train_labels: np.ndarray,
    test_labels: np.ndarray,
    pools: Pools,
) -> dict[str, SplitPlan]:
    """The plan of every split of `config`, keyed by split name (see `splits.SPLITS`)."""
    labels = {
        "train": _cap(np.asarray(train_labels, dtype=np.int64), config.max_train),
        "test": _cap(np.asarray(test_labels, dtype=np.int64), config.max_test),
    }
    train_idx, val_idx = _train_validation(config, len(labels["train"]))
    test_idx = np.arange(len(labels["test"]), dtype=np.int32)
    # Every test split shares one placement per test digit, so they stay paired.
    test_place = _test_placement(config, labels["test"])
    n_cf = min(config.counterfactual_size, len(test_idx))
    digit_rows = {
        S.TRAIN_DIGITS: (train_idx, None),
        S.VALIDATION_DIGITS: (val_idx, None),
        S.TEST_DIGITS: (test_idx, test_place),
        # each of the first n_cf test digits once per category, in digit-major order
        S.TEST_DIGITS_PER_CATEGORY: (
            np.repeat(test_idx[:n_cf], NUM_CLASSES),
            tuple(np.repeat(a[:n_cf], NUM_CLASSES, axis=0) for a in test_place),
        ),
    }
    plans = {}
    for name in config.splits:
        spec = split_spec(name)
        index, place = digit_rows[spec.digits]
        pool = pools.train if spec.pool == "train" else pools.test
        plans[name] = _plan(config, spec, index, labels[spec.source_split], pool, pools, place)
    return plans


def _cap(labels: np.ndarray, limit: int | None) -> np.ndarray:
    return labels if limit is None else labels[:limit]


def _train_validation(config, n_train: int) -> tuple[np.ndarray, np.ndarray]:
    v = config.validation_size
    if v >= n_train:
        raise ConfigError(
            f"validation_size: {v} leaves no training examples ({n_train} training digits)"
        )
    if not v:
        return np.arange(n_train, dtype=np.int32), np.zeros(0, dtype=np.int32)
    order = stream(config.seed, "validation", "select").permutation(n_train)
    return np.sort(order[v:]).astype(np.int32), np.sort(order[:v]).astype(np.int32)


def _test_placement(config, test_labels):
    n = len(test_labels)
    if not config.groups:
        return placements(
            config, n, stream(config.seed, "test", "cells"), stream(config.seed, "test", "boxes")
        )
    grid = Cells(config.scale, config.position).grid()
    cell = assign_cells(n, np.ones(len(grid)), stream(config.seed, "test", "cells"))
    return _boxes_for(config, grid, cell, stream(config.seed, "test", "boxes"))


def _plan(config, spec: SplitSpec, index, all_labels, pool, pools, place=None) -> SplitPlan:
    labels = all_labels[index]
    n = len(index)
    rng = lambda purpose: stream(config.seed, spec.name, purpose)  # noqa: E731

    grid = Cells(config.scale, config.position).grid()
    if config.groups and spec.background == S.RHO:
        cell, aligned = _group_design(config, spec.name, n, grid)
        scale, box, cell = _boxes_for(config, grid, cell, rng("boxes"))
        category = np.where(aligned, labels, other_category(labels, rng("category")))
    else:
        if place is not None:
            scale, box, cell = place
        else:
            scale, box, cell = placements(config, n, rng("cells"), rng("boxes"))
        category, aligned = background_categories(spec.background, labels, config, rng("category"))

    if spec.kind == PLAIN:
        photo = np.full(n, -1, dtype=np.int32)
    else:
        photo = draw_photos(category, pool, rng("photo"))

    crop_box = None
    if config.texture_sampling == "crop":
        crop_box = np.zeros((n, 4), dtype=np.int32)
        if spec.kind != PLAIN:
            crop_box = draw_crops(photo, pools.sizes, config.crop_size, rng("crop"))

    group = group_names(grid, cell, aligned, spec.kind) if config.groups else None
    if config.groups and spec.kind == BACKGROUND_ONLY:
        group = np.full(n, "BG", dtype=object)
    return SplitPlan(
        name=spec.name,
        kind=spec.kind,
        source_split=spec.source_split,
        mnist_index=index.astype(np.int32),
        label=labels,
        texture=category.astype(np.int64),
        photo=photo,
        aligned=aligned.astype(bool),
        scale=scale,
        box=box,
        crop_box=crop_box,
        group=group,
    )


def background_categories(
    rule: str, labels: np.ndarray, config: TexturedMNISTConfig, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """Each example's background category and whether it is the label's own (`splits` rules)."""
    n = len(labels)
    if rule == S.RHO:
        return draw_categories(labels, config.correlation, rng)
    if rule == S.OWN:
        return labels.copy(), np.ones(n, dtype=bool)
    if rule == S.OTHER:
        return other_category(labels, rng), np.zeros(n, dtype=bool)
    if rule == S.EVERY:  # rows come in runs of NUM_CLASSES per digit: category 0..9 in turn
        category = np.tile(np.arange(NUM_CLASSES, dtype=np.int64), n // NUM_CLASSES)
        return category, category == labels
    if rule == S.NO_CATEGORY:
        return np.full(n, NONE_TEXTURE, dtype=np.int64), np.zeros(n, dtype=bool)
    raise ValueError(f"unknown background rule {rule!r}")


def _group_design(config, name, n, grid):
    """Cells and alignment of the groups design (Hard-Spurious-ImageNet analogue).

    Groups are (scale, position) x {Original, Random background}. Validation is
    balanced over all groups; train is long-tailed: 80% from the easy groups
    (original background, the two largest scales) and 20% from the rest.
    """
    n_cells = len(grid)
    # group g < n_cells: original background of cell g; g >= n_cells: random background
    weights = np.ones(2 * n_cells)
    if name == "train":
        easy_scales = sorted(config.scale)[-2:]
        easy = np.array([s in easy_scales for s, _ in grid] + [False] * n_cells)
        weights = np.where(easy, 0.8 / easy.sum(), 0.2 / (~easy).sum())
    g = assign_cells(n, weights, stream(config.seed, name, "groups"))
    return g % n_cells, g < n_cells
