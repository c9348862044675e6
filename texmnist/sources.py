"""Source data: MNIST-style IDX digit files and DTD texture photos.

Everything about *where* the sources live (mirrors, checksums, folder layouts,
partitions) is here; reading pixels out of the photos is not.
"""

from __future__ import annotations

import gzip
import hashlib
import os
import shutil
import zlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from texmnist import fetch
from texmnist.errors import ConfigError, SourceError, SourceNotFoundError
from texmnist.fetch import Remote

# ---------------------------------------------------------------------------
# IDX files
# ---------------------------------------------------------------------------

IDX_IMAGES_MAGIC = 2051  # 0x00000803: unsigned bytes, 3 dimensions
IDX_LABELS_MAGIC = 2049  # 0x00000801: unsigned bytes, 1 dimension
_IDX_UBYTE = 0x08
_KIND = {IDX_IMAGES_MAGIC: "IDX image file", IDX_LABELS_MAGIC: "IDX label file"}


def _raw_bytes(path: Path) -> bytes:
    try:
        data = path.read_bytes()
    except OSError as e:
        raise SourceError(f"{path}: cannot read ({e.strerror or e})") from e
    if not data:
        raise SourceError(f"{path}: empty file")
    # Detect gzip by content, not name: torchvision keeps both forms, users rename files.
    if data[:2] == b"\x1f\x8b":
        try:
            data = gzip.decompress(data)
        except (OSError, EOFError, zlib.error) as e:
            raise SourceError(f"{path}: truncated or corrupt gzip data ({e})") from e
        if not data:
            raise SourceError(f"{path}: gzip data decompresses to an empty file")
    return data


def read_idx(path: str | os.PathLike[str], expected_magic: int | None = None) -> np.ndarray:
    """Read an unsigned-byte IDX file (optionally gzipped) into a uint8 array.

    Raises SourceError, and nothing else, for any malformed content.
    """
    path = Path(path).absolute()
    data = _raw_bytes(path)
    if len(data) < 4:
        raise SourceError(f"{path}: incomplete IDX header ({len(data)} bytes, need at least 4)")
    magic = int.from_bytes(data[:4], "big")
    if expected_magic is not None and magic != expected_magic:
        kind = _KIND.get(expected_magic, "this IDX file")
        raise SourceError(
            f"{path}: bad magic number {magic} (expected {expected_magic} for an {kind})"
        )
    if data[0] != 0 or data[1] != 0 or data[2] != _IDX_UBYTE or data[3] == 0:
        raise SourceError(
            f"{path}: bad magic number {magic} (not an unsigned-byte IDX file; "
            f"expected {IDX_IMAGES_MAGIC} for images or {IDX_LABELS_MAGIC} for labels)"
        )
    ndim = data[3]
    header = 4 + 4 * ndim
    if len(data) < header:
        raise SourceError(
            f"{path}: incomplete IDX header ({len(data)} bytes, need {header} for {ndim} dims)"
        )
    shape = tuple(int.from_bytes(data[4 + 4 * i : 8 + 4 * i], "big") for i in range(ndim))
    expected = 1
    for dim in shape:
        expected *= dim  # Python ints: no overflow for absurd headers
    payload = len(data) - header
    if payload < expected:
        dims = "×".join(map(str, shape))
        raise SourceError(
            f"{path}: truncated IDX data ({payload} bytes, header promises {dims} = {expected})"
        )
    if payload > expected:
        raise SourceError(
            f"{path}: {payload - expected} unexpected trailing bytes after the IDX data"
        )
    # copy(): frombuffer on bytes is read-only, which surprises callers (torch warns).
    return np.frombuffer(data, dtype=np.uint8, offset=header).reshape(shape).copy()


# ---------------------------------------------------------------------------
# Digit sources
# ---------------------------------------------------------------------------

ROLES = ("train_images", "train_labels", "test_images", "test_labels")
_FILENAMES = {
    "train_images": "train-images-idx3-ubyte.gz",
    "train_labels": "train-labels-idx1-ubyte.gz",
    "test_images": "t10k-images-idx3-ubyte.gz",
    "test_labels": "t10k-labels-idx1-ubyte.gz",
}


