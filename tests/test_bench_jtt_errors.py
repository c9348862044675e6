"""bench/jtt_errors.py re-runs JTT's identification stage of a finished cell: its error
sets must be the cell's own, which a run of today's code logs itself."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("matplotlib")

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "bench"))

import jtt_errors  # noqa: E402

from texmnist.evaluate.report import run_report  # noqa: E402
from texmnist.generate.config import named_config  # noqa: E402
from texmnist.repo.folder import build  # noqa: E402

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def test_the_recomputed_error_sets_are_the_cells_own(fake_sources, tmp_path):
    mnist, dtd = fake_sources
    repo, out = tmp_path / "repo", tmp_path / "cell"
    config = named_config("rho-0.9", mnist_dir=str(mnist), dtd_dir=str(dtd),
                          validation_size=20, counterfactual_size=5)  # fmt: skip
    build(config, repo)
    run_report(repo, "rho-0.9", out, model="mlp", method="jtt", epochs=1, seeds=(0, 1),
               saliency_examples=0, progress=False)  # fmt: skip
    report = json.loads((out / "report.json").read_text())
    rows = jtt_errors.composition(repo, "rho-0.9", report)
    assert [r["seed"] for r in rows] == [0, 1]
    for row, run in zip(rows, report["runs"], strict=True):
        logged = run["train_log"]["jtt"]
        assert row["errors"] == logged["errors"] and set(row["errors"]) == {"1", "2"}
        assert 0 < row["errors"]["1"] < report["data"]["splits"]["train"]
        assert row["errors_conflicting"] == logged["errors_conflicting"]
        assert row["train_conflicting"] == logged["train_conflicting"] > 0
    # A log that is not the cell's (one error more) stops the script, naming the seed.
    report["runs"][1]["train_log"]["jtt"]["errors"]["1"] += 1
    with pytest.raises(SystemExit, match="rho-0.9 seed 1: errors .* not the cell's"):
        jtt_errors.composition(repo, "rho-0.9", report)
