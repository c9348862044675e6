"""`texmnist score`: the report folder from a predictions file, and its one-line refusals."""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys

import pyarrow as pa
import pyarrow.csv as pcsv
import pytest

pytest.importorskip("matplotlib")

from test_score import _preds, _table  # noqa: E402

from texmnist.cli import main  # noqa: E402
from texmnist.evaluate import metrics  # noqa: E402


def test_score_writes_the_report(score_repo, score_data, tmp_path, capsys):
    by_seed = {0: _preds(score_data, 0), 1: _preds(score_data, 1)}
    path = tmp_path / "preds.csv"
    pcsv.write_csv(_table(by_seed), path)
    out = tmp_path / "report"
    assert main(["score", str(score_repo), "--predictions", str(path), "--out", str(out)]) == 0
    printed = capsys.readouterr().out.strip()
    assert "\n" not in printed and "absent: train" in printed and str(out) in printed
    assert sorted(p.name for p in out.iterdir()) == [
        "accuracy.png", "attraction.png", "report.json", "report.md",
    ]  # fmt: skip
    report = json.loads((out / "report.json").read_text())
    assert report["predictions"]["sha256"] == hashlib.sha256(path.read_bytes()).hexdigest()
    assert report["predictions"]["file"] == "preds.csv"  # the name, never the local path
    assert report["predictions"]["seeds"] == [0, 1]
    assert report["data"]["absent_splits"] == ["train"]
    meta = json.loads((score_repo / "texmnist.json").read_text())
    assert report["data"]["fingerprint"] == meta["configs"]["default"]["fingerprint"]
    # The summary is summarize_seeds of evaluate's per-seed results, as `evaluate` reports.
    expected = metrics.summarize_seeds([metrics.evaluate(p, score_data) for p in by_seed.values()])
    for key in ("acc_test_random", "bg_gap", "cf_flip", "acc_wg"):
        assert report["summary"][key]["mean"] == pytest.approx(expected[key]["mean"], abs=1e-12)
        assert report["summary"][key]["ci"] == pytest.approx(expected[key]["ci"], abs=1e-12)
        assert report["summary"][key]["ci_kind"] == "t over seeds"
    text = (out / "report.md").read_text()
    assert "preds.csv" in text and "bg_gap" in text and "Counterfactual" in text
    assert str(tmp_path) not in text


def test_score_refusal_is_one_line_and_writes_nothing(score_repo, score_data, tmp_path, capsys):
    table = _table({0: _preds(score_data, 0)}, seeds=False)
    path = tmp_path / "short.csv"
    pcsv.write_csv(table.slice(1), path)  # one row fewer
    out = tmp_path / "new" / "report"
    assert main(["score", str(score_repo), "--predictions", str(path), "--out", str(out)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith(f"texmnist: error: {path}: split ") and "misses 1 of its" in err
    assert "\n" not in err and not (tmp_path / "new").exists()
    assert main(["score", str(score_repo), "--config", "nope", "--predictions", str(path),
                 "--out", str(out)]) == 2  # fmt: skip
    assert "config 'nope' is not built there" in capsys.readouterr().err


def test_score_needs_no_torch(score_repo, score_data, tmp_path):
    """`texmnist score` in a process where importing torch fails."""
    path = tmp_path / "preds.csv"
    pcsv.write_csv(_table({0: _preds(score_data, 0)}, seeds=False), path)
    out = tmp_path / "report"
    code = (
        "import sys; sys.modules['torch'] = None\n"  # `import torch` now raises ImportError
        "from texmnist.cli import main\n"
        f"raise SystemExit(main(['score', {str(score_repo)!r}, '--predictions', {str(path)!r}, "
        f"'--out', {str(out)!r}]))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert json.loads((out / "report.json").read_text())["summary"]["acc_test_random"]


def test_score_from_python_with_a_dataframe(score_repo, score_data):
    pd = pytest.importorskip("pandas")
    from texmnist.evaluate import score

    preds = _preds(score_data, 5)
    frame = pd.DataFrame(_table({0: preds}, seeds=False).to_pydict())
    assert score(frame, score_repo) == metrics.evaluate(preds, score_data)
    assert score(pa.Table.from_pandas(frame), score_data) == metrics.evaluate(preds, score_data)
