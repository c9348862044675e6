"""`TexturedMNIST`: the `datasets` builder of every Textured MNIST config.

The builder is the `datasets` adapter and nothing else: inputs come from
`texmnist.dataset.inputs` (decoded once per run), rows are rendered by
`texmnist.dataset.features.render_table`, and chunks are spread over the forked
workers of `texmnist.dataset.pool`. Each split's plan is drawn in full in
`_split_generators`, and contiguous chunks of rows are rendered from it, so that
`num_proc` parallelises without changing a byte of the output.

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
  `texmnist.sources` / `texmnist.sources.fetch` (datasets 5.x no longer verifies checksums).
"""

from __future__ import annotations

import dataclasses

import datasets
from datasets.arrow_writer import ArrowWriter, ParquetWriter

from ..generate.config import (
    DATA_VERSION,
    NAMED_CONFIGS,
    TexturedMNISTConfig,
    named_config,
    validate,
)
from ..generate.recipe import SplitPlan, plan_splits
from ..sources import provenance
from .features import features_for, render_table
from .inputs import Inputs, load_inputs
from .pool import CHUNK_SIZE, ForkPool, chunk_ranges, one_blas_thread, workers_for


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
        inputs: Inputs | None = None,
        **kwargs,
    ):
        """`config`: build exactly this config, named or custom (any other name).

        `inputs`: the config's decoded inputs, when the caller loaded them with the other
        configs of its run (`texmnist.dataset.inputs.load_inputs`); else loaded here.
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
        self.inputs = inputs
        self.plans: dict[str, SplitPlan] = {}
        self._num_proc: int | None = 1
        self._pool: ForkPool | None = None

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
        if self.inputs is None:
            self.inputs = load_inputs([self.config], num_proc=self._num_proc)[self.config.name]
        digits = self.inputs.digits
        self.plans = plan_splits(
            self.config, digits.train_labels, digits.test_labels, self.inputs.pools(self.config)
        )
        chunks = {name: chunk_ranges(len(plan), CHUNK_SIZE) for name, plan in self.plans.items()}
        # After the inputs exist, so that forked workers share them.
        workers = workers_for(self._num_proc, sum(map(len, chunks.values())))
        self._pool = ForkPool(self._render, workers)
        return [
            datasets.SplitGenerator(name=name, gen_kwargs={"split": name, "chunks": chunks[name]})
            for name in self.plans
        ]

    def _generate_examples(self, split: str, chunks: list[tuple[int, int]]):
        """Rows of the split, one dict each (streaming and the `datasets` contract)."""
        for start, stop in chunks:
            table = self._render((split, start, stop))
            for i, row in enumerate(table.to_pylist()):
                yield f"{split}-{start + i}", row

    def _generate_tables(self, split: str, chunks: list[tuple[int, int]]):
        """The same rows as Arrow tables, one per chunk, in order."""
        pool = self._pool or ForkPool(self._render, 1)
        yield from pool.imap([(split, *c) for c in chunks])

    def download_and_prepare(self, *args, num_proc: int | None = None, **kwargs):
        """Prepare every split; `num_proc` processes render chunks, one writes them.

        `datasets`' own num_proc starts a pool per split, pickles the builder with
        its arrays into every job and writes one shard per job. Here one pool of
        forked workers (which share the decoded sources) renders chunks for all
        splits, and the parent writes them in order: the output is the same for
        every num_proc, down to the shard layout. None: every usable core.
        """
        self._num_proc = num_proc
        try:
            return super().download_and_prepare(*args, **kwargs)
        finally:
            if self._pool is not None:
                self._pool.close()
                self._pool = None

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

    def _render(self, task: tuple[str, int, int]):
        """The Arrow table of rows [start, stop) of a split (in a worker or here)."""
        split, start, stop = task
        plan = self.plans[split].rows(start, stop)
        return render_table(plan, self.config, self.inputs, self.info.features)


__all__ = ["TexturedMNIST", "TexturedMNISTConfig", "features_for"]
