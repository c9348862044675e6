"""Several configs in one `texmnist build` run: shared decoding, same bytes, all or nothing."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
from fakedata import make_fake_mnist

import texmnist.dataset.features as features_mod
import texmnist.dataset.inputs as inputs_mod
import texmnist.dataset.pool as pool_mod
import texmnist.sources as sources_mod
from texmnist.cli import main
from texmnist.generate.config import NAMED_CONFIGS
from texmnist.repo.meta import config_dir, read_metadata
from texmnist.sources import fetch
from texmnist.sources.fetch import Remote

FASHION_TEST = 30  # the fake Fashion-MNIST's test size, unlike the fake MNIST's 40


@pytest.fixture(scope="module")
def fashion(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("fashion")
    return make_fake_mnist(root, n_train=70, n_test=FASHION_TEST, source="fashion_mnist", seed=7)


def _argv(out: Path, sources, *extra: str) -> list[str]:
    mnist, dtd = sources
    return ["build", "--out", str(out), "--mnist-dir", str(mnist), "--dtd-dir", str(dtd),
            "--no-download", "--validation-size", "10", *extra]  # fmt: skip


def _files(folder: Path, name: str) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted((folder / config_dir(name)).iterdir())}


@pytest.fixture
def counted(monkeypatch) -> dict[str, list]:
    """Record what the run decodes: digit sources, and each photo decoding with its outputs."""
    calls: dict[str, list] = {"digits": [], "decodings": []}
    load_digits, decode = inputs_mod.load_digits, inputs_mod._decode

    def digits(source, *args, **kwargs):
        calls["digits"].append(source)
        return load_digits(source, *args, **kwargs)

    def decoding(how, want, *args, **kwargs):
        calls["decodings"].append((how.mode, tuple(sorted(want.sizes)), want.full))
        return decode(how, want, *args, **kwargs)

    monkeypatch.setattr(inputs_mod, "load_digits", digits)
    monkeypatch.setattr(inputs_mod, "_decode", decoding)
    return calls


@pytest.fixture(scope="module")
def all_in_one(fake_sources, fashion, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("all") / "repo"
    assert (
        main(_argv(out, fake_sources, "--config", "all", "--fashion-mnist-dir", str(fashion))) == 0
    )
    return out


def test_all_builds_every_named_config_with_its_own_source(all_in_one):
    configs = read_metadata(all_in_one)["configs"]
    assert list(configs) == list(NAMED_CONFIGS)
    assert configs["fashion"]["digits"]["test"] == FASHION_TEST
    assert configs["default"]["digits"]["test"] == 40
    for name in NAMED_CONFIGS:
        assert (all_in_one / "images" / f"preview-{name}.png").is_file()


def test_one_run_is_byte_identical_to_separate_runs(all_in_one, fake_sources, fashion, tmp_path):
    together = read_metadata(all_in_one)["configs"]
    for name in NAMED_CONFIGS:
        alone = tmp_path / name
        extra = ["--fashion-mnist-dir", str(fashion)] if name == "fashion" else []
        assert main(_argv(alone, fake_sources, "--config", name, *extra)) == 0
        assert read_metadata(alone)["configs"][name]["fingerprint"] == together[name]["fingerprint"]
        assert _files(alone, name) == _files(all_in_one, name), name


def test_each_source_and_bank_is_decoded_once(tmp_path, fake_sources, counted):
    names = "default,rho-0.9,uncorrelated,rgb,crop,foreground-texture,groups"
    assert main(_argv(tmp_path / "repo", fake_sources, "--config", names)) == 0
    assert counted["digits"] == ["mnist"]
    # One pass over the photos per colour mode: the gray one makes the 28 px bank (five
    # configs), the 56 px bank (groups) and the full photos the crops cut from; the RGB
    # one the 28 px bank of rgb.
    assert sorted(counted["decodings"]) == [("L", (28, 56), True), ("RGB", (28,), False)]


def test_offline_with_a_source_missing_fails_before_any_work(
    tmp_path, fake_sources, counted, monkeypatch, capsys
):
    monkeypatch.setattr(fetch, "default_cache_dir", lambda: tmp_path / "empty-cache")
    out = tmp_path / "repo"
    assert main(_argv(out, fake_sources, "--config", "all")) == 2
    err = capsys.readouterr().err
    assert err.startswith("texmnist: error: ") and err.count("\n") == 1
    assert "Fashion-MNIST" in err and "downloads are off" in err
    assert counted["decodings"] == []  # no texture decoded
    assert not out.exists()
    assert [
        p.name for p in tmp_path.iterdir() if p.name.startswith(".repo")
    ] == []  # no lock left either


@pytest.mark.usefixtures("online")
def test_a_source_without_a_folder_is_downloaded(
    tmp_path, fake_sources, fashion, monkeypatch, capsys
):
    cache = tmp_path / "cache"
    monkeypatch.setattr(fetch, "default_cache_dir", lambda: cache)
    src = sources_mod.DIGIT_SOURCES["fashion_mnist"]
    files = {}
    for role, remote in src.files.items():
        local = fashion / remote.filename
        sha = fetch._sha256_of(local)
        files[role] = Remote(remote.filename, (local.as_uri(),), sha, local.stat().st_size)
    monkeypatch.setitem(
        sources_mod.DIGIT_SOURCES, "fashion_mnist", dataclasses.replace(src, files=files)
    )
    out = tmp_path / "repo"
    argv = [
        a for a in _argv(out, fake_sources, "--config", "default,fashion") if a != "--no-download"
    ]
    assert main(argv) == 0
    assert read_metadata(out)["configs"]["fashion"]["digits"]["test"] == FASHION_TEST
    assert sorted(
        p.name for p in (cache / "fashion_mnist").iterdir() if p.suffix == ".gz"
    ) == sorted(r.filename for r in files.values())


def test_mnist_dir_still_feeds_a_single_other_source(tmp_path, fake_sources, fashion):
    _, dtd = fake_sources
    out = tmp_path / "repo"
    argv = ["build", "--out", str(out), "--config", "fashion", "--mnist-dir", str(fashion),
            "--dtd-dir", str(dtd), "--no-download", "--validation-size", "10"]  # fmt: skip
    assert main(argv) == 0
    assert read_metadata(out)["configs"]["fashion"]["digits"]["test"] == FASHION_TEST


def test_a_failing_config_leaves_the_folder_as_it_was(tmp_path, fake_sources, monkeypatch):
    out = tmp_path / "repo"
    assert main(_argv(out, fake_sources)) == 0
    before = {p.relative_to(out): p.read_bytes() for p in out.rglob("*") if p.is_file()}
    real = features_mod.render
    monkeypatch.setattr(pool_mod, "usable_cores", lambda: 1)  # the stand-in runs here

    def fail_on_crops(plan, images, textures, config):
        if config.texture_sampling == "crop":
            raise KeyboardInterrupt
        return real(plan, images, textures, config)

    monkeypatch.setattr(features_mod, "render", fail_on_crops)
    assert main(_argv(out, fake_sources, "--config", "rgb,crop")) == 130
    after = {p.relative_to(out): p.read_bytes() for p in out.rglob("*") if p.is_file()}
    assert after == before  # rgb, built first, did not appear either
    assert {p.name for p in tmp_path.iterdir()} == {"repo"}  # no lock left either
