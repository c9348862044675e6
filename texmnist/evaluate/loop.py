"""The training loop every method shares: seeded batches, one optimiser, an lr schedule,
the validation score after every epoch, the best epoch kept and early stopping."""

from __future__ import annotations

import contextlib
import math
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from tqdm.auto import tqdm

from .adversary import Adversary
from .data import group_ids, image_tensor, to_float
from .errors import EvaluateError
from .groups import balanced_weights, group_dro_loss
from .predict import Scorer
from .rrr import background_mask, rrr_penalty
from .settings import TrainSettings


def fit(
    model: nn.Module,
    train: Mapping[str, np.ndarray],
    s: TrainSettings,
    device: torch.device,
    *,
    scorer: Scorer | None = None,
    epochs: int | None = None,
    repeats: np.ndarray | None = None,
    on_epoch_end: Callable[[int], None] | None = None,
) -> dict[str, Any]:
    """Train for at most `epochs` (default ``s.epochs``) epochs of n examples.

    With a `scorer` (the selection data), each epoch ends with the validation score: the
    weights of the best epoch by :func:`selection_key` are kept (ties on both numbers: the
    later epoch, trained longer for the same score) and the run stops once ``s.patience``
    epochs pass without a strictly better one. Without one, the last epoch is kept.
    `repeats` (JTT) gives each example's number of copies in the shuffled list an epoch
    draws its n examples from; `on_epoch_end(epoch)` is called after each epoch. Returns
    the learning curve (per epoch: train loss, validation accuracy and worst group, lr at
    its end), the chosen epoch, its score and its accuracy.
    """
    epochs = s.epochs if epochs is None else epochs
    images = image_tensor(train["image"])
    labels = torch.from_numpy(np.array(train["label"], dtype=np.int64))
    n = len(labels)
    gen = torch.Generator().manual_seed(s.seed)
    grouped = s.method in ("balanced", "groupdro")
    groups = torch.from_numpy(group_ids(train)[0]) if grouped else None
    n_groups = int(groups.max()) + 1 if groups is not None else 0
    weights = balanced_weights(groups) if grouped else None
    upsampled = None
    if repeats is not None:
        upsampled = torch.from_numpy(np.repeat(np.arange(n), np.asarray(repeats, dtype=np.int64)))
    q = torch.full((n_groups,), 1.0 / max(n_groups, 1), device=device)
    adversary = Adversary(model, train, s, device) if s.method == "bg-adversarial" else None
    background = background_mask(train) if s.method == "rrr" else None
    params = [*model.parameters(), *(adversary.parameters() if adversary else [])]
    opt = torch.optim.AdamW(params, lr=s.lr, weight_decay=s.resolved_weight_decay)
    steps = epochs * math.ceil(n / s.batch_size)
    curve: list[dict[str, Any]] = []
    best: tuple[tuple[float, float], int, dict[str, torch.Tensor]] | None = None
    improved = 0  # the last epoch that raised the best score
    step = 0
    for epoch in range(1, epochs + 1):
        if weights is not None:
            order = torch.multinomial(weights, n, replacement=True, generator=gen)
        elif upsampled is not None:
            order = upsampled[torch.randperm(len(upsampled), generator=gen)[:n]]
        else:
            order = torch.randperm(n, generator=gen)
        model.train()
        total, seen, penalty_total = 0.0, 0, 0.0
        batches = range(0, n, s.batch_size)
        bar = tqdm(
            batches, desc=f"{s.method} epoch {epoch}/{epochs}", unit="batch",
            disable=not s.progress, leave=False,
        )  # fmt: skip
        for i in bar:
            set_lr(opt, s, step / steps)
            idx = order[i : i + s.batch_size]
            x, y = to_float(images[idx], device), labels[idx].to(device)
            if background is not None:
                x.requires_grad_(True)
            with adversary.capture() if adversary else contextlib.nullcontext():
                logits = model(x)
            per_example = F.cross_entropy(logits, y, reduction="none")
            if s.method == "groupdro":
                loss, q = group_dro_loss(per_example, groups[idx].to(device), q, s.groupdro_eta)
            else:
                loss = per_example.mean()
            if background is not None:
                penalty = rrr_penalty(logits, x, background[idx].to(device))
                loss = loss + s.rrr_weight * penalty
                penalty_total += float(penalty.detach()) * len(idx)
            if adversary is not None:
                loss = loss + adversary.loss(idx, step / steps)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            step += 1
            total += float(per_example.detach().sum())
            seen += len(idx)
            bar.set_postfix(loss=f"{total / seen:.3f}", refresh=False)
        model.eval()
        point: dict[str, Any] = {"epoch": epoch, "train_loss": total / max(seen, 1)}
        if background is not None:  # to check lambda against Ross et al.'s balance rule
            point["train_rrr_penalty"] = penalty_total / max(seen, 1)
        point["lr"] = opt.param_groups[0]["lr"]
        if on_epoch_end is not None:
            on_epoch_end(epoch)
        if scorer is not None:
            scores = scorer(model)
            point.update(val_acc=scores["accuracy"], val_worst_group=scores["worst-group accuracy"])
            key = selection_key(scores, s)
            if best is None or key > best[0]:
                improved = epoch
            if best is None or key >= best[0]:  # ties: the later, longer-trained epoch
                best = (key, epoch, snapshot(model))
        curve.append(point)
        if best is not None and s.patience is not None and epoch - improved >= s.patience:
            break
    if best is not None:
        model.load_state_dict(best[2])
    model.eval()
    return {
        "curve": curve,
        "epoch_loss": [p["train_loss"] for p in curve],
        "chosen_epoch": best[1] if best is not None else len(curve),
        "selection_score": best[0][0] if best is not None else None,
        "selection_accuracy": best[0][1] if best is not None else None,
        "epochs_run": len(curve),
        "stopped_early": len(curve) < epochs,
    }


