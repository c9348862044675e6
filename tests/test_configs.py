"""The named configs and the parameters that dial the cue: one invariant each."""

from __future__ import annotations

import io

import datasets
import numpy as np
import pytest
from conftest import N_TEST, N_TRAIN
from fakedata import make_fake_mnist
from PIL import Image

from texmnist.errors import ConfigError
from texmnist.generate.config import NAMED_CONFIGS, TexturedMNISTConfig, named_config
from texmnist.generate.recipe import BOX_COLUMNS, CROP_COLUMNS, Pools, exact_counts, plan_splits
from texmnist.repo.folder import build
from texmnist.repo.meta import read_metadata
from texmnist.sources import DTD_CATEGORIES, load_digits, resolve_dtd
from texmnist.sources.photos import decode_photos, render_crops

VAL = 10


def _png(value) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(value["bytes"])))


def _rows(folder, name, split):
    ds = datasets.load_dataset(str(folder), name, split=split)
    for column in ("image", "mask"):
        ds = ds.cast_column(column, datasets.Image(decode=False))
    return ds.to_list()


@pytest.fixture(scope="module")
def folder(fake_sources, tmp_path_factory):
    """One folder holding every named config built from the fake MNIST sources."""
    mnist, dtd = fake_sources
    out = tmp_path_factory.mktemp("configs") / "repo"
    for name in NAMED_CONFIGS:
        if name == "fashion":
            continue
        kwargs = {} if name == "default" else {"validation_size": VAL}
        build(named_config(name, mnist_dir=str(mnist), dtd_dir=str(dtd), **kwargs), out)
    return out


@pytest.mark.parametrize("name", [n for n in NAMED_CONFIGS if n != "fashion"])
def test_every_named_config_builds_with_its_splits(folder, name):
    meta = read_metadata(folder)["configs"][name]
    sizes = {s: v["num_examples"] for s, v in meta["splits"].items()}
    expected = {"train": N_TRAIN, "test_correlated": N_TEST, "test_random": N_TEST}
    if name != "default":
        expected |= {"train": N_TRAIN - VAL, "validation": VAL, "test_background_only": N_TEST}
        # counterfactual_size 2,000 is capped at the 40 test digits: ten rows each
        expected |= {"test_counterfactual": 10 * N_TEST}
    assert {k: sizes[k] for k in expected} == expected
    assert sizes["test_no_background"] == N_TEST


def test_validation_is_disjoint_from_train(folder):
    train = {r["mnist_index"] for r in _rows(folder, "rho-0.9", "train")}
    val = {r["mnist_index"] for r in _rows(folder, "rho-0.9", "validation")}
    assert len(val) == VAL and not train & val and len(train | val) == N_TRAIN


def test_rgb_images_have_three_channels_and_gray_strokes(folder):
    for row in _rows(folder, "rgb", "test_random")[:10]:
        image, mask = _png(row["image"]), _png(row["mask"]).astype(bool)
        assert image.shape == (28, 28, 3)
        fg = image[mask]
        assert np.array_equal(fg[:, 0], fg[:, 1]) and np.array_equal(fg[:, 1], fg[:, 2])
    features = datasets.load_dataset(str(folder), "rgb", split="train").features
    assert features == datasets.load_dataset(str(folder), "rgb", split="validation").features


def test_crop_texture_equals_the_recorded_crop(folder, fake_sources):
    dtd = resolve_dtd(fake_sources[1], download=False)
    rows = _rows(folder, "crop", "test_correlated")
    files = sorted({r["texture_file"] for r in rows})
    photos = dict(zip(files, decode_photos(dtd / "images", files, progress=False), strict=True))
    for row in rows:
        photo = photos[row["texture_file"]]
        crop = [row[c] for c in CROP_COLUMNS]
        x0, y0, x1, y1 = crop
        assert 0 <= x0 < x1 <= photo.shape[1] and 0 <= y0 < y1 <= photo.shape[0]
        assert x1 - x0 == y1 - y0
        texture = render_crops([photo], np.array([0]), np.array([crop]), 28)[0]
        image, mask = _png(row["image"]), _png(row["mask"]).astype(bool)
        assert np.array_equal(image[~mask], texture[~mask])


def test_foreground_texture_fills_strokes_on_black(folder):
    for row in _rows(folder, "foreground-texture", "test_correlated")[:10]:
        image, mask = _png(row["image"]), _png(row["mask"]).astype(bool)
        assert mask.any() and np.all(image[~mask] == 0)


def test_background_only_is_the_texture_labelled_by_its_category(folder):
    rows = _rows(folder, "rho-0.9", "test_background_only")
    for row in rows:
        assert row["texture"] == row["label"] and row["aligned"]
        assert not _png(row["mask"]).any()
    assert len({r["texture_file"] for r in rows}) > 5


