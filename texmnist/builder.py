"""`TexturedMNIST`: the `datasets` builder of every Textured MNIST config.

The three builder methods stay small: sources and the texture bank are loaded
once in `_split_generators`, each split's plan is drawn there in full, and
`_generate_examples` renders contiguous chunks of rows, so that `num_proc`
parallelises without changing a byte of the output.

Where this builder leaves the `datasets` contract (re-check these on a `datasets` upgrade;
`tests/test_datasets_contract.py` fails loudly when the first one moves):

- `_prepare_split_single` is overridden to write whole Arrow tables per chunk instead of
  encoding example dicts one by one (~100 us each). It must yield `(job_id, False, n)`
  progress and finally `(job_id, True, result)` with `result` shaped exactly like the
  parent's: (examples, bytes, features, shards, shard lengths, original shards, original
  shard lengths).
- `download_and_prepare` is overridden to take `num_proc` itself: one pool of forked
  workers renders chunks for every split while the parent writes them in order, instead
  of `datasets`' pool per split. The pool reaches the builder through the module global
  `_WORKER_BUILDER` (set just before the fork), because pickling the decoded sources into
  every job is what made `datasets`' own path slower than one process.
- `dl_manager` is ignored: sources are found, downloaded and sha256-checked by
  `texmnist.sources` / `texmnist.fetch` (datasets 5.x no longer verifies checksums).
"""

from __future__ import annotations

import dataclasses
import multiprocessing
import signal
from dataclasses import dataclass
from pathlib import Path

import datasets
import numpy as np
import pyarrow as pa
from datasets.arrow_writer import ArrowWriter, ParquetWriter
from threadpoolctl import threadpool_limits

