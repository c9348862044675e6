"""The figures of a report: accuracy bars, the counterfactual attraction matrix, saliency."""

from __future__ import annotations

import warnings
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from .output import replacing

BAR_SPLITS = (
    ("acc_test_correlated", "correlated"),
    ("acc_test_random", "random"),
    ("acc_no_background", "no background"),
    ("acc_background_only", "background only"),
    ("acc_wg", "worst group"),
)


def pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def save(fig: Any, path: Path) -> None:
    """Save and close a figure, replacing `path` atomically."""
    with replacing(path) as tmp:
        fig.savefig(tmp, dpi=120)
    pyplot().close(fig)


def plot_accuracy(summary: Mapping[str, Any], path: Path, *, title: str = "") -> None:
    """Bars: mean over seeds; dots: each seed; whiskers: the 95% interval of the mean."""
    plt = pyplot()
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
    save(fig, path)


def plot_curves(runs: Sequence[Mapping[str, Any]], path: Path, *, title: str = "") -> None:
    """Per seed: train loss (left) and validation accuracy / worst group (right) per
    epoch; a ring marks the epoch each seed kept."""
    plt = pyplot()
    fig, (left, right) = plt.subplots(1, 2, figsize=(8.4, 3.4))
    for i, run in enumerate(runs):
        log, color = run["train_log"], f"C{i}"
        epochs = [p["epoch"] for p in log["curve"]]
        left.plot(epochs, [p["train_loss"] for p in log["curve"]], color=color, marker=".",
                  label=f"seed {run.get('seed', i)}")  # fmt: skip
        for key, style in (("val_acc", "-"), ("val_worst_group", ":")):
            values = [p.get(key) for p in log["curve"]]
            if any(v is not None for v in values):
                right.plot(epochs, [np.nan if v is None else v for v in values], style,
                           color=color, marker=".")  # fmt: skip
        kept = next(p for p in log["curve"] if p["epoch"] == log["chosen_epoch"])
        if kept.get("val_acc") is not None:
            right.scatter([kept["epoch"]], [kept["val_acc"]], s=80, facecolors="none",
                          edgecolors=color, zorder=3)  # fmt: skip
    left.set(xlabel="epoch", ylabel="train loss (mean CE)")
    right.set(xlabel="epoch", ylabel="validation accuracy (-), worst group (:)", ylim=(0, 1.02))
    left.legend(fontsize=7)
    fig.suptitle(f"{title}: learning curves (ring: the kept epoch)", fontsize=9)
    fig.tight_layout()
    save(fig, path)


def plot_attraction(runs: Sequence[Mapping[str, Any]], path: Path, *, title: str = "") -> None:
    """Heatmap of P(prediction = c | background c, label y), mean over seeds."""
    plt = pyplot()
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
    save(fig, path)


def _pick_examples(data, model, device, per_kind: int = 4):
    """Up to `per_kind` correct and background-following examples of test_random."""
    from .saliency import saliency_maps  # torch: the other figures (`score`'s) need none

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
    plt = pyplot()
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
    save(fig, path)
