"""Summaries over seeds and their markdown tables, checked by hand."""

from __future__ import annotations

import pytest
from test_metrics import random_benchmark

from texmnist.evaluate.metrics import evaluate
from texmnist.evaluate.seeds import format_table, summarize_seeds

# ---------------------------------------------------------------------------
# Seeds and table


def _run(value: float, ci: list[float] | None = None) -> dict:
    return {
        "acc_test_random": {"value": value, "n": 10, "ci": ci or [value - 0.1, value + 0.1]},
        "groups": {"y=0,t=1": {"value": value, "n": 10, "ci": [0.0, 1.0]}},
    }


def test_summarize_seeds_by_hand():
    runs = [_run(0.5), _run(0.7), _run(0.9)]
    runs[0]["bg_gap"] = {"value": 0.1, "n": 4, "ci": [0.0, 0.2]}  # not in every run
    summary = summarize_seeds(runs)
    assert set(summary) == {"acc_test_random"}
    s = summary["acc_test_random"]
    assert s["mean"] == pytest.approx(0.7)
    assert s["std"] == pytest.approx(0.2)  # sqrt(((-.2)^2 + 0 + .2^2) / 2)
    assert s["n_seeds"] == 3
    assert s["values"] == [0.5, 0.7, 0.9]
    assert s["ci_first_run"] == pytest.approx([0.4, 0.6])
    # t(0.975, 2) = 4.302653 (tables); half width 4.302653 * 0.2 / sqrt(3)
    assert s["ci"] == pytest.approx([0.7 - 0.496828, 0.7 + 0.496828], abs=1e-6)
    assert s["ci_kind"] == "t over seeds"


def test_summarize_single_run_and_empty():
    s = summarize_seeds([_run(0.25)])["acc_test_random"]
    assert s["std"] == 0.0
    assert s["mean"] == 0.25
    assert s["ci"] == pytest.approx([0.15, 0.35])  # one seed: the run's own interval
    assert s["ci_kind"] == "one run"
    with pytest.raises(ValueError, match="empty"):
        summarize_seeds([])


def test_format_table_exact():
    summary = summarize_seeds([_run(0.5, [0.4, 0.6]), _run(0.7)])
    summary["bg_gap"] = {
        "mean": -0.0001,
        "std": 0.01234,
        "n_seeds": 2,
        "values": [0.0, 0.0],
        "ci": None,
    }
    table = format_table(summary, keys=("acc_test_random", "acc_avg", "bg_gap"))
    # [0.5, 0.7]: mean 0.6, s = 0.141421, t(0.975, 1) = 12.7062: half width 1.27062
    assert table == (
        "| metric | mean [95% CI] (%) | std (%) | seeds |\n"
        "| --- | --- | --- | --- |\n"
        "| acc_test_random | 60.0 [-67.1, 187.1] | 14.1 | 2 |\n"
        "| bg_gap | 0.0 | 1.2 | 2 |\n"
    )


def test_format_table_from_real_evaluation():
    preds, data = random_benchmark(200)
    summary = summarize_seeds([evaluate(preds, data, seed=s) for s in range(2)])
    table = format_table(summary)
    lines = table.splitlines()
    assert lines[2].startswith("| acc_test_correlated |")
    assert len(lines) == 2 + 9  # every default key but the cf_ ones is in this benchmark
    assert table == format_table(summary)
