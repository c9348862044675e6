"""The one loader of a run's inputs: digits, texture partitions, banks and crop photos.

`load_inputs(configs)` takes every config of a run and returns, per config, what its
builder renders from. Each digit source and DTD tree is read once, and each photo file
is decoded once per decoding (colour mode, and JPEG draft size for opt-in draft banks),
whatever the number of canvases and configs: one pass over the photos produces every
bank size and the full-resolution copies that crops need. The builder, the folder and
the benchmarks all come through here.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from functools import partial
from pathlib import Path

import numpy as np

from ..errors import DownloadError, SourceNotFoundError
from ..generate.config import TexturedMNISTConfig
from ..generate.recipe import Pools, SplitPlan
from ..sources import (
    Digits,
    Partition,
    list_textures,
    load_digits,
    partition_textures,
    resolve_dtd,
)
from ..sources import photos as photo_io
from .pool import one_blas_thread, workers_for


@dataclasses.dataclass
class Inputs:
    """Everything a worker needs to render rows: source pixels and textures."""

    digits: Digits
    texture_files: list[str]  # bank index -> path relative to DTD images/
    bank: np.ndarray | None  # [n, canvas, canvas(,3)] whole photos resized
    photos: list[np.ndarray] | None  # decoded photos for crops
    partition: Partition
    dtd_root: Path

    def source_images(self, split: str) -> np.ndarray:
        return self.digits.train_images if split == "train" else self.digits.test_images

    def textures(self, plan: SplitPlan, config: TexturedMNISTConfig) -> np.ndarray:
        if self.bank is not None:
            return self.bank[plan.photo]
        return photo_io.render_crops(self.photos, plan.photo, plan.crop_box, config.canvas)

    def pools(self, config: TexturedMNISTConfig) -> Pools:
        """Bank indices of each category's train and test photos."""
        index = {f: i for i, f in enumerate(self.texture_files)}

        def by_category(split: dict[str, list[str]]) -> list[np.ndarray]:
            return [np.array([index[f] for f in split[c]], np.int32) for c in config.categories]

        sizes = None
        if self.photos is not None:
            sizes = np.array([p.shape[:2] for p in self.photos], dtype=np.int64)
        return Pools(by_category(self.partition.train), by_category(self.partition.test), sizes)


@dataclasses.dataclass(frozen=True)
class _Decoding:
    """One way of decoding a photo file: its colour mode and JPEG draft size."""

    images_dir: Path
    mode: str  # "L" asks libjpeg for luma directly, so it is a decoding of its own
    draft_size: int | None


@dataclasses.dataclass
class _Wanted:
    """What one decoding of the photos must produce, collected over the run's configs."""

    files: set[str] = dataclasses.field(default_factory=set)
    sizes: set[int] = dataclasses.field(default_factory=set)  # bank canvases
    full: bool = False  # full-resolution copies for crops


def load_inputs(
    configs: Sequence[TexturedMNISTConfig], *, progress: bool = True, num_proc: int | None = 1
) -> dict[str, Inputs]:
    """The inputs of every config, by config name, each source read and photo decoded once.

    Every digit source and DTD tree is located first, so a missing one fails the run
    before anything is decoded. `num_proc` processes decode photos (None: every usable core).
    """
    digits, roots = _locate(configs, progress)
    partitions: dict[tuple, Partition] = {}
    used: dict[str, list[str]] = {}
    wanted: dict[_Decoding, _Wanted] = {}
    for config in configs:
        root = roots[config.name]
        key = (root, config.categories, config.partition)
        if key not in partitions:
            listed = list_textures(root, list(config.categories))
            partitions[key] = partition_textures(root, listed, config.partition)
        partition = partitions[key]
        # The bank holds the photos of both partitions, category by category.
        used[config.name] = [
            f for c in config.categories for f in sorted(partition.train[c] + partition.test[c])
        ]
        decoding, size = _decoding_of(config, root)
        want = wanted.setdefault(decoding, _Wanted())
        want.files.update(used[config.name])
        if size is None:
            want.full = True
        else:
            want.sizes.add(size)
    with one_blas_thread():
        decoded = {d: _decode(d, w, progress, num_proc) for d, w in wanted.items()}
    result = {}
    for config in configs:
        root = roots[config.name]
        decoding, size = _decoding_of(config, root)
        files, by_size = decoded[decoding]
        rows = [files[f] for f in used[config.name]]
        bank = photos = None
        if size is None:
            photos = [by_size[None][i] for i in rows]
        else:
            bank = by_size[size][rows]
        partition = partitions[(root, config.categories, config.partition)]
        source = digits[(config.source, config.mnist_dir, config.download)]
        result[config.name] = Inputs(source, used[config.name], bank, photos, partition, root)
    return result