@dataclass(frozen=True)
class DigitSource:
    """An MNIST-format 10-class dataset: class names, files and provenance."""

    name: str  # config key, e.g. "fashion_mnist"
    title: str  # for people, e.g. "Fashion-MNIST"
    class_names: tuple[str, ...]
    files: dict[str, Remote]  # role -> Remote, roles as in ROLES
    torchvision_dir: str  # torchvision keeps the files in <root>/<torchvision_dir>/raw/
    citation: str
    license: str
    homepage: str
    dir_option: str = "--mnist-dir"  # the CLI option that points at a local copy


def _remotes(mirrors: tuple[str, ...], checks: Mapping[str, tuple[int, str]]) -> dict[str, Remote]:
    files = {}
    for role in ROLES:
        name = _FILENAMES[role]
        size, sha256 = checks[name]
        files[role] = Remote(name, tuple(m + name for m in mirrors), sha256, size)
    return files


# Sizes and sha256 from tensorflow/datasets, tensorflow_datasets/url_checksums/mnist.txt
# (commit 31f1255e57e519a6c004f0b097a2f5cfcf0dde7d). The three mirrors serve identical bytes.
_MNIST_CHECKS = {
    "train-images-idx3-ubyte.gz": (
        9912422,
        "440fcabf73cc546fa21475e81ea370265605f56be210a4024d2ca8f203523609",
    ),
    "train-labels-idx1-ubyte.gz": (
        28881,
        "3552534a0a558bbed6aed32b30c495cca23d567ec52cac8be1a0730e8010255c",
    ),
    "t10k-images-idx3-ubyte.gz": (
        1648877,
        "8d422c7b0a1c1c79245a5bcf07fe86e33eeafee792b84584aec276f5a2dbc4e6",
    ),
    "t10k-labels-idx1-ubyte.gz": (
        4542,
        "f7ae60f92e00ec6debd23a6088c31dbd2371eca3ffa0defaefb259924204aec6",
    ),
}

# From tensorflow/datasets, tensorflow_datasets/url_checksums/fashion_mnist.txt
# (commit 333639b37af6c6fedf3610a4a2d42f1c6ef6f7d5).
_FASHION_CHECKS = {
    "train-images-idx3-ubyte.gz": (
        26421880,
        "3aede38d61863908ad78613f6a32ed271626dd12800ba2636569512369268a84",
    ),
    "train-labels-idx1-ubyte.gz": (
        29515,
        "a04f17134ac03560a47e3764e11b92fc97de4d1bfaf8ba1a3aa29af54cc90845",
    ),
    "t10k-images-idx3-ubyte.gz": (
        4422102,
        "346e55b948d973a97e58d2351dde16a484bd415d4595297633bb08f03db6a073",
    ),
    "t10k-labels-idx1-ubyte.gz": (
        5148,
        "67da17c76eaffca5446c3361aaab5c3cd6d1c2608764d35dfb1850b086bf8dd5",
    ),
}

# From tensorflow/datasets, tensorflow_datasets/url_checksums/kmnist.txt
# (commit 333639b37af6c6fedf3610a4a2d42f1c6ef6f7d5).
_KMNIST_CHECKS = {
    "train-images-idx3-ubyte.gz": (
        18165135,
        "51467d22d8cc72929e2a028a0428f2086b092bb31cfb79c69cc0a90ce135fde4",
    ),
    "train-labels-idx1-ubyte.gz": (
        29497,
        "e38f9ebcd0f3ebcdec7fc8eabdcdaef93bb0df8ea12bee65224341c8183d8e17",
    ),
    "t10k-images-idx3-ubyte.gz": (
        3041136,
        "edd7a857845ad6bb1d0ba43fe7e794d164fe2dce499a1694695a792adfac43c5",
    ),
    "t10k-labels-idx1-ubyte.gz": (
        5120,
        "20bb9a0ef54c7db3efc55a92eef5582c109615df22683c380526788f98e42a1c",
    ),
}

MNIST = DigitSource(
    name="mnist",
    title="MNIST",
    class_names=tuple(str(d) for d in range(10)),
    files=_remotes(
        (
            "https://ossci-datasets.s3.amazonaws.com/mnist/",  # torchvision's mirror
            "https://storage.googleapis.com/cvdf-datasets/mnist/",  # TFDS's mirror
            "http://yann.lecun.com/exdb/mnist/",  # the original, often unreachable
        ),
        _MNIST_CHECKS,
    ),
    torchvision_dir="MNIST",
    citation=(
        "@article{lecun2010mnist, title={MNIST handwritten digit database}, "
        "author={LeCun, Yann and Cortes, Corinna and Burges, CJ}, "
        "journal={ATT Labs [Online]. Available: http://yann.lecun.com/exdb/mnist}, "
        "volume={2}, year={2010}}"
    ),
    license="no license stated by the authors (commonly redistributed as CC BY-SA 3.0)",
    homepage="http://yann.lecun.com/exdb/mnist/",
)

