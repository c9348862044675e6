"""`texmnist evaluate --sweep`: BG-Gap against ρ, digit scale or digit position.

- `rho`: one report per correlation config present (`default`, `rho-0.99`, `rho-0.9`,
  `uncorrelated`).
- `scale` / `position`, on the `sizes` config (scale and position drawn uniformly in every
  split, so no level is rarer in training than another), in one of two designs:
  - `per-level` (default): one model per level, trained only on that level's train rows and
    tested on that level's test rows: "does a dataset of small objects breed more reliance?"
  - `pooled`: one model on all train rows, metrics per level of its test rows.

Every point carries BG-Gap, `bg_flip` and `acc_no_background` with their 95% intervals over
seeds, and `interpretable`: a level whose model did not learn the object (accuracy without
background under `MIN_OBJECT_ACCURACY`) has a BG-Gap that measures a texture reader, and is
flagged "not interpretable" in the table and the plot.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import ConfigError
from . import metrics
from .errors import EvaluateError, require
from .levels import levels, select_level
from .load import available_configs, load_config
from .markdown import MIN_OBJECT_ACCURACY
from .output import jsonable, make_dir, report_dir, versions
from .plots import pyplot, save
from .report import run_report
from .settings import check_run_options

RHO_CONFIGS = {"default": 1.0, "rho-0.99": 0.99, "rho-0.9": 0.9, "uncorrelated": 0.1}
LEVEL_CONFIG = "sizes"
KINDS = ("rho", "scale", "position")
DESIGNS = ("per-level", "pooled")
POINT_METRICS = ("bg_gap", "bg_flip", "acc_no_background")


def _point(x, name: str, summary: dict, design: str, suffix: str = "") -> dict[str, Any]:
    point: dict[str, Any] = {"x": x, "name": name, "design": design}
    for metric in POINT_METRICS:
        point[metric] = summary.get(metric + suffix)
    object_acc = point["acc_no_background"]
    point["interpretable"] = bool(object_acc and object_acc["mean"] >= MIN_OBJECT_ACCURACY)
    return point


def run_sweep(
    data: str | Path, kind: str, out: str | Path, *, design: str = "per-level", **kwargs: Any
) -> dict[str, Any]:
    """Run the sweep `kind` (see the module doc) and write sweep.json, sweep.md, sweep.png."""
    require("matplotlib")
    options = ("lr", "weight_decay", "epochs", "batch_size", "max_train", "saliency_examples")
    check_run_options(
        kwargs.get("seeds", (0, 1, 2)), **{k: kwargs[k] for k in options if k in kwargs}
    )
    if kind not in KINDS:
        raise ConfigError(f"--sweep: unknown sweep {kind!r}; choose one of {', '.join(KINDS)}")
    if design not in DESIGNS:
        raise ConfigError(f"--design: unknown design {design!r}; choose {' or '.join(DESIGNS)}")
    have = available_configs(data)
    if kind == "rho":
        configs = [c for c in RHO_CONFIGS if c in have]
        if not configs:
            raise ConfigError(f"--sweep rho: {data} has none of {', '.join(RHO_CONFIGS)}")
        design = "per-config"
    elif LEVEL_CONFIG not in have:
        raise ConfigError(
            f"--sweep {kind}: {data} has no {LEVEL_CONFIG!r} config; build it with "
            f"`texmnist build --config {LEVEL_CONFIG}`"
        )
    out = report_dir(out)
    if kind == "rho":
        points = [
            _point(RHO_CONFIGS[c], c, run_report(data, c, out / c, **kwargs)["summary"], design)
            for c in configs
        ]
    else:
        points = _level_points(data, kind, design, out, kwargs)
    result = {
        "sweep": kind,
        "design": design,
        "min_object_accuracy": MIN_OBJECT_ACCURACY,
        "points": points,
        "versions": versions(),
    }
    make_dir(out)  # only now: a sweep that fails earlier leaves no folder behind
    (out / "sweep.json").write_text(json.dumps(jsonable(result), indent=2) + "\n")
    (out / "sweep.md").write_text(sweep_markdown(result))
    plot_sweep(result, out / "sweep.png")
    return result


def _level_points(data, kind: str, design: str, out: Path, kwargs: dict) -> list[dict]:
    cache_dir, max_train = kwargs.pop("cache_dir", None), kwargs.pop("max_train", None)
    arrays, info = load_config(
        data, LEVEL_CONFIG, cache_dir=cache_dir, max_train=max_train,
        progress=kwargs.get("progress", True),
    )  # fmt: skip
    found = levels(arrays["test_correlated"], kind)
    if len(found) < 2:
        raise EvaluateError(f"--sweep {kind}: config {LEVEL_CONFIG!r} has {len(found)} level(s)")
    if design == "pooled":
        report = run_report(data, LEVEL_CONFIG, out / "pooled", loaded=(arrays, info), **kwargs)
        return [
            _point(lv, f"{kind}={lv}", report["summary"], design, f"_{kind}_{lv}") for lv in found
        ]
    points = []
    for level in found:
        part = select_level(arrays, kind, level)
        part_info = {**info, "level": {kind: level},
                     "splits": {s: int(len(a["label"])) for s, a in part.items()}}  # fmt: skip
        report = run_report(
            data, LEVEL_CONFIG, out / f"{kind}-{level}", loaded=(part, part_info), **kwargs
        )
        points.append(_point(level, f"{kind}={level}", report["summary"], design))
    return points


def _cell(entry: dict | None) -> str:
    return metrics.mean_ci_text(entry) if entry else "–"


def sweep_markdown(result: dict) -> str:
    kind, design = result["sweep"], result["design"]
    lines = [
        f"# BG-Gap sweep over {kind} ({design})",
        "",
        "Means over seeds with their 95% t-interval, in percent (one seed: that run's own "
        f"interval). A point is *not interpretable* when its model's accuracy without "
        f"background is under {100 * result['min_object_accuracy']:.0f}%: it did not learn "
        "the object, so its BG-Gap measures a texture reader.",
        "",
        f"| {kind} | run | BG-Gap | bg_flip | acc_no_background | seeds | |",
        "| --- | --- | --- | --- | --- | --- | --- |",
    ]
    for p in result["points"]:
        seeds = p["bg_gap"]["n_seeds"] if p["bg_gap"] else "–"
        flag = "" if p["interpretable"] else "not interpretable"
        lines.append(
            f"| {p['x']} | {p['name']} | {_cell(p['bg_gap'])} | {_cell(p['bg_flip'])} | "
            f"{_cell(p['acc_no_background'])} | {seeds} | {flag} |"
        )
    return "\n".join(lines) + "\n"


def plot_sweep(result: dict, path: Path) -> None:
    """BG-Gap (and bg_flip) per point with 95% intervals over seeds; flagged points hollow."""
    plt = pyplot()
    points = [p for p in result["points"] if p["bg_gap"]]
    kind = result["sweep"]
    labels = [str(p["x"]) for p in points]
    xs = np.arange(len(points))
    fig, ax = plt.subplots(figsize=(5.2, 3.6))
    for offset, metric, color in ((-0.08, "bg_gap", "#4c72b0"), (0.08, "bg_flip", "#dd8452")):
        for x, p in zip(xs, points, strict=True):
            entry = p[metric]
            if not entry:
                continue
            m, (lo, hi) = 100 * entry["mean"], (100 * v for v in entry["ci"])
            face = color if p["interpretable"] else "white"
            ax.errorbar(x + offset, m, yerr=[[m - lo], [hi - m]], fmt="o", color=color,
                        mfc=face, capsize=4, label=metric if x == 0 else None)  # fmt: skip
            ax.scatter([x + offset] * len(entry["values"]), [100 * v for v in entry["values"]],
                       color="gray", s=6, zorder=3)  # fmt: skip
    ax.axhline(0, color="gray", lw=0.8, ls="--")
    ax.set_xticks(xs, labels)
    ax.set_xlabel({"rho": "train correlation ρ", "scale": "digit scale (px)",
                   "position": "digit position"}[kind])  # fmt: skip
    ax.set_ylabel("points (%)")
    hollow = any(not p["interpretable"] for p in points)
    note = "; hollow: not interpretable" if hollow else ""
    ax.set_title(f"{kind} sweep ({result['design']}): mean, 95% t-interval over seeds{note}",
                 fontsize=8)  # fmt: skip
    ax.legend(fontsize=8)
    fig.tight_layout()
    save(fig, path)
