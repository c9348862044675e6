"""Preview grid of a built config: one row per split, one column per class."""

from __future__ import annotations

import contextlib
import io
import os
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
from PIL import Image, ImageDraw, ImageFont

from ..errors import OutputError, first_line, write_reason
from .meta import read_metadata

CELL = 84  # px per image: 28x28 digits upscaled x3, 56x56 canvases x1.5
LABEL_H = 14
LEFT = 150


def _first_per_class(files: list[Path], num_classes: int) -> dict[int, dict]:
    """The first example of each class, read straight from Parquet."""
    found: dict[int, dict] = {}
    for f in files:
        try:
            batches = pq.ParquetFile(f).iter_batches(
                batch_size=256, columns=["image", "label", "texture"]
            )
            for batch in batches:
                for row in batch.to_pylist():
                    found.setdefault(row["label"], row)
                    if len(found) == num_classes:
                        return found
        except (OSError, pa.ArrowException) as e:
            raise OutputError(f"{f}: cannot read this Parquet file ({first_line(e)})") from e
    return found


def _names(cmeta: dict, feature: str, folder: Path) -> list[str]:
    entry = cmeta["features"].get(feature)
    names = entry.get("names") if isinstance(entry, dict) else None
    if not isinstance(names, list):
        raise OutputError(f"{folder / 'texmnist.json'}: the {feature!r} feature lists no names")
    return names


def preview_grid(folder: Path, config: str = "default") -> Image.Image:
    """A grid image: splits down, classes 0..9 across, texture name under each."""
    folder = Path(folder)
    meta = read_metadata(folder)
    if meta is None or config not in meta["configs"]:
        raise OutputError(f"{folder}: no texmnist config {config!r} here; build it first")
    cmeta = meta["configs"][config]
    labels = _names(cmeta, "label", folder)
    textures = _names(cmeta, "texture", folder)
    splits = list(cmeta["splits"])
    font = ImageFont.load_default()
    width = LEFT + CELL * len(labels)
    grid = Image.new("RGB", (width, LABEL_H + len(splits) * (CELL + LABEL_H)), "white")
    draw = ImageDraw.Draw(grid)
    for col, name in enumerate(labels):
        draw.text((LEFT + col * CELL + 4, 1), name[:12], fill="black", font=font)
    for row, split in enumerate(splits):
        y = LABEL_H + row * (CELL + LABEL_H)
        draw.text((4, y + CELL // 2 - 6), split, fill="black", font=font)
        examples = _first_per_class(
            [folder / f for f in cmeta["splits"][split]["files"]], len(labels)
        )
        for col in range(len(labels)):
            if col not in examples:
                continue
            ex = examples[col]
            try:
                img = Image.open(io.BytesIO(ex["image"]["bytes"])).convert("RGB")
            except (OSError, ValueError, TypeError) as e:  # PIL's errors for bad image bytes
                raise OutputError(
                    f"{folder}: split {split!r} holds an image that does not decode "
                    f"({first_line(e)}); rebuild the config"
                ) from e
            grid.paste(
                img.resize((CELL - 4, CELL - 4), Image.Resampling.NEAREST),
                (LEFT + col * CELL + 2, y),
            )
            draw.text(
                (LEFT + col * CELL + 2, y + CELL - 3),
                textures[ex["texture"]][:13],
                fill="black",
                font=font,
            )
    return grid


def write_preview(folder: Path, config: str, out: Path) -> Path:
    """Draw the grid into the image file `out`, whole or not at all (temp file + rename)."""
    out = Path(out)
    if out.is_dir():
        raise OutputError(
            f"{out}: --out names a folder; give an image file, e.g. {out / 'preview.png'}"
        )
    image_format = Image.registered_extensions().get(out.suffix.lower())
    if image_format is None or image_format not in Image.SAVE:
        raise OutputError(f"{out}: --out must end in an image extension such as .png")
    grid = preview_grid(folder, config)
    tmp = out.with_name(f".{out.name}.texmnist-tmp")
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        grid.save(tmp, format=image_format)
        os.replace(tmp, out)
    except OSError as e:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise OutputError(f"{out}: cannot write ({write_reason(e, out)})") from e
    return out