FASHION_MNIST = DigitSource(
    name="fashion_mnist",
    title="Fashion-MNIST",
    class_names=(
        "T-shirt/top",
        "Trouser",
        "Pullover",
        "Dress",
        "Coat",
        "Sandal",
        "Shirt",
        "Sneaker",
        "Bag",
        "Ankle boot",
    ),
    files=_remotes(
        ("http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",), _FASHION_CHECKS
    ),
    torchvision_dir="FashionMNIST",
    citation=(
        "@article{xiao2017fashion, author={Han Xiao and Kashif Rasul and Roland Vollgraf}, "
        "title={Fashion-MNIST: a Novel Image Dataset for Benchmarking Machine Learning "
        "Algorithms}, journal={CoRR}, volume={abs/1708.07747}, year={2017}}"
    ),
    license="MIT",
    homepage="https://github.com/zalandoresearch/fashion-mnist",
)

KMNIST = DigitSource(
    name="kmnist",
    title="KMNIST",
    class_names=("o", "ki", "su", "tsu", "na", "ha", "ma", "ya", "re", "wo"),
    files=_remotes(("http://codh.rois.ac.jp/kmnist/dataset/kmnist/",), _KMNIST_CHECKS),
    torchvision_dir="KMNIST",
    citation=(
        "@online{clanuwat2018deep, author={Tarin Clanuwat and Mikel Bober-Irizarry and "
        "Asanobu Kitamoto and Alex Lamb and Kazuaki Yamamoto and David Ha}, "
        "title={Deep Learning for Classical Japanese Literature}, year={2018}, "
        "eprinttype={arXiv}, eprint={cs.CV/1812.01718}}"
    ),
    license="CC BY-SA 4.0 (KMNIST Dataset, created by CODH, adapted from Kuzushiji Dataset)",
    homepage="https://github.com/rois-codh/kmnist",
)

DIGIT_SOURCES: dict[str, DigitSource] = {s.name: s for s in (MNIST, FASHION_MNIST, KMNIST)}


@dataclass
class Digits:
    """The four arrays of a digit source, and the files they were read from."""

    source: DigitSource
    train_images: np.ndarray  # (N, 28, 28) uint8
    train_labels: np.ndarray  # (N,) uint8
    test_images: np.ndarray
    test_labels: np.ndarray
    files: dict[str, Path]  # role -> path read


def digit_source(source: str | DigitSource) -> DigitSource:
    """Look up a digit source by name (a DigitSource passes through)."""
    if isinstance(source, DigitSource):
        return source
    try:
        return DIGIT_SOURCES[source]
    except (KeyError, TypeError):
        choices = ", ".join(DIGIT_SOURCES)
        raise ConfigError(f"digit source {source!r}: unknown; choose one of {choices}") from None


def _folder_hint(src: DigitSource) -> str:
    return f"pass {src.dir_option} FOLDER holding the four IDX files"


def find_digit_files(src: DigitSource, folder: str | os.PathLike[str]) -> dict[str, Path]:
    """Find the four IDX files of ``src`` in a local folder (flat or torchvision layout)."""
    folder = Path(folder).expanduser().absolute()
    if not folder.is_dir():
        raise SourceNotFoundError(
            f"{folder}: {src.title} folder does not exist; {_folder_hint(src)}"
        )
    places = [folder, folder / src.torchvision_dir / "raw", folder / "raw"]
    found = {}
    for role in ROLES:
        stem = _FILENAMES[role].removesuffix(".gz")
        candidates = [d / n for d in places for n in (stem, stem + ".gz")]
        path = next((p for p in candidates if p.is_file()), None)
        if path is None:
            for candidate in candidates:
                _check_link(candidate)
            also = ", ".join(str(p) for p in places[1:])
            raise SourceNotFoundError(
                f"{src.title} file {stem}[.gz] not found in {folder} (also looked in {also}); "
                f"{_folder_hint(src)}"
            )
        found[role] = path
    return found


