"""Seeded, deterministic training (ERM and six mitigation baselines) and evaluation.

Data come as the array dicts of :mod:`texmnist.repo.arrays`; each split's images become one
uint8 tensor once, and batches are sliced from it and scaled to [0, 1] floats.

Methods:

- ``erm``: shuffled mini-batches, mean cross-entropy.
- ``balanced``: ERM on group-balanced batches (examples drawn with replacement with
  probability 1 / size of their group).
- ``groupdro``: Sagawa et al. 2020 (online algorithm): group-balanced batches as in their
  code, group weights ``q_g <- q_g * exp(eta * loss_g)`` then normalised, loss ``sum_g q_g
  loss_g``; eta and the weight decay tuned on validation (``GROUPDRO_*_GRID``).
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
  from the penultimate features (the input of the last linear layer), *conditional on the
  label*: one MLP head per label predicts the texture through a gradient-reversal layer,
  weight ``lambda * (2 / (1 + exp(-10 p)) - 1)`` at training progress p (Ganin et al.
  2016's ramp). An adversarial estimate of D3S's penalty, the mutual information between
  the features and the background given the label: only background information the label
  does not explain is removed, so at rho = 1 (texture = label) it leaves the label alone.
- ``rrr``: Ross et al. 2017 (Right for the Right Reasons): cross-entropy plus ``lambda *
  mean_n sum_pixels ((1 - mask) * d sum_k log softmax_k / dx)^2`` with the split's exact
  digit ``mask`` (double backpropagation).

Groups are the ``group`` column when present, else label x texture.

Selection (every method): the validation split, else a seeded held-out share of train
(``TrainSettings.holdout``, recorded), is scored after every epoch; the epoch that is best by
the method's criterion (:data:`SELECTION`: average accuracy for ERM and DFR's base model,
worst-group accuracy for the others) is kept, the lr follows a cosine schedule and a run
stops after ``patience`` epochs without a better score. The hyper-parameters the papers
tune are chosen the same way from small grids (:data:`TUNED`; DFR's C and JTT's T and
lambda_up in their own steps); the log records the learning curve, the chosen epoch and the
chosen values.
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
from .loop import best_of
from .predict import Scorer
from .settings import METHODS, SELECTION, TUNED, TrainSettings


def train_model(
    model: nn.Module,
    train: Mapping[str, np.ndarray],
    *,
    settings: TrainSettings | None = None,
    validation: Mapping[str, np.ndarray] | None = None,
    **overrides: Any,
) -> dict[str, Any]:
    """Train `model` in place on `train` arrays; returns a log (learning curve, chosen epoch
    and hyper-parameters, times, method facts).

    Selection data: `validation` when given and not empty, else a held-out share of train
    (``settings.holdout``) that the model never trains on. Every point of the method's
    grid (:meth:`TrainSettings.grid`) trains from the same initial weights; each keeps its
    best epoch by the method's criterion, and the best point is kept. Seeds torch with
    ``settings.seed`` for the data order (the model's initial weights are the caller's:
    build it under :func:`deterministic` for reproducible runs).
    """
    settings = dataclasses.replace(settings or TrainSettings(), **overrides)
    device = pick_device(settings.device)
    model.to(device)
    log: dict[str, Any] = {"device": str(device)}
    start, cpu_start = time.perf_counter(), time.process_time()
    base, held_out, info = held_out_split(train, validation, settings)
    log["selection_data"] = info
    log["selection"] = settings.selection
    with deterministic(settings.seed):
        scorer = Scorer(held_out, device)
        if settings.method == "jtt":
            jtt = train_jtt(model, base, scorer, settings, device)
            results, best = jtt.pop("results"), jtt.pop("best")
            log["jtt"] = jtt
        else:
            points = [
                (_point_name(p), dataclasses.replace(settings, **p), {}) for p in settings.grid()
            ]
            best, results = best_of(model, base, scorer, device, points)
            if settings.method in TUNED:
                log["tuned"] = dict(settings.grid()[[n for n, _, _ in points].index(best)])
        if len(results) > 1 or settings.method in TUNED:
            log["grid"] = {
                name: {
                    "score": r["selection_score"],
                    "accuracy": r["selection_accuracy"],
                    "chosen_epoch": r["chosen_epoch"],
                }
                for name, r in results.items()
            }
            log["grid_choice"] = best
        log.update({k: v for k, v in results[best].items()})
        if settings.method == "dfr":
            log["dfr"] = refit_last_layer(model, held_out, settings, device)
    log["train_seconds"] = time.perf_counter() - start
    log["train_cpu_seconds"] = time.process_time() - cpu_start
    log["train_examples"] = int(len(base["label"]))
    return log


def _point_name(point: Mapping[str, float]) -> str:
    """``"groupdro_eta=0.01,weight_decay=0.001"``; ``"default"`` for the one untuned point."""
    return ",".join(f"{k}={v:g}" for k, v in point.items()) or "default"


__all__ = ["METHODS", "SELECTION", "TUNED", "TrainSettings", "train_model"]
