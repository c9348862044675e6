"""`texmnist evaluate`: train over seeds, evaluate, write a report folder; sweeps.

A report folder holds report.json (every metric of every seed, their summary, settings,
hyper-parameters, data fingerprint, versions), report.md (tables and a short reading),
accuracy.png and saliency.png. A sweep writes one report per config plus sweep.json,
sweep.md and sweep.png (BG-Gap against the swept parameter).
"""

from __future__ import annotations

import dataclasses
import json
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from tqdm.auto import tqdm

from . import metrics
from .data import deterministic
from .errors import require
from .factory import parameter_count
from .levels import level_metrics
from .load import load_config
from .markdown import report_markdown
from .models import build_model
from .output import jsonable, make_dir, report_dir, versions
from .plots import plot_accuracy, plot_attraction, plot_saliency_examples
from .predict import metadata, predict_splits
from .saliency import saliency_metrics
from .settings import TrainSettings, check_run_options
from .train import train_model

REPORT_FILES = ("report.json", "report.md", "accuracy.png", "saliency.png")


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
    # Testing takes as long as an epoch: a bar names its two steps.
    steps = tqdm(total=1 + bool(saliency_examples), desc=f"seed {settings.seed} testing",
                 unit="step", disable=not settings.progress)  # fmt: skip
    with steps:
        steps.set_postfix_str("predictions")
        preds = predict_splits(model, data, device=settings.device)
        steps.update()
        result = metrics.evaluate(preds, {s: metadata(data[s]) for s in preds})
        result.update(level_metrics(preds, data))
        if saliency_examples:
            steps.set_postfix_str("saliency")
            result.update(
                saliency_metrics(
                    model, data, max_examples=saliency_examples, device=settings.device
                )
            )
            steps.update()
    result["train_log"] = log
    return result, model


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
    check_run_options(
        seeds, lr=lr, weight_decay=weight_decay, epochs=epochs, batch_size=batch_size,
        max_train=max_train, saliency_examples=saliency_examples,
    )  # fmt: skip
    out = report_dir(out)
    settings = TrainSettings(
        method=method, epochs=epochs, batch_size=batch_size, lr=lr,
        weight_decay=weight_decay, device=device, progress=progress,
    )  # fmt: skip
    arrays, info = loaded or load_config(
        data, config, cache_dir=cache_dir, max_train=max_train, progress=progress
    )
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
            "parameters": parameter_count(first_model),
        },
        "hyperparameters": settings.hyperparameters(),
        "versions": versions(),
        "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "summary": summary,
        "runs": runs,
    }  # fmt: skip
    make_dir(out)  # only now: a run that fails earlier leaves no folder behind
    (out / "report.json").write_text(json.dumps(jsonable(report), indent=2) + "\n")
    (out / "report.md").write_text(report_markdown(report))
    plot_accuracy(summary, out / "accuracy.png", title=f"{config}: {model} / {method}")
    if "cf_attraction" in runs[0]:
        plot_attraction(runs, out / "attraction.png", title=f"{config}: {model} / {method}")
    plot_saliency_examples(first_model, arrays, out / "saliency.png", device=device)
    return report
