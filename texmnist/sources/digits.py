"""Digit sources (MNIST, Fashion-MNIST, KMNIST): files, mirrors, checksums, loading.

Download specs are data: each source lists its four files with their mirrors, sizes and
sha256 sums, copied from the cited TFDS checksum files.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from texmnist.errors import ConfigError, SourceError, SourceNotFoundError
from texmnist.sources.idx import IDX_IMAGES_MAGIC, IDX_LABELS_MAGIC, read_idx

from . import fetch
from .fetch import Remote

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
    """An MNIST-format 10-class dataset: class names and files (licence and citation:
    `texmnist.sources.provenance`)."""

    name: str  # config key, e.g. "fashion_mnist"
    title: str  # for people, e.g. "Fashion-MNIST"
    class_names: tuple[str, ...]
    files: dict[str, Remote]  # role -> Remote, roles as in ROLES
    torchvision_dir: str  # torchvision keeps the files in <root>/<torchvision_dir>/raw/
    dir_option: str = "--mnist-dir"  # the CLI option that points at a local copy
    # sha256 of the official label arrays (train, test), decompressed: the sources share
    # sizes and classes 0-9, so this is what tells a copy of one passed for another
    labels_sha256: tuple[str, str] | None = None


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
    # computed from the official files (the IDX contents, whatever their gzip wrapping)
    labels_sha256=(
        "1feba77c54802fa5339a11837ea4b2866434b83314ec45192930f1df69120c13",
        "ddeff807876a9661a1110d45c266c86239a3a1b7d37da0c3716a7a683c852ff5",
    ),
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
    dir_option="--fashion-mnist-dir",
    labels_sha256=(
        "657fbd221bfc9f4198cc14b5619cc33ec57c58dd0e47af4d99d6650759e869a7",
        "3d0e6c6ea990b53b6f8f500a41cac93881d981b315f84578b7d915342ade01e9",
    ),
)

KMNIST = DigitSource(
    name="kmnist",
    title="KMNIST",
    class_names=("o", "ki", "su", "tsu", "na", "ha", "ma", "ya", "re", "wo"),
    files=_remotes(("http://codh.rois.ac.jp/kmnist/dataset/kmnist/",), _KMNIST_CHECKS),
    torchvision_dir="KMNIST",
    dir_option="--kmnist-dir",
    # labels_sha256 not recorded: no copy of KMNIST was at hand to compute it from, so
    # KMNIST's files passed for another source are not recognised
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
                check_link(candidate)
            also = ", ".join(str(p) for p in places[1:])
            raise SourceNotFoundError(
                f"{src.title} file {stem}[.gz] not found in {folder} (also looked in {also}); "
                f"{_folder_hint(src)}"
            )
        found[role] = path
    return found


def check_link(path: Path) -> None:
    """A symlink leading nowhere (dangling or a loop) is an error, not a silently missing file."""
    if path.is_symlink() and not path.exists():
        raise SourceError(
            f"{path}: broken or looping symbolic link; point it at the real file or remove it"
        )


def _cached_digit_files(
    src: DigitSource, cache_dir: Path, allow_download: bool, progress: bool
) -> dict[str, Path]:
    hint = f"or {_folder_hint(src)}; offline, --no-download skips the mirrors"
    off = fetch.downloads_off(allow_download)
    found = {}
    for role in ROLES:
        remote = src.files[role]
        if off is None:
            found[role] = fetch.download(remote, cache_dir, progress=progress, hint=hint)
            continue
        path = cache_dir / remote.filename
        if fetch.verify_file(path, remote) is not None:
            raise SourceNotFoundError(
                f"{src.title} file {remote.filename} not in the cache {cache_dir} and downloads "
                f"are off ({off}); {_folder_hint(src)}"
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


def _check_identity(src: DigitSource, split: str, labels: np.ndarray, lp: Path) -> None:
    """Refuse another source's official files passed for `src` (e.g. MNIST's as Fashion-MNIST:
    the build would run, and the card would name the wrong dataset)."""
    digest = hashlib.sha256(np.ascontiguousarray(labels).tobytes()).hexdigest()
    index = ("train", "test").index(split)
    for other in DIGIT_SOURCES.values():
        if other.name != src.name and other.labels_sha256 and other.labels_sha256[index] == digest:
            raise SourceError(
                f"{lp}: these are {other.title}'s {split} labels, not {src.title}'s; pass "
                f"{other.title}'s folder as {other.dir_option}, {src.title}'s as "
                f"{src.dir_option}"
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
        _check_identity(src, split, arrays[f"{split}_labels"], files[f"{split}_labels"])
    return Digits(source=src, files=files, **arrays)
