"""Small, deterministic fake MNIST and DTD sources for tests.

Everything here is a pure function of its arguments (and seed): the same call
writes byte-identical files.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
from PIL import Image

from texmnist.sources import DIGIT_SOURCES, DTD_CATEGORIES, fallback_is_test
from texmnist.sources.idx import write_idx

FIRST_TEN = DTD_CATEGORIES[:10]


def fake_digits(n: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """``n`` digit-like 28×28 uint8 images and labels cycling 0..9.

    Black background with two to four bright strokes; stroke edges carry the
    values 25 and 26 (either side of a 0.1 mask threshold) and a spread of
    intermediate values, so thresholds and anti-aliasing are exercised.
    """
    rng = np.random.default_rng(seed)
    images = np.zeros((n, 28, 28), dtype=np.uint8)
    for img in images:
        for _ in range(rng.integers(2, 5)):
            value = rng.integers(128, 256)
            if rng.random() < 0.5:  # a rectangle
                y0, x0 = rng.integers(4, 18, size=2)
                h, w = rng.integers(2, 7, size=2)
                img[y0 : y0 + h, x0 : x0 + w] = np.maximum(img[y0 : y0 + h, x0 : x0 + w], value)
            else:  # a line, 1 px wide
                (y0, x0), (y1, x1) = rng.integers(4, 24, size=(2, 2))
                t = np.linspace(0.0, 1.0, 40)
                ys = np.round(y0 + (y1 - y0) * t).astype(int)
                xs = np.round(x0 + (x1 - x0) * t).astype(int)
                img[ys, xs] = np.maximum(img[ys, xs], value)
        # Soft edge: background pixels next to a stroke get small values.
        on = img > 0
        edge = ~on & (np.roll(on, 1, 0) | np.roll(on, -1, 0) | np.roll(on, 1, 1))
        ys, xs = np.nonzero(edge)
        soft = rng.integers(1, 128, size=len(ys)).astype(np.uint8)
        soft[: min(2, len(soft))] = [25, 26][: min(2, len(soft))]
        img[ys, xs] = soft
        img[0, 0], img[0, 1], img[27, 27] = 25, 26, 255  # always present, whatever the strokes
    labels = (np.arange(n) % 10).astype(np.uint8)
    return images, labels


def make_fake_mnist(
    root: str | Path,
    n_train: int = 60,
    n_test: int = 30,
    *,
    gz: bool = True,
    layout: str = "flat",
    source: str = "mnist",
    seed: int = 0,
) -> Path:
    """Write the four IDX files of ``source`` under ``root``; return the folder to pass.

    layout "flat": files directly in root; "torchvision": in root/<MNIST|FashionMNIST|KMNIST>/raw.
    """
    src = DIGIT_SOURCES[source]
    root = Path(root)
    if layout == "flat":
        folder = root
    elif layout == "torchvision":
        folder = root / src.torchvision_dir / "raw"
    else:
        raise ValueError(f"layout must be 'flat' or 'torchvision', got {layout!r}")
    splits = {"train": fake_digits(n_train, seed), "test": fake_digits(n_test, seed + 1)}
    for split, (images, labels) in splits.items():
        for kind, array in (("images", images), ("labels", labels)):
            name = src.files[f"{split}_{kind}"].filename
            if not gz:
                name = name.removesuffix(".gz")
            write_idx(folder / name, array, gz=gz)
    return root


def _texture(rng: np.random.Generator, h: int, w: int) -> np.ndarray:
    """An RGB stripe/blob pattern with noise: photo-like enough to compress as JPEG."""
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float64)
    angle, freq = rng.uniform(0, np.pi), rng.uniform(0.1, 0.6)
    wave = np.sin(freq * (xx * np.cos(angle) + yy * np.sin(angle)))
    base = rng.uniform(40, 200, size=3)
    amp = rng.uniform(20, 55, size=3)
    pixels = base + amp * wave[..., None] + rng.normal(0, 12, size=(h, w, 3))
    return np.clip(pixels, 0, 255).astype(np.uint8)


def _special_kinds(n_categories: int) -> dict[tuple[int, int], str]:
    # (category index, photo index) -> mode; one of each unusual mode in the set.
    last = n_categories - 1
    return {(0, 1): "L", (min(1, last), 2): "P", (min(2, last), 3): "CMYK"}


def _photo_name(category: str, number: int, ext: str, k: int) -> tuple[str, int]:
    """The k-th photo's name, numbered like DTD (with gaps), and the next free number.

    Numbers are skipped until the fallback hash rule sends photo k to test iff
    k % 3 == 1, so the fallback split equals the official split written by
    with_labels, and every category with >= 2 photos has train and test photos.
    """
    want_test = k % 3 == 1
    while fallback_is_test(f"{category}_{number:04d}{ext}") != want_test:
        number += 1
    return f"{category}_{number:04d}{ext}", number + 1


def _save_photo(rgb: np.ndarray, path: Path, mode: str) -> Path:
    image = Image.fromarray(rgb, "RGB")
    if mode == "P":
        image.convert("P", palette=Image.Palette.ADAPTIVE, colors=32).save(path)
    else:
        image.convert(mode).save(path, quality=85)
    return path


def make_fake_dtd(
    root: str | Path,
    categories: Sequence[str] = FIRST_TEN,
    per_category: int = 6,
    *,
    layout: str = "dtd",
    with_labels: bool = False,
    seed: int = 0,
) -> Path:
    """Write a small DTD tree under ``root``; return the folder to pass as ``--dtd-dir``.

    layout "dtd": root is the dtd/ folder (root/images/...); "parent": root/dtd/images;
    "torchvision": root/dtd/dtd/images. Photos are non-square, 40-120 px, mostly RGB
    JPEGs, with one 'L' JPEG, one 'P' PNG and one CMYK JPEG (photo index 1, 2, 3 of
    the first three categories, when per_category allows). Junk files (.DS_Store,
    Thumbs.db, readme.txt, an AppleDouble ._ file) must be ignored by readers.
    Photo k of a category is a test photo iff k % 3 == 1, under both the fallback
    hash rule (names are chosen for it) and the official lists: with_labels writes
    labels/train1.txt, test1.txt, val1.txt with photo k in train, test, val for
    k % 3 == 0, 1, 2 (so per_category must be >= 3).
    """
    base = {"dtd": Path(root), "parent": Path(root) / "dtd", "torchvision": Path(root) / "dtd/dtd"}
    if layout not in base:
        raise ValueError(f"layout must be 'dtd', 'parent' or 'torchvision', got {layout!r}")
    if with_labels and per_category < 3:
        raise ValueError("with_labels needs per_category >= 3 (one photo per list)")
    dtd = base[layout]
    images = dtd / "images"
    rng = np.random.default_rng(seed)
    special = _special_kinds(len(categories))
    lists: dict[str, list[str]] = {"train": [], "val": [], "test": []}
    for ci, category in enumerate(categories):
        folder = images / category
        folder.mkdir(parents=True, exist_ok=True)
        number = 1
        for k in range(per_category):
            h, w = rng.integers(40, 121, size=2)
            if h == w:
                w = w - 1 if w > 40 else w + 1
            mode = special.get((ci, k), "RGB")
            name, number = _photo_name(category, number, ".png" if mode == "P" else ".jpg", k)
            path = _save_photo(_texture(rng, int(h), int(w)), folder / name, mode)
            lists[("train", "test", "val")[k % 3]].append(f"{category}/{path.name}")
    _write_junk(images, categories[0] if categories else None)
    if with_labels:
        labels = dtd / "labels"
        labels.mkdir(parents=True, exist_ok=True)
        for split, entries in lists.items():
            (labels / f"{split}1.txt").write_text("".join(e + "\n" for e in entries))
    return Path(root)


def _write_junk(images: Path, category: str | None) -> None:
    images.mkdir(parents=True, exist_ok=True)
    (images / ".DS_Store").write_bytes(b"\x00\x00\x00\x01Bud1")
    if category is None:
        return
    folder = images / category
    (folder / ".DS_Store").write_bytes(b"\x00\x00\x00\x01Bud1")
    (folder / "Thumbs.db").write_bytes(b"\xd0\xcf\x11\xe0junk")
    (folder / "readme.txt").write_text("not a photo\n")
    (folder / f"._{category}_0000.jpg").write_bytes(b"\x00\x05\x16\x07AppleDouble")


def config_entry(splits: dict[str, list[str]], **extra) -> dict:
    """A texmnist.json config entry with every key readers rely on, listing `splits`' files."""
    return {
        "recipe": {},
        "features": {},
        "splits": {
            name: {"files": files, "num_examples": 0, "num_bytes": 0, "fingerprint": ""}
            for name, files in splits.items()
        },
        **extra,
    }
