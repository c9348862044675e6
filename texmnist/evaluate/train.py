"""Seeded, deterministic training (ERM and six mitigation baselines) and evaluation.

Data come as the array dicts of :mod:`texmnist.repo.arrays`; each split's images become one
uint8 tensor once, and batches are sliced from it and scaled to [0, 1] floats.

Methods:

- ``erm``: shuffled mini-batches, mean cross-entropy.
- ``balanced``: ERM on group-balanced batches (examples drawn with replacement with
  probability 1 / size of their group).
- ``groupdro``: Sagawa et al. 2020 (online algorithm): group-balanced batches as in their
  code, group weights ``q_g <- q_g * exp(eta * loss_g)`` then normalised, loss ``sum_g q_g
  loss_g``; eta = 0.01 and a stronger weight decay (see :data:`DEFAULT_WEIGHT_DECAY`).
- ``dfr``: Kirichenko et al. 2023: ERM, then the last layer is refit by L1-regularised
  logistic regression on group-balanced subsets of held-out data (the validation split, else
  a held-out share of train that the base model never sees), C tuned on worst-group accuracy
  across two halves, weights averaged over several balanced subsets.
- ``jtt``: Liu et al. 2021 (Just Train Twice): an identification model trained T epochs by
  ERM; its misclassified training examples are upsampled lambda_up times (repeated in the
  epoch's shuffled list, as in their code) and the final model is retrained from the same
  initial weights. (T, lambda_up) is picked from a small grid on worst-group accuracy of the
  validation split (else a held-out share of train, as for ``dfr``). An epoch is n draws
  from the upsampled list, so every method sees the same number of examples per epoch.
- ``bg-adversarial``: DANN-style removal of the background category (the ``texture`` column)
  from the penultimate features (the input of the last linear layer): an MLP head predicts
  the texture through a gradient-reversal layer, weight ``lambda * (2 / (1 + exp(-10 p)) -
  1)`` at training progress p (Ganin et al. 2016's ramp). An adversarial estimate of the
  feature/background mutual-information penalty of D3S. It removes what the head can detect
  about the texture, so at rho = 1 (texture = label) it fights the label itself.
- ``rrr``: Ross et al. 2017 (Right for the Right Reasons): cross-entropy plus ``lambda *
  mean_n sum_pixels ((1 - mask) * d sum_k log softmax_k / dx)^2`` with the split's exact
  digit ``mask`` (double backpropagation).

Groups are the ``group`` column when present, else label x texture.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Mapping
from typing import Any

import numpy as np
from torch import nn

from .data import deterministic, held_out_split, pick_device
from .dfr import refit_last_layer
from .jtt import train_jtt
from .loop import fit
from .settings import METHODS, TrainSettings


def train_model(
    model: nn.Module,
    train: Mapping[str, np.ndarray],
    *,
    settings: TrainSettings | None = None,
    validation: Mapping[str, np.ndarray] | None = None,
    **overrides: Any,
) -> dict[str, Any]:
    """Train `model` in place on `train` arrays; returns a log (losses, times, method facts).

    Seeds torch with ``settings.seed`` for the data order (the model's initial weights are
    the caller's: build it under :func:`deterministic` for reproducible runs).
    """
    settings = dataclasses.replace(settings or TrainSettings(), **overrides)
    device = pick_device(settings.device)
    model.to(device)
    log: dict[str, Any] = {"device": str(device)}
    start, cpu_start = time.perf_counter(), time.process_time()
    base, held_out = train, None
    if settings.method in ("dfr", "jtt"):
        base, held_out, info = held_out_split(train, validation, settings)
        log[f"{settings.method}_held_out"] = info
    with deterministic(settings.seed):
        if settings.method == "jtt":
            log["jtt"] = train_jtt(model, base, held_out, settings, device)
            log["epoch_loss"] = log["jtt"].pop("epoch_loss")
        else:
            log["epoch_loss"] = fit(model, base, settings, device)
        if settings.method == "dfr":
            log["dfr"] = refit_last_layer(model, held_out, settings, device)
    log["train_seconds"] = time.perf_counter() - start
    log["train_cpu_seconds"] = time.process_time() - cpu_start
    log["train_examples"] = int(len(base["label"]))
    return log


__all__ = ["METHODS", "TrainSettings", "train_model"]
