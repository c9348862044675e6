"""Evaluation metrics for Textured MNIST (pure NumPy, no I/O).

One call, WILDS-style: ``evaluate(predictions, data)`` takes, per split, an array of predicted
labels and the split's metadata columns (``label``, ``texture``, ``mnist_index``, optional
``group``) and returns a flat dict with stable keys. Every metric is an *entry*
``{"value": float, "n": int, "ci": [lo, hi]}`` made of plain Python types (``json.dumps``-able).

Keys returned by :func:`evaluate` (a key whose splits were not given is left out, never None):

- ``acc_<split>``: accuracy of every split given (``acc_train``, ``acc_test_random``, ...);
  Wilson 95% CI.
- ``acc_avg``: accuracy pooled over the textured test splits given (``test_correlated`` and
  ``test_random``); Wilson CI.
- ``bg_gap``: ``acc_test_correlated - acc_test_random`` (ImageNet-9 BG-Gap); needs both splits.
  Percentile-bootstrap CI, paired on ``mnist_index`` when both splits hold the same digits
  (``n`` = number of pairs, ``"paired": True``), else unpaired (``n`` = examples of both
  splits, ``"paired": False``).
- ``bg_follow``: share of conflicting ``test_random`` examples (texture not ``none`` and not the
  label's category) predicted as the background's texture id, i.e. the prediction follows the
  background instead of the digit; Wilson CI. Needs ``texture`` in ``test_random``.
- ``bg_flip``: among the digits classified correctly in ``test_correlated``, the share
  misclassified in ``test_random`` (the same digits, paired on ``mnist_index``): how often
  swapping in a foreign background breaks a correct prediction; Wilson CI. Needs both
  splits paired.
- ``cf_flip``, ``cf_consistent``, ``cf_attraction``, ``cf_acc_bg_<c>``: from
  ``test_counterfactual`` (every digit on each of the ten categories), see
  :func:`counterfactual_metrics`.
- ``acc_no_background``: alias of ``acc_test_no_background``.
- ``acc_background_only``: alias of ``acc_test_background_only``.
- ``acc_wg``: worst-group accuracy over the union of the textured test splits given. Groups are
  the ``group`` column when every such split has one, else label x texture. Only groups with
  ``n >= min_group_size`` compete; ties go to the first group in sorted key order. The entry has
  an extra ``"group"`` naming the worst group.
- ``groups``: dict of every group's entry over the same union: label x texture groups keyed
  ``"y=<label>,t=<texture>"`` plus, when used, the ``group`` column's groups keyed by name.

Confidence intervals are 95% by default; accuracies are fractions in [0, 1].
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from ..generate.splits import NONE_TEXTURE, NUM_CLASSES
from .counterfactual import COUNTERFACTUAL_SPLIT, counterfactual_metrics
from .intervals import (
    bootstrap_diff_interval,
    entry,
    t_cdf,
    t_interval,
    t_quantile,
    wilson_interval,
)
from .seeds import DEFAULT_TABLE_KEYS, format_table, mean_ci_text, summarize_seeds

TEXTURED_TEST_SPLITS = ("test_correlated", "test_random")
# Where saliency is measured; here, not in saliency.py, so that report.md is written without torch.
SALIENCY_SPLITS = ("test_correlated", "test_random", "test_no_background")
SPLIT_ALIASES = {
    "test_no_background": "acc_no_background",
    "test_background_only": "acc_background_only",
}


def evaluate_split(
    y_pred: np.ndarray,
    y_true: np.ndarray,
    metadata: Mapping[str, np.ndarray] | None = None,
    *,
    split: str = "",
    min_group_size: int = 1,
) -> dict[str, Any]:
    """Accuracy of one split, plus per-group accuracies when metadata allows.

    Returns ``acc``; with a ``texture`` column also ``group_acc`` (label x texture, keys
    ``"y=<label>,t=<texture>"``); with a ``group`` column also ``group_acc_by_group``. ``acc_wg``
    is the worst group over the ``group`` column when present, else over label x texture,
    among groups with ``n >= min_group_size`` (absent when neither column is given).
    """
    where = f"split {split!r}" if split else "evaluate_split"
    y_pred, y_true, meta = _validate_split(where, y_pred, y_true, metadata)
    correct = y_pred == y_true
    out: dict[str, Any] = {"acc": entry(int(correct.sum()), correct.size)}
    by_group = _group_entries(correct, meta["group"]) if "group" in meta else None
    if "texture" in meta:
        out["group_acc"] = _label_texture_entries(correct, y_true, meta["texture"])
    if by_group is not None:
        out["group_acc_by_group"] = by_group
    wg_over = by_group if by_group is not None else out.get("group_acc")
    if wg_over is not None:
        worst = _worst_group(wg_over, min_group_size)
        if worst is not None:
            out["acc_wg"] = worst
    return out


def evaluate(
    predictions: Mapping[str, np.ndarray],
    data: Mapping[str, Mapping[str, np.ndarray]],
    *,
    n_boot: int = 2000,
    seed: int = 0,
    min_group_size: int = 1,
) -> dict[str, Any]:
    """Evaluate predicted labels per split against ``data[split]`` metadata (see module doc).

    Every split in ``predictions`` must be in ``data`` and have a ``label`` column; splits of
    ``data`` without predictions are ignored.
    """
    checked: dict[str, tuple[np.ndarray, np.ndarray, dict[str, np.ndarray]]] = {}
    for split, y_pred in predictions.items():
        if split not in data:
            raise ValueError(
                f"predictions for split {split!r} but data has no such split "
                f"(data splits: {sorted(data)})"
            )
        meta = data[split]
        if "label" not in meta:
            raise ValueError(f"split {split!r}: metadata has no 'label' column")
        checked[split] = _validate_split(f"split {split!r}", y_pred, meta["label"], meta)

    out: dict[str, Any] = {}
    correct = {s: yp == yt for s, (yp, yt, _) in checked.items()}
    for split, c in correct.items():
        out[f"acc_{split}"] = entry(int(c.sum()), c.size)
    textured = [s for s in TEXTURED_TEST_SPLITS if s in checked]
    if textured:
        pooled = np.concatenate([correct[s] for s in textured])
        out["acc_avg"] = entry(int(pooled.sum()), pooled.size)
    if all(s in checked for s in TEXTURED_TEST_SPLITS):
        c_meta, r_meta = checked["test_correlated"][2], checked["test_random"][2]
        out["bg_gap"] = _bg_gap(
            correct["test_correlated"], correct["test_random"], c_meta, r_meta, n_boot, seed
        )
    if all(s in checked for s in TEXTURED_TEST_SPLITS):
        flip = _bg_flip(correct["test_correlated"], correct["test_random"], c_meta, r_meta)
        if flip is not None:
            out["bg_flip"] = flip
    if COUNTERFACTUAL_SPLIT in checked:
        out.update(counterfactual_metrics(*checked[COUNTERFACTUAL_SPLIT]))
    if "test_random" in checked:
        follow = _bg_follow(*checked["test_random"])
        if follow is not None:
            out["bg_follow"] = follow
    for split, alias in SPLIT_ALIASES.items():
        if split in checked:
            src = out[f"acc_{split}"]
            out[alias] = {**src, "ci": list(src["ci"])}  # a copy, not a shared dict
    if textured:
        out.update(_pooled_groups(textured, checked, correct, min_group_size))
    return out


def _bg_gap(
    c_correct: np.ndarray,
    r_correct: np.ndarray,
    c_meta: Mapping[str, np.ndarray],
    r_meta: Mapping[str, np.ndarray],
    n_boot: int,
    seed: int,
) -> dict[str, Any]:
    value = float(c_correct.mean() - r_correct.mean())
    order = None
    if "mnist_index" in c_meta and "mnist_index" in r_meta:
        order = _pair_order(c_meta["mnist_index"], r_meta["mnist_index"])
    if order is not None:
        a, b = c_correct[order[0]], r_correct[order[1]]
        lo, hi = bootstrap_diff_interval(a, b, paired=True, n_boot=n_boot, seed=seed)
        return {"value": value, "n": int(a.size), "ci": [lo, hi], "paired": True}
    lo, hi = bootstrap_diff_interval(c_correct, r_correct, paired=False, n_boot=n_boot, seed=seed)
    n = int(c_correct.size + r_correct.size)
    return {"value": value, "n": n, "ci": [lo, hi], "paired": False}


def _bg_flip(
    c_correct: np.ndarray,
    r_correct: np.ndarray,
    c_meta: Mapping[str, np.ndarray],
    r_meta: Mapping[str, np.ndarray],
) -> dict[str, Any] | None:
    if "mnist_index" not in c_meta or "mnist_index" not in r_meta:
        return None
    order = _pair_order(c_meta["mnist_index"], r_meta["mnist_index"])
    if order is None:
        return None
    right = c_correct[order[0]]
    flipped = right & ~r_correct[order[1]]
    return entry(int(flipped.sum()), int(right.sum()))


def _pair_order(idx_a: np.ndarray, idx_b: np.ndarray) -> tuple[np.ndarray, np.ndarray] | None:
    """Orders aligning two splits on mnist_index, or None if they are not the same digits."""
    if idx_a.size != idx_b.size:
        return None
    order_a = np.argsort(idx_a, kind="stable")
    order_b = np.argsort(idx_b, kind="stable")
    sorted_a = idx_a[order_a]
    # Duplicates would make the pairing ambiguous, so they count as "not paired".
    if not np.array_equal(sorted_a, idx_b[order_b]) or np.any(np.diff(sorted_a) == 0):
        return None
    return order_a, order_b


def _bg_follow(
    y_pred: np.ndarray, y_true: np.ndarray, meta: Mapping[str, np.ndarray]
) -> dict[str, Any] | None:
    if "texture" not in meta:
        return None
    texture = meta["texture"]
    # Only conflicting examples say whether the model follows the background or the digit.
    conflict = (texture != NONE_TEXTURE) & (texture != y_true)
    follows = y_pred[conflict] == texture[conflict]
    return entry(int(follows.sum()), int(follows.size))


def _pooled_groups(
    textured: Sequence[str],
    checked: Mapping[str, tuple[np.ndarray, np.ndarray, dict[str, np.ndarray]]],
    correct: Mapping[str, np.ndarray],
    min_group_size: int,
) -> dict[str, Any]:
    out: dict[str, Any] = {}
    metas = [checked[s][2] for s in textured]
    pooled = np.concatenate([correct[s] for s in textured])
    groups: dict[str, dict[str, Any]] = {}
    if all("texture" in m for m in metas):
        labels = np.concatenate([checked[s][1] for s in textured])
        textures = np.concatenate([m["texture"] for m in metas])
        groups.update(_label_texture_entries(pooled, labels, textures))
    use_group_col = all("group" in m for m in metas)
    by_group = None
    if use_group_col:
        by_group = _group_entries(pooled, np.concatenate([m["group"] for m in metas]))
        groups.update(by_group)
    if groups:
        out["groups"] = groups
        worst = _worst_group(by_group if by_group is not None else groups, min_group_size)
        if worst is not None:
            out["acc_wg"] = worst
    return out


def _label_texture_entries(
    correct: np.ndarray, labels: np.ndarray, textures: np.ndarray
) -> dict[str, dict[str, Any]]:
    width = NONE_TEXTURE + 1
    codes = labels * width + textures
    uniq, inverse = np.unique(codes, return_inverse=True)  # sorted: by label, then texture
    totals = np.bincount(inverse, minlength=uniq.size)
    hits = np.bincount(inverse, weights=correct, minlength=uniq.size)
    return {
        f"y={int(c) // width},t={int(c) % width}": entry(int(h), int(t))
        for c, h, t in zip(uniq, hits, totals, strict=True)
    }


def _group_entries(correct: np.ndarray, groups: np.ndarray) -> dict[str, dict[str, Any]]:
    uniq, inverse = np.unique(groups, return_inverse=True)
    totals = np.bincount(inverse, minlength=uniq.size)
    hits = np.bincount(inverse, weights=correct, minlength=uniq.size)
    return {str(g): entry(int(h), int(t)) for g, h, t in zip(uniq, hits, totals, strict=True)}


def _worst_group(
    entries: Mapping[str, Mapping[str, Any]], min_group_size: int
) -> dict[str, Any] | None:
    """Lowest-accuracy group with n >= min_group_size; first in key order on ties."""
    worst_name = None
    for name, e in entries.items():
        if e["n"] >= min_group_size and (
            worst_name is None or e["value"] < entries[worst_name]["value"]
        ):
            worst_name = name
    if worst_name is None:
        return None
    e = entries[worst_name]
    return {"value": e["value"], "n": e["n"], "ci": list(e["ci"]), "group": worst_name}


def _as_int_column(where: str, name: str, x: Any, lo: int, hi: int | None) -> np.ndarray:
    arr = np.asarray(x)
    if arr.ndim != 1:
        raise ValueError(f"{where}: {name} must be 1-D, got shape {arr.shape}")
    if arr.size == 0:
        return arr.astype(np.int64)
    if not np.issubdtype(arr.dtype, np.integer):
        raise ValueError(
            f"{where}: {name} must hold integers, got dtype {arr.dtype}"
            + (" (pass argmax of the scores)" if name == "y_pred" else "")
        )
    arr = arr.astype(np.int64)
    bad = (arr < lo) if hi is None else (arr < lo) | (arr > hi)
    if bad.any():
        first = int(arr[np.argmax(bad)])
        bound = f">= {lo}" if hi is None else f"in {lo}..{hi}"
        raise ValueError(f"{where}: {name} must be {bound}, found {first}")
    return arr


# The per-example columns the metrics read; others in a split's arrays are ignored.
METADATA_COLUMNS = ("label", "texture", "mnist_index", "aligned", "group")


def _validate_split(
    where: str,
    y_pred: Any,
    y_true: Any,
    metadata: Mapping[str, Any] | None,
) -> tuple[np.ndarray, np.ndarray, dict[str, np.ndarray]]:
    """Check lengths, dtypes and ranges; return int64 arrays and the columns metrics use."""
    y_pred = _as_int_column(where, "y_pred", y_pred, 0, NUM_CLASSES - 1)
    y_true = _as_int_column(where, "label", y_true, 0, NUM_CLASSES - 1)
    if y_pred.size != y_true.size:
        raise ValueError(
            f"{where}: {y_pred.size} predictions for {y_true.size} labels (lengths must match)"
        )
    if y_true.size == 0:
        raise ValueError(f"{where}: no examples (empty predictions and labels)")
    meta: dict[str, np.ndarray] = {}
    for name, col in (metadata or {}).items():
        if name not in METADATA_COLUMNS:
            continue  # images, masks, boxes...: whole arrays from to_numpy are welcome
        arr = np.asarray(col)
        if arr.ndim != 1 or arr.size != y_true.size:
            raise ValueError(
                f"{where}: metadata column {name!r} has shape {arr.shape}, "
                f"expected ({y_true.size},) like the labels"
            )
        meta[name] = arr
    if "label" in meta and not np.array_equal(meta["label"], y_true):
        raise ValueError(f"{where}: metadata 'label' differs from y_true (rows misaligned?)")
    if "texture" in meta:
        meta["texture"] = _as_int_column(where, "texture", meta["texture"], 0, NONE_TEXTURE)
    if "mnist_index" in meta:
        meta["mnist_index"] = _as_int_column(where, "mnist_index", meta["mnist_index"], 0, None)
    if "group" in meta:
        meta["group"] = meta["group"].astype(str)
    return y_pred, y_true, meta


__all__ = [
    "COUNTERFACTUAL_SPLIT",
    "DEFAULT_TABLE_KEYS",
    "METADATA_COLUMNS",
    "NONE_TEXTURE",
    "NUM_CLASSES",
    "SPLIT_ALIASES",
    "TEXTURED_TEST_SPLITS",
    "bootstrap_diff_interval",
    "counterfactual_metrics",
    "evaluate",
    "evaluate_split",
    "format_table",
    "mean_ci_text",
    "summarize_seeds",
    "t_cdf",
    "t_interval",
    "t_quantile",
    "wilson_interval",
]
