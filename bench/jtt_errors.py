"""Which digits JTT's error sets hold: how many of them conflict with their texture, for
the published JTT cells, whose logs predate the count (newer runs record it themselves).

    python bench/jtt_errors.py [DATA] [--out bench/full/matrix] [--configs rho-0.9,...]

For each config's `jtt` cell in OUT, and each seed of its report, re-runs JTT's first stage
exactly as the cell did (the same initial weights, held-in examples, seed and settings, read
from the cell's report.json) with the package's own `identify_errors`, checks that every
error count equals the one the cell logged, and prints how many of those errors are
conflicting digits (texture not the label's own), against the conflicting digits in train.
A count that differs from the log stops the script: then the errors are not the cell's.
Measured on the full real MNIST (all 12 counts equal the logged ones; 6 min, one thread):

    rho-0.9       T=1: 3,293-3,869 errors, 16.9-18.4% of them conflicting (train: 10.1%),
                  10.7-12.8% of the 5,573 conflicting digits; T=2: 18.2-23.2%, 7.0-8.2%
    uncorrelated  T=1 and T=2: 89.0-90.2% conflicting (train: 89.9%)

At rho = 0.9 the error set is twice as rich in conflicting digits as train, yet it holds
only one in eight to fourteen of them: after one epoch ERM already reads most of them right.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import torch

from texmnist.evaluate.data import deterministic, held_out_split
from texmnist.evaluate.jtt import error_composition, identify_errors
from texmnist.evaluate.load import load_config
from texmnist.evaluate.report import fresh_model
from texmnist.evaluate.settings import TrainSettings


def cell_settings(report: dict, seed: int) -> TrainSettings:
    """The settings the cell trained seed `seed` with (what its identification stage used)."""
    req, hp = report["request"], report["hyperparameters"]
    return TrainSettings(
        method="jtt", epochs=req["epochs"], batch_size=req["batch_size"], lr=hp["lr"],
        weight_decay=hp["weight_decay"], seed=seed, patience=req["patience"],
        lr_schedule=req["lr_schedule"], jtt_epochs_grid=tuple(hp["jtt_epochs_grid"]),
        jtt_upweight_grid=tuple(hp["jtt_upweight_grid"]), progress=False,
    )  # fmt: skip


def composition(data: Path, config: str, report: dict) -> list[dict]:
    """Per seed: the logged error counts, recomputed, and their conflicting share."""
    max_train = report["request"].get("max_train")  # the cell's training rows, as it loaded them
    arrays, _ = load_config(data, config, max_train=max_train, progress=False)
    rows = []
    for run in report["runs"]:
        seed, logged = run["seed"], run["train_log"]["jtt"]
        s = cell_settings(report, seed)
        model = fresh_model(arrays, report["settings"]["model"], seed)
        base, _, _ = held_out_split(arrays["train"], arrays.get("validation"), s)
        with deterministic(seed):  # as train_model enters it before JTT's first stage
            errors = identify_errors(model, base, s, torch.device("cpu"))
        counts = {str(t): int(e.sum()) for t, e in errors.items()}
        if counts != logged["errors"]:
            raise SystemExit(f"{config} seed {seed}: errors {counts}, the cell logged "
                             f"{logged['errors']}: not the cell's error sets")  # fmt: skip
        rows.append({"seed": seed, "chosen_T": logged["epochs_identification"],
                     "errors": counts, **error_composition(errors, base)})  # fmt: skip
    return rows


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("data", nargs="?", type=Path, default=Path("bench/results/full-data"))
    p.add_argument("--out", type=Path, default=Path("bench/full/matrix"))
    p.add_argument("--configs", default="rho-0.9,uncorrelated")
    args = p.parse_args()
    torch.set_num_threads(1)
    for config in args.configs.split(","):
        report = json.loads((args.out / config / "jtt" / "report.json").read_text())
        for row in composition(args.data, config, report):
            n = row["train_conflicting"]
            parts = [
                f"T={t}: {e:,} errors, {row['errors_conflicting'][t]:,} conflicting "
                f"({row['errors_conflicting'][t] / e:.1%} of the errors, "
                f"{row['errors_conflicting'][t] / n:.1%} of the {n:,} conflicting digits)"
                for t, e in row["errors"].items()
            ]
            print(f"{config} seed {row['seed']} (chose T={row['chosen_T']}): " + "; ".join(parts))


if __name__ == "__main__":
    main()
