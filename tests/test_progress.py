"""Every step of a command that can take more than a few seconds says what it is doing."""

from __future__ import annotations

from test_reliability import build_args, run_cli


def test_build_labels_its_parquet_bars(tmp_path, fake_sources, capsys):
    run = run_cli(capsys, *build_args(tmp_path / "repo", *fake_sources))
    assert run.rc == 0, run.err
    err = run.err.replace("\r", "\n")
    assert "Creating parquet from Arrow format" not in err
    for split in ("train", "test_correlated", "test_random", "test_no_background"):
        assert f"Writing data/{split}: 100%" in err, split
