"""The dataset repository folder: build a config into it, safely.

Layout (what the Hub and `load_dataset(DIR, name)` read):

    DIR/README.md                          card; YAML `configs` + `dataset_info`
    DIR/texmnist.json                      recipe, sizes, fingerprints, provenance
    DIR/data/<split>-0000i-of-0000N.parquet      the `default` config
    DIR/<config>/<split>-0000i-of-0000N.parquet  every other config (shard 0: the head)
    DIR/images/preview-<config>.png

A build renders into a hidden staging sibling and swaps it in at the end, under
a lock: an interrupted or failed build leaves the previous DIR (or nothing), and
two builds into one DIR cannot interleave.
"""

from __future__ import annotations

import contextlib
import dataclasses
import math
import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path

import datasets
import pyarrow as pa
from tqdm.auto import tqdm

from .. import __version__
from ..dataset.builder import TexturedMNIST
from ..dataset.inputs import Inputs, load_inputs
from ..errors import ConfigError, OutputError, write_reason
from ..generate.config import DATA_VERSION, TexturedMNISTConfig, check_name
from ..sources import provenance
from ..sources.identity import inputs_identity
from . import card, preview
from .command import with_path_roles
from .meta import (
    META_FORMAT,
    config_dir,
    config_fingerprint,
    shard_name,
    table_fingerprint,
    write_metadata,
)
from .staging import (
    STAGING_TAG,
    check_kept,
    check_out,
    copy_tree_kept,
    locked,
    recover,
    recover_siblings,
    resolve_out,
    swap_in,
    write_fault,
    written_by_texmnist,
)
from .verify import MAX_IMAGE_ROW_GROUP_ROWS

MAX_SHARD_BYTES = 256 * 2**20  # well under the Hub's 500 MB per file
# Rows per shard at most. Every reader fetches a shard's footer before its first row, and
# with 100-row groups the footer holds about 1 kB per group: 20,000 rows keep it near
# 200 kB (one 60,000-row shard: 0.6 MB, most of the bytes before the first row).
MAX_SHARD_ROWS = 20_000
# Rows per Parquet row group: the most `verify` allows for image data. Readers fetch whole
# row groups, so the dataset viewer (100 rows a page) and a stream's first row cost about
# 100 kB, not the whole split. Earlier `datasets` releases set the same 100 for images
# (PARQUET_ROW_GROUP_SIZE_FOR_IMAGE_DATASETS); 5.2 leaves it unset (100 MB groups).
ROW_GROUP_ROWS = MAX_IMAGE_ROW_GROUP_ROWS


@dataclasses.dataclass(frozen=True)
class ShardLayout:
    """How `export_split` cuts a split into Parquet files.

    `head_rows`: the first shard holds only this many rows (None: no separate head). The
    stock `load_dataset(..., streaming=True)` reads a whole shard before its first row
    (pyarrow pre-buffers every row group of the file it opens, in ranges of up to 32 MiB),
    so the head shard is what a stream's first row costs; one row group of it keeps that
    at 0.16-0.32 MB on real data, and the other shards stay large for the bulk load
    (bench/layout_results.md).
    """

    head_rows: int | None = ROW_GROUP_ROWS
    shard_rows: int = MAX_SHARD_ROWS
    shard_bytes: int = MAX_SHARD_BYTES
    row_group_rows: int = ROW_GROUP_ROWS


LAYOUT = ShardLayout()


# -- building -----------------------------------------------------------------


@dataclasses.dataclass
class BuildResult:
    out: Path
    config: str
    splits: dict[str, dict]
    fingerprint: str


def builder_for(
    config: TexturedMNISTConfig, cache_dir: Path, inputs: Inputs | None = None
) -> TexturedMNIST:
    """A builder of `config` (named or customised), from `inputs` when given."""
    return TexturedMNIST(cache_dir=str(cache_dir), config=config, inputs=inputs)


