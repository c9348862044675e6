"""End-to-end builds of the `default` config from fake sources in the real formats."""

from __future__ import annotations

import io
import json
from pathlib import Path

import datasets
import numpy as np
import pytest
from conftest import N_TEST, N_TRAIN, shared_data_or_skip
from PIL import Image

from texmnist.generate.config import DEFAULT_CATEGORIES, named_config
from texmnist.repo.folder import build
from texmnist.repo.meta import META_FILE, read_metadata
from texmnist.sources import list_textures, load_digits, resolve_dtd
from texmnist.sources.photos import build_bank

SPLITS = ("train", "test_correlated", "test_random", "test_no_background")


def _png(value) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(value["bytes"])))


def load_split(folder: Path, split: str, name: str = "default") -> datasets.Dataset:
    return datasets.load_dataset(str(folder), name, split=split)


@pytest.fixture(scope="module")
def built(fake_sources, tmp_path_factory):
    mnist, dtd = fake_sources
    out = tmp_path_factory.mktemp("build") / "repo"
    config = named_config("default", mnist_dir=str(mnist), dtd_dir=str(dtd))
    result = build(config, out)
    return out, result, mnist, dtd


@pytest.fixture(scope="module")
def raw(built):
    """Every split as Python rows with undecoded PNG bytes."""
    out = built[0]
    rows = {}
    for split in SPLITS:
        ds = load_split(out, split).cast_column("image", datasets.Image(decode=False))
        rows[split] = ds.cast_column("mask", datasets.Image(decode=False)).to_list()
    return rows


@pytest.fixture(scope="module")
def bank(built):
    _, _, _, dtd = built
    root = resolve_dtd(dtd, download=False)
    files = list_textures(root, list(DEFAULT_CATEGORIES))
    b = build_bank(root / "images", files, size=28, mode="L", progress=False)
    return {f: b.images[i] for i, f in enumerate(b.files)}


def test_split_sizes_come_from_the_sources(built):
    out, result, _, _ = built
    expected = {"train": N_TRAIN, **{s: N_TEST for s in SPLITS[1:]}}
    assert {k: v["num_examples"] for k, v in result.splits.items()} == expected
    for split, n in expected.items():
        assert len(load_split(out, split)) == n


def test_foreground_is_mnist_and_background_is_the_recorded_texture(built, raw, bank):
    digits = load_digits("mnist", built[2], download=False)
    for split in ("train", "test_correlated", "test_random"):
        source = digits.train_images if split == "train" else digits.test_images
        for row in raw[split]:
            image, mask = _png(row["image"]), _png(row["mask"]).astype(bool)
            digit = source[row["mnist_index"]]
            assert np.array_equal(mask, digit > 25)  # intensity / 255 > 0.1
            assert np.array_equal(image[mask], digit[mask])
            texture = bank[row["texture_file"]]
            assert np.array_equal(image[~mask], texture[~mask])
            category = row["texture_file"].split("/")[0]
            assert DEFAULT_CATEGORIES.index(category) == row["texture"]


def test_aligned_flags(raw):
    assert all(r["aligned"] and r["texture"] == r["label"] for r in raw["train"])
    assert all(r["aligned"] and r["texture"] == r["label"] for r in raw["test_correlated"])
    assert not any(r["aligned"] or r["texture"] == r["label"] for r in raw["test_random"])


def test_no_background_is_the_mnist_bytes(built, raw):
    digits = load_digits("mnist", built[2], download=False)
    for row in raw["test_no_background"]:
        assert np.array_equal(_png(row["image"]), digits.test_images[row["mnist_index"]])
        assert row["texture"] == 10 and row["texture_file"] == "" and not row["aligned"]


def test_test_splits_are_paired_on_mnist_index(raw):
    indices = [[r["mnist_index"] for r in raw[s]] for s in SPLITS[1:]]
    assert indices[0] == indices[1] == indices[2] == list(range(N_TEST))
    labels = [[r["label"] for r in raw[s]] for s in SPLITS[1:]]
    assert labels[0] == labels[1] == labels[2]


def test_train_and_test_textures_are_disjoint(raw):
    train = {r["texture_file"] for r in raw["train"]}
    test = {r["texture_file"] for s in ("test_correlated", "test_random") for r in raw[s]}
    assert train and test and not train & test


def test_schema_identical_across_splits(built):
    out = built[0]
    features = [load_split(out, s).features for s in SPLITS]
    assert all(f == features[0] for f in features)
    assert features[0]["label"].names == [str(d) for d in range(10)]
    assert features[0]["texture"].names == [*DEFAULT_CATEGORIES, "none"]
    assert isinstance(features[0]["image"], datasets.Image)
    assert isinstance(features[0]["mask"], datasets.Image)


def test_decoded_modes(built):
    row = load_split(built[0], "test_random")[0]
    assert row["image"].mode == "L" and row["image"].size == (28, 28)
    assert row["mask"].mode == "1"


