"""Reference models, pure torch: an MLP, a LeNet-like CNN, a small ResNet and a CNN with a
global max pool (for digits smaller than the canvas).

Every model takes float images [n, C, H, W] in [0, 1] (C = 1 or 3, any H, W) and returns
10 logits. Each keeps its last layer as ``model.head`` (an ``nn.Linear``), so DFR can
retrain it; any other ``nn.Module`` works too (see :func:`last_linear`).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from .errors import EvaluateError

MODELS = ("mlp", "cnn", "resnet", "cnn-global")


def _pool_to(x: torch.Tensor, size: int) -> torch.Tensor:
    """Average-pool to size x size; a plain avg_pool2d when it divides evenly, because
    adaptive pooling's CUDA backward has no deterministic kernel."""
    h, w = x.shape[-2:]
    if h % size == 0 and w % size == 0:
        return F.avg_pool2d(x, (h // size, w // size))
    return F.adaptive_avg_pool2d(x, size)


class MLP(nn.Module):
    """Two hidden layers of 256 units over the flattened image."""

    def __init__(self, in_channels: int, size: int, num_classes: int = 10, hidden: int = 256):
        super().__init__()
        self.body = nn.Sequential(
            nn.Flatten(),
            nn.Linear(in_channels * size * size, hidden),
            nn.ReLU(),
            nn.Linear(hidden, hidden),
            nn.ReLU(),
        )
        self.head = nn.Linear(hidden, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.body(x))


class CNN(nn.Module):
    """LeNet-like: two 5x5 conv + max-pool blocks (16, 32 channels), a 128-unit layer.

    Average pooling to 7x7 makes any canvas size work (28 -> 7 exactly, 56 -> 14 -> 7).
    """

    def __init__(self, in_channels: int, num_classes: int = 10):
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(in_channels, 16, 5, padding=2),
            nn.ReLU(),
            nn.MaxPool2d(2),
            nn.Conv2d(16, 32, 5, padding=2),
            nn.ReLU(),
            nn.MaxPool2d(2),
        )
        self.body = nn.Sequential(nn.Flatten(), nn.Linear(32 * 7 * 7, 128), nn.ReLU())
        self.head = nn.Linear(128, num_classes)

    @property
    def cam_layer(self) -> nn.Module:
        return self.features[4]  # the second conv's ReLU: 14x14 on a 28 canvas

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.body(_pool_to(self.features(x), 7)))


class BasicBlock(nn.Module):
    def __init__(self, cin: int, cout: int, stride: int):
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(cout)
        self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(cout)
        self.short = nn.Sequential()
        if stride != 1 or cin != cout:
            self.short = nn.Sequential(
                nn.Conv2d(cin, cout, 1, stride, bias=False), nn.BatchNorm2d(cout)
            )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = torch.relu(self.bn1(self.conv1(x)))
        return torch.relu(self.bn2(self.conv2(out)) + self.short(x))


class ResNet(nn.Module):
    """ResNet-8: a 3x3 stem and three basic blocks (16, 32, 64 channels), global pool."""

    def __init__(self, in_channels: int, num_classes: int = 10, width: int = 16):
        super().__init__()
        self.stem = nn.Sequential(
            nn.Conv2d(in_channels, width, 3, 1, 1, bias=False), nn.BatchNorm2d(width), nn.ReLU()
        )
        self.layers = nn.Sequential(
            BasicBlock(width, width, 1),
            BasicBlock(width, 2 * width, 2),
            BasicBlock(2 * width, 4 * width, 2),
        )
        self.head = nn.Linear(4 * width, num_classes)

    @property
    def cam_layer(self) -> nn.Module:
        return self.layers[-1]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.layers(self.stem(x)).mean((2, 3)))  # global average pool


class GlobalCNN(nn.Module):
    """Four conv layers (32, 64, 128, 128 channels, BatchNorm) and a global max pool.

    For digits smaller than the canvas (`sizes`: 14 px on 56 px). A 5x5 stride-2 stem and two
    max-pools give a ~39 px receptive field, so one unit sees a whole 28 px digit; the global
    *max* pool reports the strongest response wherever the digit sits, where a global average
    dilutes a 14 px digit's units sixteenfold among the texture's.
    """

    def __init__(self, in_channels: int, num_classes: int = 10, width: int = 32):
        super().__init__()

        def conv(cin: int, cout: int, k: int = 3, stride: int = 1) -> list[nn.Module]:
            return [nn.Conv2d(cin, cout, k, stride, k // 2, bias=False), nn.BatchNorm2d(cout),
                    nn.ReLU()]  # fmt: skip

        w = width
        self.features = nn.Sequential(
            *conv(in_channels, w, 5, 2),
            *conv(w, 2 * w),
            nn.MaxPool2d(2),
            *conv(2 * w, 4 * w),
            nn.MaxPool2d(2),
            *conv(4 * w, 4 * w),
        )
        self.head = nn.Linear(4 * w, num_classes)

    @property
    def cam_layer(self) -> nn.Module:
        return self.features[-1]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x).amax((2, 3)))  # global max pool


def build_model(name: str, in_channels: int, size: int, num_classes: int = 10) -> nn.Module:
    """A fresh model by name (one of `MODELS`) or from a `package.module:factory` spec (see
    :mod:`texmnist.evaluate.factory`); initialised from torch's global RNG."""
    if in_channels not in (1, 3):
        raise EvaluateError(f"in_channels: expected 1 or 3, got {in_channels}")
    from .factory import build, is_spec  # factory imports this module: import it here

    if is_spec(name):
        return build(name, in_channels, size, num_classes)
    if name == "mlp":
        return MLP(in_channels, size, num_classes)
    if name == "cnn":
        return CNN(in_channels, num_classes)
    if name == "resnet":
        return ResNet(in_channels, num_classes)
    if name == "cnn-global":
        return GlobalCNN(in_channels, num_classes)
    raise EvaluateError(
        f"--model: unknown model {name!r}; choose one of {', '.join(MODELS)}, or give "
        "package.module:factory"
    )


def last_linear(model: nn.Module) -> nn.Linear:
    """The classifier layer: `model.head`/`fc`/`classifier` if linear, else the last Linear."""
    for attr in ("head", "fc", "classifier"):
        layer = getattr(model, attr, None)
        if isinstance(layer, nn.Linear):
            return layer
    linears = [m for m in model.modules() if isinstance(m, nn.Linear)]
    if not linears:
        raise EvaluateError(f"{type(model).__name__}: no nn.Linear layer to retrain for DFR")
    return linears[-1]


def cam_layer(model: nn.Module) -> nn.Module | None:
    """Grad-CAM's layer: `model.cam_layer` if set, else the last Conv2d, else None (no CNN)."""
    layer = getattr(model, "cam_layer", None)
    if isinstance(layer, nn.Module):
        return layer
    convs = [m for m in model.modules() if isinstance(m, nn.Conv2d)]
    return convs[-1] if convs else None