def selection_key(scores: Mapping[str, float | None], s: TrainSettings) -> tuple[float, float]:
    """What an epoch (or a grid point) is ranked by: the method's criterion, then average
    validation accuracy. The worst group of a validation split is a handful of examples, so
    it often ties across epochs (RRR at rho 0.9 scored 0 at every epoch); without the second
    number such a tie kept the first epoch and stopped the run, however accuracy moved."""
    score = scores[s.selection]
    if score is None:
        raise EvaluateError(
            f"{s.method}: selection by {s.selection} needs a 'texture' or 'group' column "
            "in the validation data"
        )
    return (score, scores["accuracy"])


def snapshot(model: nn.Module) -> dict[str, torch.Tensor]:
    """A copy of the model's weights (and buffers) that later training leaves as it is."""
    return {k: v.detach().clone() for k, v in model.state_dict().items()}


def set_lr(opt: torch.optim.Optimizer, s: TrainSettings, progress: float) -> None:
    """The learning rate at `progress` (share of the planned steps done): cosine from
    ``s.lr`` to 0 over the planned epochs, or constant."""
    lr = s.lr * 0.5 * (1.0 + math.cos(math.pi * progress)) if s.lr_schedule == "cosine" else s.lr
    for group in opt.param_groups:
        group["lr"] = lr


def best_of(
    model: nn.Module,
    train: Mapping[str, np.ndarray],
    scorer: Scorer,
    device: torch.device,
    points: Sequence[tuple[str, TrainSettings, Mapping[str, Any]]],
) -> tuple[str, dict[str, dict[str, Any]]]:
    """Train `model` once per ``(name, settings, fit arguments)`` point, each from the same
    initial weights, and keep the point whose chosen epoch scores best on validation by
    :func:`selection_key` (ties on both numbers: the first point). Returns its name and every
    point's :func:`fit` result."""
    initial = snapshot(model)
    results: dict[str, dict[str, Any]] = {}
    best, best_state = None, None
    for name, settings, kwargs in points:
        if results:  # the first point starts from the initial weights as they are
            model.load_state_dict(initial)
        results[name] = fit(model, train, settings, device, scorer=scorer, **kwargs)
        if best is None or _ranked(results[name]) > _ranked(results[best]):
            best = name
            if len(points) > 1:
                best_state = snapshot(model)
    if best_state is not None:
        model.load_state_dict(best_state)
    model.eval()
    return best, results


def _ranked(result: Mapping[str, Any]) -> tuple[float, float]:
    return (result["selection_score"], result["selection_accuracy"])