def test_streaming_round_trip_keeps_classlabels(built):
    out = built[0]
    stream = datasets.load_dataset(str(out), split="test_random", streaming=True)
    first = next(iter(stream))
    assert stream.features["texture"].names[-1] == "none"
    regular = load_split(out, "test_random")[0]
    assert first["label"] == regular["label"] and first["texture_file"] == regular["texture_file"]
    assert np.array_equal(np.asarray(first["image"]), np.asarray(regular["image"]))


def test_card_yaml_lists_every_split_with_exact_sizes(built):
    out = built[0]
    text = (out / "README.md").read_text()
    from huggingface_hub import DatasetCard

    card = DatasetCard(text)
    (config,) = card.data.configs
    assert config["config_name"] == "default" and config["default"] is True
    assert [d["split"] for d in config["data_files"]] == list(SPLITS)
    info = card.data.dataset_info
    counts = {s["name"]: s["num_examples"] for s in info["splits"]}
    assert counts == {"train": N_TRAIN, **{s: N_TEST for s in SPLITS[1:]}}
    assert (out / "images" / "preview-default.png").is_file()


def test_metadata_records_rule_and_fingerprint(built):
    out, result, _, _ = built
    meta = read_metadata(out)["configs"]["default"]
    assert meta["fingerprint"] == result.fingerprint and len(result.fingerprint) == 64
    assert "fallback" in meta["partition_rule"]
    assert meta["recipe"]["seed"] == 0
    assert set(meta["splits"]) == set(SPLITS)


def test_deterministic_across_runs_and_num_proc(built, fake_sources, tmp_path):
    out, result, _, _ = built
    mnist, dtd = fake_sources
    config = named_config("default", mnist_dir=str(mnist), dtd_dir=str(dtd))
    again = build(config, tmp_path / "again", num_proc=2)
    assert again.fingerprint == result.fingerprint
    for split in SPLITS:
        for a, b in zip(
            sorted((out / "data").glob(f"{split}-*")),
            sorted((tmp_path / "again" / "data").glob(f"{split}-*")),
            strict=True,
        ):
            assert a.read_bytes() == b.read_bytes()


def test_other_seed_changes_content(fake_sources, built, tmp_path):
    mnist, dtd = fake_sources
    config = named_config("default", mnist_dir=str(mnist), dtd_dir=str(dtd), seed=1)
    assert build(config, tmp_path / "s1").fingerprint != built[1].fingerprint


def test_test_random_spreads_over_the_other_nine(fake_sources, tmp_path):
    mnist, dtd = fake_sources
    config = named_config("default", mnist_dir=str(mnist), dtd_dir=str(dtd))
    # A bigger test split through the same code: repeat the fake digits.
    from texmnist.generate.recipe import Pools, plan_splits

    labels = np.tile(np.arange(10), 300)
    pools = Pools([np.arange(3)] * 10, [np.arange(3)] * 10)
    plan = plan_splits(config, labels, labels, pools)["test_random"]
    offset = (plan.texture - plan.label) % 10
    counts = np.bincount(offset, minlength=10)
    assert counts[0] == 0
    # each of the nine other categories: expected 333.3, sd ~17.6; 5 sd bound
    assert np.all(np.abs(counts[1:] - len(labels) / 9) < 5 * 17.6)


def test_real_data_build(tmp_path):
    data = shared_data_or_skip()
    mnist = tmp_path / "mnist"
    mnist.mkdir()
    # The real test digits stand in for the training set (see shared/data/README.md).
    for kind in ("images-idx3", "labels-idx1"):
        src = data / "mnist" / f"t10k-{kind}-ubyte.gz"
        (mnist / f"t10k-{kind}-ubyte.gz").symlink_to(src)
        (mnist / f"train-{kind}-ubyte.gz").symlink_to(src)
    config = named_config(
        "default", mnist_dir=str(mnist), dtd_dir=str(data / "dtd"), max_train=2000, max_test=500
    )
    result = build(config, tmp_path / "real", num_proc=2)
    assert result.splits["train"]["num_examples"] == 2000
    ds = load_split(tmp_path / "real", "test_random")
    assert len(ds) == 500 and not any(ds["aligned"])
    meta = json.loads((tmp_path / "real" / META_FILE).read_text())
    assert meta["configs"]["default"]["num_textures"]["train"] > 0


def test_table_writer_and_example_generator_agree(fake_sources, tmp_path):
    """The fast Arrow path of the builder writes exactly what `_generate_examples` yields."""
    from texmnist.repo.folder import builder_for

    mnist, dtd = fake_sources
    config = named_config("groups", mnist_dir=str(mnist), dtd_dir=str(dtd), validation_size=10)
    builder = builder_for(config, tmp_path / "cache")
    builder.download_and_prepare(output_dir=str(tmp_path / "arrow"))
    for split in ("validation", "test_random"):
        prepared = builder.as_dataset(split=split)
        streamed = list(builder.as_streaming_dataset(split=split))
        assert len(streamed) == len(prepared) > 0
        for a, b in zip(prepared, streamed, strict=True):
            assert a.keys() == b.keys()
            for key in a:
                if key in ("image", "mask"):
                    assert np.array_equal(np.asarray(a[key]), np.asarray(b[key]))
                else:
                    assert a[key] == b[key], key
