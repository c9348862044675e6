"""`TexturedMNIST`: the `datasets` builder of every Textured MNIST config.

The three builder methods stay small: sources and the texture bank are loaded
once in `_split_generators`, each split's plan is drawn there in full, and
`_generate_examples` renders contiguous chunks of rows, so that `num_proc`
parallelises without changing a byte of the output.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import datasets
import numpy as np

from . import __version__
from .config import NAMED_CONFIGS, TexturedMNISTConfig, named_config, validate
from .pngenc import encode_gray, encode_mask, encode_rgb
from .recipe import NONE_TEXTURE, Pools, SplitPlan, plan_splits
from .render import render
from .sources import (
    DIGIT_SOURCES,
    Digits,
    Partition,
    list_textures,
    load_digits,
    partition_textures,
    resolve_dtd,
)
from .textures import build_bank, decode_photos, render_crops

CHUNK_SIZE = 1000  # rows rendered per batch; output does not depend on it

_CITATION = """\
@misc{texmnist,
  title  = {Textured MNIST: a controlled benchmark of background reliance},
  author = {texmnist developers},
  year   = {2026},
  note   = {MNIST digits composited over DTD textures; generated with texmnist}
}"""


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


@dataclass
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
        return render_crops(self.photos, plan.photo, plan.crop_box, config.canvas)


class TexturedMNIST(datasets.GeneratorBasedBuilder):
    """Textured MNIST: MNIST digits composited over DTD texture photos."""

    VERSION = datasets.Version(__version__)
    BUILDER_CONFIG_CLASS = TexturedMNISTConfig
    BUILDER_CONFIGS = [named_config(name) for name in NAMED_CONFIGS]
    DEFAULT_CONFIG_NAME = "default"

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        # datasets applies keyword overrides with setattr, after __post_init__.
        self.config.__post_init__()
        validate(self.config)
        self.inputs: Inputs | None = None
        self.plans: dict[str, SplitPlan] = {}

    def _info(self) -> datasets.DatasetInfo:
        source = DIGIT_SOURCES[self.config.source]
        return datasets.DatasetInfo(
            description=self.config.description or "Textured MNIST",
            features=features_for(self.config),
            homepage="https://github.com/texmnist/texmnist",
            citation="\n\n".join([_CITATION, source.citation]),
            license="other: CC BY-SA 3.0 (MNIST) and DTD research-only terms",
        )

    def _split_generators(self, dl_manager):
        self.inputs = load_inputs(self.config)
        digits = self.inputs.digits
        self.plans = plan_splits(
            self.config, digits.train_labels, digits.test_labels, pools_of(self.inputs, self.config)
        )
        return [
            datasets.SplitGenerator(
                name=name,
                gen_kwargs={"split": name, "chunks": chunk_ranges(len(plan), CHUNK_SIZE)},
            )
            for name, plan in self.plans.items()
        ]

    def _generate_examples(self, split: str, chunks: list[tuple[int, int]]):
        plan = self.plans[split]
        for start, stop in chunks:
            yield from self._render_chunk(plan.rows(start, stop), start)

    def _render_chunk(self, plan: SplitPlan, start: int):
        config, inputs = self.config, self.inputs
        images, masks = render(
            plan,
            inputs.source_images(plan.source_split),
            lambda p: inputs.textures(p, config),
            config,
        )
        encode = encode_rgb if images.ndim == 4 else encode_gray
        files = inputs.texture_files
        for i in range(len(plan)):
            photo = int(plan.photo[i])
            example = {
                "image": {"bytes": encode(images[i]), "path": None},
                "label": int(plan.label[i]),
                "texture": int(plan.texture[i]),
                "texture_file": files[photo] if photo >= 0 else "",
                "aligned": bool(plan.aligned[i]),
                "mnist_index": int(plan.mnist_index[i]),
                "mask": {"bytes": encode_mask(masks[i]), "path": None},
            }
            if config.varies_placement:
                example["scale"] = int(plan.scale[i])
                example["box"] = plan.box[i].tolist()
            if plan.crop_box is not None:
                example["crop_box"] = plan.crop_box[i].tolist()
            if plan.group is not None:
                example["group"] = str(plan.group[i])
            yield f"{plan.name}-{start + i}", example


def chunk_ranges(n: int, size: int) -> list[tuple[int, int]]:
    return [(s, min(s + size, n)) for s in range(0, n, size)] or [(0, 0)]


def load_inputs(config: TexturedMNISTConfig, *, progress: bool = True) -> Inputs:
    """Read the digit source and decode every texture photo the build uses, once."""
    digits = load_digits(
        config.source, config.mnist_dir, download=config.download, progress=progress
    )
    dtd_root = resolve_dtd(config.dtd_dir, download=config.download, progress=progress)
    files = list_textures(dtd_root, list(config.categories))
    partition = partition_textures(dtd_root, files, config.partition)
    # The bank holds the photos of both partitions, category by category.
    used = {c: sorted(partition.train[c] + partition.test[c]) for c in config.categories}
    ordered = [f for c in config.categories for f in used[c]]
    mode = "RGB" if config.color == "rgb" else "L"
    images_dir = dtd_root / "images"
    if config.texture_sampling == "crop":
        photos = decode_photos(
            images_dir, ordered, mode=mode, min_side=config.crop_size, progress=progress
        )
        bank = None
    else:
        photos = None
        bank = build_bank(
            images_dir, used, size=config.canvas, mode=mode, draft=config.draft, progress=progress
        ).images
    return Inputs(digits, ordered, bank, photos, partition, dtd_root)


def pools_of(inputs: Inputs, config: TexturedMNISTConfig) -> Pools:
    """Bank indices of each category's train and test photos."""
    index = {f: i for i, f in enumerate(inputs.texture_files)}
    partition = inputs.partition

    def by_category(split: dict[str, list[str]]) -> list[np.ndarray]:
        return [np.array([index[f] for f in split[c]], dtype=np.int32) for c in config.categories]

    sizes = None
    if inputs.photos is not None:
        sizes = np.array([p.shape[:2] for p in inputs.photos], dtype=np.int64)
    return Pools(by_category(partition.train), by_category(partition.test), sizes)


__all__ = ["TexturedMNIST", "TexturedMNISTConfig", "features_for", "NONE_TEXTURE"]
