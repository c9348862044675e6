"""Metrics of ``test_counterfactual``: every digit on a photo of each of the ten categories."""

from __future__ import annotations

import math
import warnings
from collections.abc import Mapping
from typing import Any

import numpy as np

from ..generate.splits import NUM_CLASSES
from .intervals import entry, mean_entry

COUNTERFACTUAL_SPLIT = "test_counterfactual"


def counterfactual_metrics(
    y_pred: np.ndarray, y_true: np.ndarray, meta: Mapping[str, np.ndarray]
) -> dict[str, Any]:
    """Metrics of the full factorial: each digit on every one of the ten categories.

    Rows are grouped by ``mnist_index``; each digit must have exactly one row per category
    (``texture`` 0..9). The prediction on the digit's own category is its reference.

    - ``cf_flip``: per digit, the share of its nine foreign backgrounds whose prediction
      differs from the reference, averaged over digits; normal 95% interval over digits.
    - ``cf_consistent``: share of digits predicted the same on all ten backgrounds; Wilson.
    - ``cf_attraction``: ``matrix[y][c]`` = P(prediction = c | background c, label y), for
      y != c (diagonal None): how strongly category c pulls predictions to the digit mapped
      to it. ``value`` is the mean of the 90 off-diagonal cells, ``by_background`` each
      column's mean, ``most_attractive`` the column with the largest mean; the interval is
      Wilson over all off-diagonal rows.
    - ``cf_acc_bg_<c>``: accuracy of the rows on background c; Wilson.
    """
    for column in ("texture", "mnist_index"):
        if column not in meta:
            raise ValueError(f"split {COUNTERFACTUAL_SPLIT!r}: needs a {column!r} column")
    texture, index = meta["texture"], meta["mnist_index"]
    order = np.lexsort((texture, index))
    n_digits = y_true.size // NUM_CLASSES
    grid_texture = texture[order].reshape(-1, NUM_CLASSES) if n_digits else texture
    grid_index = index[order].reshape(-1, NUM_CLASSES) if n_digits else index
    if (
        y_true.size % NUM_CLASSES
        or not np.array_equal(grid_texture, np.tile(np.arange(NUM_CLASSES), (n_digits, 1)))
        or np.any(grid_index != grid_index[:, :1])
        or np.unique(grid_index[:, 0]).size != n_digits
    ):
        raise ValueError(
            f"split {COUNTERFACTUAL_SPLIT!r}: every mnist_index must appear once on each of "
            f"the {NUM_CLASSES} texture categories"
        )
    pred = y_pred[order].reshape(n_digits, NUM_CLASSES)
    label = y_true[order].reshape(n_digits, NUM_CLASSES)[:, 0]
    rows = np.arange(n_digits)
    reference = pred[rows, label]
    foreign = np.ones((n_digits, NUM_CLASSES), dtype=bool)
    foreign[rows, label] = False
    changed = (pred != reference[:, None]) & foreign
    per_digit = changed.sum(1) / (NUM_CLASSES - 1)
    out: dict[str, Any] = {"cf_flip": mean_entry(per_digit)}
    consistent = (pred == pred[:, :1]).all(1)
    out["cf_consistent"] = entry(int(consistent.sum()), n_digits)
    attracted = (pred == np.arange(NUM_CLASSES)[None, :]) & foreign
    hits = np.zeros((NUM_CLASSES, NUM_CLASSES))
    counts = np.zeros((NUM_CLASSES, NUM_CLASSES))
    np.add.at(hits, label, attracted)
    np.add.at(counts, label, foreign)
    with np.errstate(invalid="ignore", divide="ignore"):
        matrix = np.where(counts > 0, hits / counts, np.nan)
    np.fill_diagonal(matrix, np.nan)
    with warnings.catch_warnings():  # a column no digit reached is NaN, not an error
        warnings.simplefilter("ignore", RuntimeWarning)
        by_background = np.nanmean(matrix, axis=0)
    attraction = entry(int(attracted.sum()), int(foreign.sum()))
    attraction["value"] = float(np.nanmean(matrix)) if np.isfinite(matrix).any() else math.nan
    attraction["matrix"] = [[None if np.isnan(v) else float(v) for v in r] for r in matrix]
    attraction["by_background"] = [None if np.isnan(v) else float(v) for v in by_background]
    finite = np.where(np.isnan(by_background), -np.inf, by_background)
    attraction["most_attractive"] = int(np.argmax(finite))
    out["cf_attraction"] = attraction
    correct = pred == label[:, None]
    for c in range(NUM_CLASSES):
        out[f"cf_acc_bg_{c}"] = entry(int(correct[:, c].sum()), n_digits)
    return out
