"""Tables of the published effects from the reports that `bench/science.sh` has written.

    python bench/effects.py [OUT] [--write DIR/reports/effects.md]

OUT (default bench/full) holds the ERM CNN cells of the baseline matrix (OUT/matrix/<config>/
erm) and the per-level reports of the `sizes` sweeps (OUT/b-scale/scale-<px>,
OUT/c-position/position-<where>; where present, OUT/b-scale-resnet, the scale sweep of an
earlier model, and OUT/c-position-cnn, the position sweep of the CNN, shown for comparison).
Prints Markdown: (a) BG-Gap against ρ, (b) against digit scale, (c) against position, (d) the
counterfactual metrics of the ρ < 1 configs, (e) Fashion-MNIST against MNIST; every value the
mean [95% t-interval over seeds] in percent, with the model, the epochs kept, the training
examples and the wall time. What has not run yet is named as such: nothing here is
estimated. The card includes the file given to --write.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from texmnist.evaluate.metrics import mean_ci_text

COLUMNS = ("acc_test_correlated", "acc_test_random", "acc_no_background", "bg_gap", "bg_flip")
HEADER = ["correlated", "random", "no background", "BG-Gap", "bg_flip"]
CF_COLUMNS = ("cf_flip", "cf_consistent", "cf_attraction", "bg_gap", "bg_flip")
CF_HEADER = ["cf_flip", "cf_consistent", "cf_attraction", "BG-Gap", "bg_flip"]
RHO = (("default", "1"), ("rho-0.99", "0.99"), ("rho-0.9", "0.9"), ("uncorrelated", "0.1"))
SETTINGS = "model; epoch kept per seed of most; train images; wall"


def _report(path: Path) -> dict | None:
    file = path / "report.json"
    return json.loads(file.read_text()) if file.is_file() else None


def cells(summary: dict, keys) -> list[str]:
    """`mean [interval]` in percent per key, '–' where the summary lacks it."""
    return [mean_ci_text(summary[k]) if k in summary else "–" for k in keys]


def _settings(report: dict) -> str:
    runs = report["runs"]
    kept = ", ".join(str(r["train_log"].get("chosen_epoch", "–")) for r in runs)
    n = runs[0]["train_log"]["train_examples"]
    minutes = report.get("wall_seconds", 0) / 60
    model, most = report["settings"]["model"], report["settings"]["epochs"]
    return f"{model}; {kept} of {most}; {n:,}; {minutes:.1f} min"


def _learned(report: dict) -> bool:
    return report.get("flags", {}).get("object", {}).get("learned", True)


def table(header: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + " --- |" * len(header)]
    return "\n".join(lines + ["| " + " | ".join(r) + " |" for r in rows])


def _rows(named: list[tuple[str, dict | None]], keys=COLUMNS) -> tuple[list[list[str]], list[str]]:
    """Table rows of the reports that exist, and the names of those still to run."""
    rows, missing = [], []
    for name, report in named:
        if report is None:
            missing.append(name)
            continue
        flag = "" if _learned(report) else " (not interpretable)"
        rows.append([f"{name}{flag}", *cells(report["summary"], keys), _settings(report)])
    return rows, missing


def _section(title: str, first: str, named, keys=COLUMNS, header=HEADER) -> str:
    rows, missing = _rows(named, keys)
    text = f"**{title}**\n\n"
    text += table([first, *header, SETTINGS], rows) if rows else "Not run yet."
    if rows and missing:
        text += f"\n\nStill to run: {', '.join(missing)}."
    return text


def _levels(folder: Path, kind: str) -> list[tuple[str, dict | None]]:
    found = sorted(folder.glob(f"{kind}-*/report.json"), key=lambda p: _level_key(p.parent.name))
    return [(p.parent.name.split("-", 1)[1], _report(p.parent)) for p in found]


def _level_key(name: str):
    level = name.split("-", 1)[1]
    return (0, int(level), "") if level.isdigit() else (1, 0, level)


def effects(out: Path) -> str:
    erm = {c: _report(out / "matrix" / c / "erm") for c, _ in [*RHO, ("fashion", "")]}
    parts = [
        "Mean [95% t-interval over 3 seeds], in percent; the epoch best on validation kept. "
        "Commands: `bash bench/science.sh`, then `python bench/effects.py`."
    ]
    parts.append(_section("(a) BG-Gap against ρ (ERM, the CNN)", "ρ",
                          [(rho, erm[c]) for c, rho in RHO]))  # fmt: skip
    parts.append(_section("(b) against digit scale (px on the 56 px canvas), one model per scale",
                          "scale", _levels(out / "b-scale", "scale")))  # fmt: skip
    if (out / "b-scale-resnet").is_dir():  # the model that could not learn the small digits
        parts.append(_section("(b) the same sweep with the ResNet-8 (global average pool)",
                              "scale", _levels(out / "b-scale-resnet", "scale")))  # fmt: skip
    parts.append(_section("(c) against position, one model per position", "position",
                          _levels(out / "c-position", "position")))  # fmt: skip
    if (out / "c-position-cnn").is_dir():  # a model that is not translation invariant
        parts.append(_section("(c) the same sweep with the CNN (a fixed 7×7 pooling grid)",
                              "position", _levels(out / "c-position-cnn", "position")))  # fmt: skip
    cf = [(c, erm[c]) for c, rho in RHO if c != "default"]
    parts.append(_section("(d) `test_counterfactual`: every test digit on all ten backgrounds",
                          "config", cf, CF_COLUMNS, CF_HEADER))  # fmt: skip
    parts.append(_section("(e) MNIST against Fashion-MNIST (ρ = 1, the CNN)", "source",
                          [("MNIST (`default`)", erm["default"]),
                           ("Fashion-MNIST (`fashion`)", erm["fashion"])]))  # fmt: skip
    return "\n\n".join(parts) + "\n"


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("out", nargs="?", type=Path, default=Path("bench/full"),
                   help="the OUT folder of bench/science.sh")  # fmt: skip
    p.add_argument("--write", type=Path, help="also write the Markdown here")
    args = p.parse_args()
    text = effects(args.out)
    print(text)
    if args.write:  # for the card's Baselines section, under its own heading
        args.write.parent.mkdir(parents=True, exist_ok=True)
        args.write.write_text("# Measured effects (full real data)\n\n" + text)


if __name__ == "__main__":
    main()
