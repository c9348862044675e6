"""`texmnist evaluate`: train over seeds, evaluate, write a report folder; sweeps.

A report folder holds report.json (every metric of every seed, their summary, settings,
hyper-parameters, data fingerprint, versions), report.md (tables and a short reading),
accuracy.png and saliency.png. A sweep writes one report per config plus sweep.json,
sweep.md and sweep.png (BG-Gap against the swept parameter).
"""

from __future__ import annotations

import dataclasses
import json
import math
import platform
import re
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from .. import __version__, metrics
from ..arrays import load_arrays, split_names
from ..errors import ConfigError, OutputError
from . import EvaluateError, require
from .models import build_model
from .saliency import SALIENCY_SPLITS, saliency_maps, saliency_metrics
from .train import TrainSettings, deterministic, metadata, predict_splits, train_model

RHO_CONFIGS = {"default": 1.0, "rho-0.99": 0.99, "rho-0.9": 0.9, "uncorrelated": 0.1}
SCALE_CONFIG = "groups"
REPORT_FILES = ("report.json", "report.md", "accuracy.png", "saliency.png")
BAR_SPLITS = (
    ("acc_test_correlated", "correlated"),
    ("acc_test_random", "random"),
    ("acc_no_background", "no background"),
    ("acc_background_only", "background only"),
    ("acc_wg", "worst group"),
)


# -- data -----------------------------------------------------------------------


def load_config(
    data: str | Path,
    config: str,
    *,
    cache_dir: str | Path | None = None,
    max_train: int | None = None,
) -> tuple[dict[str, dict[str, np.ndarray]], dict[str, Any]]:
    """Every split of `config` as arrays, and facts about the data for the report."""
    splits = split_names(data, config)
    if "train" not in splits:
        raise ConfigError(f"{data}: config {config!r} has no train split (has {splits})")
    arrays = {s: load_arrays(data, config, s, cache_dir=cache_dir) for s in splits}
    if max_train is not None:
        if max_train < 1:
            raise ConfigError(f"--max-train: must be >= 1, got {max_train}")
        arrays["train"] = {k: v[:max_train] for k, v in arrays["train"].items()}
    info: dict[str, Any] = {
        "data": str(data),
        "config": config,
        "splits": {s: int(len(a["label"])) for s, a in arrays.items()},
    }
    folder = Path(data)
    if folder.is_dir():
        from ..meta import read_metadata

        meta = read_metadata(folder)
        if meta is not None and config in meta["configs"]:
            entry = meta["configs"][config]
            info["fingerprint"] = entry.get("fingerprint")
            info["recipe"] = entry.get("recipe")
            info["texmnist_version_built"] = entry.get("texmnist_version")
    return arrays, info


def versions() -> dict[str, str]:
    import datasets

    return {
        "texmnist": __version__,
        "torch": torch.__version__,
        "numpy": np.__version__,
        "datasets": datasets.__version__,
        "python": platform.python_version(),
    }


# -- one seed -------------------------------------------------------------------


def scale_of(arrays: Mapping[str, np.ndarray]) -> np.ndarray | None:
    """Each example's digit scale: the `group` name's suffix ("CeO-14" -> 14), else `scale`."""
    if "group" in arrays:
        groups = np.asarray(arrays["group"]).astype(str)
        if all(re.fullmatch(r".*-\d+", g) for g in np.unique(groups)):
            return np.array([int(g.rsplit("-", 1)[1]) for g in groups])
    if "scale" in arrays:
        return np.asarray(arrays["scale"])
    return None


def scale_gaps(
    preds: Mapping[str, np.ndarray], data: Mapping[str, Mapping[str, np.ndarray]]
) -> dict[str, Any]:
    """`bg_gap_scale_<s>` (and `acc_test_random_scale_<s>`) for every digit scale s."""
    if not all(s in preds for s in metrics.TEXTURED_TEST_SPLITS):
        return {}
    scales = {s: scale_of(data[s]) for s in metrics.TEXTURED_TEST_SPLITS}
    if any(v is None for v in scales.values()):
        return {}
    out = {}
    for value in np.unique(scales["test_correlated"]):
        sel = {s: scales[s] == value for s in scales}
        part = metrics.evaluate(
            {s: preds[s][sel[s]] for s in sel},
            {s: {k: v[sel[s]] for k, v in metadata(data[s]).items()} for s in sel},
        )
        out[f"bg_gap_scale_{int(value)}"] = part["bg_gap"]
        out[f"acc_test_random_scale_{int(value)}"] = part["acc_test_random"]
    return out


