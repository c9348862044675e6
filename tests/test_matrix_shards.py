"""`--shard K/N`: shards share one output folder, two writing at once corrupt nothing, and a
final call without --shard reuses every finished cell and writes the matrix files."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
import threading

import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("matplotlib")

from test_matrix import CONFIGS, _forbid_training, repo  # noqa: E402, F401  (the fixture)

from texmnist.cli import main  # noqa: E402
from texmnist.errors import ConfigError  # noqa: E402
from texmnist.evaluate import matrix as matrixmod  # noqa: E402
from texmnist.evaluate.output import replacing, write_json  # noqa: E402

pytestmark = pytest.mark.usefixtures("one_torch_thread")
METHODS = ("erm", "balanced")
QUICK = dict(
    configs=",".join(CONFIGS), methods=",".join(METHODS), seeds=(0,), model="mlp", epochs=1,
    saliency_examples=4, progress=False,
)  # fmt: skip


def test_parse_shard():
    assert matrixmod.parse_shard("2/3") == (2, 3) and matrixmod.parse_shard(None) is None
    for bad in ("0/2", "3/2", "a/b", "1", "1/2/3", "-1/2"):
        with pytest.raises(ConfigError, match="--shard: expected K/N with 1 <= K <= N, got"):
            matrixmod.parse_shard(bad)


def test_a_shard_trains_every_nth_cell_and_writes_no_matrix_file(repo, tmp_path, monkeypatch):  # noqa: F811
    seen = []
    real = matrixmod.run_report

    def counting(data, config, cell_out, **kwargs):
        seen.append(f"{config}/{kwargs['method']}")
        return real(data, config, cell_out, **kwargs)

    monkeypatch.setattr(matrixmod, "run_report", counting)
    out = tmp_path / "R"
    result = matrixmod.run_matrix(repo, out, shard="2/3", **QUICK)
    order = [f"{c}/{m}" for c in CONFIGS for m in METHODS]
    assert seen == order[1::3] == list(result["cells"]) and result["shard"] == [2, 3]
    assert not any((out / name).exists() for name in matrixmod.MATRIX_FILES)
    for key in seen:
        cell = json.loads((out / key / matrixmod.CELL_FILE).read_text())
        assert cell["status"] == "done" and cell["summary"] == result["cells"][key]["summary"]


def test_two_shards_at_once_then_a_final_call_reuses_them(repo, tmp_path, monkeypatch):  # noqa: F811
    out = tmp_path / "R"
    script = textwrap.dedent(
        """
        import sys, torch
        torch.set_num_threads(1)
        from texmnist.evaluate.matrix import run_matrix
        run_matrix(sys.argv[1], sys.argv[2], shard=sys.argv[3], **%r)
        """
        % {k: v for k, v in QUICK.items()}
    )
    shards = [
        subprocess.Popen(
            [sys.executable, "-c", script, str(repo), str(out), f"{k}/2"],
            stderr=subprocess.PIPE,
            text=True,
        )  # fmt: skip
        for k in (1, 2)
    ]
    for shard in shards:
        assert shard.wait(timeout=600) == 0, shard.stderr.read()
    order = [f"{c}/{m}" for c in CONFIGS for m in METHODS]
    records = {key: json.loads((out / key / matrixmod.CELL_FILE).read_text()) for key in order}
    assert all(r["status"] == "done" for r in records.values())
    assert not any((out / name).exists() for name in matrixmod.MATRIX_FILES)
    assert not list(out.rglob(".*.tmp*")), "a temporary file was left behind"

    _forbid_training(monkeypatch)  # the final call must train nothing
    matrix = matrixmod.run_matrix(repo, out, **QUICK)
    assert list(matrix["cells"]) == order and all(c["reused"] for c in matrix["cells"].values())
    for key in order:
        assert matrix["cells"][key]["summary"] == records[key]["summary"]
        assert (
            json.loads((out / key / "report.json").read_text())["summary"]
            == (records[key]["summary"])
        )
    table = (out / "matrix.md").read_text()
    assert sum(line.startswith("| `") for line in table.splitlines()) == len(order)
    assert all((out / name).stat().st_size > 0 for name in matrixmod.MATRIX_FILES)


def test_concurrent_writers_of_one_file_never_leave_a_torn_file(tmp_path):
    """Two threads rewrite the same JSON file 200 times each while a third reads it: every
    read parses and is one writer's whole content; no temporary file is left."""
    path = tmp_path / "cell.json"
    contents = [{"writer": w, "payload": "x" * 50_000 * (w + 1)} for w in (0, 1)]
    write_json(path, contents[0])
    bad: list[str] = []
    done = threading.Event()

    def writer(content):
        for _ in range(200):
            write_json(path, content)

    def reader():
        while not done.is_set():
            try:
                if json.loads(path.read_text()) not in contents:
                    bad.append("unknown content")
            except ValueError as e:
                bad.append(str(e))

    threads = [threading.Thread(target=writer, args=(c,)) for c in contents]
    watcher = threading.Thread(target=reader)
    watcher.start()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    done.set()
    watcher.join()
    assert bad == [] and json.loads(path.read_text()) in contents
    assert [p.name for p in tmp_path.iterdir()] == ["cell.json"]


