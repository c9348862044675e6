"""`texmnist evaluate`: train over seeds, evaluate, write a report folder; sweeps.

A report folder holds report.json (every metric of every seed, their summary, settings,
hyper-parameters, data fingerprint, versions), report.md (tables and a short reading),
accuracy.png and saliency.png. A sweep writes one report per config plus sweep.json,
sweep.md and sweep.png (BG-Gap against the swept parameter).
"""

from __future__ import annotations

import dataclasses
import json
import shutil
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
from .load import fingerprint, load_config
from .markdown import chosen_values, object_flag, report_markdown
from .models import build_model
from .output import jsonable, make_dir, replacing, report_dir, versions, write_json, write_text
from .plots import plot_accuracy, plot_attraction, plot_curves, plot_saliency_examples
from .predict import metadata, predict_splits
from .saliency import saliency_metrics
from .settings import DEFAULT_PATIENCE, TrainSettings, check_run_options
from .train import train_model

PARTIAL = ".partial"  # finished seeds of an unfinished report (with --resume)
REPORT_FILES = ("report.json", "report.md", "accuracy.png", "curve.png", "saliency.png")


def fresh_model(data: Mapping[str, Mapping[str, np.ndarray]], model_name: str, seed: int):
    """The untrained `model_name` for the data's image shape, initialised from `seed`."""
    first = data["train"]["image"]
    channels = 3 if np.asarray(first).ndim == 4 else 1
    with deterministic(seed):
        return build_model(model_name, channels, int(first.shape[1]))


def run_seed(
    data: Mapping[str, Mapping[str, np.ndarray]],
    model_name: str,
    settings: TrainSettings,
    *,
    saliency_examples: int,
) -> tuple[dict[str, Any], Any]:
    """Train one model and return (metrics + log, the model)."""
    model = fresh_model(data, model_name, settings.seed)
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
    patience: int | None = DEFAULT_PATIENCE,
    lr_schedule: str = "cosine",
    cache_dir: str | Path | None = None,
    saliency_examples: int = 1000,
    progress: bool = True,
    loaded: tuple[dict, dict] | None = None,
    resume: bool = False,
) -> dict[str, Any]:
    """Train `model` with `method` once per seed on `config` of `data`; write the report.

    With `resume`, a report already in `out` that was asked the same (settings,
    hyper-parameters, config, level and a known, equal data fingerprint) is returned as it
    is, without training: an interrupted sweep picks up where it stopped. Each finished seed
    is also kept in ``out/.partial`` (result and weights) until the report is written, so
    an interrupted report resumes from its next seed.
    """
    require("matplotlib")
    check_run_options(
        seeds, lr=lr, weight_decay=weight_decay, epochs=epochs, batch_size=batch_size,
        max_train=max_train, saliency_examples=saliency_examples,
    )  # fmt: skip
    out = report_dir(out)
    settings = TrainSettings(
        method=method, epochs=epochs, batch_size=batch_size, lr=lr, weight_decay=weight_decay,
        patience=patience, lr_schedule=lr_schedule, device=device, progress=progress,
    )  # fmt: skip
    request = jsonable({
        "model": model, "method": method, "epochs": epochs, "seeds": list(seeds),
        "batch_size": batch_size, "max_train": max_train, "saliency_examples": saliency_examples,
        "patience": patience, "lr_schedule": lr_schedule, "config": config,
        "level": (loaded[1].get("level") if loaded else None),
        "fingerprint": fingerprint(data, config), "hyperparameters": settings.hyperparameters(),
    })  # fmt: skip
    done = _finished(out, request) if resume else None
    if done is not None:
        return done
    wall = time.perf_counter()
    arrays, info = loaded or load_config(
        data, config, cache_dir=cache_dir, max_train=max_train, progress=progress
    )
    runs, first_model = [], None
    for seed in seeds:
        start = time.perf_counter()
        saved = _saved_seed(out, request, seed) if resume else None
        if saved is not None:
            result, trained = saved[0], None
            if first_model is None:  # the saliency figure draws the first seed's model
                trained = fresh_model(arrays, model, seed)
                trained.load_state_dict(saved[1])
        else:
            result, trained = run_seed(
                arrays, model, dataclasses.replace(settings, seed=seed),
                saliency_examples=saliency_examples,
            )  # fmt: skip
            result.update(seed=seed, wall_seconds=time.perf_counter() - start)
            if resume:
                _save_seed(out, request, result, trained)
        runs.append(result)
        first_model = first_model if first_model is not None else trained
    summary = metrics.summarize_seeds(runs)
    report = {
        "data": info,
        "settings": {
            "model": model, "method": method, "epochs": epochs, "seeds": list(seeds),
            "batch_size": batch_size, "max_train": max_train, "device": runs[0]["train_log"]
            ["device"], "saliency_examples": saliency_examples,
            "torch_threads": torch.get_num_threads(), "patience": patience,
            "lr_schedule": lr_schedule, "parameters": parameter_count(first_model),
        },
        "hyperparameters": settings.hyperparameters(),
        "request": request,
        "selection": {
            "criterion": settings.selection_rule,
            "data": runs[0]["train_log"]["selection_data"],
            "chosen_epochs": [r["train_log"]["chosen_epoch"] for r in runs],
            "epochs_run": [r["train_log"]["epochs_run"] for r in runs],
            "chosen_hyperparameters": [chosen_values(r["train_log"]) for r in runs],
        },
        "flags": {"object": object_flag(summary)},
        "versions": versions(),
        "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "summary": summary,
        "runs": runs,
    }  # fmt: skip
    # This run's time, plus the seeds an earlier, interrupted run trained (with --resume).
    earlier = sum(r["wall_seconds"] for r in runs if r.get("resumed"))
    report["wall_seconds"] = time.perf_counter() - wall + earlier
    make_dir(out)  # only now: a run that fails earlier leaves no folder behind
    title = f"{config}: {model} / {method}"
    # Figures and markdown first, report.json last: a report.json means a complete folder.
    write_text(out / "report.md", report_markdown(report))
    plot_accuracy(summary, out / "accuracy.png", title=title)
    plot_curves(runs, out / "curve.png", title=title)
    if "cf_attraction" in runs[0]:
        plot_attraction(runs, out / "attraction.png", title=f"{config}: {model} / {method}")
    plot_saliency_examples(first_model, arrays, out / "saliency.png", device=device)
    write_json(out / "report.json", report)
    shutil.rmtree(out / PARTIAL, ignore_errors=True)  # the report holds every seed now
    return report


