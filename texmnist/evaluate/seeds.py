"""Summaries across training seeds: mean, std and a t-interval per metric, and their tables."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from .intervals import t_interval

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


def _is_entry(x: Any) -> bool:
    return isinstance(x, Mapping) and "value" in x


def _pct(x: float) -> str:
    text = f"{100 * x:.1f}"
    return "0.0" if text == "-0.0" else text