from . import provenance
from .config import DATA_VERSION, NAMED_CONFIGS, TexturedMNISTConfig, named_config, validate
from .pngenc import encode_batch, encode_mask_batch
from .recipe import Pools, SplitPlan, plan_splits
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

    VERSION = datasets.Version(DATA_VERSION)  # of the data, not of the package
    BUILDER_CONFIG_CLASS = TexturedMNISTConfig
    BUILDER_CONFIGS = [named_config(name) for name in NAMED_CONFIGS]
    DEFAULT_CONFIG_NAME = "default"

    def __init__(
        self,
        *args,
        config: TexturedMNISTConfig | None = None,
        sources: SourceCache | None = None,
        **kwargs,
    ):
        """`config`: build exactly this config, named or custom (any other name).

        `sources`: decoded inputs shared with other builders of the same run.
        """
        if config is not None:
            base = {f.name for f in dataclasses.fields(datasets.BuilderConfig)}
            kwargs.update(
                {
                    f.name: getattr(config, f.name)
                    for f in dataclasses.fields(config)
                    if f.name not in base and getattr(config, f.name) is not None
                },
                config_name=config.name,
                description=config.description,
            )
        super().__init__(*args, **kwargs)
        # datasets applies keyword overrides with setattr, after __post_init__.
        self.config.__post_init__()
        validate(self.config)
        self.sources = sources
        self.inputs: Inputs | None = None
        self.plans: dict[str, SplitPlan] = {}
        self._workers = 1
        self._pool = None

    def _create_builder_config(
        self, config_name=None, custom_features=None, config_id=None, **config_kwargs
    ):
        """A name outside BUILDER_CONFIGS is a custom variant, made from the keywords.

        `datasets` only looks names up among BUILDER_CONFIGS ("BuilderConfig 'x' not
        found"); named configs still go that way, overrides applied.
        """
        if config_name is None or config_name in self.builder_configs:
            return super()._create_builder_config(
                config_name, custom_features, config_id, **config_kwargs
            )
        config = self.BUILDER_CONFIG_CLASS(name=config_name, version=self.VERSION, **config_kwargs)
        return config, config_id or config.create_config_id(config_kwargs, custom_features)

    def _info(self) -> datasets.DatasetInfo:
        records = provenance.sources_of([self.config.source])
        return datasets.DatasetInfo(
            description=self.config.description or "Textured MNIST",
            features=features_for(self.config),
            citation=provenance.citations(records, DATA_VERSION, provenance.DEFAULT_REPO_ID),
            homepage=provenance.DTD.homepage,
            license=provenance.license_summary(records),
        )

    def _split_generators(self, dl_manager):
        with one_blas_thread():
            self.inputs = load_inputs(self.config, num_proc=self._workers, cache=self.sources)
        digits = self.inputs.digits
        self.plans = plan_splits(
            self.config, digits.train_labels, digits.test_labels, pools_of(self.inputs, self.config)
        )
        self._start_pool()  # after the inputs exist, so forked workers share them
        return [
            datasets.SplitGenerator(
                name=name,
                gen_kwargs={"split": name, "chunks": chunk_ranges(len(plan), CHUNK_SIZE)},
            )
            for name, plan in self.plans.items()
        ]

    def _generate_examples(self, split: str, chunks: list[tuple[int, int]]):
        """Rows of the split, one dict each (streaming and the `datasets` contract)."""
        for start, stop in chunks:
            table = self._render_table(self.plans[split].rows(start, stop))
            for i, row in enumerate(table.to_pylist()):
                yield f"{split}-{start + i}", row

    def _generate_tables(self, split: str, chunks: list[tuple[int, int]]):
        """The same rows as Arrow tables, one per chunk, in order."""
        if self._pool is not None:
            yield from self._pool.imap(_render_in_worker, [(split, *c) for c in chunks])
            return
        for start, stop in chunks:
            yield self._render_table(self.plans[split].rows(start, stop))

    def download_and_prepare(self, *args, num_proc: int | None = None, **kwargs):
        """Prepare every split; `num_proc` processes render chunks, one writes them.

        `datasets`' own num_proc starts a pool per split, pickles the builder with
        its arrays into every job and writes one shard per job. Here one pool of
        forked workers (which share the decoded sources) renders chunks for all
        splits, and the parent writes them in order: the output is the same for
        every num_proc, down to the shard layout.
        """
        self._workers = max(1, num_proc or 1)
        try:
            return super().download_and_prepare(*args, **kwargs)
        finally:
            self._stop_pool()

    def _start_pool(self) -> None:
        global _WORKER_BUILDER
        if self._workers < 2 or "fork" not in multiprocessing.get_all_start_methods():
            return  # without fork, workers would re-decode the sources: not worth it
        _WORKER_BUILDER = self
        context = multiprocessing.get_context("fork")
        self._pool = context.Pool(self._workers, initializer=_init_worker)

    def _stop_pool(self) -> None:
        global _WORKER_BUILDER
        if self._pool is not None:
            self._pool.terminate()
            self._pool.join()
            self._pool = None
        _WORKER_BUILDER = None

    def _prepare_split_single(
        self, gen_kwargs, fpath, file_format, max_shard_size, split_info, job_id
    ):
        """Write whole chunks as Arrow tables instead of example by example.

        `datasets` encodes every example dict on its own (~100 us of Python per
        example, more than the PNG encoding itself); the chunks are already
        columnar, so they are written as tables. Same rows, same order, same
        bytes (tests compare this path with `_generate_examples`). One shard per
        job: the folder export re-shards by size anyway.
        """
        writer_class = ParquetWriter if file_format == "parquet" else ArrowWriter
        writer = writer_class(
            features=self.info.features,
            path=fpath.replace("SSSSS", "00000").replace("JJJJJ", f"{job_id:05d}"),
            writer_batch_size=self._writer_batch_size,
            storage_options=self._fs.storage_options,
            embed_local_files=file_format == "parquet",
        )
        try:
            with one_blas_thread():
                for table in self._generate_tables(**gen_kwargs):
                    writer.write_table(table)
                    yield job_id, False, table.num_rows
        finally:
            num_examples, num_bytes = writer.finalize()
            writer.close()
        result = (num_examples, num_bytes, writer._features, 1, [num_examples], 1, [num_examples])
        yield job_id, True, result

    def _render_table(self, plan: SplitPlan) -> pa.Table:
        """Render and encode the rows of `plan` into an Arrow table of the schema."""
        config, inputs = self.config, self.inputs
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
        schema = self.info.features.arrow_schema
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


