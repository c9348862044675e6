"""The settings of a training run and the defaults each method starts from."""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Sequence
from typing import Any

from .errors import EvaluateError

METHODS = ("erm", "balanced", "groupdro", "dfr", "jtt", "bg-adversarial", "rrr")
# Sagawa et al. found strong L2 (lambda = 0.1 to 1 with SGD at lr 1e-5) necessary for group
# DRO. We train with AdamW at lr 1e-3, whose decoupled decay shrinks weights by lr * wd per
# step; wd = 1e-3 gives their per-step shrinkage (1e-5 * 0.1 = 1e-6). The others use none.
DEFAULT_WEIGHT_DECAY = {m: 1e-3 if m == "groupdro" else 0.0 for m in METHODS}
DFR_C_GRID = (1.0, 0.7, 0.3, 0.1, 0.07, 0.03, 0.01)  # the grid of the DFR paper
# JTT's grid, small because every point retrains a model: the paper's T is a small share of
# training (1-2 epochs of 2+ here) and its lambda_up spans 5 to 100 (Waterbirds: 100).
JTT_EPOCHS_GRID = (1, 2)
JTT_UPWEIGHT_GRID = (5, 20, 50)


def _number(value: object) -> bool:
    return not isinstance(value, bool) and isinstance(value, int | float) and math.isfinite(value)


def check_rates(lr: float, weight_decay: float | None) -> None:
    """One line for a learning rate or weight decay no optimizer can use (nan, inf, < 0)."""
    if not (_number(lr) and lr > 0):
        raise EvaluateError(f"--lr: must be a finite number > 0, got {lr!r}")
    if weight_decay is not None and not (_number(weight_decay) and weight_decay >= 0):
        raise EvaluateError(f"--weight-decay: must be a finite number >= 0, got {weight_decay!r}")


def check_run_options(
    seeds: Sequence[int],
    *,
    lr: float = 1e-3,
    weight_decay: float | None = None,
    epochs: int = 2,
    batch_size: int = 128,
    max_train: int | None = None,
    saliency_examples: int = 0,
) -> None:
    """Refuse, before any data is loaded, the values no evaluation can use: one line each."""
    seeds = list(seeds)
    if not seeds:
        raise EvaluateError("--seeds: give at least one seed")
    for seed in seeds:
        if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
            raise EvaluateError(f"--seeds: {seed!r} is not a seed (an integer >= 0)")
    twice = sorted({seed for seed in seeds if seeds.count(seed) > 1})
    if twice:
        raise EvaluateError(
            f"--seeds: seed {twice[0]} is given twice; the intervals are over distinct seeds, "
            "give each once"
        )
    check_rates(lr, weight_decay)
    counts = {
        "--epochs": (epochs, 1),
        "--batch-size": (batch_size, 1),
        "--max-train": (max_train, 1),
        "--saliency-examples": (saliency_examples, 0),
    }
    for option, (value, least) in counts.items():
        if value is None:
            continue
        if isinstance(value, bool) or not isinstance(value, int):
            raise EvaluateError(f"{option}: must be an integer >= {least}, got {value!r}")
        if value < least:
            raise EvaluateError(f"{option}: must be >= {least}, got {value}")


@dataclasses.dataclass
class TrainSettings:
    """Everything that decides a training run; `hyperparameters()` is what reports state."""

    method: str = "erm"
    epochs: int = 2
    batch_size: int = 128
    lr: float = 1e-3
    weight_decay: float | None = None  # None: DEFAULT_WEIGHT_DECAY[method]
    seed: int = 0
    device: str | None = None  # None: cuda when available, else cpu
    groupdro_eta: float = 0.01
    dfr_holdout: float = 0.2  # share of train held out for DFR when there is no validation
    dfr_c_grid: tuple[float, ...] = DFR_C_GRID
    dfr_num_retrains: int = 10
    dfr_iterations: int = 300
    jtt_epochs_grid: tuple[int, ...] = JTT_EPOCHS_GRID
    jtt_upweight_grid: tuple[int, ...] = JTT_UPWEIGHT_GRID
    adversary_weight: float = 1.0  # lambda, the GRL scale at the end of the ramp
    adversary_hidden: int = 128
    rrr_weight: float = 10.0
    progress: bool = True

    def __post_init__(self) -> None:
        if self.method not in METHODS:
            raise EvaluateError(
                f"--method: unknown method {self.method!r}; choose one of {', '.join(METHODS)}"
            )
        for name in ("epochs", "batch_size"):
            if getattr(self, name) < 1:
                raise EvaluateError(f"--{name.replace('_', '-')}: must be >= 1")
        check_rates(self.lr, self.weight_decay)
        if not 0 < self.dfr_holdout < 1:
            raise EvaluateError(f"dfr_holdout: must be in (0, 1), got {self.dfr_holdout}")
        grids = {
            "jtt_epochs_grid": self.jtt_epochs_grid,
            "jtt_upweight_grid": self.jtt_upweight_grid,
        }
        for name, grid in grids.items():
            if not grid or min(grid) < 1 or any(int(v) != v for v in grid):
                raise EvaluateError(f"{name}: needs integers >= 1, got {list(grid)}")

    @property
    def resolved_weight_decay(self) -> float:
        wd = self.weight_decay
        return DEFAULT_WEIGHT_DECAY[self.method] if wd is None else wd

    def hyperparameters(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "method": self.method,
            "epochs": self.epochs,
            "batch_size": self.batch_size,
            "optimizer": "AdamW",
            "lr": self.lr,
            "weight_decay": self.resolved_weight_decay,
            "sampling": SAMPLING.get(self.method, "shuffle"),
        }
        if self.method == "groupdro":
            out.update(groupdro_eta=self.groupdro_eta, generalization_adjustment=0.0)
        if self.method == "dfr":
            out.update(
                dfr_penalty="l1",
                dfr_c_grid=list(self.dfr_c_grid),
                dfr_c_selection="worst-group accuracy, fit on one half, scored on the other",
                dfr_num_retrains=self.dfr_num_retrains,
                dfr_holdout_if_no_validation=self.dfr_holdout,
                dfr_solver=f"FISTA proximal gradient, {self.dfr_iterations} iterations",
                dfr_features="standardised inputs of the last linear layer",
            )
        if self.method == "jtt":
            out.update(
                jtt_epochs_grid=list(self.jtt_epochs_grid),
                jtt_upweight_grid=list(self.jtt_upweight_grid),
                jtt_selection="worst-group accuracy on the validation split, else on a held-out "
                f"{self.dfr_holdout:.0%} of train",
                jtt_identification="ERM from the same initial weights, errors on the train part",
                jtt_final="retrained from the initial weights; an epoch is n draws from the "
                "upsampled list",
            )
        if self.method == "bg-adversarial":
            out.update(
                adversary_target="texture column (background category)",
                adversary_head=f"MLP {self.adversary_hidden} hidden ReLU units on the inputs of "
                "the last linear layer",
                adversary_weight=self.adversary_weight,
                adversary_schedule="lambda * (2 / (1 + exp(-10 p)) - 1), p = share of steps done",
            )
        if self.method == "rrr":
            out.update(
                rrr_weight=self.rrr_weight,
                rrr_penalty="mean over examples of sum over background pixels of "
                "(d sum_k log softmax_k / dx)^2, pixels in [0, 1]",
            )
        return out


SAMPLING = {
    "balanced": "group-balanced",
    "groupdro": "group-balanced",
    "jtt": "shuffle; final model: errors of the identification model upsampled lambda_up times",
}
