"""Group-balanced sampling (``balanced``, ``groupdro``) and GroupDRO's online step."""

from __future__ import annotations

import torch
import torch.nn.functional as F


def balanced_weights(groups: torch.Tensor) -> torch.Tensor:
    """Each example's sampling weight 1 / size of its group: every group drawn equally often."""
    counts = torch.bincount(groups, minlength=int(groups.max()) + 1).double()
    return (1.0 / counts)[groups]


def group_dro_loss(
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
