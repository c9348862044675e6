"""Predictions of a trained model on a split's images, and their metrics."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import torch
from torch import nn

from . import metrics
from .data import image_tensor, pick_device, to_float
from .errors import EvaluateError


@torch.no_grad()
def predict(
    model: nn.Module,
    images: np.ndarray,
    *,
    batch_size: int = 512,
    device: str | torch.device | None = None,
) -> np.ndarray:
    """Predicted labels (argmax of the logits) for uint8 images, as int64."""
    dev = device if isinstance(device, torch.device) else pick_device(device)
    model.to(dev).eval()
    tensor = image_tensor(images)
    out = [model(to_float(tensor[i : i + batch_size], dev)).argmax(1).cpu()
           for i in range(0, len(tensor), batch_size)]  # fmt: skip
    return torch.cat(out).numpy().astype(np.int64) if out else np.zeros(0, dtype=np.int64)


def default_splits(data: Mapping[str, Any]) -> list[str]:
    return [s for s in data if s.startswith("test_")]


def predict_splits(
    model: nn.Module,
    data: Mapping[str, Mapping[str, np.ndarray]],
    *,
    splits: Sequence[str] | None = None,
    batch_size: int = 512,
    device: str | torch.device | None = None,
) -> dict[str, np.ndarray]:
    splits = default_splits(data) if splits is None else list(splits)
    missing = [s for s in splits if s not in data]
    if missing:
        raise EvaluateError(f"splits: {missing} not in the data (has {list(data)})")
    return {s: predict(model, data[s]["image"], batch_size=batch_size, device=device)
            for s in splits}  # fmt: skip


def metadata(arrays: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
    """The 1-D columns texmnist.evaluate.metrics uses."""
    return {k: np.asarray(arrays[k]) for k in metrics.METADATA_COLUMNS if k in arrays}


def evaluate_model(
    model: nn.Module,
    data: Mapping[str, Mapping[str, np.ndarray]],
    *,
    splits: Sequence[str] | None = None,
    batch_size: int = 512,
    device: str | torch.device | None = None,
    n_boot: int = 2000,
) -> dict[str, Any]:
    """Apply `model` to each split's images (default: every `test_*` split of `data`) and
    return :func:`texmnist.evaluate.metrics.evaluate` of its predictions."""
    preds = predict_splits(model, data, splits=splits, batch_size=batch_size, device=device)
    return metrics.evaluate(preds, {s: metadata(data[s]) for s in preds}, n_boot=n_boot)
