"""``bg-adversarial``: a background (texture) classifier on the penultimate features behind a
gradient-reversal layer (DANN, Ganin et al. 2016)."""

from __future__ import annotations

import contextlib
import math
from collections.abc import Iterator, Mapping

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ..generate.splits import NONE_TEXTURE
from .errors import EvaluateError
from .models import last_linear
from .settings import TrainSettings


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


class Adversary:
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
