"""The Describable Textures Dataset: archive, folder layouts, photo lists, partitions."""

from __future__ import annotations

import hashlib
import os
import shutil
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

from texmnist.errors import ConfigError, SourceError, SourceNotFoundError
from texmnist.sources.digits import check_link

from . import fetch
from .fetch import Remote

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
    off = fetch.downloads_off(allow)
    if off is not None:
        raise SourceNotFoundError(
            f"DTD is not in the cache {cache} and downloads are off ({off}); {DTD_DIR_HINT}"
        )
    hint = f"or {DTD_DIR_HINT}; offline, --no-download skips the mirrors"
    archive = fetch.download(DTD_ARCHIVE, cache, progress=progress, hint=hint)
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
    check_link(path)  # a photo we cannot reach would silently change the partition
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


DTD_PARTITIONS = 10  # labels/train1.txt ... test10.txt


def check_partition(partition) -> None:
    """One-line `ConfigError` unless `partition` is one of DTD's official partitions."""
    if isinstance(partition, bool) or not isinstance(partition, int):
        partition = repr(partition)  # shown as typed: 1.0, '1', None
    elif 1 <= partition <= DTD_PARTITIONS:
        return
    raise ConfigError(
        f"partition: must be an integer 1..{DTD_PARTITIONS} (DTD has ten), got {partition}"
    )


def partition_textures(
    dtd_root: str | os.PathLike[str], files: Mapping[str, list[str]], partition: int = 1
) -> Partition:
    """Split the photos listed by :func:`list_textures` into train and test.

    Uses DTD's official partition ``partition`` (train+val -> train) when
    ``labels/`` is present, else a deterministic hash rule.
    """
    check_partition(partition)
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
