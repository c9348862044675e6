"""Offline, one build names every missing source at once, however downloads were turned off."""

from __future__ import annotations

import pytest
from test_reliability import leftovers, one_error_line, run_cli

from texmnist.sources import fetch


@pytest.fixture
def empty_cache(tmp_path, monkeypatch, online):
    cache = tmp_path / "cache"
    monkeypatch.setattr(fetch, "default_cache_dir", lambda: cache)
    return cache


def _line(cache, off: str) -> str:
    mnist = (
        f"MNIST file train-images-idx3-ubyte.gz not in the cache {cache / 'mnist'} and downloads "
        f"are off ({off}); pass --mnist-dir FOLDER holding the four IDX files"
    )
    dtd = (
        f"DTD is not in the cache {cache / 'dtd'} and downloads are off ({off}); pass --dtd-dir "
        "FOLDER (the extracted dtd-r1.0.1.tar.gz)"
    )
    fashion = (
        f"Fashion-MNIST file train-images-idx3-ubyte.gz not in the cache "
        f"{cache / 'fashion_mnist'} and downloads are off ({off}); pass --fashion-mnist-dir "
        "FOLDER holding the four IDX files"
    )
    return f"3 sources are missing: (1) {mnist} (2) {dtd} (3) {fashion}"


def test_no_download_names_every_missing_source(tmp_path, empty_cache, capsys):
    out = tmp_path / "repo"
    run = run_cli(capsys, "build", "--out", out, "--config", "default,fashion", "--no-download")
    assert one_error_line(run) == f"texmnist: error: {_line(empty_cache, '--no-download')}"
    assert not out.exists() and leftovers(out) == []


def test_the_offline_variable_names_every_missing_source(
    tmp_path, empty_cache, capsys, monkeypatch
):
    monkeypatch.setenv("HF_DATASETS_OFFLINE", "1")
    run = run_cli(capsys, "build", "--out", tmp_path / "repo", "--config", "default,fashion")
    assert one_error_line(run) == (
        f"texmnist: error: {_line(empty_cache, 'HF_DATASETS_OFFLINE=1')}"
    )


def test_one_missing_source_keeps_its_own_line(tmp_path, empty_cache, fake_sources, capsys):
    mnist, _ = fake_sources
    run = run_cli(
        capsys, "build", "--out", tmp_path / "repo", "--mnist-dir", mnist, "--no-download"
    )
    one_error_line(run, "texmnist: error: DTD is not in the cache")
    assert "sources are missing" not in run.err
