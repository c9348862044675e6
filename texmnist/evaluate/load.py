"""A config's splits as arrays for training and evaluation, with facts about the data."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from ..errors import ConfigError, first_line
from ..repo.arrays import load_arrays, split_names
from ..repo.meta import config_metadata, read_metadata
from .errors import EvaluateError


def load_config(
    data: str | Path,
    config: str,
    *,
    cache_dir: str | Path | None = None,
    max_train: int | None = None,
) -> tuple[dict[str, dict[str, np.ndarray]], dict[str, Any]]:
    """Every split of `config` as arrays, and facts about the data for the report."""
    splits = split_names(data, config)
    if "train" not in splits:
        raise ConfigError(f"{data}: config {config!r} has no train split (has {splits})")
    arrays = {s: load_arrays(data, config, s, cache_dir=cache_dir) for s in splits}
    if max_train is not None:
        if max_train < 1:
            raise ConfigError(f"--max-train: must be >= 1, got {max_train}")
        arrays["train"] = {k: v[:max_train] for k, v in arrays["train"].items()}
    info: dict[str, Any] = {
        "data": str(data),
        "config": config,
        "splits": {s: int(len(a["label"])) for s, a in arrays.items()},
    }
    entry = config_metadata(data, config) if Path(data).is_dir() else None
    if entry is not None:
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