def _locate(configs: Sequence[TexturedMNISTConfig], progress: bool) -> tuple[dict, dict]:
    """Each digit source (read) and DTD root (found or downloaded), once per run.

    Every source is tried before any failure is reported: offline, one run names all that
    are missing, not one per run.
    """
    digits: dict[tuple, Digits] = {}
    dtd: dict[tuple, Path] = {}
    roots = {}
    missing: list[str] = []

    def attempt(load):
        try:
            return load()
        except (SourceNotFoundError, DownloadError) as e:
            if str(e) not in missing:
                missing.append(str(e))
            return None

    for c in configs:
        key = (c.source, c.mnist_dir, c.download)
        if key not in digits:
            digits[key] = attempt(
                partial(load_digits, c.source, c.mnist_dir, download=c.download, progress=progress)
            )
        if (c.dtd_dir, c.download) not in dtd:
            dtd[c.dtd_dir, c.download] = attempt(
                partial(resolve_dtd, c.dtd_dir, download=c.download, progress=progress)
            )
        roots[c.name] = dtd[c.dtd_dir, c.download]
    if len(missing) == 1:
        raise SourceNotFoundError(missing[0])
    if missing:
        listed = " ".join(f"({i}) {m}" for i, m in enumerate(missing, 1))
        raise SourceNotFoundError(f"{len(missing)} sources are missing: {listed}")
    return digits, roots


def _decoding_of(config: TexturedMNISTConfig, root: Path) -> tuple[_Decoding, int | None]:
    """How `config`'s photos are decoded, and its bank size (None: full photos for crops).

    Crops keep full-resolution photos; banks resize whole photos to the canvas, from a
    JPEG draft only when the config opts in (the draft's scale depends on the canvas).
    """
    mode = "RGB" if config.color == "rgb" else "L"
    if config.texture_sampling == "crop":
        return _Decoding(root / "images", mode, None), None
    draft = photo_io.DRAFT_FACTOR * config.canvas if config.draft else None
    return _Decoding(root / "images", mode, draft), config.canvas


def _decode(
    decoding: _Decoding, want: _Wanted, progress: bool, num_proc: int | None
) -> tuple[dict[str, int], dict[int | None, object]]:
    """One pass over the photos: every bank size (stacked) and the full photos wanted."""
    files = sorted(want.files)
    sizes = sorted(want.sizes)
    num_proc = workers_for(num_proc, len(files))
    work = partial(
        _decode_one, mode=decoding.mode, draft_size=decoding.draft_size, sizes=sizes,
        full=want.full,
    )  # fmt: skip
    paths = [str(decoding.images_dir / f) for f in files]
    channels = () if decoding.mode == "L" else (3,)
    by_size: dict[int | None, object] = {
        s: np.zeros((len(files), s, s, *channels), np.uint8) for s in sizes
    }
    full: list[np.ndarray] = []
    for i, (resized, photo) in enumerate(photo_io.map_photos(work, paths, num_proc, progress)):
        for s, image in zip(sizes, resized, strict=True):
            by_size[s][i] = image
        if want.full:
            full.append(photo)
    if want.full:
        by_size[None] = full
    return {f: i for i, f in enumerate(files)}, by_size


def _decode_one(
    path: str, *, mode: str, draft_size: int | None, sizes: list[int], full: bool
) -> tuple[list[np.ndarray], np.ndarray | None]:
    photo = photo_io.load_photo(path, mode=mode, draft_size=draft_size)
    return [photo_io.resize_photo(photo, s) for s in sizes], photo if full else None
