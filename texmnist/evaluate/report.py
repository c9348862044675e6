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
import time
import warnings
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from .. import __version__, metrics
from ..arrays import load_arrays, split_names
from ..errors import ConfigError, OutputError, first_line
from ..meta import config_metadata, read_metadata
from . import EvaluateError, require
from .levels import LEVEL_METRICS, level_metrics
from .models import build_model
from .saliency import SALIENCY_SPLITS, saliency_maps, saliency_metrics
from .train import TrainSettings, deterministic, metadata, predict_splits, train_model

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
    entry = config_metadata(data, config) if Path(data).is_dir() else None
    if entry is not None:
        info["fingerprint"] = entry.get("fingerprint")
        info["recipe"] = entry.get("recipe")
        info["texmnist_version_built"] = entry.get("texmnist_version")
    return arrays, info


def available_configs(data: str | Path) -> list[str]:
    folder = Path(data)
    if folder.is_dir():
        meta = read_metadata(folder)
        if meta is not None:
            return list(meta["configs"])
    import datasets

    try:
        return list(datasets.get_dataset_config_names(str(data)))
    except Exception as e:
        text = first_line(e)
        raise EvaluateError(f"{data}: cannot list its configs: {text}") from e


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
    result.update(level_metrics(preds, data))
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
    plot_accuracy(summary, out / "accuracy.png", title=f"{config}: {model} / {method}")
    if "cf_attraction" in runs[0]:
        plot_attraction(runs, out / "attraction.png", title=f"{config}: {model} / {method}")
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
    for kind, title in (("scale", "digit scale (px)"), ("position", "digit position")):
        keys = level_keys(summary, kind)
        if keys:
            lines += [f"## Per {title}", "", metrics.format_table(summary, keys)]
    if "cf_attraction" in summary:
        cf_keys = [f"cf_acc_bg_{c}" for c in range(metrics.NUM_CLASSES)]
        lines += [
            "## Counterfactual backgrounds (`test_counterfactual`)",
            "",
            "Every digit on a photo of each of the ten categories. `cf_flip`: share of the nine "
            "foreign backgrounds that change the digit's prediction; `cf_consistent`: share of "
            "digits predicted alike on all ten; `cf_attraction`: mean over label ≠ category of "
            "P(prediction = the category's digit). `attraction.png` draws the matrix; "
            f"most attractive category (first seed): {_most_attractive(report)}. "
            "Accuracy per background category:",
            "",
            metrics.format_table(summary, [k for k in cf_keys if k in summary]),
        ]
    sal_keys = [f"{kind}_{m}_{split}" for kind in ("grad", "cam") for m in ("bg", "iou")
                for split in SALIENCY_SPLITS]  # fmt: skip
    sal_keys = [k for k in sal_keys if k in summary]
    if sal_keys:
        lines += [
            f"## Saliency vs. the digit mask (first {s['saliency_examples']} examples per split)",
            "",
            "`grad` = input-gradient saliency, `cam` = Grad-CAM; `bg` = share of saliency mass "
            "on the background, `iou` = IoU of the top-k salient pixels (k = mask area) with "
            "the mask. Intervals as above (t over seeds; one seed: normal over examples).",
            "",
            metrics.format_table(summary, sal_keys),
        ]
    lines += ["## Reading", "", reading(report), ""]
    return "\n".join(lines)


def _most_attractive(report: Mapping[str, Any]) -> int:
    return report["runs"][0]["cf_attraction"]["most_attractive"]


def level_keys(summary: Mapping[str, Any], kind: str) -> list[str]:
    """The summary's per-level keys of one kind (`bg_gap_scale_14`, ...), levels in order."""
    found = {}
    for key in summary:
        for name in LEVEL_METRICS:
            prefix = f"{name}_{kind}_"
            if key.startswith(prefix):
                level = key[len(prefix) :]
                found[(int(level) if level.isdigit() else level, LEVEL_METRICS.index(name))] = key
    return [found[k] for k in sorted(found)]  # one kind: its levels are all ints or all names


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
    if "bg_flip" in summary:
        parts.append(
            f"Of the digits it gets right on their own background, {_pct(mean('bg_flip'))} "
            f"turn wrong on a foreign one."
        )
    if "cf_attraction" in summary:
        parts.append(
            f"Across all ten backgrounds, {_pct(mean('cf_flip'))} of foreign backgrounds change "
            f"a digit's prediction, {_pct(mean('cf_consistent'))} of digits are predicted alike "
            f"on all ten, and a foreign background pulls the prediction to its own digit "
            f"{_pct(mean('cf_attraction'))} of the time."
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


def plot_accuracy(summary: Mapping[str, Any], path: Path, *, title: str = "") -> None:
    """Bars: mean over seeds; dots: each seed; whiskers: the 95% interval of the mean."""
    plt = _pyplot()
    keys = [(k, name) for k, name in BAR_SPLITS if k in summary]
    fig, ax = plt.subplots(figsize=(1.4 * max(len(keys), 3) + 1, 3.6))
    n_seeds = 1
    for i, (key, _) in enumerate(keys):
        entry = summary[key]
        m, (lo, hi) = entry["mean"], entry["ci"]
        n_seeds = entry["n_seeds"]
        ax.bar(i, m, color="#4c72b0" if key != "acc_wg" else "#c44e52", alpha=0.8)
        ax.errorbar(i, m, yerr=[[m - lo], [hi - m]], color="black", capsize=4)
        ax.scatter([i] * len(entry["values"]), entry["values"], color="black", s=8, zorder=3)
    ax.axhline(0.1, color="gray", lw=0.8, ls="--", label="chance")
    ax.set_xticks(range(len(keys)), [name for _, name in keys])
    ax.set_ylim(0, 1.05)
    ax.set_ylabel("accuracy")
    what = "95% t-interval over seeds" if n_seeds > 1 else "95% interval of the one run"
    ax.set_title(f"{title} ({n_seeds} seeds; whiskers: {what})", fontsize=9)
    ax.legend(loc="upper right", fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def plot_attraction(runs: Sequence[Mapping[str, Any]], path: Path, *, title: str = "") -> None:
    """Heatmap of P(prediction = c | background c, label y), mean over seeds."""
    plt = _pyplot()
    stack = np.array(
        [[[np.nan if v is None else v for v in row] for row in r["cf_attraction"]["matrix"]]
         for r in runs], dtype=float,
    )  # fmt: skip
    with warnings.catch_warnings():  # a cell no digit reached stays NaN (drawn blank)
        warnings.simplefilter("ignore", RuntimeWarning)
        matrix = np.nanmean(stack, axis=0)
    fig, ax = plt.subplots(figsize=(5.2, 4.4))
    image = ax.imshow(matrix, vmin=0, vmax=1, cmap="magma")
    for (y, c), v in np.ndenumerate(matrix):
        if np.isfinite(v):
            ax.text(c, y, f"{100 * v:.0f}", ha="center", va="center", fontsize=6,
                    color="white" if v < 0.5 else "black")  # fmt: skip
    ax.set_xticks(range(matrix.shape[1]))
    ax.set_yticks(range(matrix.shape[0]))
    ax.set_xlabel("background category c (its digit)")
    ax.set_ylabel("true label y")
    fig.colorbar(image, ax=ax, label="P(pred = c | bg c, y ≠ c)")
    ax.set_title(f"{title}\nattraction, mean of {len(runs)} seeds (%; diagonal: own background)",
                 fontsize=8)  # fmt: skip
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
