"""Score predictions made anywhere: `texmnist score` and `texmnist.evaluate.score` (no torch).

    from texmnist.evaluate import score
    results = score("preds.csv", "textured-mnist", config="default")  # what `evaluate` returns

The file format is described in :mod:`texmnist.evaluate.predictions`. Only the splits the
file holds are loaded, and only their metadata columns are decoded (no images); a split of
a folder texmnist built is checked against the content fingerprint in its texmnist.json, as
`texmnist verify` computes it, before any of it is scored.
"""

from __future__ import annotations

import json
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ..repo.arrays import load_split, split_names, to_numpy
from ..repo.meta import config_metadata
from . import metrics
from .errors import require
from .levels import BOX_COLUMNS, LEVEL_COLUMNS, level_metrics
from .markdown import report_markdown
from .output import jsonable, make_dir, report_dir, versions
from .plots import plot_accuracy, plot_attraction
from .predictions import PredictionsError, align, as_table, file_sha256, parse

Data = Mapping[str, Mapping[str, np.ndarray]] | str | Path


def load_metadata(
    data: str | Path, config: str, splits: Sequence[str], *, where: str = "predictions"
) -> tuple[dict[str, dict[str, np.ndarray]], dict[str, Any]]:
    """The metadata columns of `splits` of `config`, and facts about the data for a report.

    A split of a folder texmnist built must match the fingerprint its texmnist.json
    records (`load_split` refuses it otherwise): predictions scored against edited data
    would be scored against other labels."""
    have = split_names(data, config)
    unknown = [s for s in splits if s not in have]
    if unknown:
        raise PredictionsError(
            f"{where}: unknown split {unknown[0]!r} (config {config!r} has {', '.join(have)})"
        )
    entry = config_metadata(data, config) if Path(data).is_dir() else None
    arrays = {}
    for split in splits:
        ds = load_split(data, config, split)  # checks the split against its fingerprint
        wanted = (*metrics.METADATA_COLUMNS, *LEVEL_COLUMNS)
        arrays[split] = to_numpy(ds, columns=[c for c in wanted if c in ds.column_names])
        if len(ds) and all(c in arrays[split] for c in BOX_COLUMNS):
            # Positions need the canvas side: one decoded image says it for the split.
            arrays[split]["canvas"] = np.full(len(ds), ds[0]["image"].width)
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
    runs = {run: _evaluate(preds, arrays, n_boot, seed) for run, preds in placed.items()}
    info["predictions"] = {
        "rows": int(table.num_rows),
        "key": parsed.key_name,
        "scores": parsed.score_kind,
        "seeds": [s for s in parsed.seeds if s is not None],
        "splits": parsed.splits,
    }
    return runs, info


def _evaluate(preds: dict, arrays: Mapping, n_boot: int, seed: int) -> dict[str, Any]:
    """`evaluate`'s keys, and per digit scale and position where the config has levels,
    as a trained report has them."""
    result = metrics.evaluate(preds, {s: arrays[s] for s in preds}, n_boot=n_boot, seed=seed)
    result.update(level_metrics(preds, arrays))
    return result


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


def run_score(
    data: str | Path,
    config: str,
    predictions: str | Path,
    out: str | Path,
    *,
    n_boot: int = 2000,
) -> dict[str, Any]:
    """Score a predictions file against `config` of `data` and write the report folder:
    report.json, report.md, accuracy.png and, with test_counterfactual, attraction.png."""
    require("matplotlib")
    out = report_dir(out)
    path = Path(predictions)
    by_seed, info = score_runs(path, data, config=config, n_boot=n_boot)
    facts = {"sha256": file_sha256(path), **info.pop("predictions")}
    runs = [{**result, "seed": seed} for seed, result in by_seed.items()]
    summary = metrics.summarize_seeds(runs)
    # The file's name only: its folder is the user's, and reports get shared.
    name = path.name
    files = ["report.json", "report.md", "accuracy.png"]
    if "cf_attraction" in runs[0]:
        files.append("attraction.png")
    report = {
        "data": info,
        "predictions": {"file": name, **facts},
        "settings": {"model": f"predictions `{name}`", "seeds": [r["seed"] for r in runs]},
        "versions": versions(),
        "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "summary": summary,
        "runs": runs,
        "files": files,
    }
    make_dir(out)  # only now: a file that is refused leaves no folder behind
    (out / "report.json").write_text(json.dumps(jsonable(report), indent=2) + "\n")
    (out / "report.md").write_text(report_markdown(report))
    title = f"{config}: {name}"
    plot_accuracy(summary, out / "accuracy.png", title=title)
    if "attraction.png" in files:
        plot_attraction(runs, out / "attraction.png", title=title)
    return report
