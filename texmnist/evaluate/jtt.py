"""``jtt``: Just Train Twice (Liu et al. 2021), errors of an identification model upsampled."""

from __future__ import annotations

import copy
import dataclasses
from collections.abc import Mapping
from typing import Any

import numpy as np
import torch
from torch import nn

from .data import group_ids, worst_group_acc
from .loop import fit
from .predict import predict
from .settings import TrainSettings


def jtt_repeats(errors: np.ndarray, upweight: int) -> np.ndarray:
    """Copies of each example in JTT's upsampled list: `upweight` for an error, else 1."""
    return np.where(np.asarray(errors, dtype=bool), int(upweight), 1).astype(np.int64)


def train_jtt(
    model: nn.Module,
    train: Mapping[str, np.ndarray],
    held_out: Mapping[str, np.ndarray],
    s: TrainSettings,
    device: torch.device,
) -> dict[str, Any]:
    """Identify errors after each T of the grid, retrain per (T, lambda_up), keep the best."""
    initial = copy.deepcopy(model.state_dict())
    error_sets: dict[int, np.ndarray] = {}
    identifier = copy.deepcopy(model)
    erm = dataclasses.replace(s, method="erm")

    def snapshot(epoch: int) -> None:
        if epoch in s.jtt_epochs_grid:
            pred = predict(identifier, train["image"], device=device)
            error_sets[epoch] = pred != np.asarray(train["label"])

    # One run of max(T) epochs: its state after epoch T is that of a T-epoch run (same
    # seed, same data order), so every T of the grid costs no extra training.
    fit(identifier, train, erm, device, epochs=max(s.jtt_epochs_grid), on_epoch_end=snapshot)
    groups = group_ids(held_out)[0]
    labels = np.asarray(held_out["label"])
    scores, best, best_state, best_losses = {}, None, None, []
    for t in s.jtt_epochs_grid:
        for up in s.jtt_upweight_grid:
            model.load_state_dict(initial)
            losses = fit(model, train, s, device, repeats=jtt_repeats(error_sets[t], up))
            pred = predict(model, held_out["image"], device=device)
            scores[(t, up)] = worst_group_acc(pred, labels, groups)
            if best is None or scores[(t, up)] > scores[best]:  # ties: the first in grid order
                best, best_state, best_losses = (t, up), copy.deepcopy(model.state_dict()), losses
    model.load_state_dict(best_state)
    model.eval()
    return {
        "epochs_identification": best[0],
        "upweight": best[1],
        "errors": {str(t): int(e.sum()) for t, e in error_sets.items()},
        "scores_worst_group_acc": {f"T={t},up={u}": v for (t, u), v in scores.items()},
        "epoch_loss": best_losses,
    }
