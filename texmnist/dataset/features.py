"""The schema of a Textured MNIST split and the Arrow table of a chunk of rendered rows."""

from __future__ import annotations

import datasets
import numpy as np
import pyarrow as pa

from ..generate.config import TexturedMNISTConfig
from ..generate.pngenc import encode_batch, encode_mask_batch
from ..generate.recipe import BOX_COLUMNS, CROP_COLUMNS, SplitPlan
from ..generate.render import render
from ..sources import DIGIT_SOURCES
from .inputs import Inputs


def features_for(config: TexturedMNISTConfig) -> datasets.Features:
    """The schema of every split of `config` (identical across its splits)."""
    class_names = list(DIGIT_SOURCES[config.source].class_names)
    spec = {
        "image": datasets.Image(),
        "label": datasets.ClassLabel(names=class_names),
        "texture": datasets.ClassLabel(names=[*config.categories, "none"]),
        "texture_file": datasets.Value("string"),
        "aligned": datasets.Value("bool"),
        "mnist_index": datasets.Value("int32"),
        "mask": datasets.Image(),
    }
    edge = datasets.Value("int32")
    if config.varies_placement:
        spec["scale"] = edge
        spec.update(dict.fromkeys(BOX_COLUMNS, edge))
    if config.texture_sampling == "crop":
        spec.update(dict.fromkeys(CROP_COLUMNS, edge))
    if config.groups:
        spec["group"] = datasets.Value("string")
    return datasets.Features(spec)


def render_table(
    plan: SplitPlan, config: TexturedMNISTConfig, inputs: Inputs, features: datasets.Features
) -> pa.Table:
    """Render and encode the rows of `plan` into an Arrow table of `features`."""
    images, masks = render(
        plan,
        inputs.source_images(plan.source_split),
        lambda p: inputs.textures(p, config),
        config,
    )
    files = np.array([*inputs.texture_files, ""], dtype=object)  # photo -1 -> ""
    columns = {
        "image": _png_column(encode_batch(images)),
        "label": plan.label,
        "texture": plan.texture,
        "texture_file": files[plan.photo],
        "aligned": plan.aligned,
        "mnist_index": plan.mnist_index,
        "mask": _png_column(encode_mask_batch(masks)),
        "scale": plan.scale,
        "group": plan.group,
        **_edges(BOX_COLUMNS, plan.box),
        **_edges(CROP_COLUMNS, plan.crop_box),
    }
    schema = features.arrow_schema
    return pa.table([_arrow(columns[f.name], f.type) for f in schema], schema=schema)


def _png_column(blobs: list[bytes]) -> pa.StructArray:
    """An Image feature's storage: struct<bytes, path> with embedded bytes, no path."""
    return pa.StructArray.from_arrays(
        [pa.array(blobs, pa.binary()), pa.nulls(len(blobs), pa.string())], ["bytes", "path"]
    )


def _edges(names: tuple[str, ...], boxes: np.ndarray | None) -> dict[str, np.ndarray]:
    """The columns (x0, y0, x1, y1) of [n, 4] boxes; none when the plan has no boxes."""
    return {} if boxes is None else dict(zip(names, np.asarray(boxes).T, strict=True))


def _arrow(values, type_: pa.DataType) -> pa.Array:
    if isinstance(values, pa.Array):
        return values
    return pa.array(values, type_)
