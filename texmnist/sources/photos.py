"""Decode DTD texture photos once: whole-photo banks and photo stores for crops.

Resize recipe: the whole photo is resized to size x size (aspect ratio not
kept) with :func:`texmnist.generate.composite.resize_batch`, an exact integer version
of PIL's antialiased BILINEAR (within +-1 gray level of
``Image.resize((size, size), Image.Resampling.BILINEAR, reducing_gap=None)``),
so the bank is bit-identical on every machine and Pillow version. Tiny photos
(3x3) are upscaled the same way; extreme aspect ratios work: a 1x500 photo
becomes 28 identical rows, each column an average over ~18 source pixels.

JPEG draft mode: libjpeg can decode at 1/2, 1/4 or 1/8 scale (DCT scaling).
With ``draft=True`` a bank photo is decoded at the smallest scale that keeps
both sides >= DRAFT_FACTOR * size (PIL's ``Image.draft`` rule), then resized
exactly as above. For "L", libjpeg is asked for the luma channel directly in
both paths (vs PIL's RGB->L: max 3, mean 0.026 levels), so draft only scales.

Measured on the 1,200 real DTD photos (10 categories, 271..900 px a side),
28x28 bank vs the full-resolution bank, one process (best of 2):

    mode  draft (min side)  max |diff|  mean |diff|  p99  time
    L     off               -           -            -    1.45 s
    L     2x (56 px)        69          1.119        12   ~1.1 s
    L     4x (112 px)       42          0.373        5    1.07 s
    L     8x (224 px)       14          0.066        2    no faster than off
    RGB   off               -           -            -    2.66 s
    RGB   4x (112 px)       42          0.409        5    1.82 s

The large maxima come from fine "chequered" photos, whose 28x28 versions are
moire patterns that shift with any change of filter. Draft saves under a
second for the whole bank, so banks default to ``draft=False`` (the exact
recipe); ``draft=True`` is an opt-in fast mode with DRAFT_FACTOR = 4 and the
tolerance DRAFT_MAX_TOLERANCE / DRAFT_MEAN_TOLERANCE below (tested on the
real photos when they are present).
"""

from __future__ import annotations

import multiprocessing
import os
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path

import numpy as np
from PIL import Image
from tqdm.auto import tqdm

from texmnist.errors import ConfigError, SourceError

from .resize import resize_batch

MODES = ("L", "RGB")
DRAFT_FACTOR = 4  # opt-in bank drafts keep both sides >= DRAFT_FACTOR * size
DRAFT_MAX_TOLERANCE = 48  # gray levels, 28x28 "L" bank, draft vs exact (measured 42)
DRAFT_MEAN_TOLERANCE = 0.5  # gray levels (measured 0.373)
_ALPHA_MODES = ("RGBA", "LA", "PA", "RGBa", "La")
_WIDE_GRAY_MODES = ("I;16", "I;16L", "I;16B", "I;16N", "I")


# ------------------------------------------------------------------ one photo


def load_photo(
    path: str | os.PathLike[str], *, mode: str = "L", draft_size: int | None = None
) -> np.ndarray:
    """Decode one photo to uint8 [h, w] ("L") or [h, w, 3] ("RGB").

    With ``draft_size`` a JPEG is decoded at the smallest DCT scale (1, 1/2,
    1/4, 1/8) that keeps both sides >= draft_size. Any problem reading or
    decoding raises :class:`SourceError` with one line naming the path.
    """
    if mode not in MODES:
        raise ConfigError(f"mode: expected one of {MODES}, got {mode!r}")
    path = Path(path)
    try:
        if path.stat().st_size == 0:
            raise SourceError(f"{path}: empty file (0 bytes); re-download or remove it")
        # Truncation and corruption must fail loudly: never let PIL pad the
        # image (ImageFile.LOAD_TRUNCATED_IMAGES stays False) or merely warn.
        with warnings.catch_warnings():
            warnings.simplefilter("error", UserWarning)
            warnings.simplefilter("error", RuntimeWarning)
            with Image.open(path) as img:
                if img.format == "JPEG":
                    # Ask libjpeg for luma directly when we want gray; the
                    # same with or without DCT scaling, so drafts only scale.
                    size = (draft_size, draft_size) if draft_size else None
                    img.draft("L" if mode == "L" else None, size)
                img.load()
                array = _to_array(img, mode)
    except SourceError:
        raise
    except FileNotFoundError as exc:
        raise SourceError(f"{path}: file not found") from exc
    except Exception as exc:  # noqa: BLE001 - any failure is a bad source file
        raise _source_error(path, exc) from exc
    return array


