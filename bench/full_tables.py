"""Tables of the full-scale runs of `bench/full.sh` from the reports that exist so far.

    python bench/full_tables.py [OUT] [--write DIR/reports/matrix.md] [--readme README.md]

Prints, in markdown, every finished cell of OUT/matrix (config x method) and the model
table (mlp, cnn, resnet x config: accuracy against background reliance), each value the
mean [95% t-interval over seeds] in percent, with the epochs kept per seed and the wall
time. A cell without a report.json yet is left out: nothing here is estimated. The card of
a built folder includes the file given to --write (its "Baseline results"); --readme
rewrites these tables and those of bench/effects.py between the README's markers.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from effects import cells, effects, table

from texmnist.evaluate.markdown import chosen_values
from texmnist.evaluate.matrix import COLUMNS

MODEL_COLUMNS = (
    ("acc_no_background", "no background"),
    ("acc_test_correlated", "correlated"),
    ("acc_test_random", "random"),
    ("bg_gap", "BG-Gap"),
    ("bg_flip", "bg_flip"),
)


def reports(folder: Path) -> dict[tuple[str, str], dict]:
    """(config, method) -> report.json of every finished cell under `folder`."""
    found = {}
    for path in sorted(folder.glob("*/*/report.json")):
        found[(path.parent.parent.name, path.parent.name)] = json.loads(path.read_text())
    return found


def row(report: dict, columns) -> list[str]:
    summary = report["summary"]
    values = cells(summary, [k for k, _ in columns])
    sel = report.get("selection", {})
    kept = ", ".join(map(str, sel.get("chosen_epochs", []))) or "–"
    # From the runs' logs, so that reports written before DFR's C was listed show it too.
    chosen = [chosen_values(r["train_log"]) for r in report.get("runs", [])]
    tuned = "; ".join(dict.fromkeys(c for c in chosen if c))
    minutes = report.get("wall_seconds", 0) / 60
    return [*values, kept, tuned or "–", f"{minutes:.1f}" if minutes < 10 else f"{minutes:.0f}"]


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("out", nargs="?", type=Path, default=Path("bench/full"))
    p.add_argument("--write", type=Path, help="also write the Markdown here")
    p.add_argument("--readme", type=Path, help="replace the marked tables of this README")
    args = p.parse_args()
    text = tables(args.out)
    print(text)
    if args.readme:
        update_readme(args.readme, {"full-tables": text, "effects": effects(args.out)})
    if args.write:  # for the card's Baselines section, under its own heading
        args.write.parent.mkdir(parents=True, exist_ok=True)
        args.write.write_text("# Every method on every config (full real MNIST)\n\n" + text)


def update_readme(path: Path, blocks: dict[str, str]) -> None:
    """Replace the text between `<!-- NAME:start -->` and `<!-- NAME:end -->` for each block."""
    text = path.read_text()
    for name, block in blocks.items():
        start, end = f"<!-- {name}:start -->\n", f"<!-- {name}:end -->"
        if text.count(start) != 1 or text.count(end) != 1:
            raise SystemExit(f"{path}: needs one {start.strip()} and one {end} marker")
        head, rest = text.split(start)
        text = head + start + block.rstrip() + "\n" + end + rest.split(end, 1)[1]
    path.write_text(text)


def tables(out: Path) -> str:
    """The baseline matrix and the model table, in Markdown."""
    tail = ["epochs kept", "chosen on validation", "wall (min)"]
    matrix = reports(out / "matrix")
    head = ["config", "method", *(t for _, t in COLUMNS), *tail]
    rows = [[f"`{c}`", m, *row(r, COLUMNS)] for (c, m), r in matrix.items()]
    models = {}
    for folder in sorted(out.glob("models-*")):
        for (config, _), report in reports(folder).items():
            models[(report["settings"]["model"], config)] = report
    # The CNN's rows are the matrix's ERM cells, on the configs the other models ran.
    covered = {c for _, c in models}
    models.update({("cnn", c): r for (c, m), r in matrix.items() if m == "erm" and c in covered})
    model_head = ["model", "config", *(t for _, t in MODEL_COLUMNS), *tail]
    model_rows = [[m, f"`{c}`", *row(r, MODEL_COLUMNS)] for (m, c), r in sorted(models.items())]
    return (
        "Mean [95% t-interval over seeds], in percent; the CNN unless named. "
        "Commands: `bash bench/full.sh`, then `python bench/full_tables.py`.\n\n"
        f"**Baseline matrix**\n\n{table(head, rows)}\n\n"
        f"**Models (ERM): accuracy against reliance**\n\n{table(model_head, model_rows)}\n"
    )


if __name__ == "__main__":
    main()
