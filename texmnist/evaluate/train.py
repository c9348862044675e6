"""Seeded, deterministic training (ERM and six mitigation baselines) and evaluation.

Data come as the array dicts of :mod:`texmnist.arrays`; each split's images become one
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

import contextlib
import copy
import dataclasses
import math
import os
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from tqdm.auto import tqdm

from .. import metrics
from ..splits import NONE_TEXTURE
from . import EvaluateError
from .models import last_linear

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


# -- tensors, devices, determinism --------------------------------------------


def pick_device(device: str | None) -> torch.device:
    if device in (None, "", "auto"):
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        dev = torch.device(device)
    except RuntimeError as e:
        raise EvaluateError(f"--device: {device!r} is not a torch device ({e})") from None
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise EvaluateError(f"--device: {device!r} asked but CUDA is not available; use cpu")
    return dev


def image_tensor(images: np.ndarray) -> torch.Tensor:
    """uint8 [n, H, W] or [n, H, W, 3] -> uint8 tensor [n, C, H, W] (one copy, made once)."""
    arr = np.ascontiguousarray(images)
    if arr.dtype != np.uint8 or arr.ndim not in (3, 4):
        raise EvaluateError(f"images: expected uint8 [n,H,W] or [n,H,W,3], got {arr.dtype}")
    t = torch.from_numpy(np.array(arr, copy=True))
    return t.unsqueeze(1) if t.ndim == 3 else t.permute(0, 3, 1, 2).contiguous()


def to_float(batch: torch.Tensor, device: torch.device) -> torch.Tensor:
    return batch.to(device, non_blocking=True).float().div_(255.0)


@contextlib.contextmanager
def deterministic(seed: int) -> Iterator[None]:
    """Seed torch and force deterministic kernels; restore the previous mode afterwards."""
    # cuBLAS needs this set before its first use to be deterministic.
    os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
    previous = torch.are_deterministic_algorithms_enabled()
    previous_bench = torch.backends.cudnn.benchmark
    # On CUDA a few kernels have no deterministic version (user models may use them):
    # warn there instead of failing. On CPU every kernel we use is deterministic.
    torch.use_deterministic_algorithms(True, warn_only=torch.cuda.is_available())
    torch.backends.cudnn.benchmark = False
    torch.manual_seed(seed)
    try:
        yield
    finally:
        torch.use_deterministic_algorithms(previous)
        torch.backends.cudnn.benchmark = previous_bench


def group_ids(arrays: Mapping[str, np.ndarray]) -> tuple[np.ndarray, list[str]]:
    """Each example's group index and the group names (`group` column, else label x texture)."""
    if "group" in arrays:
        names, ids = np.unique(np.asarray(arrays["group"]).astype(str), return_inverse=True)
        return ids.astype(np.int64), [str(n) for n in names]
    if "texture" not in arrays:
        raise EvaluateError("groups: the data has neither a 'group' nor a 'texture' column")
    codes = np.asarray(arrays["label"]) * (NONE_TEXTURE + 1) + np.asarray(arrays["texture"])
    uniq, ids = np.unique(codes, return_inverse=True)
    width = NONE_TEXTURE + 1
    return ids.astype(np.int64), [f"y={c // width},t={c % width}" for c in uniq.tolist()]


def subset(arrays: Mapping[str, np.ndarray], index: np.ndarray) -> dict[str, np.ndarray]:
    return {k: np.asarray(v)[index] for k, v in arrays.items()}


# -- training -----------------------------------------------------------------


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
            log["jtt"] = _jtt(model, base, held_out, settings, device)
            log["epoch_loss"] = log["jtt"].pop("epoch_loss")
        else:
            log["epoch_loss"] = _fit(model, base, settings, device)
        if settings.method == "dfr":
            log["dfr"] = refit_last_layer(model, held_out, settings, device)
    log["train_seconds"] = time.perf_counter() - start
    log["train_cpu_seconds"] = time.process_time() - cpu_start
    log["train_examples"] = int(len(base["label"]))
    return log


