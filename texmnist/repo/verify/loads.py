"""The round trip a user makes: every config and split through `load_dataset`, and streamed."""

from __future__ import annotations

import tempfile
from pathlib import Path

import datasets
from tqdm.auto import tqdm

from .rules import Problem


def loads(folder: Path, meta: dict, bar: tqdm | None = None) -> list[Problem]:
    """Every config x split through `load_dataset`, regular and streaming (`bar` advances
    once per split)."""
    bar = bar if bar is not None else tqdm(disable=True)
    problems = []
    bars = datasets.is_progress_bar_enabled()
    datasets.disable_progress_bars()  # one bar per split would drown the report
    try:
        # A fresh cache: an old cached copy must not stand in for the files on disk.
        with tempfile.TemporaryDirectory(prefix="texmnist-verify-") as cache:
            for name, c in meta["configs"].items():
                expected = datasets.Features.from_dict(c["features"])
                for split, s in c["splits"].items():
                    bar.set_postfix_str(f"load_dataset {name}/{split}")
                    where = f"config {name!r} split {split!r}"
                    problems += _load_one(folder, name, split, s, expected, cache, where)
                    bar.update()
    finally:
        if bars:
            datasets.enable_progress_bars()
    return problems


def _load_one(folder, name, split, s, expected, cache, where) -> list[Problem]:
    problems = []
    try:
        ds = datasets.load_dataset(str(folder), name, split=split, cache_dir=cache)
        if len(ds) != s["num_examples"]:
            problems.append(Problem(where, f"load_dataset gives {len(ds):,} rows"))
        if ds.features != expected:
            problems.append(Problem(where, "load_dataset gives other features than the card"))
    except Exception as e:  # any failure to load is the problem to report
        problems.append(Problem(where, f"load_dataset fails: {_one_line(e)}"))
    try:
        stream = datasets.load_dataset(str(folder), name, split=split, streaming=True)
        if stream.features != expected:
            problems.append(Problem(where, "streaming gives other features than the card"))
        n = sum(1 for _ in stream.select_columns([next(iter(expected))]))
        if n != s["num_examples"]:
            problems.append(Problem(where, f"streaming gives {n:,} rows"))
    except Exception as e:  # as above
        problems.append(Problem(where, f"streaming load_dataset fails: {_one_line(e)}"))
    return problems


def _one_line(e: BaseException) -> str:
    text = " ".join(str(e).split())
    return f"{type(e).__name__}: {text[:300]}"
