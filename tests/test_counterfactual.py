"""The counterfactual metrics (every digit on each of the ten categories), checked by hand."""

from __future__ import annotations

import numpy as np
import pytest

from texmnist.evaluate.metrics import evaluate


def _factorial(labels: np.ndarray, rng=None):
    n = len(labels)
    index, texture = np.repeat(np.arange(n), 10), np.tile(np.arange(10), n)
    order = rng.permutation(10 * n) if rng is not None else np.arange(10 * n)
    meta = {"label": np.repeat(labels, 10)[order], "texture": texture[order],
            "mnist_index": index[order]}  # fmt: skip
    return meta


def test_counterfactual_planted_shortcut_attracts_fully_and_digit_model_not_at_all():
    rng = np.random.default_rng(3)
    meta = _factorial(rng.integers(0, 10, 200), rng)
    shortcut = evaluate({"test_counterfactual": meta["texture"]}, {"test_counterfactual": meta})
    assert shortcut["cf_attraction"]["value"] == 1.0
    assert shortcut["cf_flip"]["value"] == 1.0 and shortcut["cf_consistent"]["value"] == 0.0
    matrix = np.array(shortcut["cf_attraction"]["matrix"], dtype=float)
    assert np.all(np.isnan(np.diag(matrix)))
    assert np.all(matrix[~np.eye(10, dtype=bool)] == 1.0)
    digit = evaluate({"test_counterfactual": meta["label"]}, {"test_counterfactual": meta})
    assert digit["cf_attraction"]["value"] == 0.0 and digit["cf_flip"]["value"] == 0.0
    assert digit["cf_consistent"]["value"] == 1.0
    assert all(digit[f"cf_acc_bg_{c}"]["value"] == 1.0 for c in range(10))


def test_counterfactual_metrics_by_hand():
    # two digits, labels 0 and 1. Digit 0: background 5 pulls it to 5, background 7 to 3.
    # Digit 1: predicted 2 on its own background, 1 on background 0, else 2.
    meta = _factorial(np.array([0, 1]))
    pred = np.zeros(20, dtype=np.int64)
    pred[5], pred[7] = 5, 3
    pred[10:] = 2
    pred[10] = 1
    out = evaluate({"test_counterfactual": pred}, {"test_counterfactual": meta})
    # digit 0: 2 of 9 foreign backgrounds change its prediction; digit 1: 1 of 9 (background 0)
    assert out["cf_flip"]["value"] == pytest.approx((2 / 9 + 1 / 9) / 2)
    assert out["cf_consistent"]["value"] == 0.0
    m = out["cf_attraction"]["matrix"]
    assert m[0][5] == 1.0 and m[0][7] == 0.0 and m[0][3] == 0.0
    assert m[1][2] == 1.0 and m[1][0] == 0.0  # background 2 "pulls" digit 1 to 2
    assert m[2] == [None] * 10  # no digit labelled 2
    # column means over the two labels present: background 2 -> (0 + 1) / 2, 5 -> (1 + 0) / 2
    assert out["cf_attraction"]["by_background"][2] == 0.5
    assert out["cf_attraction"]["by_background"][5] == 0.5
    assert out["cf_attraction"]["value"] == pytest.approx(2 / 18)
    assert out["cf_attraction"]["most_attractive"] == 2  # ties: the first category
    assert out["cf_acc_bg_0"]["value"] == 1.0 and out["cf_acc_bg_5"]["value"] == 0.0


def test_counterfactual_needs_every_category_once_per_digit():
    meta = _factorial(np.array([0, 1]))
    meta["texture"] = meta["texture"].copy()
    meta["texture"][3] = 4  # digit 0 now has category 4 twice and 3 never
    with pytest.raises(ValueError, match="once on each of the 10 texture categories"):
        evaluate({"test_counterfactual": meta["label"]}, {"test_counterfactual": meta})
