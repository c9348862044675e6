"""Train and evaluate models on Textured MNIST (needs the `eval` extra: torch, matplotlib).

Importing this package does not import torch; the names below load their module on first
use, so ``texmnist evaluate`` can say how to install torch instead of failing on import.

    from texmnist.evaluate import build_model, train_model, evaluate_model
    from texmnist.repo.arrays import load_arrays

    data = {s: load_arrays("DIR", "default", s) for s in ("train", "test_random", ...)}
    model = build_model("cnn", in_channels=1, size=28)
    train_model(model, data["train"], method="erm", epochs=2, seed=0)
    metrics = evaluate_model(model, data)

Predictions made anywhere are scored without torch: ``score("preds.csv", "DIR")`` returns what
``evaluate`` returns (see :mod:`texmnist.evaluate.scoring`).
"""

from __future__ import annotations

import importlib
from typing import Any

from .errors import INSTALL_HINT, EvaluateError, MissingDependencyError, require
from .metrics import evaluate, evaluate_split, summarize_seeds  # the metrics API, no torch

_LAZY = {
    "build_model": "models",
    "MODELS": "models",
    "train_model": "train",
    "TrainSettings": "train",
    "METHODS": "train",
    "predict": "predict",
    "evaluate_model": "predict",
    "saliency_metrics": "saliency",
    "input_gradients": "saliency",
    "grad_cam": "saliency",
    "topk_iou": "saliency",
    "background_share": "saliency",
    "run_report": "report",
    "run_sweep": "sweep",
}


# Names that need no torch (scoring a predictions file), loaded on first use all the same.
_LAZY_NO_TORCH = {"score": "scoring", "score_runs": "scoring", "run_score": "scoring"}


def __getattr__(name: str) -> Any:
    if name in _LAZY_NO_TORCH:
        return getattr(importlib.import_module(f".{_LAZY_NO_TORCH[name]}", __name__), name)
    if name in _LAZY:
        require("torch")
        module = importlib.import_module(f".{_LAZY[name]}", __name__)
        return getattr(module, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [
    "EvaluateError",
    "INSTALL_HINT",
    "MissingDependencyError",
    "evaluate",
    "evaluate_split",
    "require",
    "summarize_seeds",
    *_LAZY,
    *_LAZY_NO_TORCH,
]