def _fit(
    model: nn.Module,
    train: Mapping[str, np.ndarray],
    s: TrainSettings,
    device: torch.device,
    *,
    epochs: int | None = None,
    repeats: np.ndarray | None = None,
    on_epoch_end: Callable[[int], None] | None = None,
) -> list[float]:
    """Train for `epochs` (default ``s.epochs``) epochs of n examples; per-epoch mean CE.

    `repeats` (JTT) gives each example's number of copies in the shuffled list an epoch
    draws its n examples from; `on_epoch_end(epoch)` is called after each epoch.
    """
    epochs = s.epochs if epochs is None else epochs
    images = image_tensor(train["image"])
    labels = torch.from_numpy(np.array(train["label"], dtype=np.int64))
    n = len(labels)
    gen = torch.Generator().manual_seed(s.seed)
    grouped = s.method in ("balanced", "groupdro")
    groups = torch.from_numpy(group_ids(train)[0]) if grouped else None
    n_groups = int(groups.max()) + 1 if groups is not None else 0
    weights = None
    if grouped:
        counts = torch.bincount(groups, minlength=n_groups).double()
        weights = (1.0 / counts)[groups]
    upsampled = None
    if repeats is not None:
        upsampled = torch.from_numpy(np.repeat(np.arange(n), np.asarray(repeats, dtype=np.int64)))
    q = torch.full((n_groups,), 1.0 / max(n_groups, 1), device=device)
    adversary = _Adversary(model, train, s, device) if s.method == "bg-adversarial" else None
    background = _background(train) if s.method == "rrr" else None
    params = [*model.parameters(), *(adversary.parameters() if adversary else [])]
    opt = torch.optim.AdamW(params, lr=s.lr, weight_decay=s.resolved_weight_decay)
    steps = epochs * math.ceil(n / s.batch_size)
    losses, step = [], 0
    for epoch in range(epochs):
        if weights is not None:
            order = torch.multinomial(weights, n, replacement=True, generator=gen)
        elif upsampled is not None:
            order = upsampled[torch.randperm(len(upsampled), generator=gen)[:n]]
        else:
            order = torch.randperm(n, generator=gen)
        model.train()
        total, seen = 0.0, 0
        batches = range(0, n, s.batch_size)
        bar = tqdm(
            batches, desc=f"{s.method} epoch {epoch + 1}/{epochs}", unit="batch",
            disable=not s.progress, leave=False,
        )  # fmt: skip
        for i in bar:
            idx = order[i : i + s.batch_size]
            x, y = to_float(images[idx], device), labels[idx].to(device)
            if background is not None:
                x.requires_grad_(True)
            with adversary.capture() if adversary else contextlib.nullcontext():
                logits = model(x)
            per_example = F.cross_entropy(logits, y, reduction="none")
            if s.method == "groupdro":
                loss, q = _group_dro_loss(per_example, groups[idx].to(device), q, s.groupdro_eta)
            else:
                loss = per_example.mean()
            if background is not None:
                loss = loss + s.rrr_weight * rrr_penalty(logits, x, background[idx].to(device))
            if adversary is not None:
                loss = loss + adversary.loss(idx, step / steps)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            step += 1
            total += float(per_example.detach().sum())
            seen += len(idx)
            bar.set_postfix(loss=f"{total / seen:.3f}", refresh=False)
        losses.append(total / max(seen, 1))
        model.eval()
        if on_epoch_end is not None:
            on_epoch_end(epoch + 1)
    model.eval()
    return losses


def _group_dro_loss(
    per_example: torch.Tensor, groups: torch.Tensor, q: torch.Tensor, eta: float
) -> tuple[torch.Tensor, torch.Tensor]:
    """Sagawa et al.'s online step: exponentiated-gradient on q, then the q-weighted loss."""
    # One-hot sums instead of index_add_: deterministic on every device.
    onehot = F.one_hot(groups, num_classes=q.numel()).to(per_example.dtype)
    counts = onehot.sum(0)
    group_loss = (onehot.T @ per_example) / counts.clamp(min=1)
    q = q * torch.exp(eta * group_loss.detach())  # absent groups: loss 0, factor 1
    q = q / q.sum()
    return (q * group_loss).sum(), q


# -- held-out data (DFR, JTT) -----------------------------------------------------


def held_out_split(train, validation, s: TrainSettings):
    """(train part, held-out part, facts): the validation split when there is one, else a
    seeded ``s.dfr_holdout`` share of train that the trained model never sees."""
    if validation is not None and len(validation["label"]):
        return train, validation, {"source": "validation", "n": int(len(validation["label"]))}
    n = len(train["label"])
    order = np.random.default_rng(s.seed).permutation(n)
    k = max(1, int(round(n * s.dfr_holdout)))
    held, kept = np.sort(order[:k]), np.sort(order[k:])
    info = {"source": f"held-out {s.dfr_holdout:.0%} of train", "n": int(k)}
    return subset(train, kept), subset(train, held), info


# -- JTT ------------------------------------------------------------------------------


def jtt_repeats(errors: np.ndarray, upweight: int) -> np.ndarray:
    """Copies of each example in JTT's upsampled list: `upweight` for an error, else 1."""
    return np.where(np.asarray(errors, dtype=bool), int(upweight), 1).astype(np.int64)


