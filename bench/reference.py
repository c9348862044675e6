"""A straightforward per-example Textured MNIST writer: the baseline a first version would be.

Per example: open the texture photo with PIL, convert to "L", resize to 28x28, composite
the digit over it with the mask, encode image and mask as PNG through PIL, append to
Python lists; at the end, write Parquet through `datasets`. No bank, no batching.
"""

from __future__ import annotations

import io
from pathlib import Path

import datasets
import numpy as np
from PIL import Image


def _png(image: Image.Image) -> bytes:
    buf = io.BytesIO()
    image.save(buf, format="PNG")
    return buf.getvalue()


def render_example(
    digit: np.ndarray, photo_path: Path | None, threshold: float, size: int = 28
) -> tuple[bytes, bytes]:
    """PNG bytes of one composite and its 1-bit mask, computed from scratch."""
    mask = digit / 255.0 > threshold
    if photo_path is None:
        pixels = digit
    else:
        with Image.open(photo_path) as photo:
            texture = np.asarray(photo.convert("L").resize((size, size), Image.Resampling.BILINEAR))
        pixels = np.where(mask, digit, texture).astype(np.uint8)
    return _png(Image.fromarray(pixels, "L")), _png(Image.fromarray(mask))


def build_reference(
    rows: dict[str, list],
    digits: np.ndarray,
    images_dir: Path,
    features: datasets.Features,
    out: Path,
    threshold: float = 0.1,
) -> int:
    """Render `rows` (columns label, texture, texture_file, aligned, mnist_index) to `out`.

    `digits[i]` is row i's source digit. Returns the number of examples written.
    """
    columns: dict[str, list] = {name: [] for name in features}
    for i in range(len(rows["mnist_index"])):
        file = rows["texture_file"][i]
        photo = images_dir / file if file else None
        image, mask = render_example(digits[i], photo, threshold)
        columns["image"].append({"bytes": image, "path": None})
        columns["mask"].append({"bytes": mask, "path": None})
        for name in ("label", "texture", "texture_file", "aligned", "mnist_index"):
            columns[name].append(rows[name][i])
    ds = datasets.Dataset.from_dict(columns, features=features)
    ds.to_parquet(str(out))
    return len(ds)
