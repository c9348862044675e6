"""Score predictions made anywhere: `texmnist score` and `texmnist.evaluate.score` (no torch).

    from texmnist.evaluate import score
    results = score("preds.csv", "textured-mnist", config="default")  # what `evaluate` returns

The file format is described in :mod:`texmnist.evaluate.predictions`. Only the splits the
file holds are loaded, and only their metadata columns are decoded (no images); a split of
a folder texmnist built is checked against the content fingerprint in its texmnist.json, as
`texmnist verify` computes it, before any of it is scored.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ..repo.arrays import load_split, split_names, to_numpy
from ..repo.meta import META_FILE, config_metadata, table_fingerprint
from . import EvaluateError, metrics
from .predictions import PredictionsError, align, as_table, parse

Data = Mapping[str, Mapping[str, np.ndarray]] | str | Path


def load_metadata(
    data: str | Path, config: str, splits: Sequence[str], *, where: str = "predictions"
) -> tuple[dict[str, dict[str, np.ndarray]], dict[str, Any]]:
    """The metadata columns of `splits` of `config`, and facts about the data for a report.

    A split of a folder texmnist built must match the fingerprint its texmnist.json
    records: predictions scored against edited data would be scored against other labels."""
    have = split_names(data, config)
    unknown = [s for s in splits if s not in have]
    if unknown:
        raise PredictionsError(
            f"{where}: unknown split {unknown[0]!r} (config {config!r} has {', '.join(have)})"
        )
    entry = config_metadata(data, config) if Path(data).is_dir() else None
    arrays = {}
    for split in splits:
        ds = load_split(data, config, split)
        if entry is not None:
            recorded = entry["splits"][split].get("fingerprint")
            if table_fingerprint(ds.data.table) != recorded:
                raise EvaluateError(
                    f"{data}: config {config!r} split {split!r} does not match the fingerprint "
                    f"in {META_FILE} (changed after the build; rebuild it)"
                )
        columns = [c for c in metrics.METADATA_COLUMNS if c in ds.column_names]
        arrays[split] = to_numpy(ds, columns=columns)
    info: dict[str, Any] = {
        "data": str(data),
        "config": config,
        "splits": {s: int(len(a["label"])) for s, a in arrays.items()},
        "absent_splits": [s for s in have if s not in arrays],
    }
    if entry is not None:
        info["fingerprint"] = entry.get("fingerprint")
        info["fingerprint_checked"] = list(arrays)
        info["recipe"] = entry.get("recipe")
        info["texmnist_version_built"] = entry.get("texmnist_version")
    return arrays, info


def score_runs(
    predictions: Any,
    data: Data,
    *,
    config: str = "default",
    n_boot: int = 2000,
    seed: int = 0,
) -> tuple[dict[int | None, dict[str, Any]], dict[str, Any]]:
    """({seed: what `evaluate` returns}, facts about the file and the data).

    `predictions`: a CSV/Parquet path, a pyarrow Table, a DataFrame or a dict of columns.
    `data`: a folder or Hub id (with `config`), or per split the metadata arrays, as
    `evaluate` takes them. A file without a `seed` column is one run, keyed None."""
    table, where = as_table(predictions)
    parsed = parse(table, where)
    if isinstance(data, (str, Path)):
        arrays, info = load_metadata(data, config, parsed.splits, where=where)
    else:
        arrays, info = (
            data,
            {"splits": {s: len(data[s]["label"]) for s in parsed.splits if s in data}},
        )
    placed = align(parsed, arrays)
    runs = {
        run: metrics.evaluate(preds, {s: arrays[s] for s in preds}, n_boot=n_boot, seed=seed)
        for run, preds in placed.items()
    }
    info["predictions"] = {
        "rows": int(table.num_rows),
        "key": parsed.key_name,
        "scores": parsed.score_kind,
        "seeds": [s for s in parsed.seeds if s is not None],
        "splits": parsed.splits,
    }
    return runs, info


def score(
    predictions: Any,
    data: Data,
    *,
    config: str = "default",
    n_boot: int = 2000,
    seed: int = 0,
) -> dict[str, Any]:
    """What :func:`texmnist.evaluate.evaluate` returns for the predictions of one run (see
    :func:`score_runs` for the arguments and for files with several seeds)."""
    runs, info = score_runs(predictions, data, config=config, n_boot=n_boot, seed=seed)
    if len(runs) > 1:
        raise PredictionsError(
            f"predictions: {len(runs)} seeds ({', '.join(map(str, runs))}); score() scores "
            "one run: use score_runs() or `texmnist score` for intervals over seeds"
        )
    return next(iter(runs.values()))
