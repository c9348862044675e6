"""The array path: exact PNG decoding, metadata columns, the fingerprint-keyed cache."""

from __future__ import annotations

import io
import shutil

import datasets
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from PIL import Image

from texmnist.errors import ConfigError
from texmnist.generate.config import named_config
from texmnist.repo.arrays import DataError, decode_pngs, load_arrays, load_split, to_numpy
from texmnist.repo.folder import build
from texmnist.repo.meta import META_FILE, read_metadata


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


# -- load_split: a texmnist folder read straight from its Parquet files ------------------


@pytest.fixture(scope="module")
def sharded(fake_sources, tmp_path_factory):
    """A folder whose splits span several shards (so shard order matters)."""
    import texmnist.repo.folder as folder

    mnist, dtd = fake_sources
    out = tmp_path_factory.mktemp("arrays") / "sharded"
    patch = pytest.MonkeyPatch()
    patch.setattr(folder, "LAYOUT", folder.ShardLayout(shard_rows=7))
    try:
        build(named_config("default", mnist_dir=str(mnist), dtd_dir=str(dtd)), out)
    finally:
        patch.undo()
    return out


@pytest.mark.parametrize("which", ["repo", "sharded"])
def test_load_split_reads_what_load_dataset_reads(which, request):
    """The direct Parquet read gives load_dataset's rows, order, features and arrays."""

    folder = request.getfixturevalue(which)
    splits = read_metadata(folder)["configs"]["default"]["splits"]
    if which == "sharded":
        assert max(len(s["files"]) for s in splits.values()) > 1
    for split in splits:
        direct = load_split(folder, "default", split)
        stock = datasets.load_dataset(str(folder), "default", split=split)
        assert direct.features == stock.features
        assert direct.split == stock.split
        assert direct.data.table.equals(stock.data.table)
        ours, theirs = to_numpy(direct), to_numpy(stock)
        for key in theirs:
            assert ours[key].dtype == theirs[key].dtype, key
            assert np.array_equal(ours[key], theirs[key]), key


def test_load_split_falls_back_to_load_dataset_without_metadata(repo, tmp_path):
    foreign = tmp_path / "foreign"
    shutil.copytree(repo, foreign)
    (foreign / META_FILE).unlink()
    got = load_split(foreign, "default", "test_random")
    want = load_split(repo, "default", "test_random")
    assert got.data.table.equals(want.data.table)
    assert got._fingerprint != want._fingerprint  # load_dataset's own, not ours


def test_edited_shard_is_refused_not_served_from_the_array_cache(repo, tmp_path):
    """A shard edited after the build no longer matches the fingerprint texmnist.json
    records: it is refused, even when an array cache of the old content exists."""
    copy = tmp_path / "copy"
    shutil.copytree(repo, copy)
    cache = tmp_path / "cache"
    load_arrays(copy, "default", "test_random", cache_dir=cache)
    (path,) = [
        copy / f
        for f in read_metadata(copy)["configs"]["default"]["splits"]["test_random"]["files"]
    ]
    table = pq.read_table(path)
    labels = table.column("label").to_pylist()
    labels[0] = (labels[0] + 1) % 10
    edited = table.set_column(
        table.schema.get_field_index("label"), table.schema.field("label"),
        pa.array(labels, type=table.schema.field("label").type),
    )  # fmt: skip
    pq.write_table(edited, path)
    with pytest.raises(DataError) as info:
        load_arrays(copy, "default", "test_random", cache_dir=cache)
    assert str(info.value) == (
        f"{path.parent}: the test_random shards of config 'default' do not match their "
        f"fingerprint in texmnist.json (changed after the build); rebuild the config, or run "
        f"`texmnist verify {copy}`"
    )


@pytest.mark.parametrize("fault", ["missing", "garbage"])
def test_load_split_names_the_bad_shard(repo, tmp_path, fault):
    copy = tmp_path / "copy"
    shutil.copytree(repo, copy)
    name = read_metadata(copy)["configs"]["default"]["splits"]["train"]["files"][0]
    if fault == "missing":
        (copy / name).unlink()
    else:
        (copy / name).write_bytes(b"not parquet at all")
    with pytest.raises(DataError, match=name.split("/")[-1]) as info:
        load_split(copy, "default", "train")
    assert len(str(info.value).splitlines()) == 1


def test_load_split_unknown_split_lists_the_known_ones(repo):
    with pytest.raises(ConfigError, match="no split 'validation'.*test_random"):
        load_split(repo, "default", "validation")
