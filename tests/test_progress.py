"""Every step of a command that can take more than a few seconds says what it is doing."""

from __future__ import annotations

import re

import pytest
from test_reliability import build_args, run_cli


def test_build_labels_its_parquet_bars(tmp_path, fake_sources, capsys):
    run = run_cli(capsys, *build_args(tmp_path / "repo", *fake_sources))
    assert run.rc == 0, run.err
    err = run.err.replace("\r", "\n")
    assert "Creating parquet from Arrow format" not in err
    for split in ("train", "test_correlated", "test_random", "test_no_background"):
        assert f"Writing data/{split}: 100%" in err, split


def _steps(err: str) -> set[str]:
    """The steps a "Verifying" bar named."""
    return set(re.findall(r"Verifying:.*?, ((?:fingerprint|load_dataset) \w+/\w+)\]", err))


SPLITS = ("train", "test_correlated", "test_random", "test_no_background")


def test_verify_and_push_name_each_slow_check(tmp_path, fake_sources, capsys):
    out = tmp_path / "repo"
    assert run_cli(capsys, *build_args(out, *fake_sources)).rc == 0
    every = {f"{kind} default/{s}" for kind in ("fingerprint", "load_dataset") for s in SPLITS}
    run = run_cli(capsys, "verify", out)
    assert run.rc == 0 and _steps(run.err) == every, run.err
    run = run_cli(capsys, "push", out, "--repo", "me/x", "--dry-run")
    assert run.rc == 0 and _steps(run.err) == every, run.err
    assert "Verifying" not in run.out  # the plan on stdout stays clean
    run = run_cli(capsys, "verify", out, "--quick")
    assert run.rc == 0 and _steps(run.err) == {s for s in every if "fingerprint" in s}


def test_evaluate_names_its_loading_and_testing_steps(tmp_path, fake_sources, capsys):
    pytest.importorskip("torch")
    pytest.importorskip("matplotlib")
    data = tmp_path / "repo"
    assert run_cli(capsys, *build_args(data, *fake_sources)).rc == 0
    run = run_cli(capsys, "evaluate", data, "--out", tmp_path / "r", "--epochs", "1",
                  "--seeds", "0", "--model", "mlp", "--saliency-examples", "4")  # fmt: skip
    assert run.rc == 0, run.err
    err = run.err.replace("\r", "\n")
    for split in SPLITS:
        assert re.search(rf"Loading default: .*, {split}\]", err), split
    assert re.search(r"seed 0 testing: .*, predictions\]", err)
    assert re.search(r"seed 0 testing: .*, saliency\]", err)
