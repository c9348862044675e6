"""IDX reading, digit-source loading, DTD discovery and texture partitions."""

from __future__ import annotations

import dataclasses
import gzip
import hashlib
from pathlib import Path

import numpy as np
import pytest
from fakedata import FIRST_TEN, fake_digits, make_fake_dtd, make_fake_mnist
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image

from texmnist.errors import ConfigError, DownloadError, SourceError, SourceNotFoundError
from texmnist.sources import (
    DIGIT_SOURCES,
    DTD_ARCHIVE,
    DTD_CATEGORIES,
    FALLBACK_RULE,
    IDX_IMAGES_MAGIC,
    IDX_LABELS_MAGIC,
    DigitSource,
    fallback_is_test,
    fetch,
    list_textures,
    load_digits,
    locate_dtd,
    partition_textures,
    read_idx,
    resolve_dtd,
)
from texmnist.sources.fetch import Remote
from texmnist.sources.idx import idx_bytes, write_idx
from texmnist.sources.provenance import DIGIT_PROVENANCE

REAL_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"

# --- IDX ----------------------------------------------------------------------


@pytest.mark.parametrize("gz", [True, False])
def test_idx_round_trip(tmp_path, gz):
    images, labels = fake_digits(12, seed=3)
    ip = write_idx(tmp_path / "imgs.idx", images, gz=gz)
    lp = write_idx(tmp_path / "lbls.idx", labels, gz=gz)
    assert (ip.read_bytes()[:2] == b"\x1f\x8b") is gz
    got = read_idx(ip, expected_magic=IDX_IMAGES_MAGIC)
    assert got.dtype == np.uint8 and got.shape == (12, 28, 28)
    np.testing.assert_array_equal(got, images)
    np.testing.assert_array_equal(read_idx(lp, expected_magic=IDX_LABELS_MAGIC), labels)
    got[0, 0, 0] = 7  # callers may write into the arrays


def test_gzip_detected_by_content_not_name(tmp_path):
    images, _ = fake_digits(3)
    path = tmp_path / "plain-name-idx3-ubyte"  # no .gz, but gzipped
    path.write_bytes(gzip.compress(idx_bytes(images)))
    np.testing.assert_array_equal(read_idx(path), images)


def test_fake_digits_are_digit_like():
    images, labels = fake_digits(40, seed=1)
    assert images.dtype == np.uint8 and images.shape == (40, 28, 28)
    assert set(labels.tolist()) == set(range(10))
    values = set(np.unique(images).tolist())
    assert {0, 25, 26, 255} <= values and len(values) > 100
    assert (images == 0).mean() > 0.6  # mostly black background
    np.testing.assert_array_equal(fake_digits(40, seed=1)[0], images)
    assert not np.array_equal(fake_digits(40, seed=2)[0], images)


def _write(tmp_path: Path, name: str, data: bytes) -> Path:
    path = tmp_path / name
    path.write_bytes(data)
    return path


def _error(path: Path, **kwargs) -> str:
    with pytest.raises(SourceError) as info:
        read_idx(path, **kwargs)
    message = str(info.value)
    assert str(path) in message and "\n" not in message
    return message


def test_wrong_magic(tmp_path):
    _, labels = fake_digits(5)
    path = write_idx(tmp_path / "t10k-images-idx3-ubyte.gz", labels, gz=True)
    message = _error(path, expected_magic=IDX_IMAGES_MAGIC)
    assert message == (f"{path}: bad magic number 2049 (expected 2051 for an IDX image file)")


def test_not_an_idx_file(tmp_path):
    path = _write(tmp_path, "x.idx", b"PK\x03\x04 a zip file really")
    assert "bad magic number" in _error(path)
    float_idx = _write(tmp_path, "f.idx", bytes([0, 0, 0x0D, 1]) + (1).to_bytes(4, "big") + b"abcd")
    assert "not an unsigned-byte IDX file" in _error(float_idx)


def test_empty_file(tmp_path):
    assert "empty file" in _error(_write(tmp_path, "empty.idx", b""))


def test_empty_after_gunzip(tmp_path):
    assert "empty" in _error(_write(tmp_path, "e.gz", gzip.compress(b"")))


