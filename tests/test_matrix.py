"""`texmnist evaluate --configs ... --methods ...`: the matrix, its reuse, failures, the card."""

from __future__ import annotations

import json
import shutil

import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("matplotlib")

from texmnist.cli import main  # noqa: E402
from texmnist.errors import ConfigError  # noqa: E402
from texmnist.evaluate import EvaluateError  # noqa: E402
from texmnist.evaluate import matrix as matrixmod  # noqa: E402
from texmnist.evaluate.train import METHODS  # noqa: E402
from texmnist.generate.config import named_config  # noqa: E402
from texmnist.repo import card as cardmod  # noqa: E402
from texmnist.repo.baselines import REPORTS_DIR  # noqa: E402
from texmnist.repo.folder import build  # noqa: E402

CONFIGS = ("default", "uncorrelated")
QUICK = ["--epochs", "1", "--seeds", "0", "--model", "mlp", "--saliency-examples", "4"]


pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def repo(fake_sources, tmp_path_factory):
    mnist, dtd = fake_sources
    out = tmp_path_factory.mktemp("matrix") / "repo"
    for name in CONFIGS:
        config = named_config(name, mnist_dir=str(mnist), dtd_dir=str(dtd), validation_size=20)
        build(config, out)
    return out


def _matrix(repo, out, *extra):
    argv = ["evaluate", str(repo), "--out", str(out), *QUICK, "--no-progress", *extra]
    return main(argv)


def _forbid_training(monkeypatch):
    def refuse(*args, **kwargs):
        raise AssertionError("a cell was retrained")

    monkeypatch.setattr(matrixmod, "run_report", refuse)


def test_matrix_writes_every_cell_and_reuses_them(repo, tmp_path, monkeypatch, capsys):
    out = tmp_path / "R"
    assert _matrix(repo, out, "--configs", "all", "--methods", "erm,jtt") == 0
    result = json.loads((out / "matrix.json").read_text())
    assert list(result["cells"]) == [f"{c}/{m}" for c in CONFIGS for m in ("erm", "jtt")]
    for key, cell in result["cells"].items():
        assert cell["status"] == "done", key
        assert cell["fingerprint"] and cell["settings"]["epochs"] == 1
        assert (out / key / "report.json").is_file() and (out / key / "report.md").is_file()
        report = json.loads((out / key / "report.json").read_text())
        assert report["summary"] == cell["summary"]
    jtt = result["cells"]["uncorrelated/jtt"]["settings"]["hyperparameters"]
    assert jtt["jtt_upweight_grid"] == [5, 20, 50]
    table = (out / "matrix.md").read_text()
    rows = [ln for ln in table.splitlines() if ln.startswith("| `")]
    assert len(rows) == 4 and rows[0].startswith("| `default` | erm | ")
    header = "| config | method | correlated | random | no background | BG-Gap | bg_follow |"
    assert header in table
    assert "Model `mlp`, at most 1 epoch (the best on validation kept" in table
    assert "seeds 0" in table and "Hardware:" in table
    assert "95% Student-t interval" in table
    assert (out / "matrix.png").stat().st_size > 0

    # The same command again trains nothing.
    _forbid_training(monkeypatch)
    before = {k: (out / k / "report.json").stat().st_mtime_ns for k in result["cells"]}
    assert _matrix(repo, out, "--configs", "all", "--methods", "erm,jtt") == 0
    again = json.loads((out / "matrix.json").read_text())
    assert all(c["reused"] for c in again["cells"].values())
    assert {k: c["summary"] for k, c in again["cells"].items()} == {
        k: c["summary"] for k, c in result["cells"].items()
    }
    assert before == {k: (out / k / "report.json").stat().st_mtime_ns for k in result["cells"]}


