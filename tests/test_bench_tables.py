"""bench/effects.py and bench/full_tables.py: the published tables from the reports that exist.

Fake report.json files in the layout `bench/full.sh` and `bench/science.sh` write; the
tables must show exactly the finished reports, name what is still to run, flag a model that
did not learn the object, and reach the card through DIR/reports/*.md.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[1] / "bench"
sys.path.insert(0, str(BENCH))

import effects  # noqa: E402
import full_tables  # noqa: E402

from texmnist.repo.baselines import baselines  # noqa: E402

KEYS = ("acc_test_correlated", "acc_test_random", "acc_no_background", "bg_gap", "bg_flip",
        "bg_follow", "acc_wg", "cf_flip", "cf_consistent", "cf_attraction")  # fmt: skip


def _summary(value: float) -> dict:
    return {"mean": value, "ci": [value - 0.01, value + 0.01], "n_seeds": 3}


def _write_report(
    folder: Path, *, value: float, model="cnn", learned=True, epochs=(5, 6, 4), dfr_c=None
):
    folder.mkdir(parents=True)
    report = {
        "settings": {"model": model, "method": "erm", "epochs": 6},
        "summary": {k: _summary(value) for k in KEYS},
        "selection": {"chosen_epochs": list(epochs), "chosen_hyperparameters": [None] * 3},
        "flags": {"object": {"learned": learned}},
        "runs": [{"train_log": {"chosen_epoch": e, "train_examples": 18000}} for e in epochs],
        "wall_seconds": 600,
    }
    for run, c in zip(report["runs"], dfr_c or (), strict=False):
        run["train_log"]["dfr"] = {"c": c}
    (folder / "report.json").write_text(json.dumps(report))


@pytest.fixture
def out(tmp_path):
    out = tmp_path / "full"
    _write_report(out / "matrix" / "default" / "erm", value=0.50)
    _write_report(out / "matrix" / "rho-0.9" / "erm", value=0.25)
    _write_report(out / "matrix" / "rho-0.9" / "dfr", value=0.125, dfr_c=(0.3, 1.0, 0.3))
    _write_report(out / "models-mlp" / "default" / "erm", value=0.75, model="mlp")
    _write_report(out / "b-scale" / "scale-28", value=0.375)
    _write_report(out / "b-scale" / "scale-14", value=0.4, learned=False)
    return out


def test_effects_show_exactly_the_finished_reports(out):
    text = effects.effects(out)
    a = text.split("**(a)")[1].split("**(b)")[0]
    assert "| 1 | 50.0 [49.0, 51.0] |" in a and "| 0.9 | 25.0 [24.0, 26.0] |" in a
    assert "Still to run: 0.99, 0.1." in a  # rho-0.99 and uncorrelated have no report
    b = text.split("**(b)")[1].split("**(c)")[0]
    # Levels in numeric order; the level whose model did not learn the object is flagged.
    assert b.index("| 14 (not interpretable) |") < b.index("| 28 | 37.5 [36.5, 38.5] |")
    assert "cnn; 5, 6, 4 of 6; 18,000; 10.0 min" in b
    assert "**(c) against position, one model per position**\n\nNot run yet." in text
    assert "ResNet-8" not in text  # the comparison sweep shows only where it ran
    e = text.split("**(e)")[1]
    assert "MNIST (`default`) | 50.0" in e and "Still to run: Fashion-MNIST (`fashion`)." in e


def test_an_earlier_scale_sweep_shows_beside_the_current_one(out):
    _write_report(out / "b-scale-resnet" / "scale-14", value=0.1, model="resnet", learned=False)
    text = effects.effects(out)
    current, earlier = text.split("**(b)")[1], text.split("**(b)")[2].split("**(c)")[0]
    assert "| 14 (not interpretable) | 40.0" in current
    assert earlier.startswith(" the same sweep with the ResNet-8 (global average pool)**")
    assert "| 14 (not interpretable) | 10.0 [9.0, 11.0] |" in earlier and "resnet; " in earlier


def test_the_cnn_position_sweep_shows_after_the_current_one(out):
    assert "fixed 7×7 pooling grid" not in effects.effects(out)  # only where it ran
    _write_report(out / "c-position" / "position-corner", value=0.3, model="cnn-global")
    _write_report(out / "c-position-cnn" / "position-corner", value=0.2)
    _write_report(out / "c-position-cnn" / "position-center", value=0.6)
    text = effects.effects(out)
    current, cnn = text.split("**(c)")[1], text.split("**(c)")[2].split("**(d)")[0]
    assert "| corner | 30.0 [29.0, 31.0] |" in current and "cnn-global; " in current
    assert cnn.startswith(" the same sweep with the CNN (a fixed 7×7 pooling grid)**")
    assert cnn.index("| center | 60.0") < cnn.index("| corner | 20.0 [19.0, 21.0] |")


def test_full_tables_list_every_cell_and_the_model_table(out):
    text = full_tables.tables(out)
    matrix, models = text.split("**Models")
    assert matrix.count("\n| `") == 3  # default/erm, rho-0.9/dfr, rho-0.9/erm
    assert "| `rho-0.9` | dfr | 12.5 [11.5, 13.5] |" in matrix
    assert "| 5, 6, 4 | – | 10 |" in matrix  # ERM: nothing tuned
    # DFR's C, read from each run's log (reports that predate its listing show it too).
    assert "| 5, 6, 4 | C=0.3; C=1 | 10 |" in matrix
    # The CNN rows are the matrix's ERM cells on the configs the other models ran.
    assert "| cnn | `default` | 50.0" in models and "| mlp | `default` | 75.0" in models
    assert "`rho-0.9`" not in models


def test_readme_tables_are_replaced_between_their_markers(out, tmp_path):
    readme = tmp_path / "README.md"
    readme.write_text(
        "intro\n<!-- effects:start -->\nold\n<!-- effects:end -->\nmiddle\n"
        "<!-- full-tables:start -->\nold\n<!-- full-tables:end -->\nend\n"
    )
    blocks = {"full-tables": full_tables.tables(out), "effects": effects.effects(out)}
    full_tables.update_readme(readme, blocks)
    once = readme.read_text()
    assert "old" not in once and once.startswith("intro\n") and once.endswith("end\n")
    assert "| `rho-0.9` | dfr | 12.5" in once.split("middle")[1]
    assert "**(a) BG-Gap against ρ" in once.split("middle")[0]
    full_tables.update_readme(readme, blocks)
    assert readme.read_text() == once  # idempotent
    readme.write_text("no markers\n")
    with pytest.raises(SystemExit, match="needs one <!-- full-tables:start -->"):
        full_tables.update_readme(readme, {"full-tables": "x"})


def test_written_tables_reach_the_card(out, tmp_path, monkeypatch):
    folder = tmp_path / "built"
    for module, name in ((full_tables, "matrix.md"), (effects, "effects.md")):
        path = folder / "reports" / name
        monkeypatch.setattr(sys, "argv", ["x", str(out), "--write", str(path)])
        module.main()
    card = baselines(folder, [])
    assert card.startswith("## Baseline results")
    assert "### Measured effects (full real data)" in card
    assert "### Every method on every config (full real MNIST)" in card
    assert "| `rho-0.9` | dfr | 12.5 [11.5, 13.5] |" in card
    assert "| 0.9 | 25.0 [24.0, 26.0] |" in card
