"""``jtt``: Just Train Twice (Liu et al. 2021), errors of an identification model upsampled."""

from __future__ import annotations

import copy
import dataclasses
from collections.abc import Mapping
from typing import Any

import numpy as np
import torch
from torch import nn

from .loop import best_of, fit
from .predict import Scorer, predict
from .settings import TrainSettings


def jtt_repeats(errors: np.ndarray, upweight: int) -> np.ndarray:
    """Copies of each example in JTT's upsampled list: `upweight` for an error, else 1."""
    return np.where(np.asarray(errors, dtype=bool), int(upweight), 1).astype(np.int64)


def error_composition(
    error_sets: Mapping[int, np.ndarray], train: Mapping[str, np.ndarray]
) -> dict[str, Any]:
    """How many of each T's errors are conflicting examples (texture not the label's own):
    JTT assumes its errors find the minority groups, and this says whether they did."""
    if "aligned" not in train:  # data without the field (a user's model and arrays)
        return {}
    conflicting = ~np.asarray(train["aligned"], dtype=bool)
    return {
        "train_conflicting": int(conflicting.sum()),
        "errors_conflicting": {str(t): int((e & conflicting).sum()) for t, e in error_sets.items()},
    }


def identify_errors(
    model: nn.Module, train: Mapping[str, np.ndarray], s: TrainSettings, device: torch.device
) -> dict[int, np.ndarray]:
    """JTT's first stage: which training examples a copy of `model`, trained T epochs by
    ERM, gets wrong, for every T of the grid (`model` itself is left untouched)."""
    error_sets: dict[int, np.ndarray] = {}
    identifier = copy.deepcopy(model)
    # The identification model is plain ERM with a constant lr and no selection: one run of
    # max(T) epochs is then, after epoch T, in the state of a T-epoch run (same seed, same
    # data order), so every T of the grid costs no extra training.
    erm = dataclasses.replace(s, method="erm", lr_schedule="constant", patience=None)

    def snapshot(epoch: int) -> None:
        if epoch in s.jtt_epochs_grid:
            pred = predict(identifier, train["image"], device=device)
            error_sets[epoch] = pred != np.asarray(train["label"])

    fit(identifier, train, erm, device, epochs=max(s.jtt_epochs_grid), on_epoch_end=snapshot)
    return error_sets


def train_jtt(
    model: nn.Module,
    train: Mapping[str, np.ndarray],
    scorer: Scorer,
    s: TrainSettings,
    device: torch.device,
) -> dict[str, Any]:
    """Identify errors after each T of the grid, retrain per (T, lambda_up), keep the best
    by worst-group accuracy on the selection data."""
    error_sets = identify_errors(model, train, s, device)
    points = [
        (f"T={t},up={up}", s, {"repeats": jtt_repeats(error_sets[t], up)})
        for t in s.jtt_epochs_grid
        for up in s.jtt_upweight_grid
    ]
    best, results = best_of(model, train, scorer, device, points)
    t, up = (int(part.split("=")[1]) for part in best.split(","))
    return {
        "epochs_identification": t,
        "upweight": up,
        "errors": {str(t): int(e.sum()) for t, e in error_sets.items()},
        **error_composition(error_sets, train),
        "best": best,
        "results": results,
    }