def _check_link(path: Path) -> None:
    """A symlink leading nowhere (dangling or a loop) is an error, not a silently missing file."""
    if path.is_symlink() and not path.exists():
        raise SourceError(
            f"{path}: broken or looping symbolic link; point it at the real file or remove it"
        )


def _cached_digit_files(
    src: DigitSource, cache_dir: Path, allow_download: bool, progress: bool
) -> dict[str, Path]:
    hint = f"or {_folder_hint(src)}"
    found = {}
    for role in ROLES:
        remote = src.files[role]
        if allow_download:
            found[role] = fetch.download(remote, cache_dir, progress=progress, hint=hint)
            continue
        path = cache_dir / remote.filename
        if fetch.verify_file(path, remote) is not None:
            raise SourceNotFoundError(
                f"{src.title} file {remote.filename} not in the cache {cache_dir} and downloads "
                f"are off; {_folder_hint(src)}"
            )
        found[role] = path
    return found


def _check_split(images: np.ndarray, ip: Path, labels: np.ndarray, lp: Path) -> None:
    if images.shape[1:] != (28, 28):
        h, w = images.shape[1:]
        raise SourceError(f"{ip}: images are {h}×{w} pixels, expected 28×28")
    if len(images) == 0:
        raise SourceError(f"{ip}: holds no images")
    if len(images) != len(labels):
        raise SourceError(
            f"{ip} holds {len(images)} images but {lp} holds {len(labels)} labels; "
            "the two files must belong to the same split"
        )
    bad = np.flatnonzero(labels > 9)
    if bad.size:
        i = int(bad[0])
        raise SourceError(
            f"{lp}: label {int(labels[i])} at index {i} is out of range 0..9 "
            f"({bad.size} bad label{'s' * (bad.size != 1)} in all)"
        )


def load_digits(
    source: str | DigitSource = "mnist",
    folder: str | os.PathLike[str] | None = None,
    *,
    cache_dir: str | os.PathLike[str] | None = None,
    download: bool = True,
    progress: bool = True,
) -> Digits:
    """Load the train and test digits from ``folder``, or from the download cache."""
    src = digit_source(source)
    if folder is not None:
        files = find_digit_files(src, folder)
    else:
        cache = Path(cache_dir) if cache_dir is not None else fetch.default_cache_dir() / src.name
        files = _cached_digit_files(src, cache.absolute(), download, progress)
    arrays = {}
    for role, path in files.items():
        magic = IDX_IMAGES_MAGIC if role.endswith("images") else IDX_LABELS_MAGIC
        arrays[role] = read_idx(path, expected_magic=magic)
    for split in ("train", "test"):
        _check_split(
            arrays[f"{split}_images"],
            files[f"{split}_images"],
            arrays[f"{split}_labels"],
            files[f"{split}_labels"],
        )
    return Digits(source=src, files=files, **arrays)


# ---------------------------------------------------------------------------
# DTD textures
# ---------------------------------------------------------------------------

# The 47 categories of DTD r1.0.1, alphabetical: the folder names under dtd/images/
# (checked against the ClassLabel names of public DTD loaders).
DTD_CATEGORIES: tuple[str, ...] = (
    "banded",
    "blotchy",
    "braided",
    "bubbly",
    "bumpy",
    "chequered",
    "cobwebbed",
    "cracked",
    "crosshatched",
    "crystalline",
    "dotted",
    "fibrous",
    "flecked",
    "freckled",
    "frilly",
    "gauzy",
    "grid",
    "grooved",
    "honeycombed",
    "interlaced",
    "knitted",
    "lacelike",
    "lined",
    "marbled",
    "matted",
    "meshed",
    "paisley",
    "perforated",
    "pitted",
    "pleated",
    "polka-dotted",
    "porous",
    "potholed",
    "scaly",
    "smeared",
    "spiralled",
    "sprinkled",
    "stained",
    "stratified",
    "striped",
    "studded",
    "swirly",
    "veined",
    "waffled",
    "woven",
    "wrinkled",
    "zigzagged",
)