def export_split(
    ds: datasets.Dataset, folder: Path, split: str, layout: ShardLayout | None = None
) -> list[str]:
    """Write `ds` as Parquet shards `<split>-0000i-of-0000N.parquet`; return file names.

    The shards are contiguous and in row order: a head shard of `layout.head_rows`, then
    shards of at most `shard_bytes` and `shard_rows`, all in row groups of
    `row_group_rows`. `Dataset.to_parquet` writes one row group per batch, with `datasets`'
    own Parquet options: content-defined chunking (so a re-upload of a changed split shares
    most bytes), the page index and statistics, and no compression on the already-compressed
    PNG columns.
    """
    layout = layout or LAYOUT
    bounds = shard_bounds(len(ds), ds.data.nbytes, layout)
    statistics = _statistics_columns(ds.features)
    names = []
    # One labelled bar per split, where datasets would show one unlabelled "Creating parquet
    # from Arrow format" bar per shard; shown when datasets' bars are (see datasets_progress).
    bar = tqdm(total=len(ds), desc=f"Writing {folder.name}/{split}", unit="row",
               unit_scale=True, disable=not datasets.is_progress_bar_enabled())  # fmt: skip
    with bar, datasets_progress(False):
        for i, (start, stop) in enumerate(bounds):
            name = shard_name(split, i, len(bounds))
            shard = ds.select(range(start, stop))  # contiguous: a slice, no indices mapping
            shard.to_parquet(
                str(folder / name), batch_size=layout.row_group_rows, write_statistics=statistics
            )
            names.append(name)
            bar.update(len(shard))
    return names


def shard_bounds(num_rows: int, num_bytes: int, layout: ShardLayout) -> list[tuple[int, int]]:
    """(start, stop) rows of each shard: the head, then near-equal contiguous shards."""
    start, bounds = 0, []
    if layout.head_rows and num_rows > layout.head_rows:
        start, bounds = layout.head_rows, [(0, layout.head_rows)]
    rest = num_rows - start
    rest_bytes = num_bytes * rest / max(num_rows, 1)
    count = max(1, math.ceil(rest_bytes / layout.shard_bytes), math.ceil(rest / layout.shard_rows))
    div, mod = divmod(rest, count)  # as `Dataset.shard(count, i, contiguous=True)`
    for i in range(count):
        stop = start + div + (i < mod)
        bounds.append((start, stop))
        start = stop
    return bounds


def _statistics_columns(features: datasets.Features) -> list[str]:
    """Leaf columns that get min/max statistics: all but the PNG bytes of Image columns.

    Min/max of PNG bytes help no reader, and they sit in the footer, which every reader
    fetches first: with 100-row groups they would add about 1.5 kB per group (0.9 MB for
    a 60,000-row split) to the bytes before the first row.
    """
    skip = {f"{name}.bytes" for name, f in features.items() if isinstance(f, datasets.Image)}
    leaves = [leaf for field in features.arrow_schema for leaf in _leaves(field.name, field.type)]
    return [leaf for leaf in leaves if leaf not in skip]


def _leaves(path: str, t: pa.DataType) -> list[str]:
    """Parquet leaf column paths under `path` ("box.list.element", "image.bytes", ...)."""
    if pa.types.is_struct(t):
        return [leaf for child in t for leaf in _leaves(f"{path}.{child.name}", child.type)]
    if pa.types.is_list(t) or pa.types.is_large_list(t) or pa.types.is_fixed_size_list(t):
        return _leaves(f"{path}.list.element", t.value_type)
    return [path]


def build(
    config: TexturedMNISTConfig,
    out: Path,
    *,
    overwrite: bool = False,
    num_proc: int | None = None,
    command: str = "",
    write_card: bool = True,
) -> BuildResult:
    """Build `config` into the repository folder `out` (adding to or replacing in it)."""
    return build_many(
        [config], out, overwrite=overwrite, num_proc=num_proc, command=command,
        write_card=write_card,
    )[0]  # fmt: skip


def build_many(
    configs: list[TexturedMNISTConfig],
    out: Path,
    *,
    overwrite: bool = False,
    num_proc: int | None = None,
    command: str = "",
    write_card: bool = True,
    progress: bool = True,
) -> list[BuildResult]:
    """Build several configs into `out` in one run: one staging, one swap.

    Every input (digit source, texture bank) is decoded once, before any config is
    rendered, and shared by all configs that use it; a missing source fails the run
    before any work. All configs appear in `out` together, or none does.
    """
    names = [c.name for c in configs]
    if not configs or len(set(names)) != len(names):
        raise ConfigError(f"configs: give each config once, got {names}")
    for name in names:
        check_name(name)
    out = resolve_out(out)
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise OutputError(f"{out}: cannot create its parent folder ({write_reason(e, out)})") from e
    with locked(out):
        recover(out)
        recover_siblings(out)
        meta = {"format": META_FORMAT, "configs": {}}
        for name in names:
            meta = check_out(out, name, overwrite) or meta
        if out.is_dir():
            check_kept(out, names)
        inputs = load_inputs(configs, progress=progress, num_proc=num_proc)
        sums: dict = {}  # sha256 of each source, shared by the configs that read it
        staging = out.parent / f".{out.name}{STAGING_TAG}{uuid.uuid4().hex[:8]}"
        try:
            results = _build_into(staging, out, configs, meta, num_proc, command, inputs,
                                  sums, write_card, progress)  # fmt: skip
        except Exception as e:
            fault = write_fault(e, out)
            if fault is None:
                raise
            raise fault from e
        finally:
            shutil.rmtree(staging, ignore_errors=True)
    for result in results:
        result.out = out
    return results