def test_changed_setting_or_data_retrains_only_those_cells(
    repo, tmp_path, monkeypatch, fake_sources
):
    out = tmp_path / "R"
    assert _matrix(repo, out, "--configs", "default,uncorrelated", "--methods", "erm") == 0
    calls = []
    real = matrixmod.run_report

    def counting(data, config, cell_out, **kwargs):
        calls.append((config, kwargs["method"], kwargs["lr"]))
        return real(data, config, cell_out, **kwargs)

    monkeypatch.setattr(matrixmod, "run_report", counting)
    assert _matrix(repo, out, "--configs", "default", "--methods", "erm", "--lr", "0.002") == 0
    assert calls == [("default", "erm", 0.002)]
    # A rebuilt config (another seed: other data, another fingerprint) retrains its cell only.
    # (A texmnist.json edited by hand is refused: evaluate checks what it loads.)
    rebuilt = tmp_path / "rebuilt"
    shutil.copytree(repo, rebuilt)
    mnist, dtd = fake_sources
    config = named_config("uncorrelated", mnist_dir=str(mnist), dtd_dir=str(dtd),
                          validation_size=20, seed=1)  # fmt: skip
    build(config, rebuilt, overwrite=True)
    calls.clear()
    assert _matrix(rebuilt, out, "--configs", "default,uncorrelated", "--methods", "erm",
                   "--lr", "0.002") == 0  # fmt: skip
    assert calls == [("uncorrelated", "erm", 0.002)]


def test_a_failing_cell_is_recorded_and_the_rest_go_on(repo, tmp_path, monkeypatch):
    real = matrixmod.run_report

    def flaky(data, config, cell_out, **kwargs):
        if kwargs["method"] == "balanced":
            raise EvaluateError("balanced: something broke\nsecond line")
        return real(data, config, cell_out, **kwargs)

    monkeypatch.setattr(matrixmod, "run_report", flaky)
    out = tmp_path / "R"
    assert _matrix(repo, out, "--configs", "default", "--methods", "balanced,erm") == 0
    cells = json.loads((out / "matrix.json").read_text())["cells"]
    assert cells["default/balanced"]["status"] == "failed"
    assert cells["default/balanced"]["error"] == "EvaluateError: balanced: something broke"
    assert cells["default/erm"]["status"] == "done"
    table = (out / "matrix.md").read_text()
    assert "| `default` | balanced | failed: EvaluateError: balanced: something broke |" in table
    # A failed cell is retried on the next run (and now succeeds).
    monkeypatch.setattr(matrixmod, "run_report", real)
    assert _matrix(repo, out, "--configs", "default", "--methods", "balanced,erm") == 0
    cells = json.loads((out / "matrix.json").read_text())["cells"]
    assert cells["default/balanced"]["status"] == "done" and cells["default/erm"]["reused"]


def test_resolve_names():
    assert matrixmod.resolve("all", METHODS, "--methods") == list(METHODS)
    assert matrixmod.resolve("rrr, erm,rrr", METHODS, "--methods") == ["rrr", "erm"]
    with pytest.raises(ConfigError, match="--methods: unknown 'sgd'"):
        matrixmod.resolve("erm,sgd", METHODS, "--methods")
    with pytest.raises(ConfigError, match="--configs: give at least one"):
        matrixmod.resolve(" , ", ["default"], "--configs")


def test_matrix_option_errors_are_one_line(repo, tmp_path, capsys):
    assert _matrix(repo, tmp_path / "R", "--configs", "rgb", "--methods", "erm") == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("texmnist: error: --configs: unknown 'rgb'") and "\n" not in err
    assert _matrix(repo, tmp_path / "R", "--methods", "erm", "--sweep", "rho") == 2
    assert "--sweep" in capsys.readouterr().err
    assert not (tmp_path / "R").exists()  # nothing half-written


def test_card_shows_the_matrix(repo, tmp_path):
    reports = repo / REPORTS_DIR
    try:
        assert _matrix(repo, reports, "--configs", "default", "--methods", "erm") == 0
        body = cardmod.render_card(repo).split("\n---\n", 1)[1]
    finally:
        import shutil

        shutil.rmtree(reports)
    section = body.split("## Baseline results", 1)[1].split("\n## ", 1)[0]
    assert "### Baselines: every method on every config" in section
    assert "Model `mlp`, at most 1 epoch (the best" in section and "Hardware:" in section
    assert "texmnist " in section and "seeds 0" in section
    assert "| `default` | erm | " in section
