"""Tests of texmnist.evaluate.metrics on hand-made cases whose answers are computed by hand."""

from __future__ import annotations

import json

import numpy as np
import pytest

from texmnist.evaluate.metrics import (
    evaluate,
    evaluate_split,
    wilson_interval,
)
from texmnist.generate.recipe import BOX_COLUMNS

Z = 1.959963984540054


# ---------------------------------------------------------------------------
# Fixtures: a tiny paired benchmark
#
# test_correlated: digits 10..13, labels 0..3 on their own textures, predictions 0,1,2,0
#   -> correct T,T,T,F (3/4).
# test_random: the same digits in reverse order, labels 3,2,1,0 on textures 5,6,7,8,
#   predictions 3,6,1,8 -> correct T,F,T,F (2/4); follows background F,T,F,T (2/4).


def small_data(with_group: bool = False) -> dict[str, dict[str, np.ndarray]]:
    data = {
        "test_correlated": {
            "label": np.array([0, 1, 2, 3]),
            "texture": np.array([0, 1, 2, 3]),
            "mnist_index": np.array([10, 11, 12, 13]),
            "aligned": np.ones(4, dtype=bool),
        },
        "test_random": {
            "label": np.array([3, 2, 1, 0]),
            "texture": np.array([5, 6, 7, 8]),
            "mnist_index": np.array([13, 12, 11, 10]),
            "aligned": np.zeros(4, dtype=bool),
        },
    }
    if with_group:
        data["test_correlated"]["group"] = np.array(["CeO-14", "CeO-14", "CoR-21", "CoR-21"])
        data["test_random"]["group"] = np.array(["CoR-21", "CoR-21", "CeO-14", "CeO-14"])
    return data


def small_preds() -> dict[str, np.ndarray]:
    return {
        "test_correlated": np.array([0, 1, 2, 0]),
        "test_random": np.array([3, 6, 1, 8]),
    }


def random_benchmark(n: int, seed: int = 0) -> tuple[dict, dict]:
    """A full benchmark of n digits with a model that follows the background half the time."""
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, 10, n)
    index = rng.permutation(n)
    other = (labels + rng.integers(1, 10, n)) % 10
    data = {
        "test_correlated": {"label": labels, "texture": labels, "mnist_index": index},
        "test_random": {"label": labels, "texture": other, "mnist_index": index},
        "test_no_background": {
            "label": labels,
            "texture": np.full(n, 10),
            "mnist_index": index,
        },
        "test_background_only": {"label": labels, "texture": labels, "mnist_index": index},
    }
    preds = {
        "test_correlated": np.where(rng.random(n) < 0.9, labels, (labels + 1) % 10),
        "test_random": np.where(rng.random(n) < 0.5, labels, other),
        "test_no_background": np.where(rng.random(n) < 0.7, labels, (labels + 1) % 10),
        "test_background_only": labels,
    }
    return preds, data


# ---------------------------------------------------------------------------
# evaluate_split


def test_evaluate_split_accuracy_and_groups():
    meta = small_data()["test_correlated"]
    out = evaluate_split(np.array([0, 1, 2, 0]), meta["label"], meta, split="test_correlated")
    assert out["acc"]["value"] == 0.75
    assert out["acc"]["n"] == 4
    assert out["acc"]["ci"] == list(wilson_interval(3, 4))
    assert set(out["group_acc"]) == {"y=0,t=0", "y=1,t=1", "y=2,t=2", "y=3,t=3"}
    assert out["group_acc"]["y=3,t=3"]["value"] == 0.0
    assert out["acc_wg"]["group"] == "y=3,t=3"
    assert "group_acc_by_group" not in out


def test_evaluate_split_uses_group_column_for_worst_group():
    meta = small_data(with_group=True)["test_random"]
    # Correct T,T,F,F: CoR-21 holds rows 0,1 (2/2), CeO-14 rows 2,3 (0/2).
    out = evaluate_split(np.array([3, 2, 0, 8]), meta["label"], meta)
    assert out["group_acc_by_group"]["CoR-21"] == {
        "value": 1.0,
        "n": 2,
        "ci": list(wilson_interval(2, 2)),
    }
    assert out["group_acc_by_group"]["CeO-14"]["value"] == 0.0
    assert out["acc_wg"]["group"] == "CeO-14"
    assert out["acc_wg"]["value"] == 0.0
    assert "group_acc" in out  # label x texture still reported