def test_groups_mask_inside_box_and_group_names(folder):
    for split in ("train", "test_correlated", "test_random", "test_no_background"):
        for row in _rows(folder, "groups", split):
            x0, y0, x1, y1 = (row[c] for c in BOX_COLUMNS)
            assert x1 - x0 == y1 - y0 == row["scale"] and row["scale"] in (14, 21, 28)
            assert 0 <= x0 and x1 <= 56 and 0 <= y0 and y1 <= 56
            mask = _png(row["mask"]).astype(bool)
            assert mask.shape == (56, 56)
            outside = mask.copy()
            outside[y0:y1, x0:x1] = False
            assert not outside.any()
            position = "Ce" if x0 == (56 - row["scale"]) // 2 else "Co"
            if position == "Co":
                assert (x1, y0) == (56, 0)
            bg = {"test_no_background": "N"}.get(split, "O" if row["aligned"] else "R")
            assert row["group"] == f"{position}{bg}-{row['scale']}"


def _plan(name: str, n_train: int = 12_000, n_test: int = 1_200, **kw):
    labels = np.arange(n_train) % 10
    tests = np.arange(n_test) % 10
    pool = [np.arange(3) + 3 * c for c in range(10)]
    pools = Pools(pool, pool)
    return plan_splits(named_config(name, **kw), labels, tests, pools)


def test_group_counts_are_exact():
    plans = _plan("groups", n_train=12_000, n_test=1_200, validation_size=1_200)
    for split in ("test_correlated", "test_random"):
        names, counts = np.unique(plans[split].group, return_counts=True)
        assert len(names) == 6 and np.all(counts == 200)
    names, counts = np.unique(plans["validation"].group, return_counts=True)
    assert len(names) == 12 and np.all(counts == 100)
    train = dict(zip(*np.unique(plans["train"].group, return_counts=True), strict=True))
    easy = [g for g in train if g[2] == "O" and g.endswith(("-21", "-28"))]
    assert len(easy) == 4 and sum(train[g] for g in easy) == int(0.8 * 10_800)
    assert sum(train.values()) == 10_800


def test_exact_counts_sum_and_proportions():
    counts = exact_counts(10, np.array([1.0, 1.0, 1.0]))
    assert counts.sum() == 10 and sorted(counts.tolist()) == [3, 3, 4]


@pytest.mark.parametrize("rho", [0.0, 0.5, 0.9, 0.99, 1.0])
def test_aligned_fraction_within_binomial_bound(rho):
    plan = _plan("default", correlation=rho)["train"]
    n = len(plan)
    sd = np.sqrt(n * rho * (1 - rho))
    assert abs(plan.aligned.sum() - n * rho) <= 5 * sd + 1e-9
    assert np.array_equal(plan.aligned, plan.texture == plan.label)
    tests = _plan("default", correlation=rho)
    assert tests["test_correlated"].aligned.all() and not tests["test_random"].aligned.any()


def test_uncorrelated_is_uniform_over_all_ten():
    plan = _plan("uncorrelated", n_train=20_000)["train"]
    n = len(plan)  # 20,000 less the 5,000 validation digits
    offsets = np.bincount((plan.texture - plan.label) % 10, minlength=10)
    assert np.all(np.abs(offsets - n / 10) < 5 * np.sqrt(n * 0.1 * 0.9))


def test_splits_draw_from_independent_streams():
    a = _plan("rho-0.9")
    b = _plan("rho-0.9", background_only=False)
    assert np.array_equal(a["train"].photo, b["train"].photo)
    assert np.array_equal(a["test_random"].texture, b["test_random"].texture)


def test_fashion_labels_carry_fashion_names(tmp_path, fake_sources):
    mnist = make_fake_mnist(tmp_path / "fashion", n_train=30, n_test=20, source="fashion_mnist")
    digits = load_digits("fashion_mnist", mnist, download=False)
    assert len(digits.train_labels) == 30
    out = tmp_path / "repo"
    cfg = named_config("fashion", mnist_dir=str(mnist), dtd_dir=str(fake_sources[1]))
    cfg.validation_size = 5
    build(cfg, out)
    names = datasets.load_dataset(str(out), "fashion", split="train").features["label"].names
    assert names[0] == "T-shirt/top" and names[9] == "Ankle boot"


INVALID = [
    ({"correlation": 1.5}, "correlation"),
    ({"correlation": "high"}, "correlation"),
    ({"threshold": 1.0}, "threshold"),
    ({"canvas": 20, "scale": 28}, "scale"),
    ({"scale": "big"}, "scale"),
    ({"scale": [14, 14]}, "scale"),
    ({"position": "left"}, "position"),
    ({"color": "cmyk"}, "color"),
    ({"texture_sampling": "tile"}, "texture_sampling"),
    ({"crop_size": 0}, "crop_size"),
    ({"foreground": "both"}, "foreground"),
    ({"source": "cifar"}, "source"),
    ({"validation_size": -1}, "validation_size"),
    ({"partition": 11}, "partition"),
    ({"seed": -3}, "seed"),
    ({"seed": 1.5}, "seed"),
    ({"background_only": "yes"}, "background_only"),
    ({"categories": ("banded",) * 10}, "duplicate"),
    ({"categories": ("velvet", *DTD_CATEGORIES[1:10])}, "unknown DTD category"),
    ({"categories": DTD_CATEGORIES[:9]}, "10 DTD category"),
    ({"max_train": 0}, "max_train"),
]