# Size and sha256 from tensorflow/datasets, tensorflow_datasets/url_checksums/dtd.txt
# (commit 333639b37af6c6fedf3610a4a2d42f1c6ef6f7d5).
DTD_ARCHIVE = Remote(
    filename="dtd-r1.0.1.tar.gz",
    urls=("https://www.robots.ox.ac.uk/~vgg/data/dtd/download/dtd-r1.0.1.tar.gz",),
    sha256="e42855a52a4950a3b59612834602aa253914755c95b0cff9ead6d07395f8e205",
    size=625239812,
)
DTD_HOMEPAGE = "https://www.robots.ox.ac.uk/~vgg/data/dtd/"
DTD_LICENSE = "made available by its authors for research purposes"
DTD_CITATION = (
    "@InProceedings{cimpoi14describing, Author={M. Cimpoi and S. Maji and I. Kokkinos and "
    "S. Mohamed and A. Vedaldi}, Title={Describing Textures in the Wild}, "
    "Booktitle={Proceedings of the {IEEE} Conf. on Computer Vision and Pattern Recognition "
    "({CVPR})}, Year={2014}}"
)
DTD_DIR_HINT = "pass --dtd-dir FOLDER (the extracted dtd-r1.0.1.tar.gz)"
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png")
_SKIPPED_NAMES = {"thumbs.db", "desktop.ini"}


def _dtd_candidates(folder: Path) -> list[Path]:
    # The dtd/ root itself, the folder holding it, and torchvision's root (<root>/dtd/dtd).
    return [folder, folder / "dtd", folder / "dtd" / "dtd"]


def locate_dtd(folder: str | os.PathLike[str]) -> Path | None:
    """Return the DTD root (the folder holding ``images/``) in or under ``folder``."""
    folder = Path(folder).expanduser().absolute()
    return next((c for c in _dtd_candidates(folder) if (c / "images").is_dir()), None)


def resolve_dtd(
    folder: str | os.PathLike[str] | None = None,
    *,
    cache_dir: str | os.PathLike[str] | None = None,
    download: bool = True,
    progress: bool = True,
) -> Path:
    """Return the DTD root: found in ``folder``, or downloaded and extracted into the cache."""
    if folder is not None:
        root = locate_dtd(folder)
        if root is None:
            where = ", ".join(str(c / "images") for c in _dtd_candidates(Path(folder).absolute()))
            raise SourceNotFoundError(
                f"{Path(folder).absolute()}: no DTD images/ folder found (looked for {where}); "
                f"{DTD_DIR_HINT}"
            )
        return root
    return _cached_dtd(cache_dir, download, progress)


def _cached_dtd(cache_dir: str | os.PathLike[str] | None, allow: bool, progress: bool) -> Path:
    cache = (
        Path(cache_dir) if cache_dir is not None else fetch.default_cache_dir() / "dtd"
    ).absolute()
    extracted = cache / DTD_ARCHIVE.filename.removesuffix(".tar.gz")
    root = locate_dtd(extracted)
    if root is not None:
        return root
    if not allow:
        raise SourceNotFoundError(
            f"DTD is not in the cache {cache} and downloads are off; {DTD_DIR_HINT}"
        )
    archive = fetch.download(DTD_ARCHIVE, cache, progress=progress, hint=f"or {DTD_DIR_HINT}")
    if extracted.exists():
        # Only safe_extract_tar creates this folder (atomically); without images/ it is junk.
        shutil.rmtree(extracted)
    fetch.safe_extract_tar(archive, extracted)
    root = locate_dtd(extracted)
    if root is None:
        raise SourceError(f"{archive}: archive holds no dtd/images/ folder; {DTD_DIR_HINT}")
    return root


def _is_photo(path: Path) -> bool:
    name = path.name
    if name.startswith(".") or name.lower() in _SKIPPED_NAMES:
        return False  # .DS_Store, AppleDouble "._x.jpg", Thumbs.db
    if path.suffix.lower() not in IMAGE_SUFFIXES:
        return False
    _check_link(path)  # a photo we cannot reach would silently change the partition
    return path.is_file()


def list_textures(
    dtd_root: str | os.PathLike[str], categories: Iterable[str]
) -> dict[str, list[str]]:
    """Per category, the sorted photo paths relative to ``images/`` ("cat/file.jpg")."""
    images = Path(dtd_root).absolute() / "images"
    result: dict[str, list[str]] = {}
    for category in categories:
        folder = images / category
        if not folder.is_dir():
            known = "" if category in DTD_CATEGORIES else " (not one of the 47 DTD categories)"
            raise SourceError(
                f"{folder}: DTD category '{category}' not found{known}; check the category "
                f"names and {DTD_DIR_HINT}"
            )
        names = sorted(p.name for p in folder.iterdir() if _is_photo(p))
        if not names:
            raise SourceError(
                f"{folder}: DTD category '{category}' holds no .jpg/.jpeg/.png photos"
            )
        result[category] = [f"{category}/{n}" for n in names]
    return result


