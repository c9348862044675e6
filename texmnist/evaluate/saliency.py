"""Saliency against the exact digit masks: how much of it lies on the background.

Two maps, both for the predicted class: input-gradient saliency (|d logit / d input|, max
over channels; any model) and Grad-CAM (CNNs: ReLU of the gradient-weighted activations of
the last conv block, upsampled bilinearly to the canvas). Per example:

- background share: ``1 - sum(saliency * mask) / sum(saliency)``;
- top-k IoU: IoU between the k most salient pixels (k = mask area) and the mask.

Examples with an empty mask (test_background_only) or an all-zero map are left out (NaN).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from .data import image_tensor, pick_device, to_float
from .metrics import SALIENCY_SPLITS
from .models import cam_layer


def input_gradients(
    model: nn.Module, x: torch.Tensor, target: torch.Tensor | None = None
) -> torch.Tensor:
    """|d logit_target / d x| maxed over channels: [n, H, W]; target defaults to the argmax."""
    model.eval()
    x = x.detach().clone().requires_grad_(True)
    logits = model(x)
    if target is None:
        target = logits.argmax(1)
    (grad,) = torch.autograd.grad(logits.gather(1, target[:, None]).sum(), x)
    return grad.abs().amax(1).detach()


def grad_cam(
    model: nn.Module,
    x: torch.Tensor,
    target: torch.Tensor | None = None,
    layer: nn.Module | None = None,
) -> torch.Tensor | None:
    """Grad-CAM maps [n, H, W] at the input's size, or None when the model has no conv."""
    layer = layer if layer is not None else cam_layer(model)
    if layer is None:
        return None
    model.eval()
    acts: list[torch.Tensor] = []
    hook = layer.register_forward_hook(lambda _m, _i, out: acts.append(out))
    try:
        logits = model(x)
    finally:
        hook.remove()
    if target is None:
        target = logits.argmax(1)
    (grads,) = torch.autograd.grad(logits.gather(1, target[:, None]).sum(), acts[0])
    weights = grads.mean((2, 3), keepdim=True)
    cam = torch.relu((weights * acts[0]).sum(1, keepdim=True))
    cam = F.interpolate(cam, size=x.shape[-2:], mode="bilinear", align_corners=False)
    return cam[:, 0].detach()


def background_share(saliency: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """Per example, the share of saliency mass off the mask (NaN for empty masks/maps)."""
    sal = saliency.reshape(len(saliency), -1).astype(np.float64)
    m = mask.reshape(len(mask), -1).astype(bool)
    total = sal.sum(1)
    on = (sal * m).sum(1)
    ok = (total > 0) & m.any(1)
    out = np.full(len(sal), np.nan)
    out[ok] = 1.0 - on[ok] / total[ok]
    return out


def topk_iou(saliency: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """Per example, IoU of the top-k salient pixels (k = mask area) with the mask.

    Ties are broken by pixel order (stable sort), so the result is deterministic.
    """
    sal = saliency.reshape(len(saliency), -1)
    m = mask.reshape(len(mask), -1).astype(bool)
    k = m.sum(1)
    order = np.argsort(-sal, axis=1, kind="stable")
    rank = np.empty_like(order)
    np.put_along_axis(rank, order, np.arange(sal.shape[1])[None, :].repeat(len(sal), 0), 1)
    top = rank < k[:, None]
    inter = (top & m).sum(1)
    union = (top | m).sum(1)
    out = np.full(len(sal), np.nan)
    ok = (k > 0) & (sal.max(1) > 0)
    out[ok] = inter[ok] / union[ok]
    return out


def mean_entry(values: np.ndarray) -> dict[str, Any]:
    """{"value", "n", "ci"} of a mean over examples (normal 95% interval), NaNs dropped."""
    v = values[~np.isnan(values)]
    if v.size == 0:
        return {"value": math.nan, "n": 0, "ci": [math.nan, math.nan]}
    mean = float(v.mean())
    half = 1.959963984540054 * float(v.std(ddof=1)) / math.sqrt(v.size) if v.size > 1 else 0.0
    return {"value": mean, "n": int(v.size), "ci": [mean - half, mean + half]}


def saliency_maps(
    model: nn.Module,
    images: np.ndarray,
    *,
    batch_size: int = 256,
    device: str | torch.device | None = None,
) -> dict[str, np.ndarray]:
    """{"pred", "grad", and "cam" when the model has a conv layer} for uint8 images."""
    dev = device if isinstance(device, torch.device) else pick_device(device)
    model.to(dev).eval()
    tensor = image_tensor(images)
    preds, grads, cams = [], [], []
    for i in range(0, len(tensor), batch_size):
        x = to_float(tensor[i : i + batch_size], dev)
        with torch.no_grad():
            pred = model(x).argmax(1)
        preds.append(pred.cpu())
        grads.append(input_gradients(model, x, pred).cpu())
        cam = grad_cam(model, x, pred)
        if cam is not None:
            cams.append(cam.cpu())
    out = {"pred": torch.cat(preds).numpy(), "grad": torch.cat(grads).numpy()}
    if cams:
        out["cam"] = torch.cat(cams).numpy()
    return out


def saliency_metrics(
    model: nn.Module,
    data: Mapping[str, Mapping[str, np.ndarray]],
    *,
    splits: Sequence[str] = SALIENCY_SPLITS,
    max_examples: int = 1000,
    batch_size: int = 256,
    device: str | torch.device | None = None,
) -> dict[str, dict[str, Any]]:
    """Metric entries `<map>_bg_<split>` and `<map>_iou_<split>` (map = grad, cam).

    Computed on the first `max_examples` examples of each split.
    """
    out: dict[str, dict[str, Any]] = {}
    for split in splits:
        if split not in data or "mask" not in data[split]:
            continue
        images = np.asarray(data[split]["image"][:max_examples])
        mask = np.asarray(data[split]["mask"][:max_examples])
        maps = saliency_maps(model, images, batch_size=batch_size, device=device)
        for kind in ("grad", "cam"):
            if kind in maps:
                out[f"{kind}_bg_{split}"] = mean_entry(background_share(maps[kind], mask))
                out[f"{kind}_iou_{split}"] = mean_entry(topk_iou(maps[kind], mask))
    return out