@pytest.mark.parametrize(("kwargs", "needle"), INVALID)
def test_invalid_parameters_raise_one_line(kwargs, needle):
    with pytest.raises(ConfigError) as info:
        TexturedMNISTConfig(name="x", **kwargs)
    message = str(info.value)
    assert needle in message and "\n" not in message


def test_unknown_config_name():
    with pytest.raises(ConfigError, match="unknown config 'rho-0.5'"):
        named_config("rho-0.5")


def test_validation_larger_than_train_is_refused():
    with pytest.raises(ConfigError, match="validation_size"):
        _plan("rho-0.9", n_train=100, validation_size=100)


# -- the split table and the counterfactual split ---------------------------------------


def test_config_splits_follow_the_table():
    assert named_config("default").splits == (
        "train", "test_correlated", "test_random", "test_no_background"
    )  # fmt: skip
    assert named_config("rho-0.9").splits == (
        "train", "validation", "test_correlated", "test_random", "test_no_background",
        "test_background_only", "test_counterfactual",
    )  # fmt: skip
    assert "test_counterfactual" in named_config("default", counterfactual_size=5).splits


def test_counterfactual_plan_is_the_full_factorial():
    plans = _plan("rho-0.9", n_test=1_200, counterfactual_size=300)
    cf, corr = plans["test_counterfactual"], plans["test_correlated"]
    assert len(cf) == 3_000
    digits = cf.mnist_index.reshape(300, 10)
    assert np.array_equal(digits, np.repeat(np.arange(300), 10).reshape(300, 10))
    # every digit on each of the ten categories once, exactly one of them its own
    assert np.array_equal(
        np.sort(cf.texture.reshape(300, 10), axis=1), np.tile(np.arange(10), (300, 1))
    )
    assert np.all(cf.aligned.reshape(300, 10).sum(axis=1) == 1)
    assert np.array_equal(cf.aligned, cf.texture == cf.label)
    assert np.array_equal(cf.label, corr.label[cf.mnist_index])
    # photos come from the test pool of the row's category (pool c holds 3c..3c+2)
    assert np.array_equal(cf.photo // 3, cf.texture)
    # placement is the test digit's placement, the same on all ten rows
    assert np.array_equal(cf.box, corr.box[cf.mnist_index])


def test_counterfactual_placement_is_shared_on_a_varied_canvas():
    plans = _plan("sizes", n_test=600, counterfactual_size=50)
    cf, rnd = plans["test_counterfactual"], plans["test_random"]
    assert np.array_equal(cf.box, rnd.box[cf.mnist_index])
    assert np.array_equal(cf.scale, rnd.scale[cf.mnist_index])
    assert len(np.unique(cf.box.reshape(50, 10, 4), axis=1)) == 50  # one box per digit


def test_counterfactual_is_capped_at_the_test_digits_and_off_by_default():
    assert len(_plan("rho-0.9", n_test=40)["test_counterfactual"]) == 400
    assert "test_counterfactual" not in _plan("default")


def test_adding_the_counterfactual_split_changes_no_other_split():
    a = _plan("default")
    b = _plan("default", counterfactual_size=100)
    for name, plan in a.items():
        for field in ("mnist_index", "texture", "photo", "box"):
            assert np.array_equal(getattr(plan, field), getattr(b[name], field)), (name, field)


def test_counterfactual_rows_share_the_digit_and_differ_in_background(folder):
    rows = _rows(folder, "rho-0.9", "test_counterfactual")[:30]
    for k in range(0, 30, 10):
        group = rows[k : k + 10]
        masks = [_png(r["mask"]).astype(bool) for r in group]
        images = [_png(r["image"]) for r in group]
        assert all(np.array_equal(m, masks[0]) for m in masks)
        assert all(np.array_equal(i[masks[0]], images[0][masks[0]]) for i in images)
        assert sorted(r["texture"] for r in group) == list(range(10))
        assert len({r["mnist_index"] for r in group}) == 1


def test_sizes_draws_scale_and_position_uniformly_in_every_split():
    plans = _plan("sizes", n_train=24_000, n_test=6_000, validation_size=6_000)
    for name in ("train", "validation", "test_random"):
        plan = plans[name]
        n = len(plan)
        corner = plan.box[:, 2] == 56  # top-right: x1 at the canvas edge
        cells = np.bincount(np.searchsorted([14, 21, 28], plan.scale) * 2 + corner, minlength=6)
        assert np.all(np.abs(cells - n / 6) < 5 * np.sqrt(n * (1 / 6) * (5 / 6))), name
