"""Preview grid of a built config: one row per split, one column per class."""

from __future__ import annotations

import io
from pathlib import Path

import pyarrow.parquet as pq
from PIL import Image, ImageDraw, ImageFont

from ..errors import OutputError
from .meta import read_metadata

CELL = 84  # px per image: 28x28 digits upscaled x3, 56x56 canvases x1.5
LABEL_H = 14
LEFT = 150


def _first_per_class(files: list[Path], num_classes: int) -> dict[int, dict]:
    """The first example of each class, read straight from Parquet."""
    found: dict[int, dict] = {}
    for f in files:
        batches = pq.ParquetFile(f).iter_batches(
            batch_size=256, columns=["image", "label", "texture"]
        )
        for batch in batches:
            for row in batch.to_pylist():
                found.setdefault(row["label"], row)
                if len(found) == num_classes:
                    return found
    return found


def preview_grid(folder: Path, config: str = "default") -> Image.Image:
    """A grid image: splits down, classes 0..9 across, texture name under each."""
    folder = Path(folder)
    meta = read_metadata(folder)
    if meta is None or config not in meta["configs"]:
        raise OutputError(f"{folder}: no texmnist config {config!r} here; build it first")
    cmeta = meta["configs"][config]
    labels = cmeta["features"]["label"]["names"]
    textures = cmeta["features"]["texture"]["names"]
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
            img = Image.open(io.BytesIO(ex["image"]["bytes"])).convert("RGB")
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
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    preview_grid(folder, config).save(out)
    return out
