"""`texmnist preview`: a bad --out or a damaged folder is one line, and no file is
half-written."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from test_out_folder import built  # noqa: F401  (the module's built folder)
from test_reliability import one_error_line, run_cli

SHARD = "data/train-00000-of-00001.parquet"


@pytest.fixture
def repo(built, tmp_path) -> Path:  # noqa: F811
    return Path(shutil.copytree(built, tmp_path / "repo"))


def test_out_naming_a_folder(repo, tmp_path, capsys):
    (tmp_path / "grids").mkdir()
    run = run_cli(capsys, "preview", repo, "--out", tmp_path / "grids")
    one_error_line(
        run,
        f"{tmp_path / 'grids'}: --out names a folder; give an image file, e.g. "
        f"{tmp_path / 'grids' / 'preview.png'}",
    )
    assert list((tmp_path / "grids").iterdir()) == []


def test_out_without_an_image_extension(repo, tmp_path, capsys):
    run = run_cli(capsys, "preview", repo, "--out", tmp_path / "grid.txt")
    one_error_line(
        run, f"{tmp_path / 'grid.txt'}: --out must end in an image extension such as .png"
    )
    assert not (tmp_path / "grid.txt").exists()


def test_out_below_a_file(repo, tmp_path, capsys):
    (tmp_path / "file").write_text("mine\n")
    out = tmp_path / "file" / "grid.png"
    run = run_cli(capsys, "preview", repo, "--out", out)
    one_error_line(run, f"{out}: cannot write ({tmp_path / 'file'} is a file, not a folder)")
    assert (tmp_path / "file").read_text() == "mine\n"


def test_a_good_preview_replaces_the_old_file_whole(repo, tmp_path, capsys):
    out = tmp_path / "grid.jpg"
    out.write_bytes(b"old")
    assert run_cli(capsys, "preview", repo, "--out", out).rc == 0
    assert out.read_bytes()[:2] == b"\xff\xd8"  # a JPEG now
    assert sorted(p.name for p in tmp_path.iterdir()) == ["grid.jpg", "repo"]


def test_a_missing_shard(repo, tmp_path, capsys):
    (repo / SHARD).unlink()
    run = run_cli(capsys, "preview", repo, "--out", tmp_path / "g.png")
    one_error_line(run, f"{repo / SHARD}: cannot read this Parquet file (")
    assert not (tmp_path / "g.png").exists()


def test_a_corrupt_shard(repo, tmp_path, capsys):
    (repo / SHARD).write_bytes(b"PAR1 not really")
    run = run_cli(capsys, "preview", repo, "--out", tmp_path / "g.png")
    one_error_line(run, f"{repo / SHARD}: cannot read this Parquet file (")


def test_features_without_label_names(repo, tmp_path, capsys):
    meta = json.loads((repo / "texmnist.json").read_text())
    del meta["configs"]["default"]["features"]["label"]
    (repo / "texmnist.json").write_text(json.dumps(meta))
    run = run_cli(capsys, "preview", repo, "--out", tmp_path / "g.png")
    one_error_line(run, f"{repo / 'texmnist.json'}: the 'label' feature lists no names")
