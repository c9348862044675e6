"""A config's splits as arrays for training and evaluation, with facts about the data."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
from tqdm.auto import tqdm

from ..errors import ConfigError, first_line
from ..repo.arrays import load_arrays, split_names
from ..repo.meta import META_FILE, config_fingerprint, config_metadata, read_metadata
from .errors import EvaluateError


def load_config(
    data: str | Path,
    config: str,
    *,
    cache_dir: str | Path | None = None,
    max_train: int | None = None,
    progress: bool = True,
) -> tuple[dict[str, dict[str, np.ndarray]], dict[str, Any]]:
    """Every split of `config` as arrays, and facts about the data for the report."""
    if max_train is not None and max_train < 1:
        raise ConfigError(f"--max-train: must be >= 1, got {max_train}")
    splits = split_names(data, config)
    if "train" not in splits:
        raise ConfigError(f"{data}: config {config!r} has no train split (has {splits})")
    arrays = {}
    # Reading, checking and decoding a 60,000-row split takes seconds: say which one.
    bar = tqdm(splits, desc=f"Loading {config}", unit="split", disable=not progress)
    for split in bar:
        bar.set_postfix_str(split)
        arrays[split] = load_arrays(data, config, split, cache_dir=cache_dir)
    if max_train is not None:
        arrays["train"] = {k: v[:max_train] for k, v in arrays["train"].items()}
    info: dict[str, Any] = {
        "data": str(data),
        "config": config,
        "splits": {s: int(len(a["label"])) for s, a in arrays.items()},
    }
    entry = config_metadata(data, config) if Path(data).is_dir() else None
    if entry is not None:
        # Each split's content was checked against its fingerprint as it was read (repo.arrays);
        # the config's, which the report names, must be the one of those.
        recorded = {name: split["fingerprint"] for name, split in entry["splits"].items()}
        if config_fingerprint(recorded) != entry.get("fingerprint"):
            raise EvaluateError(
                f"{Path(data) / META_FILE}: config {config!r}: its fingerprint is not that of "
                "its splits; rebuild the config"
            )
        info["fingerprint"] = entry.get("fingerprint")
        info["recipe"] = entry.get("recipe")
        info["texmnist_version_built"] = entry.get("texmnist_version")
    return arrays, info


def available_configs(data: str | Path) -> list[str]:
    folder = Path(data)
    if folder.is_dir():
        meta = read_metadata(folder)
        if meta is not None:
            return list(meta["configs"])
    import datasets

    try:
        return list(datasets.get_dataset_config_names(str(data)))
    except Exception as e:
        text = first_line(e)
        raise EvaluateError(f"{data}: cannot list its configs: {text}") from e


def fingerprint(data: str | Path, config: str) -> str | None:
    """The config's data fingerprint from the folder's texmnist.json (None: unknown, e.g. a
    Hub repository, so nothing is ever reused on its account)."""
    if not Path(data).is_dir():
        return None
    entry = config_metadata(data, config)
    return (entry or {}).get("fingerprint")
