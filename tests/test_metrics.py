"""Tests of texmnist.metrics on hand-made cases whose answers are computed by hand."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from texmnist.metrics import (
    bootstrap_diff_interval,
    evaluate,
    evaluate_split,
    format_table,
    summarize_seeds,
    t_interval,
    t_quantile,
    wilson_interval,
)

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
# Wilson


def test_wilson_known_value():
    lo, hi = wilson_interval(8, 10)
    assert round(lo, 4) == 0.4902
    assert round(hi, 4) == 0.9433


def test_wilson_extremes():
    # k = 0: lower bound 0, upper bound z^2 / (n + z^2).
    assert wilson_interval(0, 10) == (0.0, pytest.approx(Z**2 / (10 + Z**2)))
    assert wilson_interval(0, 10)[1] == pytest.approx(0.2775, abs=1e-4)
    # k = n mirrors k = 0.
    lo, hi = wilson_interval(10, 10)
    assert hi == 1.0
    assert lo == pytest.approx(1 - Z**2 / (10 + Z**2))


def test_wilson_empty_and_invalid():
    lo, hi = wilson_interval(0, 0)
    assert math.isnan(lo) and math.isnan(hi)
    with pytest.raises(ValueError, match="k <= n"):
        wilson_interval(11, 10)
    with pytest.raises(ValueError, match="k <= n"):
        wilson_interval(-1, 10)


def test_wilson_bounds_bracket_the_estimate():
    for n in range(1, 120):
        for k in range(n + 1):
            lo, hi = wilson_interval(k, n)
            assert 0.0 <= lo <= k / n <= hi <= 1.0


def test_wilson_narrows_with_n():
    small = wilson_interval(5, 10)
    big = wilson_interval(500, 1000)
    assert big[1] - big[0] < (small[1] - small[0]) / 5


# ---------------------------------------------------------------------------
# Bootstrap


def test_bootstrap_deterministic_given_seed():
    rng = np.random.default_rng(3)
    a, b = rng.random(300) < 0.7, rng.random(300) < 0.5
    for paired in (True, False):
        first = bootstrap_diff_interval(a, b, paired=paired, seed=7)
        assert bootstrap_diff_interval(a, b, paired=paired, seed=7) == first
        assert bootstrap_diff_interval(a, b, paired=paired, seed=8) != first


def test_bootstrap_matches_naive_index_resampling():
    rng = np.random.default_rng(5)
    n, n_boot = 200, 20000
    a = rng.random(n) < 0.75
    b = np.where(rng.random(n) < 0.6, a, rng.random(n) < 0.5)  # correlated with a
    idx = rng.integers(0, n, size=(n_boot, n))
    naive_paired = np.quantile(a[idx].mean(1) - b[idx].mean(1), [0.025, 0.975])
    idx2 = rng.integers(0, n, size=(n_boot, n))
    naive_unpaired = np.quantile(a[idx].mean(1) - b[idx2].mean(1), [0.025, 0.975])
    paired = bootstrap_diff_interval(a, b, paired=True, n_boot=n_boot)
    unpaired = bootstrap_diff_interval(a, b, paired=False, n_boot=n_boot)
    assert paired == pytest.approx(tuple(naive_paired), abs=0.01)
    assert unpaired == pytest.approx(tuple(naive_unpaired), abs=0.01)
    # Pairing removes the shared per-digit variation, so its interval is narrower here.
    assert paired[1] - paired[0] < unpaired[1] - unpaired[0]


def test_bootstrap_identical_pairs_give_zero_width():
    a = np.array([True, False, True, True, False])
    assert bootstrap_diff_interval(a, a.copy(), paired=True) == (0.0, 0.0)


def test_bootstrap_invalid_inputs():
    a = np.array([True, False])
    with pytest.raises(ValueError, match="differ in length"):
        bootstrap_diff_interval(a, np.array([True]), paired=True)
    with pytest.raises(ValueError, match="0/1"):
        bootstrap_diff_interval(np.array([0.5, 1.0]), a, paired=True)
    with pytest.raises(ValueError, match="n_boot"):
        bootstrap_diff_interval(a, a, paired=True, n_boot=0)
    lo, hi = bootstrap_diff_interval(np.array([], dtype=bool), a, paired=False)
    assert math.isnan(lo) and math.isnan(hi)


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


# ---------------------------------------------------------------------------
# Seeds and table


def _run(value: float, ci: list[float] | None = None) -> dict:
    return {
        "acc_test_random": {"value": value, "n": 10, "ci": ci or [value - 0.1, value + 0.1]},
        "groups": {"y=0,t=1": {"value": value, "n": 10, "ci": [0.0, 1.0]}},
    }


def test_summarize_seeds_by_hand():
    runs = [_run(0.5), _run(0.7), _run(0.9)]
    runs[0]["bg_gap"] = {"value": 0.1, "n": 4, "ci": [0.0, 0.2]}  # not in every run
    summary = summarize_seeds(runs)
    assert set(summary) == {"acc_test_random"}
    s = summary["acc_test_random"]
    assert s["mean"] == pytest.approx(0.7)
    assert s["std"] == pytest.approx(0.2)  # sqrt(((-.2)^2 + 0 + .2^2) / 2)
    assert s["n_seeds"] == 3
    assert s["values"] == [0.5, 0.7, 0.9]
    assert s["ci_first_run"] == pytest.approx([0.4, 0.6])
    # t(0.975, 2) = 4.302653 (tables); half width 4.302653 * 0.2 / sqrt(3)
    assert s["ci"] == pytest.approx([0.7 - 0.496828, 0.7 + 0.496828], abs=1e-6)
    assert s["ci_kind"] == "t over seeds"


@pytest.mark.parametrize(
    "df, q975",  # Student-t table values
    [(1, 12.7062), (2, 4.3027), (3, 3.1824), (4, 2.7764), (9, 2.2622), (29, 2.0452), (200, 1.9719)],
)
def test_t_quantile_matches_tables(df, q975):
    assert t_quantile(0.975, df) == pytest.approx(q975, abs=1e-4)


def test_t_interval_covers_mean_and_shrinks_with_seeds():
    lo, hi = t_interval([1.0, 2.0, 3.0, 4.0])  # mean 2.5, s = 1.290994, t(3) = 3.182446
    assert (lo, hi) == pytest.approx((2.5 - 2.054, 2.5 + 2.054), abs=1e-3)
    assert t_interval([2.0, 2.0]) == (2.0, 2.0)
    with pytest.raises(ValueError, match="at least 2"):
        t_interval([1.0])


def test_summarize_single_run_and_empty():
    s = summarize_seeds([_run(0.25)])["acc_test_random"]
    assert s["std"] == 0.0
    assert s["mean"] == 0.25
    assert s["ci"] == pytest.approx([0.15, 0.35])  # one seed: the run's own interval
    assert s["ci_kind"] == "one run"
    with pytest.raises(ValueError, match="empty"):
        summarize_seeds([])


def test_format_table_exact():
    summary = summarize_seeds([_run(0.5, [0.4, 0.6]), _run(0.7)])
    summary["bg_gap"] = {
        "mean": -0.0001,
        "std": 0.01234,
        "n_seeds": 2,
        "values": [0.0, 0.0],
        "ci": None,
    }
    table = format_table(summary, keys=("acc_test_random", "acc_avg", "bg_gap"))
    # [0.5, 0.7]: mean 0.6, s = 0.141421, t(0.975, 1) = 12.7062: half width 1.27062
    assert table == (
        "| metric | mean [95% CI] (%) | std (%) | seeds |\n"
        "| --- | --- | --- | --- |\n"
        "| acc_test_random | 60.0 [-67.1, 187.1] | 14.1 | 2 |\n"
        "| bg_gap | 0.0 | 1.2 | 2 |\n"
    )


def test_format_table_from_real_evaluation():
    preds, data = random_benchmark(200)
    summary = summarize_seeds([evaluate(preds, data, seed=s) for s in range(2)])
    table = format_table(summary)
    lines = table.splitlines()
    assert lines[2].startswith("| acc_test_correlated |")
    assert len(lines) == 2 + 9  # every default key but the cf_ ones is in this benchmark
    assert table == format_table(summary)


def test_whole_split_arrays_are_accepted():
    """The arrays of `to_numpy` (images, masks, boxes) can be passed as they are."""
    data = {
        "test_random": {
            "label": np.array([0, 1]),
            "texture": np.array([3, 4]),
            "image": np.zeros((2, 28, 28), np.uint8),
            "box": np.zeros((2, 4), np.int32),
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


def test_mean_entry_by_hand():
    """Per-item means (cf_flip) carry n and a normal interval; an empty set says n = 0."""
    from texmnist.metrics import _mean_entry

    empty = _mean_entry(np.array([]))
    assert set(empty) == {"value", "n", "ci"} and empty["n"] == 0
    assert math.isnan(empty["value"]) and all(math.isnan(x) for x in empty["ci"])
    got = _mean_entry(np.array([0.2, 0.4]))
    half = 1.959964 * math.sqrt(0.02) / math.sqrt(2)  # sample sd of (0.2, 0.4) is sqrt(0.02)
    assert got["n"] == 2 and got["value"] == pytest.approx(0.3)
    assert got["ci"] == pytest.approx([0.3 - half, 0.3 + half], abs=1e-6)
    assert _mean_entry(np.array([1.0])) == {"value": 1.0, "n": 1, "ci": [1.0, 1.0]}
    assert _mean_entry(np.array([0.0, 1.0]))["ci"] == [0.0, 1.0]  # clipped to [0, 1]
