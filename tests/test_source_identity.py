"""One digit source's official files passed for another are refused: MNIST, Fashion-MNIST
and KMNIST share sizes and classes, and a build would run and name the wrong dataset."""

from __future__ import annotations

import dataclasses
import hashlib

import pytest
from conftest import SHARED_DATA
from fakedata import make_fake_mnist

from texmnist import cli
from texmnist import sources as sources_mod
from texmnist.errors import SourceError
from texmnist.sources import DIGIT_SOURCES, load_digits
from texmnist.sources.idx import read_idx


def test_every_recorded_signature_is_distinct():
    recorded = [s.labels_sha256 for s in DIGIT_SOURCES.values() if s.labels_sha256]
    digests = [d for pair in recorded for d in pair]
    assert len(recorded) >= 2 and len(set(digests)) == len(digests)


@pytest.mark.skipif(not (SHARED_DATA / "fashion-mnist").is_dir(), reason="no real data")
@pytest.mark.parametrize(
    "folder, source, line",
    [
        (
            "mnist",
            "fashion_mnist",
            "these are MNIST's train labels, not Fashion-MNIST's; pass MNIST's folder as "
            "--mnist-dir, Fashion-MNIST's as --fashion-mnist-dir",
        ),
        (
            "fashion-mnist",
            "mnist",
            "these are Fashion-MNIST's train labels, not MNIST's; pass Fashion-MNIST's folder "
            "as --fashion-mnist-dir, MNIST's as --mnist-dir",
        ),
        (
            "mnist",
            "kmnist",
            "these are MNIST's train labels, not KMNIST's; pass MNIST's folder as --mnist-dir, "
            "KMNIST's as --kmnist-dir",
        ),
    ],
)
def test_real_files_of_one_source_are_refused_as_another(folder, source, line):
    with pytest.raises(SourceError) as info:
        load_digits(source, SHARED_DATA / folder)
    assert str(info.value) == f"{SHARED_DATA / folder / 'train-labels-idx1-ubyte.gz'}: {line}"


@pytest.mark.skipif(not (SHARED_DATA / "fashion-mnist").is_dir(), reason="no real data")
@pytest.mark.parametrize("folder, source", [("mnist", "mnist"), ("fashion-mnist", "fashion_mnist")])
def test_the_recorded_signatures_are_those_of_the_real_files(folder, source):
    src = DIGIT_SOURCES[source]
    for split, digest in zip(("train", "t10k"), src.labels_sha256, strict=True):
        labels = read_idx(SHARED_DATA / folder / f"{split}-labels-idx1-ubyte.gz")
        assert hashlib.sha256(labels.tobytes()).hexdigest() == digest


def test_fashion_dir_holding_mnist_fails_the_build_with_one_line(
    tmp_path, fake_sources, monkeypatch, capsys
):
    """Without the real files: MNIST's signature set to the fake MNIST's test labels."""
    mnist, dtd = fake_sources
    labels = read_idx(mnist / "t10k-labels-idx1-ubyte.gz")
    digest = hashlib.sha256(labels.tobytes()).hexdigest()
    fake = dataclasses.replace(DIGIT_SOURCES["mnist"], labels_sha256=("0" * 64, digest))
    monkeypatch.setitem(sources_mod.DIGIT_SOURCES, "mnist", fake)
    fashion = make_fake_mnist(tmp_path / "fashion", source="fashion_mnist", seed=3)
    out = tmp_path / "repo"
    argv = ["build", "--out", str(out), "--config", "default,fashion", "--no-download"]
    argv += ["--validation-size", "10", "--mnist-dir", str(mnist), "--dtd-dir", str(dtd)]
    capsys.readouterr()
    assert cli.main([*argv, "--fashion-mnist-dir", str(mnist)]) == cli.EXIT_ERROR
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [
        f"texmnist: error: {mnist / 't10k-labels-idx1-ubyte.gz'}: these are MNIST's test "
        "labels, not Fashion-MNIST's; pass MNIST's folder as --mnist-dir, Fashion-MNIST's as "
        "--fashion-mnist-dir"
    ]
    assert not out.exists()
    # the right folder builds
    assert cli.main([*argv, "--fashion-mnist-dir", str(fashion)]) == 0, capsys.readouterr().err
