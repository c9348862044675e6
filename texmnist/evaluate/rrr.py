"""``rrr``: Right for the Right Reasons (Ross et al. 2017), the input-gradient penalty on the
background pixels."""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import torch
import torch.nn.functional as F

from .errors import EvaluateError


def background_mask(train: Mapping[str, np.ndarray]) -> torch.Tensor:
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
