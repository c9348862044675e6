"""The training loop every method shares: seeded batches, one optimiser, per-epoch loss."""

from __future__ import annotations

import contextlib
import math
from collections.abc import Callable, Mapping

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from tqdm.auto import tqdm

from .adversary import Adversary
from .data import group_ids, image_tensor, to_float
from .groups import balanced_weights, group_dro_loss
from .rrr import background_mask, rrr_penalty
from .settings import TrainSettings


def fit(
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
                loss, q = group_dro_loss(per_example, groups[idx].to(device), q, s.groupdro_eta)
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