def test_evaluate_split_without_metadata_only_acc():
    out = evaluate_split([1, 2, 3], [1, 2, 4])
    assert out == {"acc": {"value": 2 / 3, "n": 3, "ci": list(wilson_interval(2, 3))}}


def test_evaluate_split_min_group_size():
    labels = np.array([0, 0, 0, 1])
    meta = {"label": labels, "texture": labels}
    preds = np.array([0, 0, 1, 2])  # y=0,t=0: 2/3; y=1,t=1: 0/1
    assert evaluate_split(preds, labels, meta)["acc_wg"]["group"] == "y=1,t=1"
    out = evaluate_split(preds, labels, meta, min_group_size=2)
    assert out["acc_wg"]["group"] == "y=0,t=0"
    assert out["acc_wg"]["value"] == pytest.approx(2 / 3)
    assert "acc_wg" not in evaluate_split(preds, labels, meta, min_group_size=4)


# ---------------------------------------------------------------------------
# evaluate


def test_evaluate_small_case_by_hand():
    out = evaluate(small_preds(), small_data())
    assert out["acc_test_correlated"]["value"] == 0.75
    assert out["acc_test_random"]["value"] == 0.5
    assert out["acc_avg"] == {"value": 5 / 8, "n": 8, "ci": list(wilson_interval(5, 8))}
    assert out["bg_gap"]["value"] == pytest.approx(0.25)
    assert out["bg_gap"]["n"] == 4
    assert out["bg_gap"]["paired"] is True
    assert out["bg_follow"]["value"] == 0.5
    assert out["bg_follow"]["n"] == 4
    # Eight label x texture groups of one example; three have accuracy 0. Ties go to the
    # first in sorted (label, texture) order: y=0,t=8 before y=2,t=6 and y=3,t=3.
    assert len(out["groups"]) == 8
    assert out["acc_wg"]["group"] == "y=0,t=8"
    assert out["acc_wg"]["value"] == 0.0


def test_evaluate_worst_group_uses_group_column():
    out = evaluate(small_preds(), small_data(with_group=True))
    # CeO-14: corr rows 0,1 (T,T) + random rows 2,3 (T,F) = 3/4; CoR-21: (T,F) + (T,F) = 2/4.
    assert out["groups"]["CeO-14"]["value"] == 0.75
    assert out["groups"]["CoR-21"]["value"] == 0.5
    assert out["groups"]["y=0,t=8"]["value"] == 0.0  # label x texture kept in groups
    assert out["acc_wg"]["group"] == "CoR-21"
    assert out["acc_wg"]["value"] == 0.5
    assert out["acc_wg"]["n"] == 4


def test_bg_follow_planted():
    preds, data = random_benchmark(500)
    texture = data["test_random"]["texture"]
    labels = data["test_random"]["label"]
    follow = evaluate({"test_random": texture}, data)
    assert follow["bg_follow"]["value"] == 1.0
    assert follow["acc_test_random"]["value"] == 0.0
    digit = evaluate({"test_random": labels}, data)
    assert digit["bg_follow"]["value"] == 0.0
    assert digit["acc_test_random"]["value"] == 1.0
    assert digit["bg_follow"]["ci"] == list(wilson_interval(0, 500))


def test_bg_follow_skips_non_conflicting_examples():
    data = {"test_random": {"label": np.array([1, 2, 3]), "texture": np.array([1, 5, 10])}}
    out = evaluate({"test_random": np.array([1, 5, 3])}, data)
    assert out["bg_follow"]["n"] == 1  # only row 1 has a conflicting texture
    assert out["bg_follow"]["value"] == 1.0


