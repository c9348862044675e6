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

import math
import warnings
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from ..generate.splits import NONE_TEXTURE, NUM_CLASSES

TEXTURED_TEST_SPLITS = ("test_correlated", "test_random")
SPLIT_ALIASES = {
    "test_no_background": "acc_no_background",
    "test_background_only": "acc_background_only",
}
COUNTERFACTUAL_SPLIT = "test_counterfactual"
DEFAULT_TABLE_KEYS = (
    "acc_test_correlated",
    "acc_test_random",
    "acc_avg",
    "bg_gap",
    "bg_flip",
    "bg_follow",
    "cf_flip",
    "cf_consistent",
    "cf_attraction",
    "acc_no_background",
    "acc_background_only",
    "acc_wg",
)
_Z95 = 1.959963984540054


# ---------------------------------------------------------------------------
# Intervals


def wilson_interval(k: int, n: int, z: float = _Z95) -> tuple[float, float]:
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


# ---------------------------------------------------------------------------
# Per-split evaluation


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
    out: dict[str, Any] = {"acc": _entry(int(correct.sum()), correct.size)}
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


# ---------------------------------------------------------------------------
# Whole-benchmark evaluation


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
        out[f"acc_{split}"] = _entry(int(c.sum()), c.size)
    textured = [s for s in TEXTURED_TEST_SPLITS if s in checked]
    if textured:
        pooled = np.concatenate([correct[s] for s in textured])
        out["acc_avg"] = _entry(int(pooled.sum()), pooled.size)
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
    return _entry(int(flipped.sum()), int(right.sum()))


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
    out: dict[str, Any] = {"cf_flip": _mean_entry(per_digit)}
    consistent = (pred == pred[:, :1]).all(1)
    out["cf_consistent"] = _entry(int(consistent.sum()), n_digits)
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
    attraction = _entry(int(attracted.sum()), int(foreign.sum()))
    attraction["value"] = float(np.nanmean(matrix)) if np.isfinite(matrix).any() else math.nan
    attraction["matrix"] = [[None if np.isnan(v) else float(v) for v in r] for r in matrix]
    attraction["by_background"] = [None if np.isnan(v) else float(v) for v in by_background]
    finite = np.where(np.isnan(by_background), -np.inf, by_background)
    attraction["most_attractive"] = int(np.argmax(finite))
    out["cf_attraction"] = attraction
    correct = pred == label[:, None]
    for c in range(NUM_CLASSES):
        out[f"cf_acc_bg_{c}"] = _entry(int(correct[:, c].sum()), n_digits)
    return out


def _mean_entry(values: np.ndarray) -> dict[str, Any]:
    """Mean of per-item values with a normal 95% interval over the items."""
    n = int(values.size)
    if n == 0:
        return {"value": math.nan, "n": 0, "ci": [math.nan, math.nan]}
    m = float(values.mean())
    half = _Z95 * float(values.std(ddof=1)) / math.sqrt(n) if n > 1 else 0.0
    return {"value": m, "n": n, "ci": [max(0.0, m - half), min(1.0, m + half)]}


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
    return _entry(int(follows.sum()), int(follows.size))


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


# ---------------------------------------------------------------------------
# Across seeds


def summarize_seeds(results: Sequence[Mapping[str, Any]]) -> dict[str, dict[str, Any]]:
    """Mean, sample std and a 95% interval of the mean over seeds, per metric entry.

    Every entry present in all runs is summarised (keys in the first run's order):
    ``mean``, ``std`` (ddof=1; 0 for one run), ``ci`` and ``ci_kind``, ``n_seeds``, ``values``.
    With two or more seeds ``ci`` is the Student-t interval ``mean ± t(0.975, n-1) std / √n``
    (``ci_kind`` ``"t over seeds"``): the uncertainty of the mean over training seeds. With one
    seed it is that run's own interval (``ci_kind`` ``"one run"``: Wilson or bootstrap over
    examples). ``ci_first_run`` keeps the first run's own interval. ``acc_wg`` is summarised
    by value even if its worst group differs between seeds.
    """
    if not results:
        raise ValueError("summarize_seeds: results is empty (need at least one run)")
    summary: dict[str, dict[str, Any]] = {}
    for key, first in results[0].items():
        if not all(_is_entry(r.get(key)) for r in results):
            continue
        values = [float(r[key]["value"]) for r in results]
        own = first.get("ci")
        own = [float(x) for x in own] if own is not None else None
        if len(values) > 1:
            ci, kind = list(t_interval(values)), "t over seeds"
        else:
            ci, kind = own, "one run"
        summary[key] = {
            "mean": float(np.mean(values)),
            "std": float(np.std(values, ddof=1)) if len(values) > 1 else 0.0,
            "ci": ci,
            "ci_kind": kind,
            "n_seeds": len(values),
            "values": values,
            "ci_first_run": own,
        }
    return summary


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