# The builder whose inputs forked workers render from (set just before the fork).
_WORKER_BUILDER: TexturedMNIST | None = None


def _init_worker() -> None:
    # Ctrl-C and SIGTERM are the parent's to handle: it terminates the pool.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    threadpool_limits(limits=1, user_api="blas")


def _render_in_worker(task: tuple[str, int, int]) -> pa.Table:
    split, start, stop = task
    builder = _WORKER_BUILDER
    return builder._render_table(builder.plans[split].rows(start, stop))


def one_blas_thread():
    """Single-threaded BLAS for the resize matmuls.

    They are many small products; OpenBLAS threads cost ~30x their work here
    (measured: 7.9 vs 0.23 ms per photo on a busy 2-core machine), and builds
    parallelise by processes (`num_proc`) instead.
    """
    return threadpool_limits(limits=1, user_api="blas")


def chunk_ranges(n: int, size: int) -> list[tuple[int, int]]:
    return [(s, min(s + size, n)) for s in range(0, n, size)] or [(0, 0)]


class SourceCache:
    """Decoded inputs shared by the builds of one run, each made once.

    Keys say what decides the content: the digit source and its folder; the DTD
    root; and per texture bank its photos, colour mode, canvas size and sampling.
    Builders only read what they get from here (renders index into copies).
    """

    def __init__(self) -> None:
        self._items: dict[tuple, object] = {}

    def get(self, key: tuple, make):
        if key not in self._items:
            self._items[key] = make()
        return self._items[key]


def load_sources(
    config: TexturedMNISTConfig, cache: SourceCache, *, progress: bool = True
) -> tuple[Digits, Path]:
    """The digits and the DTD root of `config` (read or downloaded once per cache)."""
    digits = cache.get(
        ("digits", config.source, config.mnist_dir, config.download),
        lambda: load_digits(
            config.source, config.mnist_dir, download=config.download, progress=progress
        ),
    )
    dtd_root = cache.get(
        ("dtd", config.dtd_dir, config.download),
        lambda: resolve_dtd(config.dtd_dir, download=config.download, progress=progress),
    )
    return digits, dtd_root


def load_inputs(
    config: TexturedMNISTConfig,
    *,
    progress: bool = True,
    num_proc: int = 1,
    cache: SourceCache | None = None,
) -> Inputs:
    """Read the digit source and decode every texture photo the build uses, once.

    With `cache`, whatever an earlier config of the same run decoded is reused.
    """
    cache = cache or SourceCache()
    digits, dtd_root = load_sources(config, cache, progress=progress)
    partition = cache.get(
        ("partition", dtd_root, config.categories, config.partition),
        lambda: partition_textures(
            dtd_root, list_textures(dtd_root, list(config.categories)), config.partition
        ),
    )
    # The bank holds the photos of both partitions, category by category.
    used = {c: sorted(partition.train[c] + partition.test[c]) for c in config.categories}
    ordered = [f for c in config.categories for f in used[c]]
    mode = "RGB" if config.color == "rgb" else "L"
    images_dir = dtd_root / "images"
    photos = bank = None
    if config.texture_sampling == "crop":
        photos = cache.get(
            ("photos", images_dir, tuple(ordered), mode),
            lambda: decode_photos(
                images_dir,
                ordered,
                mode=mode,
                min_side=config.crop_size,
                progress=progress,
                num_proc=num_proc,
            ),
        )
    else:
        bank = cache.get(
            ("bank", images_dir, tuple(ordered), mode, config.canvas, config.draft),
            lambda: (
                build_bank(
                    images_dir,
                    used,
                    size=config.canvas,
                    mode=mode,
                    draft=config.draft,
                    progress=progress,
                    num_proc=num_proc,
                ).images
            ),
        )
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


__all__ = ["TexturedMNIST", "TexturedMNISTConfig", "features_for"]
