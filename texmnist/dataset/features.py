"""The schema of a Textured MNIST split and the Arrow table of a chunk of rendered rows."""

from __future__ import annotations

import datasets
import numpy as np
import pyarrow as pa

from ..generate.config import TexturedMNISTConfig
from ..generate.pngenc import encode_batch, encode_mask_batch
from ..generate.recipe import SplitPlan
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
    box = datasets.List(datasets.Value("int32"), length=4)
    if config.varies_placement:
        spec["scale"] = datasets.Value("int32")
        spec["box"] = box
    if config.texture_sampling == "crop":
        spec["crop_box"] = box
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
        "box": plan.box,
        "crop_box": plan.crop_box,
        "group": plan.group,
    }
    schema = features.arrow_schema
    return pa.table([_arrow(columns[f.name], f.type) for f in schema], schema=schema)


def _png_column(blobs: list[bytes]) -> pa.StructArray:
    """An Image feature's storage: struct<bytes, path> with embedded bytes, no path."""
    return pa.StructArray.from_arrays(
        [pa.array(blobs, pa.binary()), pa.nulls(len(blobs), pa.string())], ["bytes", "path"]
    )


def _arrow(values, type_: pa.DataType) -> pa.Array:
    if isinstance(values, pa.Array):
        return values
    if pa.types.is_fixed_size_list(type_):  # boxes: [n, 4] int32
        flat = pa.array(np.ascontiguousarray(values).ravel(), type_.value_type)
        return pa.FixedSizeListArray.from_arrays(flat, type_.list_size)
    return pa.array(values, type_)