def photo_scale(path: str | os.PathLike[str], draft_size: int | None) -> int:
    """The DCT scale denominator (1, 2, 4, 8) ``load_photo`` uses; reads the header only.

    Stored pixel (x, y) of a drafted photo is the average of original pixels
    [s*x, s*x+s) x [s*y, s*y+s), so a stored box maps to original pixels as
    box * s (clipped to the photo).
    """
    path = Path(path)
    try:
        with Image.open(path) as img:
            if not draft_size or img.format != "JPEG":
                return 1
            return _pil_draft_scale(img.size, draft_size)
    except Exception as exc:  # noqa: BLE001 - any failure is a bad source file
        raise _source_error(path, exc) from exc


def _pil_draft_scale(size: tuple[int, int], draft_size: int) -> int:
    """The scale PIL's JpegImageFile.draft picks (kept in sync with Pillow)."""
    ratio = min(size[0] // draft_size, size[1] // draft_size)
    return next(s for s in (8, 4, 2, 1) if ratio >= s)


def _source_error(path: Path, exc: Exception) -> SourceError:
    if isinstance(exc, Image.UnidentifiedImageError):
        return SourceError(f"{path}: not an image file Pillow can identify (corrupt or wrong type)")
    if isinstance(exc, OSError) and exc.errno is not None and exc.strerror:
        # The OS refused (permissions, I/O error, a loop); Pillow's decode errors carry no errno.
        return SourceError(f"{path}: cannot read ({exc.strerror})")
    detail = " ".join(str(exc).split()) or type(exc).__name__
    return SourceError(f"{path}: cannot decode image ({detail})")


def _to_array(img: Image.Image, mode: str) -> np.ndarray:
    """Convert any PIL mode to uint8 "L" or "RGB" pixels."""
    if img.mode == mode:
        return np.asarray(img, dtype=np.uint8)
    if img.mode in _WIDE_GRAY_MODES:
        # 16/32-bit gray: keep the top 8 bits of the 16-bit range.
        wide = np.clip(np.asarray(img, dtype=np.int64), 0, 65535) >> 8
        gray = wide.astype(np.uint8)
        return gray if mode == "L" else np.repeat(gray[..., None], 3, axis=2)
    if img.mode == "F":
        gray = np.clip(np.rint(np.asarray(img, dtype=np.float64)), 0, 255).astype(np.uint8)
        return gray if mode == "L" else np.repeat(gray[..., None], 3, axis=2)
    if img.mode in _ALPHA_MODES or (img.mode == "P" and "transparency" in img.info):
        # Flatten transparency onto black, the "no texture" background.
        rgba = img.convert("RGBA")
        black = Image.new("RGBA", rgba.size, (0, 0, 0, 255))
        img = Image.alpha_composite(black, rgba).convert("RGB")
    elif img.mode not in ("L", "RGB"):
        img = img.convert("RGB")  # CMYK, P, 1, YCbCr, ...
    return np.asarray(img.convert(mode), dtype=np.uint8)


def resize_photo(img: Image.Image | np.ndarray, size: int) -> np.ndarray:
    """The whole photo resized to size x size (see the module docstring)."""
    array = np.asarray(img, dtype=np.uint8) if isinstance(img, Image.Image) else np.asarray(img)
    if array.ndim not in (2, 3):
        raise ValueError(f"photo: expected [h,w] or [h,w,3] pixels, got shape {array.shape}")
    return resize_batch(array[None], size)[0]


# ----------------------------------------------------------------------- bank


@dataclass
class TextureBank:
    """Every used photo resized once; row i is ``files[i]``."""

    images: np.ndarray  # uint8 [n, size, size] or [n, size, size, 3]
    files: list[str]  # paths relative to DTD images/, "category/file.jpg"
    categories: np.ndarray  # int32 [n], index into category_names
    category_names: list[str]
    _index: dict[str, int] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        self._index = {f: i for i, f in enumerate(self.files)}

    def index_of(self, file: str) -> int:
        """Row of ``file`` ("category/file.jpg")."""
        try:
            return self._index[file]
        except KeyError:
            raise KeyError(f"{file}: not in the texture bank") from None


def _relative_files(files_by_category: dict[str, list[str]]) -> tuple[list[str], list[int]]:
    """Unique "category/file" paths in category then file order, with category indices.

    Entries may be bare file names (taken to be in the category's folder) or
    paths relative to images/; a photo listed twice is kept once (first wins).
    """
    seen: dict[str, int] = {}
    for index, (category, files) in enumerate(files_by_category.items()):
        for name in files:
            rel = name if "/" in name else f"{category}/{name}"
            seen.setdefault(rel, index)
    return list(seen), list(seen.values())


def build_bank(
    dtd_images_dir: str | os.PathLike[str],
    files_by_category: dict[str, list[str]],
    *,
    size: int = 28,
    mode: str = "L",
    draft: bool = False,
    progress: bool = True,
    num_proc: int = 1,
) -> TextureBank:
    """Decode each listed photo once and resize it whole to size x size."""
    if mode not in MODES:
        raise ConfigError(f"mode: expected one of {MODES}, got {mode!r}")
    if isinstance(size, bool) or not isinstance(size, (int, np.integer)) or size < 1:
        raise ConfigError(f"size: expected a positive int, got {size!r}")
    files, categories = _relative_files(files_by_category)
    paths = [str(Path(dtd_images_dir) / f) for f in files]
    work = partial(
        _bank_item, size=int(size), mode=mode, draft_size=DRAFT_FACTOR * size if draft else None
    )
    shape = (size, size) if mode == "L" else (size, size, 3)
    images = np.zeros((len(paths), *shape), dtype=np.uint8)
    for i, image in enumerate(map_photos(work, paths, num_proc, progress)):
        images[i] = image
    return TextureBank(images, files, np.array(categories, dtype=np.int32), list(files_by_category))


def _bank_item(path: str, *, size: int, mode: str, draft_size: int | None) -> np.ndarray:
    return resize_photo(load_photo(path, mode=mode, draft_size=draft_size), size)


def map_photos(work, paths: Sequence[str], num_proc: int, progress: bool):
    """``work`` over ``paths`` in order, in a process pool when num_proc > 1."""
    bar = tqdm(total=len(paths), desc="Decoding textures", unit="photo", disable=not progress)
    with bar:
        if num_proc <= 1 or len(paths) < 2:
            for path in paths:
                yield work(path)
                bar.update()
            return
        chunk = max(1, min(16, len(paths) // (4 * num_proc)))
        with multiprocessing.get_context().Pool(min(num_proc, len(paths))) as pool:
            for result in pool.imap(work, paths, chunksize=chunk):
                yield result
                bar.update()


# ---------------------------------------------------------------------- crops


def decode_photos(
    dtd_images_dir: str | os.PathLike[str],
    files: Sequence[str],
    *,
    mode: str = "L",
    min_side: int | None = None,
    draft: bool = False,
    progress: bool = True,
    num_proc: int = 1,
) -> list[np.ndarray]:
    """Decode photos ("category/file.jpg" under dtd_images_dir) once, for crops.

    Crop boxes are in the pixels of these stored arrays. ``draft=False`` (the
    default) stores photos at full resolution, so a crop box is in original
    photo pixels. With ``draft=True`` a JPEG is stored at the smallest DCT
    scale keeping both sides >= ``min_side``; that scale varies with the
    photo's size (300 px -> 1/4, 640 px -> 1/8 for min_side 64), so a crop of
    fixed stored size covers a different original area per photo.
    ``photo_scale(path, min_side)`` gives that scale; box * scale is the box in
    original pixels.
    """
    if mode not in MODES:
        raise ConfigError(f"mode: expected one of {MODES}, got {mode!r}")
    if draft and (min_side is None or min_side < 1):
        raise ConfigError(f"min_side: draft=True needs a positive min_side, got {min_side!r}")
    paths = [str(Path(dtd_images_dir) / f) for f in files]
    work = partial(load_photo, mode=mode, draft_size=min_side if draft else None)
    return list(map_photos(work, paths, num_proc, progress))


def render_crops(
    photos: Sequence[np.ndarray], photo_index: np.ndarray, boxes: np.ndarray, size: int
) -> np.ndarray:
    """The recorded square crop ``boxes[i]`` of ``photos[photo_index[i]]``, resized to size.

    Crops of the same side are resized together (one weight matrix per side).
    """
    photo_index = np.asarray(photo_index, dtype=np.int64)
    boxes = np.asarray(boxes, dtype=np.int64).reshape(-1, 4)
    if len(photo_index) != len(boxes):
        raise ValueError(f"boxes: {len(boxes)} boxes for {len(photo_index)} photos")
    channels = photos[0].shape[2:] if len(photos) else ()
    out = np.zeros((len(boxes), size, size, *channels), dtype=np.uint8)
    sides = boxes[:, 2] - boxes[:, 0]
    for side in np.unique(sides):
        rows = np.flatnonzero(sides == side)
        crops = np.stack(
            [
                photos[photo_index[i]][boxes[i, 1] : boxes[i, 3], boxes[i, 0] : boxes[i, 2]]
                for i in rows
            ]
        )
        out[rows] = resize_batch(crops, size)
    return out