def test_truncated_gzip(tmp_path):
    data = gzip.compress(idx_bytes(fake_digits(20)[0]))
    path = _write(tmp_path, "cut.gz", data[: len(data) // 2])
    assert "truncated or corrupt gzip" in _error(path)


def test_corrupt_gzip(tmp_path):
    data = bytearray(gzip.compress(idx_bytes(fake_digits(20)[0])))
    data[len(data) // 2] ^= 0xFF
    data[len(data) // 2 + 1] ^= 0xFF
    assert "gzip" in _error(_write(tmp_path, "bad.gz", bytes(data)))


def test_truncated_payload(tmp_path):
    data = idx_bytes(fake_digits(4)[0])
    assert "truncated IDX data" in _error(_write(tmp_path, "t.idx", data[:-1]))


def test_truncated_header(tmp_path):
    data = idx_bytes(fake_digits(4)[0])
    assert "incomplete IDX header" in _error(_write(tmp_path, "h.idx", data[:9]))
    assert "incomplete IDX header" in _error(_write(tmp_path, "h2.idx", data[:3]))


def test_trailing_bytes(tmp_path):
    data = idx_bytes(fake_digits(4)[1])
    assert "3 unexpected trailing bytes" in _error(_write(tmp_path, "t.idx", data + b"abc"))


def test_missing_file_is_a_source_error(tmp_path):
    assert "cannot read" in _error(tmp_path / "nope.idx")


@settings(
    max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(data=st.binary(max_size=200))
def test_fuzz_random_bytes(tmp_path, data):
    _fuzz_one(tmp_path / "fuzz.idx", data)


@st.composite
def idx_like(draw) -> bytes:
    """Headers that are valid or nearly so, with payloads of about the right length."""
    ndim = draw(st.integers(0, 4))
    dims = draw(st.lists(st.integers(0, 6), min_size=ndim, max_size=ndim))
    dtype = draw(st.sampled_from([0x08, 0x08, 0x08, 0x09, 0x0D]))
    lead = draw(st.sampled_from([b"\x00\x00", b"\x00\x00", b"\x01\x00"]))
    header = lead + bytes([dtype, ndim]) + b"".join(d.to_bytes(4, "big") for d in dims)
    size = int(np.prod(dims)) if dims else 0
    size = max(0, size + draw(st.sampled_from([0, 0, 0, -1, 1, 5])))
    body = header + draw(st.binary(min_size=size, max_size=size))
    body = body[: draw(st.integers(0, len(body)))] if draw(st.booleans()) else body
    return gzip.compress(body) if draw(st.booleans()) else body


@settings(
    max_examples=400, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(data=idx_like())
def test_fuzz_idx_like(tmp_path, data):
    _fuzz_one(tmp_path / "fuzz.idx", data)


def _fuzz_one(path: Path, data: bytes) -> None:
    path.write_bytes(data)
    try:
        array = read_idx(path)
    except SourceError as e:
        assert str(path) in str(e) and "\n" not in str(e)
        return
    # Accepted: the array must be exactly what the header describes.
    raw = gzip.decompress(data) if data[:2] == b"\x1f\x8b" else data
    assert array.dtype == np.uint8
    assert raw[:3] == b"\x00\x00\x08" and array.ndim == raw[3]
    assert idx_bytes(array) == raw


# --- digit sources --------------------------------------------------------------


def test_digit_source_tables():
    assert list(DIGIT_SOURCES) == ["mnist", "fashion_mnist", "kmnist"]
    assert DIGIT_SOURCES["mnist"].class_names == tuple("0123456789")
    assert DIGIT_SOURCES["fashion_mnist"].class_names[0] == "T-shirt/top"
    assert DIGIT_SOURCES["kmnist"].class_names[-1] == "wo"
    sizes = {r.filename: r.size for r in DIGIT_SOURCES["mnist"].files.values()}
    assert sizes == {
        "train-images-idx3-ubyte.gz": 9912422,
        "train-labels-idx1-ubyte.gz": 28881,
        "t10k-images-idx3-ubyte.gz": 1648877,
        "t10k-labels-idx1-ubyte.gz": 4542,
    }
    for src in DIGIT_SOURCES.values():
        assert len(src.class_names) == 10 == len(set(src.class_names))
        assert set(src.files) == {"train_images", "train_labels", "test_images", "test_labels"}
        for remote in src.files.values():
            assert len(remote.sha256) == 64 and int(remote.sha256, 16) >= 0
            assert remote.urls and all(u.endswith("/" + remote.filename) for u in remote.urls)
        record = DIGIT_PROVENANCE[src.name]  # every digit source has its licence and citation
        assert record.bibtex.startswith("@") and record.homepage.startswith("http")
        assert record.license_id and record.terms


@pytest.mark.parametrize("layout", ["flat", "torchvision"])
@pytest.mark.parametrize("gz", [True, False])
def test_load_digits_from_folder(tmp_path, layout, gz):
    folder = make_fake_mnist(tmp_path, n_train=20, n_test=10, gz=gz, layout=layout)
    digits = load_digits("mnist", folder, download=False)
    assert digits.source is DIGIT_SOURCES["mnist"]
    assert digits.train_images.shape == (20, 28, 28) and digits.test_images.shape == (10, 28, 28)
    np.testing.assert_array_equal(digits.train_images, fake_digits(20, 0)[0])
    np.testing.assert_array_equal(digits.test_labels, fake_digits(10, 1)[1])
    expected_dir = folder if layout == "flat" else folder / "MNIST" / "raw"
    assert digits.files["test_images"] == expected_dir / (
        "t10k-images-idx3-ubyte" + (".gz" if gz else "")
    )


def test_load_fashion_mnist_torchvision_layout(tmp_path):
    folder = make_fake_mnist(tmp_path, layout="torchvision", source="fashion_mnist")
    assert (tmp_path / "FashionMNIST" / "raw" / "train-images-idx3-ubyte.gz").is_file()
    digits = load_digits("fashion_mnist", folder)
    assert digits.source.class_names[9] == "Ankle boot"
    assert len(digits.train_labels) == 60


def test_missing_digit_file_message(tmp_path):
    make_fake_mnist(tmp_path)
    (tmp_path / "train-labels-idx1-ubyte.gz").unlink()
    with pytest.raises(SourceNotFoundError) as info:
        load_digits("mnist", tmp_path)
    message = str(info.value)
    assert message.startswith(
        f"MNIST file train-labels-idx1-ubyte[.gz] not found in {tmp_path.absolute()} "
        f"(also looked in {tmp_path.absolute() / 'MNIST' / 'raw'}"
    )
    assert message.endswith("pass --mnist-dir FOLDER holding the four IDX files")


def test_missing_folder_message(tmp_path):
    with pytest.raises(SourceNotFoundError, match="does not exist; pass --mnist-dir"):
        load_digits("mnist", tmp_path / "nowhere")
    # each source names its own option, as `build --config all` takes one folder per source
    with pytest.raises(SourceNotFoundError, match="does not exist; pass --kmnist-dir"):
        load_digits("kmnist", tmp_path / "nowhere")


def test_unknown_source():
    with pytest.raises(ConfigError, match="unknown; choose one of mnist, fashion_mnist, kmnist"):
        load_digits("emnist", "/nowhere")


def test_images_not_28x28(tmp_path):
    make_fake_mnist(tmp_path)
    write_idx(tmp_path / "t10k-images-idx3-ubyte.gz", np.zeros((30, 32, 32), np.uint8), gz=True)
    with pytest.raises(SourceError, match=r"t10k-images-idx3-ubyte.gz: images are 32×32 pixels"):
        load_digits("mnist", tmp_path)


def test_counts_disagree(tmp_path):
    make_fake_mnist(tmp_path)
    write_idx(tmp_path / "train-labels-idx1-ubyte.gz", np.zeros(59, np.uint8), gz=True)
    with pytest.raises(SourceError) as info:
        load_digits("mnist", tmp_path)
    message = str(info.value)
    assert "train-images-idx3-ubyte.gz holds 60 images" in message
    assert "train-labels-idx1-ubyte.gz holds 59 labels" in message


def test_label_out_of_range(tmp_path):
    make_fake_mnist(tmp_path)
    labels = np.zeros(30, np.uint8)
    labels[7] = 12
    write_idx(tmp_path / "t10k-labels-idx1-ubyte.gz", labels, gz=True)
    with pytest.raises(SourceError) as info:
        load_digits("mnist", tmp_path)
    assert str(info.value).startswith(
        f"{tmp_path / 't10k-labels-idx1-ubyte.gz'}: label 12 at index 7 is out of range 0..9"
    )


def test_labels_file_in_images_role(tmp_path):
    make_fake_mnist(tmp_path)
    write_idx(tmp_path / "train-images-idx3-ubyte.gz", np.zeros(60, np.uint8), gz=True)
    with pytest.raises(SourceError, match="bad magic number 2049 .expected 2051"):
        load_digits("mnist", tmp_path)


def _served_source(tmp_path: Path) -> DigitSource:
    """MNIST with its Remotes pointing at fake files served from file:// URLs."""
    served = make_fake_mnist(tmp_path / "server")
    files = {}
    for role, remote in DIGIT_SOURCES["mnist"].files.items():
        data = (served / remote.filename).read_bytes()
        url = (served / remote.filename).as_uri()
        files[role] = Remote(remote.filename, (url,), hashlib.sha256(data).hexdigest(), len(data))
    return dataclasses.replace(DIGIT_SOURCES["mnist"], files=files)


@pytest.mark.usefixtures("online")
def test_load_digits_downloads_into_cache(tmp_path):
    fake = _served_source(tmp_path)
    cache = tmp_path / "cache"
    digits = load_digits(fake, cache_dir=cache, progress=False)
    assert digits.files["train_images"] == cache / "train-images-idx3-ubyte.gz"
    assert digits.train_images.shape == (60, 28, 28)
    # Second call: downloads off, served files gone -> must come from the cache.
    for remote in fake.files.values():
        (tmp_path / "server" / remote.filename).unlink()
    again = load_digits(fake, cache_dir=cache, download=False)
    np.testing.assert_array_equal(again.test_images, digits.test_images)


@pytest.mark.usefixtures("online")
def test_load_digits_unreachable_mentions_folder_option(tmp_path):
    src = DIGIT_SOURCES["mnist"]
    missing = (tmp_path / "nowhere" / "x").as_uri()
    files = {r: Remote(m.filename, (missing,), m.sha256, m.size) for r, m in src.files.items()}
    fake = dataclasses.replace(src, files=files)
    with pytest.raises(DownloadError) as info:
        load_digits(fake, cache_dir=tmp_path / "cache", progress=False)
    assert "could not download train-images-idx3-ubyte.gz" in str(info.value)
    assert "pass --mnist-dir FOLDER" in str(info.value)


def test_load_digits_no_download_no_cache(tmp_path):
    with pytest.raises(
        SourceNotFoundError, match=r"downloads are off \(--no-download\); pass --mnist-dir"
    ):
        load_digits("mnist", cache_dir=tmp_path, download=False)


@pytest.mark.skipif(not (REAL_DATA / "mnist").is_dir(), reason="no real data in ../shared/data")
def test_real_mnist_test_files():
    mnist = REAL_DATA / "mnist"
    images = read_idx(mnist / "t10k-images-idx3-ubyte.gz", expected_magic=IDX_IMAGES_MAGIC)
    labels = read_idx(mnist / "t10k-labels-idx1-ubyte.gz", expected_magic=IDX_LABELS_MAGIC)
    assert images.shape == (10000, 28, 28) and images.dtype == np.uint8
    assert labels.shape == (10000,)
    assert set(np.unique(labels).tolist()) == set(range(10))
    assert images.max() == 255 and images.min() == 0


# --- DTD ------------------------------------------------------------------------


def test_dtd_categories():
    assert len(DTD_CATEGORIES) == 47 == len(set(DTD_CATEGORIES))
    assert list(DTD_CATEGORIES) == sorted(DTD_CATEGORIES)
    assert DTD_CATEGORIES[:3] == ("banded", "blotchy", "braided")
    assert "polka-dotted" in DTD_CATEGORIES and DTD_CATEGORIES[-1] == "zigzagged"
    assert DTD_ARCHIVE.size == 625239812 and DTD_ARCHIVE.filename == "dtd-r1.0.1.tar.gz"


@pytest.mark.parametrize(
    ("layout", "root"), [("dtd", "."), ("parent", "dtd"), ("torchvision", "dtd/dtd")]
)
def test_locate_dtd_layouts(tmp_path, layout, root):
    folder = make_fake_dtd(tmp_path, FIRST_TEN[:2], per_category=2, layout=layout)
    expected = (tmp_path / root).resolve()
    assert locate_dtd(folder).resolve() == expected
    assert resolve_dtd(folder).resolve() == expected


def test_resolve_dtd_missing_images(tmp_path):
    (tmp_path / "dtd").mkdir()
    with pytest.raises(SourceNotFoundError) as info:
        resolve_dtd(tmp_path)
    message = str(info.value)
    assert str(tmp_path / "dtd" / "dtd" / "images") in message
    assert message.endswith("pass --dtd-dir FOLDER (the extracted dtd-r1.0.1.tar.gz)")
    assert locate_dtd(tmp_path) is None


def test_resolve_dtd_no_download_no_cache(tmp_path):
    with pytest.raises(
        SourceNotFoundError, match=r"downloads are off \(--no-download\); pass --dtd-dir"
    ):
        resolve_dtd(cache_dir=tmp_path, download=False)


@pytest.mark.usefixtures("online")
def test_resolve_dtd_downloads_and_extracts(tmp_path, monkeypatch):
    import tarfile

    make_fake_dtd(tmp_path / "src", FIRST_TEN[:2], per_category=3, layout="parent")
    archive = tmp_path / "dtd-r1.0.1.tar.gz"
    with tarfile.open(archive, "w:gz") as tar:
        tar.add(tmp_path / "src" / "dtd", arcname="dtd")
    data = archive.read_bytes()
    remote = Remote(archive.name, (archive.as_uri(),), hashlib.sha256(data).hexdigest(), len(data))
    monkeypatch.setattr("texmnist.sources.dtd.DTD_ARCHIVE", remote)
    cache = tmp_path / "cache"
    root = resolve_dtd(cache_dir=cache, progress=False)
    assert root == cache / "dtd-r1.0.1" / "dtd"
    assert list_textures(root, FIRST_TEN[:2]) == list_textures(tmp_path / "src/dtd", FIRST_TEN[:2])
    archive.unlink()
    # Reused: neither the (now gone) mirror nor the cached archive is needed.
    (cache / "dtd-r1.0.1.tar.gz").unlink()
    assert resolve_dtd(cache_dir=cache, download=False) == root


def test_list_textures_ignores_junk_and_keeps_modes(tmp_path):
    root = locate_dtd(make_fake_dtd(tmp_path, per_category=5))
    files = list_textures(root, FIRST_TEN)
    assert list(files) == list(FIRST_TEN)
    assert len(files["banded"]) == 5 and files["banded"] == sorted(files["banded"])
    assert all(f.startswith("banded/banded_") and f.endswith(".jpg") for f in files["banded"])
    assert files["blotchy"][2].endswith(".png")
    everything = [f for names in files.values() for f in names]
    assert len(everything) == 50
    assert not any(
        Path(f).name.startswith(".") or "Thumbs" in f or "readme" in f for f in everything
    )
    modes = {Image.open(root / "images" / f).mode for f in everything}
    assert modes == {"RGB", "L", "P", "CMYK"}
    sizes = {Image.open(root / "images" / f).size for f in everything}
    assert all(40 <= w <= 120 and 40 <= h <= 120 and w != h for w, h in sizes)


def test_list_textures_accepts_upper_case_and_jpeg(tmp_path):
    root = locate_dtd(make_fake_dtd(tmp_path, ["banded"], per_category=1))
    before = list_textures(root, ["banded"])["banded"]
    img = Image.new("RGB", (50, 40))
    img.save(root / "images" / "banded" / "extra.JPEG", format="JPEG")
    img.save(root / "images" / "banded" / "zz.Png", format="PNG")
    (root / "images" / "banded" / "photo.gif").write_bytes(b"GIF89a")
    assert list_textures(root, ["banded"])["banded"] == [
        *before,
        "banded/extra.JPEG",
        "banded/zz.Png",
    ]


def test_missing_category(tmp_path):
    root = locate_dtd(make_fake_dtd(tmp_path, FIRST_TEN[:2], per_category=2))
    with pytest.raises(SourceError) as info:
        list_textures(root, ["banded", "bumpy"])
    assert str(info.value).startswith(
        f"{root / 'images' / 'bumpy'}: DTD category 'bumpy' not found;"
    )


def test_category_without_photos(tmp_path):
    root = locate_dtd(make_fake_dtd(tmp_path, ["banded"], per_category=1))
    (root / "images" / "blotchy").mkdir()
    (root / "images" / "blotchy" / "notes.txt").write_text("x")
    with pytest.raises(SourceError, match="'blotchy' holds no .jpg/.jpeg/.png photos"):
        list_textures(root, ["blotchy"])


def test_fake_dtd_is_deterministic(tmp_path):
    a = make_fake_dtd(tmp_path / "a", FIRST_TEN[:3], per_category=4, seed=5)
    b = make_fake_dtd(tmp_path / "b", FIRST_TEN[:3], per_category=4, seed=5)
    names = list_textures(a, FIRST_TEN[:3])
    assert names == list_textures(b, FIRST_TEN[:3])
    for f in names["braided"]:
        assert (a / "images" / f).read_bytes() == (b / "images" / f).read_bytes()


# --- partitions -------------------------------------------------------------------


def test_official_partition(tmp_path):
    root = locate_dtd(make_fake_dtd(tmp_path, FIRST_TEN[:4], per_category=6, with_labels=True))
    files = list_textures(root, FIRST_TEN[:3])  # a subset: other categories are ignored
    # Lists that differ from the fallback rule: the first two photos test, the rest train/val.
    labels = root / "labels"
    everything = list_textures(root, FIRST_TEN[:4])
    lists = {"train1": [], "val1": [], "test1": []}
    for names in everything.values():
        lists["test1"] += names[:2]
        lists["train1"] += names[2:4]
        lists["val1"] += names[4:]
    for stem, entries in lists.items():
        (labels / f"{stem}.txt").write_text("".join(e + "\n" for e in reversed(entries)))
    part = partition_textures(root, files, 1)
    assert part.rule == (
        "official partition 1: labels/train1.txt + val1.txt for train, labels/test1.txt for test"
    )
    assert list(part.train) == list(FIRST_TEN[:3]) == list(part.test)
    for c in files:
        assert part.test[c] == files[c][:2]
        assert part.train[c] == files[c][2:]


def test_fake_dtd_labels_match_the_fallback_split(tmp_path):
    root = locate_dtd(make_fake_dtd(tmp_path, FIRST_TEN[:3], per_category=7, with_labels=True))
    files = list_textures(root, FIRST_TEN[:3])
    official = partition_textures(root, files, 1)
    for c in files:
        assert official.test[c] == [files[c][k] for k in (1, 4)]  # photo k is test iff k % 3 == 1
        assert not set(official.train[c]) & set(official.test[c])
        assert sorted(official.train[c] + official.test[c]) == files[c]
    for name in ("train1.txt", "val1.txt", "test1.txt"):
        (root / "labels" / name).unlink()
    fallback = partition_textures(root, files, 1)
    assert fallback.rule == FALLBACK_RULE
    assert (fallback.train, fallback.test) == (official.train, official.test)


def test_official_partition_names_missing_photo(tmp_path):
    root = locate_dtd(make_fake_dtd(tmp_path, FIRST_TEN[:2], per_category=3, with_labels=True))
    with open(root / "labels" / "test1.txt", "a") as f:
        f.write("banded/banded_9999.jpg\n")
    files = list_textures(root, FIRST_TEN[:2])
    with pytest.raises(SourceError) as info:
        partition_textures(root, files, 1)
    assert str(info.value).startswith(
        f"{root / 'labels' / 'test1.txt'}: entry 'banded/banded_9999.jpg'"
    )


def test_partition_incomplete_labels(tmp_path):
    root = locate_dtd(make_fake_dtd(tmp_path, FIRST_TEN[:2], per_category=3, with_labels=True))
    (root / "labels" / "val1.txt").unlink()
    with pytest.raises(SourceError, match="missing val1.txt"):
        partition_textures(root, list_textures(root, FIRST_TEN[:2]), 1)


def test_partition_other_number_without_files_falls_back(tmp_path):
    root = locate_dtd(make_fake_dtd(tmp_path, FIRST_TEN[:2], per_category=12, with_labels=True))
    part = partition_textures(root, list_textures(root, FIRST_TEN[:2]), 2)
    assert part.rule == FALLBACK_RULE


@pytest.mark.parametrize("bad", [0, 11, -1, 1.0, "1", True, None])
def test_partition_number_validated(tmp_path, bad):
    with pytest.raises(ConfigError, match="partition: must be an integer 1..10"):
        partition_textures(tmp_path, {}, bad)


def test_fallback_partition(tmp_path):
    root = locate_dtd(make_fake_dtd(tmp_path, FIRST_TEN[:3], per_category=4))
    files = list_textures(root, FIRST_TEN[:3])
    # Photos whose names were not chosen by fakedata: numbered 0..29 without gaps.
    for i in range(30):
        Image.new("L", (41, 40)).save(root / "images" / "braided" / f"braided_{i:04d}.jpg")
    files = list_textures(root, FIRST_TEN[:3])
    assert len(files["braided"]) >= 30
    part = partition_textures(root, files, 1)
    assert part.rule == FALLBACK_RULE and "% 3 == 0" in part.rule and "\n" not in part.rule
    for c, names in files.items():
        assert not set(part.train[c]) & set(part.test[c])
        assert sorted(part.train[c] + part.test[c]) == names
        for n in part.test[c]:
            digest = hashlib.sha256(Path(n).name.encode()).hexdigest()
            assert int(digest, 16) % 3 == 0
    assert partition_textures(root, files, 1) == part  # deterministic
    # Independent of listing order.
    shuffled = {c: list(reversed(v)) for c, v in files.items()}
    assert partition_textures(root, shuffled, 1) == part


def test_fallback_split_is_about_two_thirds():
    names = [f"banded_{k:04d}.jpg" for k in range(300)]
    n_test = sum(fallback_is_test(n) for n in names)
    assert 70 <= n_test <= 130  # expectation 100, sd about 8


def test_category_with_no_test_photos(tmp_path):
    root = locate_dtd(make_fake_dtd(tmp_path, ["banded"], per_category=1))
    files = list_textures(root, ["banded"])
    assert not fallback_is_test(files["banded"][0].split("/")[1])  # photo 0 is a train photo
    with pytest.raises(SourceError) as info:
        partition_textures(root, files, 1)
    message = str(info.value)
    assert message.startswith(f"{root / 'images' / 'banded'}: DTD category 'banded'")
    assert "has no test photos" in message and FALLBACK_RULE in message


@pytest.mark.skipif(not (REAL_DATA / "dtd").is_dir(), reason="no real data in ../shared/data")
def test_real_dtd_listing_and_fallback():
    root = resolve_dtd(REAL_DATA)
    files = list_textures(root, FIRST_TEN)
    assert all(len(v) == 120 for v in files.values())
    part = partition_textures(root, files, 1)
    assert part.rule == FALLBACK_RULE
    n_train = sum(len(v) for v in part.train.values())
    assert 700 <= n_train <= 900


@pytest.mark.usefixtures("online")
def test_fetch_is_the_download_path(monkeypatch, tmp_path):
    """load_digits goes through fetch.download (so its atomicity applies)."""
    calls = []

    def fake_download(remote, dest, *, progress=True, hint=""):
        calls.append((remote.filename, hint))
        raise DownloadError(f"could not download {remote.filename}: offline; {hint}")

    monkeypatch.setattr(fetch, "download", fake_download)
    with pytest.raises(DownloadError):
        load_digits("mnist", cache_dir=tmp_path, progress=False)
    assert calls and "--mnist-dir" in calls[0][1]
