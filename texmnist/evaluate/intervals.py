"""Confidence intervals (pure NumPy): Wilson for proportions, a paired or unpaired percentile
bootstrap for differences of proportions, Student-t for means over seeds, and the metric
*entries* ``{"value", "n", "ci"}`` built on them."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

Z95 = 1.959963984540054


def wilson_interval(k: int, n: int, z: float = Z95) -> tuple[float, float]:
    """Wilson score interval for ``k`` successes out of ``n``; ``(nan, nan)`` when ``n == 0``."""
    if n < 0 or k < 0 or k > n:
        raise ValueError(f"wilson_interval: need 0 <= k <= n, got k={k}, n={n}")
    if not z > 0:
        raise ValueError(f"wilson_interval: z must be > 0, got {z}")
    if n == 0:
        return (math.nan, math.nan)
    p = k / n
    z2 = z * z
    denom = 1.0 + z2 / n
    centre = (p + z2 / (2 * n)) / denom
    half = z * math.sqrt(p * (1 - p) / n + z2 / (4 * n * n)) / denom
    # The bounds are exactly 0 at k=0 and 1 at k=n; rounding would leave 1e-17-sized residue.
    lo = 0.0 if k == 0 else max(0.0, centre - half)
    hi = 1.0 if k == n else min(1.0, centre + half)
    return (lo, hi)


def bootstrap_diff_interval(
    a: np.ndarray,
    b: np.ndarray,
    *,
    paired: bool,
    n_boot: int = 2000,
    seed: int = 0,
    alpha: float = 0.05,
) -> tuple[float, float]:
    """Percentile-bootstrap ``(1 - alpha)`` interval for ``mean(a) - mean(b)`` of 0/1 arrays.

    ``paired=True`` resamples items jointly (``a[i]``, ``b[i]`` are the same item); otherwise
    each array is resampled on its own. Because the values are 0/1, resampling n items with
    replacement is exactly a multinomial draw over the item kinds (paired: a-b in {+1, -1, 0};
    unpaired: a binomial per array), so each resample costs O(1) memory instead of O(n).
    Deterministic given ``seed``; ``(nan, nan)`` when an array is empty.
    """
    a = _as_binary("a", a)
    b = _as_binary("b", b)
    if n_boot < 1:
        raise ValueError(f"bootstrap_diff_interval: n_boot must be >= 1, got {n_boot}")
    if not 0 < alpha < 1:
        raise ValueError(f"bootstrap_diff_interval: alpha must be in (0, 1), got {alpha}")
    if paired and a.size != b.size:
        raise ValueError(
            f"bootstrap_diff_interval: paired arrays differ in length ({a.size} vs {b.size})"
        )
    if a.size == 0 or b.size == 0:
        return (math.nan, math.nan)
    rng = np.random.default_rng(seed)
    if paired:
        n = a.size
        n_pos = int(np.count_nonzero(a & ~b))
        n_neg = int(np.count_nonzero(~a & b))
        pvals = [n_pos / n, n_neg / n, (n - n_pos - n_neg) / n]
        draws = rng.multinomial(n, pvals, size=n_boot)
        diffs = (draws[:, 0] - draws[:, 1]) / n
    else:
        draws_a = rng.binomial(a.size, a.mean(), size=n_boot) / a.size
        draws_b = rng.binomial(b.size, b.mean(), size=n_boot) / b.size
        diffs = draws_a - draws_b
    lo, hi = np.quantile(diffs, [alpha / 2, 1 - alpha / 2])
    return (float(lo), float(hi))


def t_interval(values: Sequence[float], confidence: float = 0.95) -> tuple[float, float]:
    """Student-t interval of the mean of ``values`` (n >= 2): mean ± t · s / √n."""
    x = np.asarray(values, dtype=float)
    if x.size < 2:
        raise ValueError(f"t_interval: need at least 2 values, got {x.size}")
    half = t_quantile(0.5 + confidence / 2, x.size - 1) * x.std(ddof=1) / math.sqrt(x.size)
    m = float(x.mean())
    return (m - float(half), m + float(half))


def t_quantile(p: float, df: int) -> float:
    """Quantile of Student's t with ``df`` degrees of freedom (bisection on the exact CDF)."""
    if not 0.5 <= p < 1 or df < 1:
        raise ValueError(f"t_quantile: need 0.5 <= p < 1 and df >= 1, got p={p}, df={df}")
    lo, hi = 0.0, 1.0
    while t_cdf(hi, df) < p:
        hi *= 2
    for _ in range(200):
        mid = (lo + hi) / 2
        lo, hi = (mid, hi) if t_cdf(mid, df) < p else (lo, mid)
        if hi - lo < 1e-12:
            break
    return (lo + hi) / 2


def t_cdf(t: float, df: int) -> float:
    """CDF of Student's t: 1 - I_x(df/2, 1/2) / 2 with x = df / (df + t²), for t >= 0."""
    tail = 0.5 * _betainc(df / 2, 0.5, df / (df + t * t))
    return 1.0 - tail if t >= 0 else tail


def _betainc(a: float, b: float, x: float) -> float:
    """Regularised incomplete beta I_x(a, b) by its continued fraction (Lentz's method)."""
    if x <= 0.0:
        return 0.0
    if x >= 1.0:
        return 1.0
    if x > (a + 1) / (a + b + 2):  # the fraction converges fast only below this point
        return 1.0 - _betainc(b, a, 1.0 - x)
    log_front = math.lgamma(a + b) - math.lgamma(a) - math.lgamma(b)
    front = math.exp(log_front + a * math.log(x) + b * math.log1p(-x)) / a
    tiny = 1e-300
    f, c, d = 1.0, 1.0, 0.0
    for i in range(400):
        m = i // 2
        if i == 0:
            num = 1.0
        elif i % 2 == 0:
            num = m * (b - m) * x / ((a + 2 * m - 1) * (a + 2 * m))
        else:
            num = -(a + m) * (a + b + m) * x / ((a + 2 * m) * (a + 2 * m + 1))
        d = 1.0 + num * d
        d = 1.0 / (d if abs(d) > tiny else tiny)
        c = 1.0 + num / c
        c = c if abs(c) > tiny else tiny
        f *= c * d
        if abs(1.0 - c * d) < 1e-15:
            break
    return front * (f - 1.0)


def entry(k: int, n: int) -> dict[str, Any]:
    """A proportion ``k / n`` as a metric entry with its Wilson interval."""
    lo, hi = wilson_interval(k, n)
    return {"value": k / n if n else math.nan, "n": int(n), "ci": [lo, hi]}


def mean_entry(values: np.ndarray) -> dict[str, Any]:
    """Mean of per-item values with a normal 95% interval over the items."""
    n = int(values.size)
    if n == 0:
        return {"value": math.nan, "n": 0, "ci": [math.nan, math.nan]}
    m = float(values.mean())
    half = Z95 * float(values.std(ddof=1)) / math.sqrt(n) if n > 1 else 0.0
    return {"value": m, "n": n, "ci": [max(0.0, m - half), min(1.0, m + half)]}


def _as_binary(name: str, x: np.ndarray) -> np.ndarray:
    arr = np.asarray(x)
    if arr.ndim != 1:
        raise ValueError(f"{name}: expected a 1-D array, got shape {arr.shape}")
    if arr.dtype != np.bool_:
        if arr.size and not np.isin(arr, (0, 1)).all():
            raise ValueError(f"{name}: expected booleans or 0/1 values")
        arr = arr.astype(bool)
    return arr