def run_seed(
    data: Mapping[str, Mapping[str, np.ndarray]],
    model_name: str,
    settings: TrainSettings,
    *,
    saliency_examples: int,
) -> tuple[dict[str, Any], Any]:
    """Train one model and return (metrics + log, the model)."""
    first = data["train"]["image"]
    channels = 3 if np.asarray(first).ndim == 4 else 1
    with deterministic(settings.seed):
        model = build_model(model_name, channels, int(first.shape[1]))
    log = train_model(model, data["train"], settings=settings, validation=data.get("validation"))
    preds = predict_splits(model, data, device=settings.device)
    result = metrics.evaluate(preds, {s: metadata(data[s]) for s in preds})
    result.update(scale_gaps(preds, data))
    if saliency_examples:
        result.update(
            saliency_metrics(model, data, max_examples=saliency_examples, device=settings.device)
        )
    result["train_log"] = log
    return result, model


# -- the report -------------------------------------------------------------------


def run_report(
    data: str | Path,
    config: str,
    out: str | Path,
    *,
    model: str = "cnn",
    method: str = "erm",
    epochs: int = 2,
    seeds: Sequence[int] = (0, 1, 2),
    batch_size: int = 128,
    max_train: int | None = None,
    device: str | None = None,
    lr: float = 1e-3,
    weight_decay: float | None = None,
    cache_dir: str | Path | None = None,
    saliency_examples: int = 1000,
    progress: bool = True,
    loaded: tuple[dict, dict] | None = None,
) -> dict[str, Any]:
    """Train `model` with `method` once per seed on `config` of `data`; write the report."""
    require("matplotlib")
    if not seeds:
        raise EvaluateError("--seeds: give at least one seed")
    out = _report_dir(out)
    settings = TrainSettings(
        method=method, epochs=epochs, batch_size=batch_size, lr=lr,
        weight_decay=weight_decay, device=device, progress=progress,
    )  # fmt: skip
    arrays, info = loaded or load_config(data, config, cache_dir=cache_dir, max_train=max_train)
    runs, first_model = [], None
    for seed in seeds:
        result, trained = run_seed(
            arrays, model, dataclasses.replace(settings, seed=seed),
            saliency_examples=saliency_examples,
        )  # fmt: skip
        result["seed"] = seed
        runs.append(result)
        first_model = first_model or trained
    summary = metrics.summarize_seeds(runs)
    report = {
        "data": info,
        "settings": {
            "model": model, "method": method, "epochs": epochs, "seeds": list(seeds),
            "batch_size": batch_size, "max_train": max_train, "device": runs[0]["train_log"]
            ["device"], "saliency_examples": saliency_examples,
            "torch_threads": torch.get_num_threads(),
        },
        "hyperparameters": settings.hyperparameters(),
        "versions": versions(),
        "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "summary": summary,
        "runs": runs,
    }  # fmt: skip
    _make_dir(out)  # only now: a run that fails earlier leaves no folder behind
    (out / "report.json").write_text(json.dumps(_jsonable(report), indent=2) + "\n")
    (out / "report.md").write_text(report_markdown(report))
    plot_accuracy(runs, out / "accuracy.png", title=f"{config}: {model} / {method}")
    plot_saliency_examples(first_model, arrays, out / "saliency.png", device=device)
    return report


def _report_dir(out: str | Path) -> Path:
    """`out` checked up front; `_make_dir` creates it once there are results to write."""
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise OutputError(f"{out}: --out names a file, not a folder")
    return out


def _make_dir(out: Path) -> None:
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise OutputError(f"{out}: cannot create the report folder ({e.strerror})") from e


