"""Digit size and position of every example, and metrics per level of either.

Pure NumPy over the array dicts of :mod:`texmnist.repo.arrays`. A *level* is one digit scale
(px) or one position (`center`, `corner`); both come from the `scale` and `box_*` columns
(or, in `groups`, from the group name such as `CeO-14`).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

import numpy as np

from ..generate.composite import POSITIONS
from ..generate.recipe import BOX_COLUMNS
from . import metrics

KINDS = ("scale", "position")
# The columns levels are read from, beside `group` (one of metrics.METADATA_COLUMNS).
LEVEL_COLUMNS = ("scale", *BOX_COLUMNS)
# Metrics reported per level: a level's BG-Gap means little without its object accuracy.
LEVEL_METRICS = ("bg_gap", "bg_flip", "acc_no_background", "acc_test_random")


def scale_of(arrays: Mapping[str, np.ndarray]) -> np.ndarray | None:
    """Each example's digit scale: the `group` name's suffix ("CeO-14" -> 14), else `scale`."""
    if "group" in arrays:
        groups = np.asarray(arrays["group"]).astype(str)
        if all(re.fullmatch(r".*-\d+", g) for g in np.unique(groups)):
            return np.array([int(g.rsplit("-", 1)[1]) for g in groups])
    if "scale" in arrays:
        return np.asarray(arrays["scale"])
    return None


def position_of(arrays: Mapping[str, np.ndarray]) -> np.ndarray | None:
    """Each example's placement: `corner` (top-right), `center`, else `random`.

    The canvas side comes from the images, or from a `canvas` column where the images were
    not decoded (`texmnist score` reads metadata only)."""
    if any(c not in arrays for c in BOX_COLUMNS):
        return None
    if "image" in arrays:
        canvas = np.asarray(arrays["image"]).shape[2]
    elif "canvas" in arrays:
        canvas = np.asarray(arrays["canvas"])
    else:
        return None
    box = np.stack([np.asarray(arrays[c]) for c in BOX_COLUMNS], axis=1)
    side = box[:, 2] - box[:, 0]
    corner = (box[:, 0] == canvas - side) & (box[:, 1] == 0)
    center = (box[:, 0] == (canvas - side) // 2) & (box[:, 1] == (canvas - side) // 2)
    out = np.where(corner, "corner", np.where(center, "center", "random"))
    return out.astype(object)


def level_of(arrays: Mapping[str, np.ndarray], kind: str) -> np.ndarray | None:
    if kind == "scale":
        return scale_of(arrays)
    if kind == "position":
        return position_of(arrays)
    raise ValueError(f"level kind must be one of {KINDS}, got {kind!r}")


def levels(arrays: Mapping[str, np.ndarray], kind: str) -> list:
    """The levels present, in order (scales ascending; positions as in `POSITIONS`)."""
    values = level_of(arrays, kind)
    if values is None:
        return []
    present = set(np.unique(values).tolist())
    if kind == "position":
        return [p for p in POSITIONS if p in present]
    return sorted(int(v) for v in present)


def select_level(
    data: Mapping[str, Mapping[str, np.ndarray]], kind: str, level
) -> dict[str, dict[str, np.ndarray]]:
    """Every split restricted to the rows at `level`; splits left without rows are dropped."""
    out = {}
    for split, arrays in data.items():
        values = level_of(arrays, kind)
        keep = np.flatnonzero(values == level) if values is not None else []
        if len(keep):
            out[split] = {k: np.asarray(v)[keep] for k, v in arrays.items()}
    return out


def level_metrics(
    preds: Mapping[str, np.ndarray], data: Mapping[str, Mapping[str, np.ndarray]]
) -> dict[str, Any]:
    """`<metric>_<kind>_<level>` (e.g. `bg_gap_scale_14`) for every level of each kind."""
    out: dict[str, Any] = {}
    for kind in KINDS:
        splits = [s for s in preds if level_of(data[s], kind) is not None]
        if not all(s in splits for s in metrics.TEXTURED_TEST_SPLITS):
            continue
        values = {s: level_of(data[s], kind) for s in splits}
        found = levels(data["test_correlated"], kind)
        if len(found) < 2:
            continue  # one level: the whole-split metrics already say it
        for level in found:
            at = {s: values[s] == level for s in splits if np.any(values[s] == level)}
            part = metrics.evaluate(
                {s: preds[s][keep] for s, keep in at.items()},
                {s: _rows(data[s], keep) for s, keep in at.items()},
            )
            for name in LEVEL_METRICS:
                if name in part:
                    out[f"{name}_{kind}_{level}"] = part[name]
    return out


def _rows(arrays: Mapping[str, np.ndarray], keep: np.ndarray) -> dict[str, np.ndarray]:
    return {k: np.asarray(arrays[k])[keep] for k in metrics.METADATA_COLUMNS if k in arrays}
