"""``dfr``: Deep Feature Reweighting (Kirichenko et al. 2023), the last layer refit by L1
logistic regression on group-balanced held-out embeddings."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from .data import group_ids, image_tensor, to_float, worst_group_acc
from .models import last_linear
from .settings import TrainSettings


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
    # Ties are broken by average accuracy: with groups of a few held-out examples (label x
    # texture at rho = 0.9) every C can score the same worst group, often 0.
    half = rng.permutation(len(labels)) < len(labels) // 2
    scored = labels[~half].numpy()
    scores, accuracy = {}, {}
    for c in s.dfr_c_grid:
        tr = balanced_index(groups[half], rng)
        w, b = _l1_logistic(z[half][tr], labels[half][tr], c, num_classes, s.dfr_iterations)
        pred = (z[~half] @ w.T + b).argmax(1).numpy()
        scores[c] = worst_group_acc(pred, scored, groups[~half])
        accuracy[c] = float((pred == scored).mean())
    best_c = max(s.dfr_c_grid, key=lambda c: (scores[c], accuracy[c], -s.dfr_c_grid.index(c)))
    ws, bs = [], []
    for _ in range(s.dfr_num_retrains):
        idx = balanced_index(groups, rng)
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
        "c_scores_accuracy": {str(k): v for k, v in accuracy.items()},
        "groups": len(names),
        "balanced_per_group": int(counts.min()),
        "nonzero_weights": int((w.abs() > 0).sum()),
    }


def balanced_index(groups: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Every group subsampled to the smallest group's size (DFR's balanced set)."""
    present = np.unique(groups)
    m = min(int((groups == g).sum()) for g in present)
    picks = [rng.choice(np.flatnonzero(groups == g), m, replace=False) for g in present]
    return np.sort(np.concatenate(picks))


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
