"""The settings of a training run, the defaults each method starts from, how each method's
checkpoint is selected and the small grids its paper's hyper-parameters are tuned on."""

from __future__ import annotations

import dataclasses
import itertools
import math
from collections.abc import Sequence
from typing import Any

from .errors import EvaluateError

METHODS = ("erm", "balanced", "groupdro", "dfr", "jtt", "bg-adversarial", "rrr")
# Sagawa et al. found strong L2 (lambda = 0.1 to 1 with SGD at lr 1e-5) necessary for group
# DRO. We train with AdamW at lr 1e-3, whose decoupled decay shrinks weights by lr * wd per
# step; wd = 1e-3 gives their per-step shrinkage (1e-5 * 0.1 = 1e-6). The others use none.
DEFAULT_WEIGHT_DECAY = {m: 1e-3 if m == "groupdro" else 0.0 for m in METHODS}
# Each method keeps the epoch that is best on the validation split by its own criterion:
# average accuracy for ERM (and DFR's base model, an ERM model), worst-group accuracy for
# every method that exists to close the gap, as GroupDRO's and JTT's papers select; the
# adversary and RRR use extra annotations (texture, mask) and are held to the same rule.
SELECTION = {m: "accuracy" if m in ("erm", "dfr") else "worst-group accuracy" for m in METHODS}
SCHEDULES = ("cosine", "constant")
DEFAULT_PATIENCE = 3  # epochs without a better validation score before a run stops
DEFAULT_HOLDOUT = 0.1  # share of train held out for selection when a config has no validation
# The tuned hyper-parameters' grids (small, because every point is one more training run):
DFR_C_GRID = (1.0, 0.7, 0.3, 0.1, 0.07, 0.03, 0.01)  # the grid of the DFR paper
# JTT: the paper's T is a small share of training and its lambda_up spans 5 to 100.
JTT_EPOCHS_GRID = (1, 2)
JTT_UPWEIGHT_GRID = (5, 20, 50)
# GroupDRO: the paper's eta in {0.01, 0.1}-ish range and two strengths of decay around the
# per-step shrinkage of their strong-L2 runs (see DEFAULT_WEIGHT_DECAY).
GROUPDRO_ETA_GRID = (0.01, 0.1)
GROUPDRO_WEIGHT_DECAY_GRID = (1e-4, 1e-3)
ADVERSARY_WEIGHT_GRID = (0.1, 1.0)  # the GRL scale lambda at the end of Ganin et al.'s ramp
# RRR: Ross et al. set lambda so that the right-reasons term and cross-entropy are of one
# order of magnitude. Measured by bench/rrr_lambda.py on rho-0.9 (CNN, 15,000 digits, 2
# epochs): lambda 0.01 gives CE 0.84 and a weighted term of 0.18; lambda 0.1, CE 1.26 and
# 0.17; lambda 1 holds CE at 1.64 (the full-scale run still had 1.47 after 4 epochs), so
# the grid centres on 0.01.
RRR_WEIGHT_GRID = (0.001, 0.01, 0.1)  # lambda of the right-reasons term, pixels in [0, 1]
# Which settings field each tuned grid sets, per method (DFR's C and JTT's grid are tuned
# inside their own step: refit_last_layer and train_jtt).
TUNED = {
    "groupdro": (("groupdro_eta", "groupdro_eta_grid"), ("weight_decay", "weight_decay_grid")),
    "bg-adversarial": (("adversary_weight", "adversary_weight_grid"),),
    "rrr": (("rrr_weight", "rrr_weight_grid"),),
}


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
    """Everything that decides a training run; `hyperparameters()` is what reports state.

    ``epochs`` is the most a run trains: it stops once ``patience`` epochs pass without a
    better validation score (None: never) and keeps its best epoch's weights.
    """

    method: str = "erm"
    epochs: int = 2
    batch_size: int = 128
    lr: float = 1e-3
    lr_schedule: str = "cosine"  # per step from lr to 0 over `epochs` epochs, or constant
    patience: int | None = DEFAULT_PATIENCE
    weight_decay: float | None = None  # None: DEFAULT_WEIGHT_DECAY[method] (groupdro: its grid)
    seed: int = 0
    device: str | None = None  # None: cuda when available, else cpu
    holdout: float = DEFAULT_HOLDOUT
    groupdro_eta: float = GROUPDRO_ETA_GRID[0]
    groupdro_eta_grid: tuple[float, ...] = GROUPDRO_ETA_GRID
    weight_decay_grid: tuple[float, ...] = GROUPDRO_WEIGHT_DECAY_GRID
    dfr_c_grid: tuple[float, ...] = DFR_C_GRID
    dfr_num_retrains: int = 10
    dfr_iterations: int = 300
    jtt_epochs_grid: tuple[int, ...] = JTT_EPOCHS_GRID
    jtt_upweight_grid: tuple[int, ...] = JTT_UPWEIGHT_GRID
    adversary_weight: float = ADVERSARY_WEIGHT_GRID[-1]
    adversary_weight_grid: tuple[float, ...] = ADVERSARY_WEIGHT_GRID
    adversary_hidden: int = 128
    rrr_weight: float = RRR_WEIGHT_GRID[-1]
    rrr_weight_grid: tuple[float, ...] = RRR_WEIGHT_GRID
    progress: bool = True

    def __post_init__(self) -> None:
        if self.method not in METHODS:
            raise EvaluateError(
                f"--method: unknown method {self.method!r}; choose one of {', '.join(METHODS)}"
            )
        for name in ("epochs", "batch_size"):
            if getattr(self, name) < 1:
                raise EvaluateError(f"--{name.replace('_', '-')}: must be >= 1")
        if self.patience is not None and self.patience < 1:
            raise EvaluateError(f"--patience: must be >= 1, got {self.patience}")
        if self.lr_schedule not in SCHEDULES:
            raise EvaluateError(
                f"--lr-schedule: unknown {self.lr_schedule!r}; choose one of {', '.join(SCHEDULES)}"
            )
        check_rates(self.lr, self.weight_decay)
        if not 0 < self.holdout < 1:
            raise EvaluateError(f"holdout: must be in (0, 1), got {self.holdout}")
        grids = {
            "jtt_epochs_grid": self.jtt_epochs_grid,
            "jtt_upweight_grid": self.jtt_upweight_grid,
        }
        for name, grid in grids.items():
            if not grid or min(grid) < 1 or any(int(v) != v for v in grid):
                raise EvaluateError(f"{name}: needs integers >= 1, got {list(grid)}")
        for name in ("groupdro_eta_grid", "weight_decay_grid", "adversary_weight_grid",
                     "rrr_weight_grid", "dfr_c_grid"):  # fmt: skip
            grid = getattr(self, name)
            if not grid or min(grid) < 0:
                raise EvaluateError(f"{name}: needs values >= 0, got {list(grid)}")

    @property
    def resolved_weight_decay(self) -> float:
        wd = self.weight_decay
        return DEFAULT_WEIGHT_DECAY[self.method] if wd is None else wd

    @property
    def selection(self) -> str:
        return SELECTION[self.method]

    @property
    def selection_rule(self) -> str:
        """The criterion as recorded: worst-group ties are broken by average accuracy (the
        text of ``accuracy`` is unchanged, so runs recorded before the tie-break still
        match)."""
        if self.selection == "accuracy":
            return "accuracy"
        return f"{self.selection} (ties: average accuracy)"

    def grid(self) -> list[dict[str, float]]:
        """The points of the method's tuned grid, in order (one empty point: nothing tuned).

        An explicit ``weight_decay`` fixes GroupDRO's decay instead of tuning it.
        """
        tuned = TUNED.get(self.method, ())
        axes = []
        for field, grid_field in tuned:
            fixed = field == "weight_decay" and self.weight_decay is not None
            axes.append([(field, v) for v in ((self.weight_decay,) if fixed else
                                              getattr(self, grid_field))])  # fmt: skip
        return [dict(point) for point in itertools.product(*axes)]

    def hyperparameters(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "method": self.method,
            "max_epochs": self.epochs,
            "batch_size": self.batch_size,
            "optimizer": "AdamW",
            "lr": self.lr,
            "lr_schedule": "cosine per step from lr to 0 over max_epochs"
            if self.lr_schedule == "cosine"
            else "constant",
            "early_stopping_patience": self.patience,
            "selection": f"the epoch with the best validation {self.selection_rule}",
            "selection_data": "the validation split, else a held-out "
            f"{self.holdout:.0%} of train (seeded, recorded)",
            "weight_decay": self.resolved_weight_decay,
            "sampling": SAMPLING.get(self.method, "shuffle"),
        }
        for field, _ in TUNED.get(self.method, ()):
            values = [p[field] for p in self.grid()]
            out[f"{field}_grid"] = list(dict.fromkeys(values))
        if self.method in TUNED:
            out["tuning"] = (
                f"every grid point trained; the best validation {self.selection_rule} wins"
            )
        if self.method == "groupdro":
            out.update(generalization_adjustment=0.0)
        if self.method == "dfr":
            out.update(
                dfr_penalty="l1",
                dfr_c_grid=list(self.dfr_c_grid),
                dfr_c_selection="worst-group accuracy (ties: average accuracy), fit on one half, "
                "scored on the other",
                dfr_num_retrains=self.dfr_num_retrains,
                dfr_solver=f"FISTA proximal gradient, {self.dfr_iterations} iterations",
                dfr_features="standardised inputs of the last linear layer",
            )
        if self.method == "jtt":
            out.update(
                jtt_epochs_grid=list(self.jtt_epochs_grid),
                jtt_upweight_grid=list(self.jtt_upweight_grid),
                jtt_selection="worst-group accuracy on the selection data",
                jtt_identification="ERM from the same initial weights, constant lr, T epochs, "
                "errors on the train part",
                jtt_final="retrained from the initial weights; an epoch is n draws from the "
                "upsampled list",
            )
        if self.method == "bg-adversarial":
            out.update(
                adversary_target="texture column (background category), given the label",
                adversary_head=f"one head per label: MLP {self.adversary_hidden} hidden ReLU "
                "units on the inputs of the last linear layer, one texture classifier per label",
                adversary_schedule="lambda * (2 / (1 + exp(-10 p)) - 1), p = share of steps done",
            )
        if self.method == "rrr":
            out.update(
                rrr_penalty="mean over examples of sum over background pixels of "
                "(d sum_k log softmax_k / dx)^2, pixels in [0, 1]",
            )
        return out


SAMPLING = {
    "balanced": "group-balanced",
    "groupdro": "group-balanced",
    "jtt": "shuffle; final model: errors of the identification model upsampled lambda_up times",
}