def format_table(
    summary: Mapping[str, Mapping[str, Any]], keys: Sequence[str] = DEFAULT_TABLE_KEYS
) -> str:
    """Markdown table of ``summarize_seeds`` output in percent: mean [95% CI], std, seeds.

    The interval is the t-interval of the mean over seeds (one seed: that run's own).
    Keys missing from the summary are skipped.
    """
    lines = [
        "| metric | mean [95% CI] (%) | std (%) | seeds |",
        "| --- | --- | --- | --- |",
    ]
    for key in keys:
        if key not in summary:
            continue
        s = summary[key]
        lines.append(f"| {key} | {mean_ci_text(s)} | {_pct(s['std'])} | {s['n_seeds']} |")
    return "\n".join(lines) + "\n"


def mean_ci_text(s: Mapping[str, Any], scale: float = 100.0) -> str:
    """``"12.3 [10.1, 14.5]"``: a summary's mean and interval, in percent by default."""
    ci = s.get("ci")
    ci_text = f" [{_fmt(ci[0], scale)}, {_fmt(ci[1], scale)}]" if ci is not None else ""
    return f"{_fmt(s['mean'], scale)}{ci_text}"


def _fmt(x: float, scale: float) -> str:
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return "n/a"
    text = f"{scale * x:.1f}"
    return "0.0" if text == "-0.0" else text


# ---------------------------------------------------------------------------
# Helpers


def _entry(k: int, n: int) -> dict[str, Any]:
    lo, hi = wilson_interval(k, n)
    return {"value": k / n if n else math.nan, "n": int(n), "ci": [lo, hi]}


def _is_entry(x: Any) -> bool:
    return isinstance(x, Mapping) and "value" in x


def _pct(x: float) -> str:
    text = f"{100 * x:.1f}"
    return "0.0" if text == "-0.0" else text


def _label_texture_entries(
    correct: np.ndarray, labels: np.ndarray, textures: np.ndarray
) -> dict[str, dict[str, Any]]:
    width = NONE_TEXTURE + 1
    codes = labels * width + textures
    uniq, inverse = np.unique(codes, return_inverse=True)  # sorted: by label, then texture
    totals = np.bincount(inverse, minlength=uniq.size)
    hits = np.bincount(inverse, weights=correct, minlength=uniq.size)
    return {
        f"y={int(c) // width},t={int(c) % width}": _entry(int(h), int(t))
        for c, h, t in zip(uniq, hits, totals, strict=True)
    }


def _group_entries(correct: np.ndarray, groups: np.ndarray) -> dict[str, dict[str, Any]]:
    uniq, inverse = np.unique(groups, return_inverse=True)
    totals = np.bincount(inverse, minlength=uniq.size)
    hits = np.bincount(inverse, weights=correct, minlength=uniq.size)
    return {str(g): _entry(int(h), int(t)) for g, h, t in zip(uniq, hits, totals, strict=True)}


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


def _as_binary(name: str, x: np.ndarray) -> np.ndarray:
    arr = np.asarray(x)
    if arr.ndim != 1:
        raise ValueError(f"{name}: expected a 1-D array, got shape {arr.shape}")
    if arr.dtype != np.bool_:
        if arr.size and not np.isin(arr, (0, 1)).all():
            raise ValueError(f"{name}: expected booleans or 0/1 values")
        arr = arr.astype(bool)
    return arr


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
