"""`texmnist evaluate` refuses, with one line and before any data is loaded or any model
trained, values no run can use; and it trains only on data whose fingerprint it checked."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

pytest.importorskip("torch")
pytest.importorskip("matplotlib")

from test_reliability import build_args, one_error_line, run_cli  # noqa: E402

from texmnist.cli import main  # noqa: E402
from texmnist.evaluate import load as load_mod  # noqa: E402
from texmnist.evaluate.errors import EvaluateError  # noqa: E402
from texmnist.evaluate.settings import TrainSettings  # noqa: E402

SHARD = "data/{}-00000-of-00001.parquet"


@pytest.fixture(scope="module")
def built(fake_sources, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("evaluate") / "repo"
    assert main(build_args(out, *fake_sources)) == 0
    return out


@pytest.fixture
def repo(built, tmp_path) -> Path:
    return Path(shutil.copytree(built, tmp_path / "repo"))


def _evaluate(capsys, data: Path, out: Path, *extra: str):
    return run_cli(capsys, "evaluate", data, "--out", out, "--epochs", "1", "--seeds", "0",
                   "--no-progress", "--saliency-examples", "0", *extra)  # fmt: skip


@pytest.mark.parametrize(
    "extra, line",
    [
        (("--seeds", "0,1,0"), "--seeds: seed 0 is given twice; the intervals are over distinct "
         "seeds, give each once"),
        (("--seeds", "3,3"), "--seeds: seed 3 is given twice"),
        (("--lr", "nan"), "--lr: must be a finite number > 0, got nan"),
        (("--lr", "inf"), "--lr: must be a finite number > 0, got inf"),
        (("--lr", "-0.001"), "--lr: must be a finite number > 0, got -0.001"),
        (("--lr", "0"), "--lr: must be a finite number > 0, got 0.0"),
        (("--weight-decay", "nan"), "--weight-decay: must be a finite number >= 0, got nan"),
        (("--weight-decay=-1e-4",), "--weight-decay: must be a finite number >= 0, got -0.0001"),
        (("--weight-decay", "inf"), "--weight-decay: must be a finite number >= 0, got inf"),
        (("--max-train", "-5"), "--max-train: must be >= 1, got -5"),
        (("--saliency-examples", "-1"), "--saliency-examples: must be >= 0, got -1"),
        (("--epochs", "0"), "--epochs: must be >= 1, got 0"),
        (("--batch-size", "-8"), "--batch-size: must be >= 1, got -8"),
    ],
)  # fmt: skip
@pytest.mark.parametrize("mode", [(), ("--configs", "default", "--methods", "erm"),
                                  ("--sweep", "rho")])  # fmt: skip
def test_unusable_values_are_one_line_before_loading(
    built, tmp_path, capsys, monkeypatch, extra, line, mode
):
    def never(*a, **k):
        raise AssertionError("data loaded before the options were checked")

    monkeypatch.setattr(load_mod, "load_arrays", never)
    out = tmp_path / "reports" / "r"
    run = _evaluate(capsys, built, out, *mode, *extra)
    one_error_line(run, f"texmnist: error: {line}")
    assert not (tmp_path / "reports").exists()


@pytest.mark.parametrize("bad", [float("nan"), float("inf"), -1.0])
def test_train_settings_refuse_them_too(bad):
    with pytest.raises(EvaluateError, match="--lr: must be a finite number > 0"):
        TrainSettings(lr=bad)
    with pytest.raises(EvaluateError, match="--weight-decay: must be a finite number >= 0"):
        TrainSettings(weight_decay=bad)
    with pytest.raises(EvaluateError, match="--lr: must be a finite number > 0"):
        TrainSettings(lr=0.0)


def test_a_swapped_shard_is_refused_before_training(repo, tmp_path, capsys, monkeypatch):
    """test_correlated's shard replaced by test_random's: texmnist.json is untouched, so the
    report would carry a fingerprint that does not describe what was trained and tested on."""
    shutil.copy(repo / SHARD.format("test_random"), repo / SHARD.format("test_correlated"))

    def never(*a, **k):
        raise AssertionError("a model was trained on unchecked data")

    monkeypatch.setattr("texmnist.evaluate.report.run_seed", never)
    out = tmp_path / "report"
    run = _evaluate(capsys, repo, out)
    one_error_line(
        run,
        f"texmnist: error: {repo / 'data'}: the test_correlated shards of config 'default' do "
        "not match their fingerprint in texmnist.json (changed after the build); rebuild the "
        f"config, or run `texmnist verify {repo}`",
    )
    assert not out.exists()


def test_a_config_fingerprint_that_is_not_its_splits_is_refused(repo, tmp_path, capsys):
    meta = json.loads((repo / "texmnist.json").read_text())
    meta["configs"]["default"]["fingerprint"] = "0" * 64
    (repo / "texmnist.json").write_text(json.dumps(meta))
    run = _evaluate(capsys, repo, tmp_path / "report")
    one_error_line(
        run,
        f"texmnist: error: {repo / 'texmnist.json'}: config 'default': its fingerprint is not "
        "that of its splits; rebuild the config",
    )


def test_the_reported_fingerprint_is_the_checked_one(built, tmp_path, capsys):
    out = tmp_path / "report"
    run = _evaluate(capsys, built, out, "--max-train", "40")
    assert run.rc == 0, run.err
    report = json.loads((out / "report.json").read_text())
    meta = json.loads((built / "texmnist.json").read_text())
    assert report["data"]["fingerprint"] == meta["configs"]["default"]["fingerprint"]