def test_bg_gap_pairs_on_mnist_index():
    # Each digit is right or wrong in both splits alike; test_random is stored reversed.
    pattern = np.array([True, True, False, True, False, False, True, True])
    labels = np.arange(8) % 10
    index = np.arange(100, 108)
    wrong = (labels + 1) % 10
    data = {
        "test_correlated": {"label": labels, "texture": labels, "mnist_index": index},
        "test_random": {"label": labels[::-1], "texture": wrong[::-1], "mnist_index": index[::-1]},
    }
    preds = {
        "test_correlated": np.where(pattern, labels, wrong),
        "test_random": np.where(pattern, labels, (labels + 2) % 10)[::-1],
    }
    out = evaluate(preds, data)
    # Aligned by mnist_index every pair differs by 0; misaligned pairs would not.
    assert out["bg_gap"]["value"] == 0.0
    assert out["bg_gap"]["ci"] == [0.0, 0.0]
    assert out["bg_gap"]["paired"] is True


def test_bg_gap_falls_back_to_unpaired():
    data = small_data()
    data["test_random"]["mnist_index"] = np.array([13, 12, 11, 99])  # not the same digits
    out = evaluate(small_preds(), data)
    assert out["bg_gap"]["paired"] is False
    assert out["bg_gap"]["n"] == 8
    assert out["bg_gap"]["value"] == pytest.approx(0.25)


@pytest.mark.parametrize(
    ("corr_index", "rand_index"),
    [
        ([10, 10, 12, 13], [13, 12, 10, 10]),  # the same multiset, with a duplicate
        ([10, 11, 12, 12], [12, 12, 11, 10]),
        ([10, 10, 10, 10], [10, 10, 10, 10]),
        ([10, 11, 12], [10, 11, 12, 13]),  # different lengths
    ],
)
def test_duplicate_mnist_index_is_never_paired(corr_index, rand_index):
    data, preds = small_data(), small_preds()
    data["test_correlated"]["mnist_index"] = np.array(corr_index)
    data["test_random"]["mnist_index"] = np.array(rand_index)
    if len(corr_index) == 3:
        data["test_correlated"] = {k: v[:3] for k, v in data["test_correlated"].items()}
        preds["test_correlated"] = preds["test_correlated"][:3]
    out = evaluate(preds, data)
    assert out["bg_gap"]["paired"] is False
    assert out["bg_gap"]["n"] == len(corr_index) + len(rand_index)


def test_bg_gap_ci_contains_value_and_shrinks_with_n():
    widths = []
    for n in (200, 20000):
        preds, data = random_benchmark(n, seed=1)
        gap = evaluate(preds, data, seed=0)["bg_gap"]
        expected = np.mean(preds["test_correlated"] == data["test_correlated"]["label"]) - np.mean(
            preds["test_random"] == data["test_random"]["label"]
        )
        assert gap["value"] == pytest.approx(expected)
        assert gap["n"] == n
        assert gap["paired"] is True
        lo, hi = gap["ci"]
        assert lo < gap["value"] < hi
        widths.append(hi - lo)
    assert widths[1] < widths[0] / 5  # ~ 1/sqrt(100) = 1/10 expected


def test_evaluate_full_keys_and_aliases():
    preds, data = random_benchmark(300)
    out = evaluate(preds, data)
    assert set(out) == {
        "acc_test_correlated",
        "acc_test_random",
        "acc_test_no_background",
        "acc_test_background_only",
        "acc_avg",
        "bg_gap",
        "bg_flip",
        "bg_follow",
        "acc_no_background",
        "acc_background_only",
        "acc_wg",
        "groups",
    }
    assert out["acc_no_background"] == out["acc_test_no_background"]
    assert out["acc_background_only"]["value"] == 1.0
    # Groups cover only the textured test splits: their counts add up to 2 * n.
    assert sum(e["n"] for e in out["groups"].values()) == 600
    assert all(key.startswith("y=") for key in out["groups"])


def test_missing_splits_omit_keys():
    preds, data = random_benchmark(50)
    only_random = evaluate({"test_random": preds["test_random"]}, data)
    assert set(only_random) == {
        "acc_test_random",
        "acc_avg",
        "bg_follow",
        "acc_wg",
        "groups",
    }
    only_plain = evaluate({"test_no_background": preds["test_no_background"]}, data)
    assert set(only_plain) == {"acc_test_no_background", "acc_no_background"}
    assert None not in only_random.values()


