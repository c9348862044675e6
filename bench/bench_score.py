"""`texmnist score` and `texmnist.torch_dataset` against their floors, in one run.

    python bench/bench_score.py [--folder DIR | --data ../shared/data] [--repeat 3]

- score: one predictions file for every row of every split of `rgb` (120,000 rows, as
  Parquet and as CSV) scored from the file (`score_runs`: read, check, load the splits'
  metadata, check their fingerprints, evaluate). Floor: what a caller who already holds
  the predictions as arrays pays, `load_arrays` of the same metadata columns plus
  `metrics.evaluate`. Goal: a few seconds.
- torch_dataset: `train` of `default` (60,000 rows). Floor: `to_numpy` of the same
  columns (image, label) of `load_split` plus one copy of the images into a tensor.
  Goal: ratio <= 1.

`--folder` is a texmnist folder with `default` and `rgb` built; without it both are built
from the real MNIST and DTD files in `--data` into a temporary folder (about a minute).
The predictions are the labels with 20% of them replaced at random (a speed benchmark:
the accuracy means nothing). Each timing is the best of `--repeat`, floors and candidates
alternating; results go to bench/results_score.json.
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.csv as pcsv
import pyarrow.parquet as pq
import torch

from texmnist.evaluate import metrics
from texmnist.evaluate.scoring import score_runs
from texmnist.generate.config import named_config
from texmnist.repo.arrays import load_arrays, load_split, split_names, to_numpy
from texmnist.repo.folder import build_many
from texmnist.repo.torchdata import torch_dataset

REPO = Path(__file__).resolve().parents[1]
DEFAULT_DATA = REPO.parent / "shared" / "data"
SCORE_GOAL_SECONDS = 5.0
METADATA = ("label", "texture", "mnist_index", "aligned")  # what `score` decodes of rgb


def timed(fn: Callable[[], object]) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def write_predictions(folder: Path, work: Path) -> tuple[Path, Path, dict, dict]:
    """Parquet and CSV predictions for every row of `rgb`, and the same as arrays."""
    rng = np.random.default_rng(0)
    columns = {"split": [], "index": [], "prediction": []}
    meta, preds = {}, {}
    for split in split_names(folder, "rgb"):
        meta[split] = load_arrays(folder, "rgb", split, columns=list(METADATA))
        label = meta[split]["label"]
        noise = rng.random(label.size) < 0.2
        preds[split] = np.where(noise, rng.integers(0, 10, label.size), label)
        columns["split"] += [split] * label.size
        columns["index"].append(np.arange(label.size))
        columns["prediction"].append(preds[split])
    table = pa.table(
        {
            "split": columns["split"],
            "index": np.concatenate(columns["index"]),
            "prediction": np.concatenate(columns["prediction"]),
        }
    )
    parquet, csv = work / "predictions.parquet", work / "predictions.csv"
    pq.write_table(table, parquet)
    pcsv.write_csv(table, csv)
    return parquet, csv, meta, preds


def bench_score(folder: Path, work: Path, repeat: int) -> dict:
    parquet, csv, meta, preds = write_predictions(folder, work)
    columns = list(METADATA)

    def floor() -> None:
        arrays = {s: load_arrays(folder, "rgb", s, columns=columns) for s in preds}
        metrics.evaluate(preds, arrays)

    times = {"floor": [], "parquet": [], "csv": []}
    for _ in range(repeat):
        times["floor"].append(timed(floor))
        times["parquet"].append(timed(lambda: score_runs(parquet, folder, config="rgb")))
        times["csv"].append(timed(lambda: score_runs(csv, folder, config="rgb")))
    runs, _ = score_runs(parquet, folder, config="rgb")
    assert runs[None] == metrics.evaluate(
        preds, {s: load_arrays(folder, "rgb", s, columns=columns) for s in preds}
    )
    t = {k: min(v) for k, v in times.items()}
    return {
        "rows": int(sum(p.size for p in preds.values())),
        "splits": list(preds),
        "floor_s": round(t["floor"], 3),
        "score_parquet_s": round(t["parquet"], 3),
        "score_csv_s": round(t["csv"], 3),
        "ratio_parquet": round(t["parquet"] / t["floor"], 2),
        "ratio_csv": round(t["csv"] / t["floor"], 2),
        "goal_s": SCORE_GOAL_SECONDS,
        "file_mb": {
            "parquet": round(parquet.stat().st_size / 2**20, 2),
            "csv": round(csv.stat().st_size / 2**20, 2),
        },
    }


def bench_torch_dataset(folder: Path, repeat: int) -> dict:
    def floor() -> None:
        arrays = to_numpy(load_split(folder, "default", "train"), columns=["image", "label"])
        torch.from_numpy(arrays["image"]).clone()

    def candidate() -> None:
        torch_dataset(folder, "default", "train")

    times = {"floor": [], "torch_dataset": []}
    for _ in range(repeat):
        times["floor"].append(timed(floor))
        times["torch_dataset"].append(timed(candidate))
    t = {k: min(v) for k, v in times.items()}
    return {
        "rows": 60000,
        "floor_s": round(t["floor"], 3),
        "torch_dataset_s": round(t["torch_dataset"], 3),
        "ratio": round(t["torch_dataset"] / t["floor"], 2),
    }


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--folder", type=Path, help="texmnist folder with default and rgb built")
    p.add_argument("--data", type=Path, default=DEFAULT_DATA, help="real mnist/ and dtd/")
    p.add_argument("--repeat", type=int, default=3)
    p.add_argument("--out", type=Path, default=REPO / "bench" / "results_score.json")
    args = p.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="texmnist-bench-score-") as tmp:
        work = Path(tmp)
        folder = args.folder
        if folder is None:
            folder = work / "textured-mnist"
            dirs = dict(mnist_dir=str(args.data / "mnist"), dtd_dir=str(args.data / "dtd"))
            build_many([named_config(c, **dirs) for c in ("default", "rgb")], folder)
        load = os.getloadavg()[0]
        results = {
            "score": bench_score(folder, work, args.repeat),
            "torch_dataset": bench_torch_dataset(folder, args.repeat),
            "torch_threads": torch.get_num_threads(),
            "load_before": round(load, 2),
            "load_after": round(os.getloadavg()[0], 2),
        }
    args.out.write_text(json.dumps(results, indent=2) + "\n")
    print(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