def _jsonable(x: Any) -> Any:
    if isinstance(x, dict):
        return {str(k): _jsonable(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [_jsonable(v) for v in x]
    if isinstance(x, np.generic):
        return x.item()
    if isinstance(x, float) and math.isnan(x):
        return None  # strict JSON has no NaN
    return x


# -- markdown -----------------------------------------------------------------------


def _pct(x: float) -> str:
    return "n/a" if x is None or math.isnan(x) else f"{100 * x:.1f}%"


def report_markdown(report: Mapping[str, Any]) -> str:
    s, hp, d = report["settings"], report["hyperparameters"], report["data"]
    summary = report["summary"]
    lines = [
        f"# Textured MNIST evaluation: `{d['config']}`, {s['model']} / {s['method']}",
        "",
        f"Data `{d['data']}` config `{d['config']}`"
        + (f", fingerprint `{d['fingerprint'][:16]}…`" if d.get("fingerprint") else "")
        + ". Splits: " + ", ".join(f"{k} {v:,}" for k, v in d["splits"].items()) + ".",
        f"Seeds {', '.join(map(str, s['seeds']))}; {s['epochs']} epochs; device {s['device']}.",
        "",
        "Hyper-parameters: " + ", ".join(f"{k}={v}" for k, v in hp.items()) + ".",
        "",
        "## Metrics (mean [95% t-interval over seeds]; one seed: its own interval)",
        "",
        metrics.format_table(summary),
    ]  # fmt: skip
    scale_keys = sorted((k for k in summary if k.startswith("bg_gap_scale_")),
                        key=lambda k: int(k.rsplit("_", 1)[1]))  # fmt: skip
    if scale_keys:
        lines += ["## BG-Gap per digit scale", "", metrics.format_table(summary, scale_keys)]
    sal_keys = [f"{kind}_{m}_{split}" for kind in ("grad", "cam") for m in ("bg", "iou")
                for split in SALIENCY_SPLITS]  # fmt: skip
    sal_keys = [k for k in sal_keys if k in summary]
    if sal_keys:
        lines += [
            f"## Saliency vs. the digit mask (first {s['saliency_examples']} examples per split)",
            "",
            "`grad` = input-gradient saliency, `cam` = Grad-CAM; `bg` = share of saliency mass "
            "on the background, `iou` = IoU of the top-k salient pixels (k = mask area) with "
            "the mask. The CI column is a normal 95% interval of the first run's mean.",
            "",
            metrics.format_table(summary, sal_keys),
        ]
    lines += ["## Reading", "", reading(report), ""]
    return "\n".join(lines)


def reading(report: Mapping[str, Any]) -> str:
    """A one-paragraph interpretation generated from the numbers."""
    summary, s = report["summary"], report["settings"]

    def mean(key: str) -> float:
        return summary[key]["mean"] if key in summary else math.nan

    parts = [
        f"The {s['model']} trained with {s['method']} scores {_pct(mean('acc_test_correlated'))} "
        f"when the background agrees with the digit and {_pct(mean('acc_test_random'))} when it "
        f"conflicts."
    ]
    if "bg_gap" in summary:
        gap = summary["bg_gap"]
        lo, hi = gap["ci"] or (math.nan, math.nan)
        covers = lo <= 0 <= hi
        verdict = (
            "its interval covers 0, so no reliance on the background is detectable"
            if covers
            else "its interval excludes 0: the model uses the background"
        )
        parts.append(
            f"The BG-Gap is {100 * gap['mean']:.1f} points (95% CI [{100 * lo:.1f}, "
            f"{100 * hi:.1f}], {gap['ci_kind']}); {verdict}."
        )
    if "bg_follow" in summary:
        parts.append(
            f"On conflicting examples it predicts the background's digit "
            f"{_pct(mean('bg_follow'))} of the time (uniform guessing: 10%)."
        )
    if "acc_no_background" in summary:
        parts.append(f"Without background it scores {_pct(mean('acc_no_background'))}")
        if "acc_background_only" in summary:
            parts[-1] += f", and from the texture alone {_pct(mean('acc_background_only'))}"
        parts[-1] += "."
    if "grad_bg_test_random" in summary:
        parts.append(
            f"{_pct(mean('grad_bg_test_random'))} of the input-gradient mass lies on the "
            f"background in test_random (top-k IoU with the digit "
            f"{mean('grad_iou_test_random'):.2f})."
        )
    if "acc_wg" in summary:
        parts.append(f"Worst-group accuracy is {_pct(mean('acc_wg'))}.")
    return " ".join(parts)


# -- figures ------------------------------------------------------------------------


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def plot_accuracy(runs: Sequence[Mapping[str, Any]], path: Path, *, title: str = "") -> None:
    """Bars: mean over seeds; dots: each seed; whiskers: the envelope of the seeds' 95% CIs."""
    plt = _pyplot()
    keys = [(k, name) for k, name in BAR_SPLITS if all(k in r for r in runs)]
    fig, ax = plt.subplots(figsize=(1.4 * max(len(keys), 3) + 1, 3.6))
    for i, (key, _) in enumerate(keys):
        values = [r[key]["value"] for r in runs]
        lo = min(r[key]["ci"][0] for r in runs)
        hi = max(r[key]["ci"][1] for r in runs)
        m = float(np.mean(values))
        ax.bar(i, m, color="#4c72b0" if key != "acc_wg" else "#c44e52", alpha=0.8)
        ax.errorbar(i, m, yerr=[[m - lo], [hi - m]], color="black", capsize=4)
        ax.scatter([i] * len(values), values, color="black", s=8, zorder=3)
    ax.axhline(0.1, color="gray", lw=0.8, ls="--", label="chance")
    ax.set_xticks(range(len(keys)), [name for _, name in keys])
    ax.set_ylim(0, 1.05)
    ax.set_ylabel("accuracy")
    ax.set_title(f"{title} ({len(runs)} seeds; whiskers: 95% CIs of all seeds)", fontsize=9)
    ax.legend(loc="upper right", fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def _pick_examples(data, model, device, per_kind: int = 4):
    """Up to `per_kind` correct and background-following examples of test_random."""
    split = data.get("test_random") or data.get("test_correlated")
    images, mask = np.asarray(split["image"][:2000]), np.asarray(split["mask"][:2000])
    maps = saliency_maps(model, images, device=device)
    label = np.asarray(split["label"][:2000])
    texture = np.asarray(split["texture"][:2000])
    correct = np.flatnonzero(maps["pred"] == label)[:per_kind]
    follow = np.flatnonzero((maps["pred"] == texture) & (texture != label))[:per_kind]
    rows = [(i, "correct") for i in correct] + [(i, "follows bg") for i in follow]
    return rows, images, mask, maps, label, texture


def plot_saliency_examples(model, data, path: Path, *, device: str | None = None) -> None:
    """Rows of input | input gradient | Grad-CAM (CNNs) | mask from test_random."""
    plt = _pyplot()
    rows, images, mask, maps, label, texture = _pick_examples(data, model, device)
    kinds = ["grad"] + (["cam"] if "cam" in maps else [])
    ncols = 2 + len(kinds)
    nrows = max(len(rows), 1)
    fig, axes = plt.subplots(nrows, ncols, figsize=(1.7 * ncols, 1.7 * nrows + 0.4), squeeze=False)
    titles = ["input", *({"grad": "input gradient", "cam": "Grad-CAM"}[k] for k in kinds), "mask"]
    for r, (i, kind) in enumerate(rows):
        img = images[i]
        panels = [img] + [maps[k][i] for k in kinds] + [mask[i]]
        for c, panel in enumerate(panels):
            ax = axes[r, c]
            cmap = "gray" if c in (0, ncols - 1) else "inferno"
            ax.imshow(panel, cmap=cmap if panel.ndim == 2 else None)
            ax.set_xticks([])
            ax.set_yticks([])
            if r == 0:
                ax.set_title(titles[c], fontsize=8)
        axes[r, 0].set_ylabel(
            f"{kind}\ny={label[i]} bg={texture[i]}\npred={maps['pred'][i]}", fontsize=7
        )
    if not rows:
        axes[0, 0].set_title("no correct or background-following examples", fontsize=8)
    fig.suptitle("test_random: correct vs. background-following predictions", fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


# -- sweeps -------------------------------------------------------------------------


def available_configs(data: str | Path) -> list[str]:
    folder = Path(data)
    if folder.is_dir():
        from ..meta import read_metadata

        meta = read_metadata(folder)
        if meta is not None:
            return list(meta["configs"])
    import datasets

    try:
        return list(datasets.get_dataset_config_names(str(data)))
    except Exception as e:
        text = str(e).splitlines()[0] if str(e) else type(e).__name__
        raise EvaluateError(f"{data}: cannot list its configs: {text}") from e


def run_sweep(data: str | Path, kind: str, out: str | Path, **kwargs: Any) -> dict[str, Any]:
    """`rho`: one report per correlation config present; `scale`: the groups config by scale."""
    require("matplotlib")
    out = _report_dir(out)
    have = available_configs(data)
    if kind == "rho":
        configs = [c for c in RHO_CONFIGS if c in have]
        if not configs:
            raise ConfigError(f"--sweep rho: {data} has none of {', '.join(RHO_CONFIGS)}")
        points = []
        for config in configs:
            report = run_report(data, config, out / config, **kwargs)
            points.append((RHO_CONFIGS[config], config, report["summary"]["bg_gap"]))
        xlabel = "train correlation ρ"
    elif kind == "scale":
        if SCALE_CONFIG not in have:
            raise ConfigError(f"--sweep scale: {data} has no {SCALE_CONFIG!r} config")
        report = run_report(data, SCALE_CONFIG, out / SCALE_CONFIG, **kwargs)
        summary = report["summary"]
        keys = sorted((k for k in summary if k.startswith("bg_gap_scale_")),
                      key=lambda k: int(k.rsplit("_", 1)[1]))  # fmt: skip
        if not keys:
            raise EvaluateError(f"--sweep scale: config {SCALE_CONFIG!r} has no digit scales")
        points = [(int(k.rsplit("_", 1)[1]), k, summary[k]) for k in keys]
        xlabel = "digit scale (px)"
    else:
        raise ConfigError(f"--sweep: unknown sweep {kind!r}; choose rho or scale")
    table = _sweep_table(kind, points)
    result = {
        "sweep": kind,
        "points": [{"x": x, "name": n, "bg_gap": s} for x, n, s in points],
        "versions": versions(),
    }
    _make_dir(out)
    (out / "sweep.json").write_text(json.dumps(_jsonable(result), indent=2) + "\n")
    (out / "sweep.md").write_text(f"# BG-Gap sweep over {kind}\n\n{table}")
    _plot_sweep(points, out / "sweep.png", xlabel=xlabel, kind=kind)
    return result


def _sweep_table(kind: str, points) -> str:
    lines = [
        f"| {kind} | run | BG-Gap mean [95% CI over seeds] (%) | std (%) | seeds |",
        "| --- | --- | --- | --- | --- |",
    ]
    for x, name, s in points:
        lines.append(
            f"| {x} | {name} | {metrics.mean_ci_text(s)} | {100 * s['std']:.1f} | {s['n_seeds']} |"
        )
    return "\n".join(lines) + "\n"


def _plot_sweep(points, path: Path, *, xlabel: str, kind: str) -> None:
    plt = _pyplot()
    xs = [p[0] for p in points]
    means = np.array([p[2]["mean"] for p in points])
    stds = np.array([p[2]["std"] for p in points])
    fig, ax = plt.subplots(figsize=(4.8, 3.4))
    ax.errorbar(xs, 100 * means, yerr=100 * stds, marker="o", capsize=4)
    for x, _, s in points:
        ax.scatter([x] * len(s["values"]), [100 * v for v in s["values"]], color="gray", s=8)
    ax.axhline(0, color="gray", lw=0.8, ls="--")
    ax.set_xlabel(xlabel)
    ax.set_ylabel("BG-Gap (points)")
    ax.set_title(f"BG-Gap vs {kind} (mean ± std over seeds)", fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