def test_evaluate_is_deterministic_and_json_serialisable():
    preds, data = random_benchmark(400)
    first = evaluate(preds, data, seed=3)
    assert evaluate(preds, data, seed=3) == first
    assert evaluate(preds, data, seed=4)["bg_gap"]["ci"] != first["bg_gap"]["ci"]
    text = json.dumps(first, allow_nan=False)
    assert json.loads(text) == first  # plain Python types round-trip unchanged
    assert type(first["acc_avg"]["n"]) is int
    assert type(first["acc_avg"]["value"]) is float


# ---------------------------------------------------------------------------
# Validation


@pytest.mark.parametrize(
    ("preds", "labels", "meta", "match"),
    [
        ([0, 1], [0, 1, 2], None, "2 predictions for 3 labels"),
        ([0, 1], [0, 10], None, r"label must be in 0\.\.9, found 10"),
        ([0, -1], [0, 1], None, r"y_pred must be in 0\.\.9, found -1"),
        ([0.0, 1.0], [0, 1], None, "y_pred must hold integers"),
        ([[0, 1]], [0, 1], None, "y_pred must be 1-D"),
        ([], [], None, "no examples"),
        ([0, 1], [0, 1], {"texture": [0, 1, 2]}, "'texture' has shape"),
        ([0, 1], [0, 1], {"texture": [0, 11]}, r"texture must be in 0\.\.10"),
        ([0, 1], [0, 1], {"label": [1, 0]}, "differs from y_true"),
    ],
)
def test_evaluate_split_validation(preds, labels, meta, match):
    with pytest.raises(ValueError, match=match):
        evaluate_split(preds, labels, meta, split="test_random")


def test_evaluate_validation():
    data = small_data()
    with pytest.raises(ValueError, match="no such split"):
        evaluate({"validation": np.array([0])}, data)
    with pytest.raises(ValueError, match="no 'label' column"):
        evaluate({"x": np.array([0])}, {"x": {"texture": np.array([0])}})
    with pytest.raises(ValueError, match="split 'test_random': 3 predictions for 4 labels"):
        evaluate({"test_random": np.array([0, 1, 2])}, data)


def test_whole_split_arrays_are_accepted():
    """The arrays of `to_numpy` (images, masks, boxes) can be passed as they are."""
    data = {
        "test_random": {
            "label": np.array([0, 1]),
            "texture": np.array([3, 4]),
            "image": np.zeros((2, 28, 28), np.uint8),
            **{c: np.zeros(2, np.int32) for c in BOX_COLUMNS},
        }
    }
    result = evaluate({"test_random": np.array([0, 4])}, data)
    assert result["acc_test_random"]["value"] == 0.5
    assert result["bg_follow"]["value"] == 0.5


# -- bg_flip and the counterfactual metrics -----------------------------------------------


def test_bg_flip_by_hand_paired_on_mnist_index():
    # 5 digits; correct in test_correlated: 0, 1, 2, 3; of those, 1 and 3 are wrong in random
    labels = np.array([0, 1, 2, 3, 4])
    corr_pred = np.array([0, 1, 2, 3, 0])
    rand_pred = np.array([0, 5, 2, 9, 4])
    shuffle = np.array([4, 2, 0, 3, 1])  # test_random stored in another row order
    data = {
        "test_correlated": {"label": labels, "texture": labels, "mnist_index": np.arange(5)},
        "test_random": {
            "label": labels[shuffle], "texture": (labels[shuffle] + 1) % 10,
            "mnist_index": shuffle,
        },
    }  # fmt: skip
    out = evaluate({"test_correlated": corr_pred, "test_random": rand_pred[shuffle]}, data)
    assert out["bg_flip"]["value"] == pytest.approx(2 / 4) and out["bg_flip"]["n"] == 4
    lo, hi = out["bg_flip"]["ci"]
    assert lo < 0.5 < hi


def test_bg_flip_absent_when_digits_are_not_paired():
    labels = np.array([0, 1, 2, 3])
    meta = {"label": labels, "texture": labels, "mnist_index": np.array([0, 0, 1, 2])}
    out = evaluate({"test_correlated": labels, "test_random": labels}, {
        "test_correlated": meta, "test_random": {**meta, "texture": (labels + 1) % 10},
    })  # fmt: skip
    assert "bg_flip" not in out and out["bg_gap"]["paired"] is False