# ---------------------------------------------------------------------------
# Train/test partitions of the photos
# ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Partition:
    """Which photos of each category may be used for training and which for testing."""

    train: dict[str, list[str]]
    test: dict[str, list[str]]
    rule: str  # one line, recorded in the dataset card


FALLBACK_RULE = (
    "fallback split (no DTD labels/ partition files): a photo goes to test iff "
    "int(sha256(file name).hexdigest(), 16) % 3 == 0, else to train (about 2/3 train)"
)


def fallback_is_test(basename: str) -> bool:
    """The fallback rule: deterministic, independent of listing order and machine."""
    return int(hashlib.sha256(basename.encode()).hexdigest(), 16) % 3 == 0


def _read_partition_file(path: Path) -> list[str]:
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as e:
        raise SourceError(f"{path}: cannot read partition file ({e})") from e
    return [line.strip() for line in text.splitlines() if line.strip()]


def _official(
    labels: Path, p: int, files: Mapping[str, list[str]]
) -> tuple[dict[str, list[str]], dict[str, list[str]]]:
    known = {c: set(names) for c, names in files.items()}
    train: dict[str, list[str]] = {c: [] for c in files}
    test: dict[str, list[str]] = {c: [] for c in files}
    for stem, target in ((f"train{p}", train), (f"val{p}", train), (f"test{p}", test)):
        path = labels / f"{stem}.txt"
        for entry in _read_partition_file(path):
            category = entry.split("/", 1)[0]
            if category not in known:
                continue  # a category this dataset does not use
            if entry not in known[category]:
                raise SourceError(
                    f"{path}: entry '{entry}' names a photo that is not in "
                    f"{labels.parent / 'images' / category}"
                )
            target[category].append(entry)
    return {c: sorted(v) for c, v in train.items()}, {c: sorted(v) for c, v in test.items()}


def _fallback(files: Mapping[str, list[str]]) -> tuple[dict, dict]:
    train, test = {}, {}
    for category, names in files.items():
        is_test = [fallback_is_test(n.rsplit("/", 1)[-1]) for n in names]
        train[category] = sorted(n for n, t in zip(names, is_test, strict=True) if not t)
        test[category] = sorted(n for n, t in zip(names, is_test, strict=True) if t)
    return train, test


def partition_textures(
    dtd_root: str | os.PathLike[str], files: Mapping[str, list[str]], partition: int = 1
) -> Partition:
    """Split the photos listed by :func:`list_textures` into train and test.

    Uses DTD's official partition ``partition`` (train+val -> train) when
    ``labels/`` is present, else a deterministic hash rule.
    """
    if isinstance(partition, bool) or not isinstance(partition, int) or not 1 <= partition <= 10:
        raise ConfigError(f"partition: must be an integer 1..10 (DTD has ten), got {partition!r}")
    labels = Path(dtd_root).absolute() / "labels"
    names = [f"train{partition}.txt", f"val{partition}.txt", f"test{partition}.txt"]
    present = [n for n in names if (labels / n).is_file()]
    if present and len(present) < 3:
        missing = ", ".join(n for n in names if n not in present)
        raise SourceError(
            f"{labels}: official partition {partition} incomplete, missing {missing}; "
            "restore the labels/ folder of dtd-r1.0.1.tar.gz"
        )
    if present:
        train, test = _official(labels, partition, files)
        rule = (
            f"official partition {partition}: labels/train{partition}.txt + "
            f"val{partition}.txt for train, labels/test{partition}.txt for test"
        )
    else:
        train, test = _fallback(files)
        rule = FALLBACK_RULE
    for category in files:
        for split, chosen in (("train", train), ("test", test)):
            if not chosen[category]:
                raise SourceError(
                    f"{labels.parent / 'images' / category}: DTD category '{category}' "
                    f"has no {split} photos under the {rule}"
                )
    return Partition(train=train, test=test, rule=rule)