def _finished(out: Path, request: Mapping[str, Any]) -> dict[str, Any] | None:
    """The report in `out` if it answers the same request about known data, else None."""
    try:
        report = json.loads((out / "report.json").read_text())
    except (OSError, ValueError):
        return None
    same = isinstance(report, dict) and report.get("request") == request
    return report if same and request["fingerprint"] is not None else None


def _seed_request(request: Mapping[str, Any]) -> dict[str, Any]:
    """What a seed's result depends on: the request less the list of seeds."""
    return {**request, "seeds": None}


def _save_seed(out: Path, request: Mapping[str, Any], result: Mapping[str, Any], model) -> None:
    """Keep a finished seed (its result and weights) until the report is written, so that an
    interrupted run resumes from the next seed."""
    folder = out / PARTIAL
    make_dir(folder)
    with replacing(folder / f"seed-{result['seed']}.pt") as tmp:
        torch.save(model.state_dict(), tmp)
    write_json(folder / f"seed-{result['seed']}.json",
               {"request": _seed_request(request), "result": result})  # fmt: skip


def _saved_seed(out: Path, request: Mapping[str, Any], seed: int):
    """(result, model) of a seed an earlier run finished with the same request, else None."""
    folder = out / PARTIAL
    try:
        saved = json.loads((folder / f"seed-{seed}.json").read_text())
        state = torch.load(folder / f"seed-{seed}.pt", weights_only=True)
    except (OSError, ValueError, RuntimeError):
        return None
    if not isinstance(saved, dict) or saved.get("request") != _seed_request(request):
        return None
    return {**saved["result"], "resumed": True}, state