def test_a_failed_write_keeps_the_old_file(tmp_path):
    path = tmp_path / "report.md"
    path.write_text("old")
    with pytest.raises(RuntimeError), replacing(path) as tmp:
        tmp.write_text("half")
        raise RuntimeError("killed mid-write")
    assert path.read_text() == "old" and [p.name for p in tmp_path.iterdir()] == ["report.md"]


def test_shards_from_the_command_line(repo, tmp_path, capsys):  # noqa: F811
    out = tmp_path / "R"
    args = ["evaluate", str(repo), "--out", str(out), "--configs", "default", "--methods",
            "erm,balanced", "--epochs", "1", "--seeds", "0", "--model", "mlp",
            "--saliency-examples", "4", "--no-progress"]  # fmt: skip
    assert main([*args, "--shard", "2/2"]) == 0
    assert "shard 2/2: 1 cells" in capsys.readouterr().out
    assert (out / "default/balanced/cell.json").is_file()
    assert not (out / "default/erm").exists() and not (out / "matrix.json").exists()
    assert main(args) == 0
    matrix = json.loads((out / "matrix.json").read_text())
    assert [c["reused"] for c in matrix["cells"].values()] == [False, True]


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--shard", "1/2"], "--shard: only for the matrix (--configs/--methods)"),
        (["--methods", "erm", "--shard", "3/2"], "--shard: expected K/N with 1 <= K <= N"),
        (["--methods", "erm", "--resume"], "--resume: the matrix always reuses its finished cells"),
        (["--patience", "-1"], "--patience: must be >= 0, got -1"),
    ],
)  # fmt: skip
def test_option_errors_are_one_line(repo, tmp_path, capsys, extra, message):  # noqa: F811
    assert main(["evaluate", str(repo), "--out", str(tmp_path / "R"), *extra]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith(f"texmnist: error: {message}") and "\n" not in err
    assert not (tmp_path / "R").exists()


def test_a_resumed_cell_counts_the_seeds_of_the_interrupted_call(repo, tmp_path, monkeypatch):  # noqa: F811
    """The cell's wall time (matrix.md's column) is the report's: this call's time plus the
    seeds an interrupted call trained, not this call's alone."""
    import texmnist.evaluate.report as reportmod

    real, out = reportmod.run_seed, tmp_path / "R"
    kwargs = {**QUICK, "configs": "default", "methods": "erm", "seeds": (0, 1)}

    def interrupted(data, model_name, settings, **kw):
        if settings.seed == 1:
            raise KeyboardInterrupt  # not an Exception: the matrix does not swallow it
        return real(data, model_name, settings, **kw)

    monkeypatch.setattr(reportmod, "run_seed", interrupted)
    with pytest.raises(KeyboardInterrupt):
        matrixmod.run_matrix(repo, out, **kwargs)
    partial = out / "default" / "erm" / ".partial" / "seed-0.json"
    saved = json.loads(partial.read_text())
    saved["result"]["wall_seconds"] = 1e6  # the earlier call's seed: an unmistakable time
    partial.write_text(json.dumps(saved))
    monkeypatch.setattr(reportmod, "run_seed", real)
    cell = matrixmod.run_matrix(repo, out, **kwargs)["cells"]["default/erm"]
    assert 1e6 < cell["wall_seconds"] < 1e6 + 600
    report = json.loads((out / "default" / "erm" / "report.json").read_text())
    assert 1e6 < report["wall_seconds"] <= cell["wall_seconds"]
    assert "| `default` | erm |" in (out / "matrix.md").read_text()
    assert "| 16666." in (out / "matrix.md").read_text()  # 1e6 s in minutes