def _build_into(staging, out, configs, meta, num_proc, command, inputs, sums, write_card, progress):
    """Render `configs` into `staging`, beside the kept files of `out`, then swap it in."""
    names = [c.name for c in configs]
    repo = staging / "repo"
    repo.mkdir(parents=True)
    if out.exists():
        copy_tree_kept(out, repo, written_by_texmnist(meta, names, write_card))
    results = []
    # One config: datasets' bars per split; several: one bar over the configs.
    one_bar = progress and len(configs) > 1
    stage = tqdm(configs, desc="Rendering", unit="config", disable=not one_bar)
    with datasets_progress(progress and not one_bar), stage:
        for config in stage:
            stage.set_postfix_str(config.name)
            results.append(
                _build_staged(
                    config, repo, staging, meta, num_proc, command, inputs[config.name], sums
                )
            )
    write_metadata(repo, meta)
    if write_card:
        for name in names:
            preview.write_preview(repo, name, repo / "images" / f"preview-{name}.png")
        card.write_card(repo)
    swap_in(repo, out)
    return results


@contextlib.contextmanager
def datasets_progress(enabled: bool) -> Iterator[None]:
    """`datasets`' per-split bars on or off for a while (the run shows one bar per stage)."""
    was = datasets.is_progress_bar_enabled()
    (datasets.enable_progress_bars if enabled else datasets.disable_progress_bars)()
    try:
        yield
    finally:
        (datasets.enable_progress_bars if was else datasets.disable_progress_bars)()


def _build_staged(config, repo, staging, meta, num_proc, command, inputs, sums) -> BuildResult:
    cdir = config_dir(config.name)
    builder = builder_for(config, staging / "cache", inputs)
    builder.download_and_prepare(output_dir=str(staging / "arrow"), num_proc=num_proc)
    (repo / cdir).mkdir(exist_ok=True)  # it may hold the user's own files, kept
    splits = {}
    for name in builder.plans:
        ds = builder.as_dataset(split=name)
        files = export_split(ds, repo / cdir, name)
        splits[name] = {
            "num_examples": len(ds),
            "num_bytes": int(ds.data.nbytes),
            "fingerprint": table_fingerprint(ds.data.table),
            "files": [f"{cdir}/{f}" for f in files],
        }
        del ds
    fingerprint = config_fingerprint({k: v["fingerprint"] for k, v in splits.items()})
    inputs = builder.inputs
    meta["format"] = META_FORMAT
    meta["configs"][config.name] = {
        "recipe": config.recipe(),
        "description": config.description or "",
        "features": builder.info.features.to_dict(),
        "splits": splits,
        "fingerprint": fingerprint,
        "texmnist_version": __version__,
        "data_version": DATA_VERSION,
        "provenance": [p.as_dict() for p in provenance.sources_of([config.source])],
        "inputs": inputs_identity(inputs, sums),
        "command": with_path_roles(command),  # the options, not the machine's paths
        "partition_rule": inputs.partition.rule,
        "num_textures": {
            "train": sum(len(v) for v in inputs.partition.train.values()),
            "test": sum(len(v) for v in inputs.partition.test.values()),
        },
        "digits": {
            "source": config.source,
            "train": int(len(inputs.digits.train_labels)),
            "test": int(len(inputs.digits.test_labels)),
        },
    }
    del builder
    # The Arrow copy: the Parquet export is what stays, and the next config writes here.
    shutil.rmtree(staging / "arrow", ignore_errors=True)
    shutil.rmtree(staging / "cache", ignore_errors=True)
    return BuildResult(repo, config.name, splits, fingerprint)