def _jtt(
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
    _fit(identifier, train, erm, device, epochs=max(s.jtt_epochs_grid), on_epoch_end=snapshot)
    groups = group_ids(held_out)[0]
    labels = np.asarray(held_out["label"])
    scores, best, best_state, best_losses = {}, None, None, []
    for t in s.jtt_epochs_grid:
        for up in s.jtt_upweight_grid:
            model.load_state_dict(initial)
            losses = _fit(model, train, s, device, repeats=jtt_repeats(error_sets[t], up))
            pred = predict(model, held_out["image"], device=device)
            scores[(t, up)] = _worst_group_acc(pred, labels, groups)
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


# -- background adversary (gradient reversal) ---------------------------------------


class GradReverse(torch.autograd.Function):
    """Identity forward; backward multiplies the gradient by ``-scale`` (Ganin et al.)."""

    @staticmethod
    def forward(ctx, x: torch.Tensor, scale: float) -> torch.Tensor:
        ctx.scale = scale
        return x.view_as(x)

    @staticmethod
    def backward(ctx, grad: torch.Tensor) -> tuple[torch.Tensor, None]:
        return -ctx.scale * grad, None


def dann_ramp(progress: float) -> float:
    """Ganin et al.'s schedule 2 / (1 + exp(-10 p)) - 1: 0 at the start, ~1 at the end."""
    return 2.0 / (1.0 + math.exp(-10.0 * progress)) - 1.0


class _Adversary:
    """A texture classifier on the penultimate features, behind a gradient-reversal layer."""

    def __init__(self, model: nn.Module, train: Mapping[str, np.ndarray], s: TrainSettings, device):
        if "texture" not in train:
            raise EvaluateError("bg-adversarial: the training data has no 'texture' column")
        self.layer = last_linear(model)
        self.textures = torch.from_numpy(np.array(train["texture"], dtype=np.int64))
        self.head = nn.Sequential(
            nn.Linear(self.layer.in_features, s.adversary_hidden),
            nn.ReLU(),
            nn.Linear(s.adversary_hidden, NONE_TEXTURE + 1),
        ).to(device)
        self.weight, self.device = s.adversary_weight, device
        self.features: torch.Tensor | None = None

    def parameters(self) -> list[nn.Parameter]:
        return list(self.head.parameters())

    @contextlib.contextmanager
    def capture(self) -> Iterator[None]:
        """Keep the input of the last linear layer of the next forward pass."""

        def hook(_module, inputs):
            self.features = inputs[0].flatten(1)

        handle = self.layer.register_forward_pre_hook(hook)
        try:
            yield
        finally:
            handle.remove()

    def loss(self, idx: torch.Tensor, progress: float) -> torch.Tensor:
        """The head's cross-entropy on the texture; the features get its reversed gradient."""
        reversed_features = GradReverse.apply(self.features, self.weight * dann_ramp(progress))
        return F.cross_entropy(self.head(reversed_features), self.textures[idx].to(self.device))


# -- RRR ------------------------------------------------------------------------------


def _background(train: Mapping[str, np.ndarray]) -> torch.Tensor:
    """1 on background pixels, 0 on the digit: float [n, 1, H, W] from the `mask` column."""
    if "mask" not in train:
        raise EvaluateError("rrr: the training data has no 'mask' column")
    mask = torch.from_numpy(np.ascontiguousarray(train["mask"], dtype=bool))
    return (~mask).unsqueeze(1).float()


def rrr_penalty(logits: torch.Tensor, x: torch.Tensor, background: torch.Tensor) -> torch.Tensor:
    """Ross et al.'s right-reasons term: mean over examples of the squared input gradient
    of the summed log-probabilities on the `background` pixels (x must require grad)."""
    total = F.log_softmax(logits, dim=1).sum()
    (grad,) = torch.autograd.grad(total, x, create_graph=True)
    return (background * grad).pow(2).flatten(1).sum(1).mean()


# -- DFR ----------------------------------------------------------------------


@torch.no_grad()
def last_layer_inputs(
    model: nn.Module, images: np.ndarray, device: torch.device, batch_size: int = 512
) -> torch.Tensor:
    """The inputs of the model's last linear layer (its embeddings), on the CPU."""
    layer = last_linear(model)
    captured: list[torch.Tensor] = []
    hook = layer.register_forward_hook(lambda _m, inp, _out: captured.append(inp[0].cpu()))
    try:
        model.eval()
        tensor = image_tensor(images)
        for i in range(0, len(tensor), batch_size):
            model(to_float(tensor[i : i + batch_size], device))
    finally:
        hook.remove()
    return torch.cat(captured).reshape(len(images), -1).double()


def refit_last_layer(
    model: nn.Module,
    held_out: Mapping[str, np.ndarray],
    s: TrainSettings,
    device: torch.device,
) -> dict[str, Any]:
    """DFR: L1 logistic regression on group-balanced held-out embeddings; sets the head."""
    feats = last_layer_inputs(model, held_out["image"], device)
    labels = torch.from_numpy(np.array(held_out["label"], dtype=np.int64))
    groups, names = group_ids(held_out)
    rng = np.random.default_rng(s.seed)
    mean, std = feats.mean(0), feats.std(0).clamp(min=1e-8)
    z = (feats - mean) / std
    num_classes = last_linear(model).out_features
    # Tune C: fit on a balanced subset of one half, score worst-group accuracy on the other.
    half = rng.permutation(len(labels)) < len(labels) // 2
    scores = {}
    for c in s.dfr_c_grid:
        tr = _balanced_index(groups[half], rng)
        w, b = _l1_logistic(z[half][tr], labels[half][tr], c, num_classes, s.dfr_iterations)
        pred = (z[~half] @ w.T + b).argmax(1).numpy()
        scores[c] = _worst_group_acc(pred, labels[~half].numpy(), groups[~half])
    best_c = max(s.dfr_c_grid, key=lambda c: (scores[c], -s.dfr_c_grid.index(c)))
    ws, bs = [], []
    for _ in range(s.dfr_num_retrains):
        idx = _balanced_index(groups, rng)
        w, b = _l1_logistic(z[idx], labels[idx], best_c, num_classes, s.dfr_iterations)
        ws.append(w)
        bs.append(b)
    w, b = torch.stack(ws).mean(0), torch.stack(bs).mean(0)
    head = last_linear(model)
    with torch.no_grad():  # fold the standardisation into the layer
        head.weight.copy_((w / std).to(head.weight.dtype))
        head.bias.copy_((b - (w / std) @ mean).to(head.bias.dtype))
    counts = np.bincount(groups, minlength=len(names))
    return {
        "c": best_c,
        "c_scores_worst_group_acc": {str(k): v for k, v in scores.items()},
        "groups": len(names),
        "balanced_per_group": int(counts.min()),
        "nonzero_weights": int((w.abs() > 0).sum()),
    }


def _balanced_index(groups: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Every group subsampled to the smallest group's size (DFR's balanced set)."""
    present = np.unique(groups)
    m = min(int((groups == g).sum()) for g in present)
    picks = [rng.choice(np.flatnonzero(groups == g), m, replace=False) for g in present]
    return np.sort(np.concatenate(picks))


def _worst_group_acc(pred: np.ndarray, labels: np.ndarray, groups: np.ndarray) -> float:
    accs = [float((pred[groups == g] == labels[groups == g]).mean()) for g in np.unique(groups)]
    return min(accs) if accs else 0.0


def _l1_logistic(
    x: torch.Tensor, y: torch.Tensor, c: float, num_classes: int, iterations: int
) -> tuple[torch.Tensor, torch.Tensor]:
    """Multinomial logistic regression, sklearn's objective ||W||_1 + C sum CE, by FISTA.

    Divided by C n, that is mean CE + ||W||_1 / (C n); the intercept is not penalised.
    """
    n, d = x.shape
    lam = 1.0 / (c * n)
    onehot = F.one_hot(y, num_classes).double()
    # Lipschitz constant of the mean-CE gradient: <= ||[x 1]||_2^2 / (2 n).
    x1 = torch.cat([x, torch.ones(n, 1, dtype=x.dtype)], 1)
    step = 2.0 * n / float(torch.linalg.matrix_norm(x1, ord=2) ** 2)
    theta = torch.zeros(d + 1, num_classes, dtype=x.dtype)
    prev, momentum = theta.clone(), theta.clone()
    t = 1.0
    for _ in range(iterations):
        grad = x1.T @ (torch.softmax(x1 @ momentum, 1) - onehot) / n
        theta = momentum - step * grad
        w = theta[:d]
        theta[:d] = torch.sign(w) * (w.abs() - step * lam).clamp(min=0)  # soft threshold
        t_next = (1 + math.sqrt(1 + 4 * t * t)) / 2
        momentum = theta + ((t - 1) / t_next) * (theta - prev)
        prev, t = theta, t_next
    return theta[:d].T.contiguous(), theta[d].clone()


# -- prediction and evaluation ------------------------------------------------


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
    """The 1-D columns texmnist.metrics uses."""
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
    return :func:`texmnist.metrics.evaluate` of its predictions."""
    preds = predict_splits(model, data, splits=splits, batch_size=batch_size, device=device)
    return metrics.evaluate(preds, {s: metadata(data[s]) for s in preds}, n_boot=n_boot)
