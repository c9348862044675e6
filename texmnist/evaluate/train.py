"""Seeded, deterministic training (ERM and three mitigation baselines) and evaluation.

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

Groups are the ``group`` column when present, else label x texture.
"""

from __future__ import annotations

import contextlib
import dataclasses
import math
import os
import time
from collections.abc import Iterator, Mapping, Sequence
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

METHODS = ("erm", "balanced", "groupdro", "dfr")
# Sagawa et al. found strong L2 (lambda = 0.1 to 1 with SGD at lr 1e-5) necessary for group
# DRO. We train with AdamW at lr 1e-3, whose decoupled decay shrinks weights by lr * wd per
# step; wd = 1e-3 gives their per-step shrinkage (1e-5 * 0.1 = 1e-6). The others use none.
DEFAULT_WEIGHT_DECAY = {"erm": 0.0, "balanced": 0.0, "groupdro": 1e-3, "dfr": 0.0}
DFR_C_GRID = (1.0, 0.7, 0.3, 0.1, 0.07, 0.03, 0.01)  # the grid of the DFR paper


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
            "sampling": "shuffle" if self.method in ("erm", "dfr") else "group-balanced",
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
        return out


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
    """Train `model` in place on `train` arrays; returns a log (losses, times, DFR facts).

    Seeds torch with ``settings.seed`` for the data order (the model's initial weights are
    the caller's: build it under :func:`deterministic` for reproducible runs).
    """
    settings = dataclasses.replace(settings or TrainSettings(), **overrides)
    device = pick_device(settings.device)
    model.to(device)
    log: dict[str, Any] = {"device": str(device)}
    start, cpu_start = time.perf_counter(), time.process_time()
    base, held_out = train, None
    if settings.method == "dfr":
        base, held_out, log["dfr_held_out"] = _dfr_split(train, validation, settings)
    with deterministic(settings.seed):
        log["epoch_loss"] = _fit(model, base, settings, device)
        if held_out is not None:
            log["dfr"] = refit_last_layer(model, held_out, settings, device)
    log["train_seconds"] = time.perf_counter() - start
    log["train_cpu_seconds"] = time.process_time() - cpu_start
    log["train_examples"] = int(len(base["label"]))
    return log


def _fit(
    model: nn.Module, train: Mapping[str, np.ndarray], s: TrainSettings, device: torch.device
) -> list[float]:
    images = image_tensor(train["image"])
    labels = torch.from_numpy(np.array(train["label"], dtype=np.int64))
    n = len(labels)
    gen = torch.Generator().manual_seed(s.seed)
    grouped = s.method in ("balanced", "groupdro")
    groups = torch.from_numpy(group_ids(train)[0]) if grouped else None
    n_groups = int(groups.max()) + 1 if groups is not None else 0
    weights = None
    if s.method in ("balanced", "groupdro"):
        counts = torch.bincount(groups, minlength=n_groups).double()
        weights = (1.0 / counts)[groups]
    q = torch.full((n_groups,), 1.0 / max(n_groups, 1), device=device)
    opt = torch.optim.AdamW(model.parameters(), lr=s.lr, weight_decay=s.resolved_weight_decay)
    losses = []
    for epoch in range(s.epochs):
        if weights is None:
            order = torch.randperm(n, generator=gen)
        else:
            order = torch.multinomial(weights, n, replacement=True, generator=gen)
        model.train()
        total, seen = 0.0, 0
        batches = range(0, n, s.batch_size)
        bar = tqdm(
            batches, desc=f"{s.method} epoch {epoch + 1}/{s.epochs}", unit="batch",
            disable=not s.progress, leave=False,
        )  # fmt: skip
        for i in bar:
            idx = order[i : i + s.batch_size]
            x, y = to_float(images[idx], device), labels[idx].to(device)
            per_example = F.cross_entropy(model(x), y, reduction="none")
            if s.method == "groupdro":
                loss, q = _group_dro_loss(per_example, groups[idx].to(device), q, s.groupdro_eta)
            else:
                loss = per_example.mean()
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            total += float(per_example.detach().sum())
            seen += len(idx)
            bar.set_postfix(loss=f"{total / seen:.3f}", refresh=False)
        losses.append(total / max(seen, 1))
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


# -- DFR ----------------------------------------------------------------------


def _dfr_split(train, validation, s: TrainSettings):
    if validation is not None and len(validation["label"]):
        return train, validation, {"source": "validation", "n": int(len(validation["label"]))}
    n = len(train["label"])
    order = np.random.default_rng(s.seed).permutation(n)
    k = max(1, int(round(n * s.dfr_holdout)))
    held, kept = np.sort(order[:k]), np.sort(order[k:])
    info = {"source": f"held-out {s.dfr_holdout:.0%} of train", "n": int(k)}
    return subset(train, kept), subset(train, held), info


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
