"""The array path: exact PNG decoding, metadata columns, the fingerprint-keyed cache."""

from __future__ import annotations

import io

import datasets
import numpy as np
import pytest
from PIL import Image

from texmnist.arrays import decode_pngs, load_arrays, to_numpy
from texmnist.config import named_config
from texmnist.errors import ConfigError
from texmnist.folder import build


@pytest.fixture(scope="module")
def repo(fake_sources, tmp_path_factory):
    mnist, dtd = fake_sources
    out = tmp_path_factory.mktemp("arrays") / "repo"
    build(named_config("default", mnist_dir=str(mnist), dtd_dir=str(dtd)), out)
    return out


def _pil(blobs: list[bytes]) -> np.ndarray:
    return np.stack([np.asarray(Image.open(io.BytesIO(b))) for b in blobs])


def test_to_numpy_matches_pil_decoding_exactly(repo):
    ds = datasets.load_dataset(str(repo), "default", split="test_random")
    arrays = to_numpy(ds)
    raw = ds.with_format("arrow")[:]
    for col in ("image", "mask"):
        blobs = raw.column(col).combine_chunks().field("bytes").to_pylist()
        expected = _pil(blobs)
        assert arrays[col].dtype == expected.dtype
        assert np.array_equal(arrays[col], expected)
    assert arrays["mask"].dtype == bool
    assert np.array_equal(arrays["label"], np.array(ds["label"]))
    assert np.array_equal(arrays["texture"], np.array(ds["texture"]))
    assert arrays["texture_file"].dtype == object
    assert list(arrays["texture_file"]) == ds["texture_file"]


@pytest.mark.parametrize("mode", ["L", "RGB", "1", "P", "LA"])
def test_decode_pngs_any_png_like_pil(mode):
    """Foreign PNGs (PIL's own filters, palettes, alpha) decode like PIL too."""
    rng = np.random.default_rng(0)
    blobs = []
    for _ in range(5):
        arr = rng.integers(0, 256, size=(9, 13, 3), dtype=np.uint8)
        buf = io.BytesIO()
        Image.fromarray(arr, "RGB").convert(mode).save(buf, format="PNG", optimize=True)
        blobs.append(buf.getvalue())
    assert np.array_equal(decode_pngs(blobs), _pil(blobs))


def test_selected_and_shuffled_rows(repo):
    ds = datasets.load_dataset(str(repo), "default", split="train").shuffle(seed=1).select([3, 1])
    arrays = to_numpy(ds, columns=["image", "label"])
    assert set(arrays) == {"image", "label"}
    assert list(arrays["label"]) == ds["label"]
    assert np.array_equal(arrays["image"][0], np.asarray(ds[0]["image"]))


def test_cache_returns_identical_arrays_as_memory_maps(repo, tmp_path):
    ds = datasets.load_dataset(str(repo), "default", split="train")
    first = to_numpy(ds, cache_dir=tmp_path)
    again = to_numpy(ds, cache_dir=tmp_path)
    assert isinstance(again["image"], np.memmap)
    assert set(first) == set(again)
    for key in first:
        assert first[key].dtype == again[key].dtype
        assert np.array_equal(first[key], again[key])
    assert np.array_equal(to_numpy(ds)["image"], again["image"])


def test_load_arrays_and_unknown_columns(repo):
    arrays = load_arrays(repo, "default", "test_no_background", columns=["label", "mask"])
    assert arrays["mask"].shape[1:] == (28, 28)
    with pytest.raises(ConfigError, match="columns"):
        load_arrays(repo, "default", "train", columns=["nope"])
