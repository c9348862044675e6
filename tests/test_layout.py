"""The package reads as the pipeline: stages import only earlier stages; modules stay small."""

from __future__ import annotations

import importlib
import importlib.util
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[1] / "bench"
MAX_LINES = 400


@pytest.fixture(scope="module")
def layout():
    spec = importlib.util.spec_from_file_location("layout", BENCH / "layout.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_no_import_runs_against_the_pipeline(layout):
    assert layout.backward(layout.graph()) == []


def test_every_module_belongs_to_a_stage(layout):
    stages = {"texmnist", *layout.STAGES}
    assert {layout.stage(m) for m in layout.modules()} <= stages


def test_generate_does_no_io(layout):
    """The recipe and rendering are pure NumPy: no file, image, Parquet or network library.

    `datasets` only in `config`, whose class is a `datasets.BuilderConfig` (a dataclass).
    """
    io_modules = {"PIL", "datasets", "pyarrow", "huggingface_hub", "requests", "shutil", "tqdm"}
    for name, path in layout.modules().items():
        if layout.stage(name) != "generate":
            continue
        text = path.read_text()
        for lib in io_modules - ({"datasets"} if name == "texmnist.generate.config" else set()):
            assert f"import {lib}" not in text and f"from {lib}" not in text, (name, lib)


def test_no_module_over_the_limit(layout):
    roots = [layout.PACKAGE, BENCH]
    long = {
        str(p.relative_to(layout.PACKAGE.parent)): n
        for root in roots
        for p in root.rglob("*.py")
        if (n := len(p.read_text().splitlines())) > MAX_LINES
    }
    assert long == {}


@pytest.mark.parametrize("old", ["folder", "arrays", "config", "builder", "metrics", "pngenc"])
def test_old_import_paths_are_the_new_modules(old):
    import texmnist

    module = importlib.import_module(f"texmnist.{old}")
    assert module is importlib.import_module(f"texmnist.{texmnist.MOVED[old]}")
    assert module.__spec__.name == module.__name__  # the alias did not rename the module
    assert sys.modules[f"texmnist.{old}"] is module


def test_the_readme_api_resolves():
    from texmnist import TexturedMNIST, TexturedMNISTConfig
    from texmnist.evaluate import evaluate
    from texmnist.repo.arrays import load_arrays
    from texmnist.repo.folder import build

    assert TexturedMNIST.BUILDER_CONFIG_CLASS is TexturedMNISTConfig
    assert callable(build) and callable(load_arrays) and callable(evaluate)
