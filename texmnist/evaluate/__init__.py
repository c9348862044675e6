"""Train and evaluate models on Textured MNIST (needs the `eval` extra: torch, matplotlib).

Importing this package does not import torch; the names below load their module on first
use, so ``texmnist evaluate`` can say how to install torch instead of failing on import.

    from texmnist.evaluate import build_model, train_model, evaluate_model
    from texmnist.arrays import load_arrays

    data = {s: load_arrays("DIR", "default", s) for s in ("train", "test_random", ...)}
    model = build_model("cnn", in_channels=1, size=28)
    train_model(model, data["train"], method="erm", epochs=2, seed=0)
    metrics = evaluate_model(model, data)
"""

from __future__ import annotations

import importlib
from typing import Any

from ..errors import TexmnistError
from .metrics import evaluate, evaluate_split, summarize_seeds  # the metrics API, no torch

INSTALL_HINT = 'pip install "textured-mnist[eval]"'


class EvaluateError(TexmnistError):
    """Training or evaluation cannot run as asked (bad option, missing dependency, ...)."""


class MissingDependencyError(EvaluateError, ImportError):
    """torch or matplotlib is not installed."""


def require(module: str) -> None:
    """Import `module` or raise MissingDependencyError naming the install command."""
    try:
        importlib.import_module(module)
    except ImportError as e:
        raise MissingDependencyError(
            f"{module} is not installed; evaluation needs it: {INSTALL_HINT}"
        ) from e


_LAZY = {
    "build_model": "models",
    "MODELS": "models",
    "train_model": "train",
    "TrainSettings": "train",
    "METHODS": "train",
    "predict": "train",
    "evaluate_model": "train",
    "saliency_metrics": "saliency",
    "input_gradients": "saliency",
    "grad_cam": "saliency",
    "topk_iou": "saliency",
    "background_share": "saliency",
    "run_report": "report",
    "run_sweep": "sweep",
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        require("torch")
        module = importlib.import_module(f".{_LAZY[name]}", __name__)
        return getattr(module, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [
    "EvaluateError",
    "MissingDependencyError",
    "evaluate",
    "evaluate_split",
    "require",
    "summarize_seeds",
    *_LAZY,
]
