"""Tables of the published effects from the outputs of `bench/science.sh`.

    python bench/effects.py OUT [--write DIR/reports/effects.md]

prints Markdown: (a) BG-Gap against ρ, (b) against digit scale, (c) against position,
(d) the counterfactual metrics of `default`, (e) Fashion-MNIST against MNIST; each with its
model, epochs, seeds, training examples and wall time, and every value as mean [95%
t-interval over seeds] in percent. The card includes the file given to --write.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from texmnist.evaluate.metrics import mean_ci_text

COLUMNS = ("acc_test_correlated", "acc_test_random", "acc_no_background", "bg_gap", "bg_flip")
CF_COLUMNS = ("cf_flip", "cf_consistent", "cf_attraction", "bg_gap", "bg_flip")


def _report(path: Path) -> dict:
    return json.loads((path / "report.json").read_text())


def _cells(summary: dict, keys) -> list[str]:
    return [mean_ci_text(summary[k]) if k in summary else "–" for k in keys]


def _settings(report: dict) -> str:
    s, runs = report["settings"], report["runs"]
    seconds = sum(r["train_log"]["train_seconds"] for r in runs)
    n = runs[0]["train_log"]["train_examples"]
    return f"{s['model']}, {s['method']}, {s['epochs']} epochs, {n:,} train, {seconds:.0f} s"


def _table(header: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + " --- |" * len(header)]
    return "\n".join(lines + ["| " + " | ".join(r) + " |" for r in rows])


def _sweep(folder: Path, title: str) -> str:
    sweep = json.loads((folder / "sweep.json").read_text())
    rows = []
    for p in sweep["points"]:
        sub = folder / (p["name"] if sweep["sweep"] == "rho" else p["name"].replace("=", "-"))
        report = _report(sub)
        flag = "" if p["interpretable"] else " (not interpretable)"
        rows.append([f"{p['x']}{flag}", *_cells(report["summary"], COLUMNS), _settings(report)])
    header = [sweep["sweep"], "correlated", "random", "no background", "BG-Gap", "bg_flip",
              "model, method, epochs, train, training time (3 seeds)"]  # fmt: skip
    return f"**{title}** ({sweep['design']})\n\n" + _table(header, rows)


def effects(out: Path) -> str:
    parts = ["Mean [95% t-interval over 3 seeds], in percent. Command: `bash bench/science.sh`."]
    parts.append(_sweep(out / "a-rho", "(a) BG-Gap against ρ"))
    parts.append(_sweep(out / "b-scale", "(b) against digit scale, one model per scale"))
    parts.append(_sweep(out / "c-position", "(c) against position, one model per position"))
    default = _report(out / "a-rho" / "default")
    cf = _table(["config", "cf_flip", "cf_consistent", "cf_attraction", "BG-Gap", "bg_flip"],
                [["default", *_cells(default["summary"], CF_COLUMNS)]])  # fmt: skip
    most = [r["cf_attraction"]["most_attractive"] for r in default["runs"]]
    parts.append(f"**(d) `test_counterfactual` of `default`** (most attractive category per "
                 f"seed: {', '.join(map(str, most))})\n\n{cf}")  # fmt: skip
    rows = []
    for name, report in (
        ("MNIST (default)", default),
        ("Fashion-MNIST", _report(out / "e-fashion")),
    ):
        rows.append([name, *_cells(report["summary"], COLUMNS), _settings(report)])
    header = ["source", "correlated", "random", "no background", "BG-Gap", "bg_flip",
              "model, method, epochs, train, training time (3 seeds)"]  # fmt: skip
    parts.append("**(e) MNIST against Fashion-MNIST** (ρ = 1)\n\n" + _table(header, rows))
    return "\n\n".join(parts) + "\n"


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("out", type=Path, help="the OUT folder of bench/science.sh")
    p.add_argument("--write", type=Path, help="also write the Markdown here")
    args = p.parse_args()
    text = effects(args.out)
    print(text)
    if args.write:  # for the card's Baselines section, under its own heading
        args.write.parent.mkdir(parents=True, exist_ok=True)
        args.write.write_text("# Measured effects (disjoint real data)\n\n" + text)


if __name__ == "__main__":
    main()
