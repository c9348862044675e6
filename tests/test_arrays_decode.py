"""The array path against independent references: hand-built PNGs with every row filter
decoded like PIL, and the on-disk cache returning what the uncached path returns."""

from __future__ import annotations

import io
import struct
import zlib

import datasets
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from fakedata import config_entry
from PIL import Image

import texmnist.repo.arrays
from texmnist.errors import ConfigError
from texmnist.repo.arrays import (
    DataError,
    decode_pngs,
    load_arrays,
    load_split,
    split_names,
    to_numpy,
)
from texmnist.repo.meta import write_metadata

NONE, SUB, UP, AVERAGE, PAETH = range(5)


def _paeth(a: int, b: int, c: int) -> int:
    p = a + b - c
    pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
    return a if pa <= pb and pa <= pc else b if pb <= pc else c


def _filter_row(kind: int, row: bytes, prior: bytes, bpp: int) -> bytes:
    """PNG spec section 9.2, byte by byte (the encoder side, written independently)."""
    out = bytearray()
    for i, x in enumerate(row):
        a = row[i - bpp] if i >= bpp else 0
        b = prior[i]
        c = prior[i - bpp] if i >= bpp else 0
        predictor = (0, a, b, (a + b) // 2, _paeth(a, b, c))[kind]
        out.append((x - predictor) % 256)
    return bytes([kind]) + bytes(out)


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def _png(rows: list[bytes], width: int, depth: int, ctype: int, filters: list[int]) -> bytes:
    """A PNG of packed scanlines `rows`, row r filtered with filters[r]; one IDAT."""
    bpp = max(1, depth * {0: 1, 2: 3}[ctype] // 8)
    prior = bytes(len(rows[0]))
    raw = b""
    for row, kind in zip(rows, filters, strict=True):
        raw += _filter_row(kind, row, prior, bpp)
        prior = row
    ihdr = struct.pack(">IIBBBBB", width, len(rows), depth, ctype, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + _chunk(b"IHDR", ihdr)
        + _chunk(b"IDAT", zlib.compress(raw))
        + _chunk(b"IEND", b"")
    )


def _pil(blobs: list[bytes]) -> np.ndarray:
    return np.stack([np.asarray(Image.open(io.BytesIO(b))) for b in blobs])


def _images(rng, n: int, height: int, width: int, channels: int) -> list[np.ndarray]:
    return [rng.integers(0, 256, (height, width * channels), dtype=np.uint8) for _ in range(n)]


@pytest.fixture
def no_pil_fallback(monkeypatch):
    """The fast path must decode these itself: PIL is not called."""

    def refuse(blobs):
        raise AssertionError("took the PIL fallback")

    monkeypatch.setattr(texmnist.repo.arrays, "_decode_pil_all", refuse)


# Per image, one filter per row: all None, all Up (texmnist's own), all Sub, and rows
# mixing Sub and Up (also across images of the batch), which takes the row-by-row loop.
FAST_FILTERS = {
    "none": [[NONE] * 5] * 3,
    "up": [[UP] * 5] * 3,
    "sub": [[SUB] * 5] * 3,
    "mixed": [[SUB, UP, UP, SUB, NONE], [UP, SUB, NONE, UP, SUB], [NONE, NONE, SUB, SUB, UP]],
}


@pytest.mark.parametrize("pattern", sorted(FAST_FILTERS))
@pytest.mark.parametrize("ctype", [0, 2])  # 8-bit gray, 8-bit RGB
def test_hand_built_pngs_decode_like_pil_on_the_fast_path(pattern, ctype, no_pil_fallback):
    rng = np.random.default_rng(7)
    channels = {0: 1, 2: 3}[ctype]
    width = 6
    blobs = []
    for image, filters in zip(
        _images(rng, 3, 5, width, channels), FAST_FILTERS[pattern], strict=True
    ):
        blobs.append(_png([r.tobytes() for r in image], width, 8, ctype, filters))
    got = decode_pngs(blobs)
    expected = _pil(blobs)
    assert got.dtype == expected.dtype == np.uint8
    assert got.shape == expected.shape == ((3, 5, 6) if ctype == 0 else (3, 5, 6, 3))
    assert np.array_equal(got, expected)


@pytest.mark.parametrize("pattern", ["none", "up", "mixed"])
def test_one_bit_masks_decode_like_pil_on_the_fast_path(pattern, no_pil_fallback):
    rng = np.random.default_rng(3)
    width = 11  # not a multiple of 8: the padding bits of each row are dropped
    blobs = []
    for filters in FAST_FILTERS[pattern]:
        bits = rng.integers(0, 2, (5, width), dtype=np.uint8)
        rows = [np.packbits(r).tobytes() for r in bits]
        blobs.append(_png(rows, width, 1, 0, filters))
    got = decode_pngs(blobs)
    assert got.dtype == bool and got.shape == (3, 5, width)
    assert np.array_equal(got, _pil(blobs).astype(bool))


@pytest.mark.parametrize("kind", [AVERAGE, PAETH])
def test_average_and_paeth_rows_fall_back_to_pil(kind):
    rng = np.random.default_rng(5)
    blobs = [
        _png([r.tobytes() for r in img], 4, 8, 2, [UP, kind, SUB, NONE])
        for img in _images(rng, 2, 4, 4, 3)
    ]
    assert np.array_equal(decode_pngs(blobs), _pil(blobs))


def test_a_batch_with_one_odd_png_falls_back_to_pil():
    """Same shape but a second IDAT chunk in one image: not the fast path's format."""
    rng = np.random.default_rng(9)
    images = _images(rng, 3, 4, 5, 1)
    blobs = [_png([r.tobytes() for r in img], 5, 8, 0, [UP] * 4) for img in images]
    idat_at, iend_at = 33, blobs[1].index(b"IEND") - 4  # signature + IHDR; IEND's length
    stream = blobs[1][idat_at + 8 : iend_at - 4]  # between IDAT's type and its CRC
    two = _chunk(b"IDAT", stream[:3]) + _chunk(b"IDAT", stream[3:])
    blobs[1] = blobs[1][:idat_at] + two + blobs[1][iend_at:]
    assert np.array_equal(decode_pngs(blobs), np.stack(images))


def test_different_shapes_in_one_batch_are_an_error():
    small = _png([bytes(3)] * 2, 3, 8, 0, [NONE] * 2)
    large = _png([bytes(4)] * 2, 4, 8, 0, [NONE] * 2)
    with pytest.raises(DataError, match="image 1: shape"):
        decode_pngs([small, large])


# -- the cache ----------------------------------------------------------------------


@pytest.fixture(scope="module")
def table_ds() -> datasets.Dataset:
    """Every kind of column the array path handles, with 12 rows."""
    rng = np.random.default_rng(1)
    images = rng.integers(0, 256, (12, 4, 5), dtype=np.uint8)
    return datasets.Dataset.from_dict(
        {
            "image": [Image.fromarray(x) for x in images],
            "label": [int(x) for x in rng.integers(0, 10, 12)],
            "name": [f"photo_{'x' * i}.jpg" for i in range(12)],
            "box": [[i, i + 1, i + 2, i + 3] for i in range(12)],
            "score": [float(i) / 7 for i in range(12)],
            "flag": [bool(i % 3) for i in range(12)],
        },
        features=datasets.Features(
            {
                "image": datasets.Image(),
                "label": datasets.ClassLabel(num_classes=10),
                "name": datasets.Value("string"),
                "box": datasets.Sequence(datasets.Value("int32"), length=4),
                "score": datasets.Value("float32"),
                "flag": datasets.Value("bool"),
            }
        ),
    )


def test_cache_hit_equals_the_uncached_path_for_every_column(table_ds, tmp_path):
    plain = to_numpy(table_ds)
    assert plain["image"].shape == (12, 4, 5) and plain["label"].dtype == np.int64
    assert plain["name"].dtype == object and plain["box"].shape == (12, 4)
    written = to_numpy(table_ds, cache_dir=tmp_path)
    hit = to_numpy(table_ds, cache_dir=tmp_path)
    assert len(list(tmp_path.iterdir())) == 1
    for got in (written, hit):
        assert set(got) == set(plain)
        for name, expected in plain.items():
            assert got[name].dtype == expected.dtype, name
            assert got[name].shape == expected.shape, name
            assert np.array_equal(got[name], expected), name
    # Strings come back as Python str objects of the right length, not fixed-width numpy str.
    assert [type(x) for x in hit["name"]] == [str] * 12
    assert list(hit["name"]) == table_ds["name"]


def test_cache_of_one_dataset_is_never_served_for_another_of_the_same_length(table_ds, tmp_path):
    first, second = table_ds.select(range(6)), table_ds.select(range(6, 12))
    assert len(first) == len(second)
    to_numpy(first, cache_dir=tmp_path)
    got = to_numpy(second, cache_dir=tmp_path)
    assert np.array_equal(got["image"], to_numpy(second)["image"])
    assert list(got["name"]) == table_ds["name"][6:]
    # Another column selection of the same rows is another entry too.
    only = to_numpy(second, columns=["label"], cache_dir=tmp_path)
    assert set(only) == {"label"}
    assert len(list(tmp_path.iterdir())) == 3


def test_cache_of_an_empty_string_column(table_ds, tmp_path):
    empty = table_ds.select([])
    got = to_numpy(empty, columns=["name", "label"], cache_dir=tmp_path)
    again = to_numpy(empty, columns=["name", "label"], cache_dir=tmp_path)
    for arrays in (got, again):
        assert arrays["name"].shape == (0,) and arrays["name"].dtype == object
        assert arrays["label"].shape == (0,)


def test_empty_split_keeps_column_shapes(table_ds, tmp_path):
    empty = table_ds.select([])
    for arrays in (to_numpy(empty), to_numpy(empty, cache_dir=tmp_path / "a" / "b")):
        assert arrays["box"].shape == (0, 0)
        assert arrays["label"].shape == (0,) and arrays["label"].dtype == np.int64
    assert len(list((tmp_path / "a" / "b").iterdir())) == 1  # nested folders are made


# -- loading and listing splits ---------------------------------------------------------


@pytest.fixture
def parquet_folder(tmp_path):
    """A plain Parquet dataset folder (no texmnist.json): splits train and test."""
    (tmp_path / "data").mkdir()
    for split, labels in (("train", [1, 2, 3]), ("test", [4, 5])):
        table = pa.table({"label": pa.array(labels, pa.int64())})
        pq.write_table(table, tmp_path / "data" / f"{split}-00000-of-00001.parquet")
    return tmp_path


def test_split_names_from_texmnist_json(tmp_path):
    entry = config_entry({"train": ["rgb/a.parquet"], "test_random": ["rgb/b.parquet"]})
    write_metadata(tmp_path, {"configs": {"rgb": entry}})
    assert split_names(tmp_path, "rgb") == ["train", "test_random"]
    with pytest.raises(ConfigError) as e:
        split_names(tmp_path, "default")
    assert str(e.value) == f"{tmp_path}: config 'default' is not built there (has rgb)"
    write_metadata(tmp_path, {"configs": {}})
    with pytest.raises(ConfigError, match=r"is not built there \(has none\)"):
        split_names(tmp_path, "default")


def test_split_names_and_load_split_of_a_plain_parquet_folder(parquet_folder, tmp_path):
    assert sorted(split_names(parquet_folder, "default")) == ["test", "train"]
    assert load_split(parquet_folder, "default", "test")["label"] == [4, 5]
    cache = tmp_path / "cache"
    arrays = load_arrays(parquet_folder, "default", "train", cache_dir=cache)
    assert arrays["label"].tolist() == [1, 2, 3]
    assert len(list(cache.iterdir())) == 1  # load_arrays passes its cache on
    with pytest.raises(ConfigError) as e:
        load_split(parquet_folder, "default", "validation")
    message = str(e.value)
    assert message.startswith(f"{parquet_folder}: config 'default' has no split 'validation' (")
    assert "\n" not in message


def test_missing_folder_is_a_data_error(tmp_path):
    with pytest.raises(DataError) as e:
        load_split(tmp_path / "nowhere", "default", "train")
    assert str(e.value).startswith(f"{tmp_path / 'nowhere'}: ")
    with pytest.raises(DataError, match="no such folder, and not a Hub dataset"):
        split_names(tmp_path / "nowhere", "default")
    # a plausible repo id that cannot be reached (the tests are offline)
    with pytest.raises(DataError, match="cannot list the splits of config"):
        split_names("someone/not-here", "default")


def test_a_png_without_ihdr_first_is_not_decoded_by_the_fast_path():
    """Only a true IHDR is trusted; anything else is PIL's to judge (and PIL refuses it)."""
    good = _png([bytes(3)] * 2, 3, 8, 0, [NONE] * 2)
    bad = good[:12] + b"IHDx" + good[16:]
    with pytest.raises(Exception) as e:
        decode_pngs([bad])
    assert not isinstance(e.value, AssertionError)
    assert decode_pngs([good]).shape == (1, 2, 3)


def test_no_pngs_decode_to_an_empty_uint8_batch():
    """An empty split has the dtype of a full one, so concatenations keep uint8."""
    for empty in ([], pa.array([], type=pa.binary())):
        out = decode_pngs(empty)
        assert out.dtype == np.uint8 and out.shape == (0, 0, 0)
