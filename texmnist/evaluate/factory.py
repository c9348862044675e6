"""`--model package.module:factory`: any torch model, trained by the harness like its own.

The factory is called as ``factory(in_channels, size, num_classes)`` and must return a
``torch.nn.Module`` that maps float images [n, C, H, W] in [0, 1] to [n, num_classes]
logits. Methods that work on the classifier layer (DFR's refit, the background adversary)
use ``model.head``/``fc``/``classifier`` or else its last ``nn.Linear``; Grad-CAM its
``cam_layer`` or last ``nn.Conv2d`` (see :mod:`texmnist.evaluate.models`).

Every problem with a spec is one line, found before any training: the syntax, the import,
the attribute, the call, the type of what it returns and the shape of its output on one
batch.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable

import torch
from torch import nn

from ..errors import first_line
from .errors import EvaluateError
from .models import MODELS

CHECK_BATCH = 2  # examples in the one batch whose output shape is checked


def is_spec(name: str) -> bool:
    """A `package.module:factory` spec rather than a built-in model's name."""
    return ":" in name


def resolve(spec: str) -> Callable[..., object]:
    """The callable a `package.module:factory` spec names (`factory` may be dotted)."""
    module_name, _, attr = spec.partition(":")
    if not module_name or not attr:
        raise EvaluateError(
            f"--model: {spec!r} is neither one of {', '.join(MODELS)} nor package.module:factory"
        )
    try:
        target = importlib.import_module(module_name)
    except ModuleNotFoundError as e:
        if e.name and module_name.startswith(e.name):  # the module itself, not its imports
            raise EvaluateError(
                f"--model: module {module_name!r} not found (is it on PYTHONPATH?)"
            ) from e
        raise EvaluateError(f"--model: importing {module_name!r} failed: {first_line(e)}") from e
    except Exception as e:  # the user's module may raise anything while it loads
        raise EvaluateError(f"--model: importing {module_name!r} failed: {first_line(e)}") from e
    for part in attr.split("."):
        if not hasattr(target, part):
            raise EvaluateError(f"--model: {module_name!r} has no {attr!r}")
        target = getattr(target, part)
    if not callable(target):
        raise EvaluateError(f"--model: {spec} is a {type(target).__name__}, not a callable")
    return target


def build(spec: str, in_channels: int, size: int, num_classes: int = 10) -> nn.Module:
    """A fresh model from the factory `spec` names, checked on one batch of zeros.

    The check runs in eval mode under no_grad, so it moves no BatchNorm statistics and
    draws nothing from torch's RNG: the model trains from its initial weights."""
    factory = resolve(spec)
    try:
        model = factory(in_channels, size, num_classes)
    except Exception as e:
        raise EvaluateError(
            f"--model: {spec}({in_channels}, {size}, {num_classes}) raised {first_line(e)}"
        ) from e
    if not isinstance(model, nn.Module):
        raise EvaluateError(
            f"--model: {spec} returned a {type(model).__name__}, not a torch.nn.Module"
        )
    batch = torch.zeros(CHECK_BATCH, in_channels, size, size)
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            out = model(batch)
    except Exception as e:
        raise EvaluateError(
            f"--model: {spec} fails on a batch [{CHECK_BATCH}, {in_channels}, {size}, {size}]: "
            f"{first_line(e)}"
        ) from e
    finally:
        model.train(was_training)
    expected = (CHECK_BATCH, num_classes)
    if not isinstance(out, torch.Tensor) or tuple(out.shape) != expected:
        got = list(out.shape) if isinstance(out, torch.Tensor) else type(out).__name__
        raise EvaluateError(
            f"--model: {spec} maps a batch [{CHECK_BATCH}, {in_channels}, {size}, {size}] to "
            f"{got}, expected {list(expected)} logits"
        )
    return model


def parameter_count(model: nn.Module) -> int:
    """Trainable and frozen parameters together, as model summaries count them."""
    return sum(p.numel() for p in model.parameters())
