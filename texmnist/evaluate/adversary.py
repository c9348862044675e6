"""``bg-adversarial``: a background (texture) classifier on the penultimate features and the
label, behind a gradient-reversal layer (DANN, Ganin et al. 2016; conditional, as D3S's
mutual-information penalty)."""

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


class LabelHeads(nn.Module):
    """One texture classifier per label, each an MLP with `hidden` ReLU units.

    ``forward(features, labels)`` returns each example's texture logits from its own
    label's head. Every head is evaluated on every example and the label's row is picked by
    a one-hot product: no scatter in the backward pass, so it stays deterministic on CUDA.
    """

    def __init__(self, in_features: int, hidden: int, n_labels: int, n_textures: int) -> None:
        super().__init__()
        self.w1 = nn.Parameter(torch.empty(n_labels, in_features, hidden))
        self.b1 = nn.Parameter(torch.empty(n_labels, hidden))
        self.w2 = nn.Parameter(torch.empty(n_labels, hidden, n_textures))
        self.b2 = nn.Parameter(torch.empty(n_labels, n_textures))
        for weight, bias, fan_in in ((self.w1, self.b1, in_features), (self.w2, self.b2, hidden)):
            bound = 1.0 / math.sqrt(fan_in)  # nn.Linear's default initialisation, per head
            nn.init.uniform_(weight, -bound, bound)
            nn.init.uniform_(bias, -bound, bound)

    def forward(self, features: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        onehot = F.one_hot(labels, self.w1.shape[0]).to(features.dtype)
        hidden = torch.relu(torch.einsum("bi,lih->blh", features, self.w1) + self.b1)
        logits = torch.einsum("blh,lht->blt", hidden, self.w2) + self.b2
        return torch.einsum("bl,blt->bt", onehot, logits)


class Adversary:
    """A conditional background classifier on the penultimate features, behind a
    gradient-reversal layer: it predicts the texture from the features *and* the label (one
    head per label), so its loss estimates H(texture | features, label) and the reversed
    gradient removes only what the features say about the background beyond the label: the
    conditional mutual information I(features; background | label) of D3S's penalty. Where
    the texture is a function of the label (rho = 1), each head predicts it from its bias
    alone and the features are left alone, instead of losing the label with the texture."""

    def __init__(self, model: nn.Module, train: Mapping[str, np.ndarray], s: TrainSettings, device):
        if "texture" not in train:
            raise EvaluateError("bg-adversarial: the training data has no 'texture' column")
        self.layer = last_linear(model)
        self.textures = torch.from_numpy(np.array(train["texture"], dtype=np.int64))
        self.labels = torch.from_numpy(np.array(train["label"], dtype=np.int64))
        self.head = LabelHeads(
            self.layer.in_features, s.adversary_hidden, self.layer.out_features, NONE_TEXTURE + 1
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
        """The heads' cross-entropy on the texture given the label; the features get its
        gradient reversed and scaled by ``lambda * dann_ramp(progress)``."""
        reversed_features = GradReverse.apply(self.features, self.weight * dann_ramp(progress))
        logits = self.head(reversed_features, self.labels[idx].to(self.device))
        return F.cross_entropy(logits, self.textures[idx].to(self.device))
