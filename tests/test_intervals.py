"""Wilson, bootstrap and Student-t intervals and the entries built on them, checked by hand."""

from __future__ import annotations

import math

import numpy as np
import pytest

from texmnist.evaluate.intervals import (
    bootstrap_diff_interval,
    mean_entry,
    t_interval,
    t_quantile,
    wilson_interval,
)

Z = 1.959963984540054


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


def testmean_entry_by_hand():
    """Per-item means (cf_flip) carry n and a normal interval; an empty set says n = 0."""
    empty = mean_entry(np.array([]))
    assert set(empty) == {"value", "n", "ci"} and empty["n"] == 0
    assert math.isnan(empty["value"]) and all(math.isnan(x) for x in empty["ci"])
    got = mean_entry(np.array([0.2, 0.4]))
    half = 1.959964 * math.sqrt(0.02) / math.sqrt(2)  # sample sd of (0.2, 0.4) is sqrt(0.02)
    assert got["n"] == 2 and got["value"] == pytest.approx(0.3)
    assert got["ci"] == pytest.approx([0.3 - half, 0.3 + half], abs=1e-6)
    assert mean_entry(np.array([1.0])) == {"value": 1.0, "n": 1, "ci": [1.0, 1.0]}
    assert mean_entry(np.array([0.0, 1.0]))["ci"] == [0.0, 1.0]  # clipped to [0, 1]
