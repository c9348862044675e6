"""Arrays to tensors, devices, determinism, groups and the held-out share of train."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator, Mapping

import numpy as np
import torch

from ..generate.splits import NONE_TEXTURE
from .errors import EvaluateError
from .settings import TrainSettings


def pick_device(device: str | None) -> torch.device:
    if device in (None, "", "auto"):
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        dev = torch.device(device)
    except RuntimeError as e:
        raise EvaluateError(f"--device: {device!r} is not a torch device ({e})") from None
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise EvaluateError(f"--device: {device!r} asked but CUDA is not available; use cpu")
    return dev


def image_tensor(images: np.ndarray) -> torch.Tensor:
    """uint8 [n, H, W] or [n, H, W, 3] -> uint8 tensor [n, C, H, W] (one copy, made once)."""
    arr = np.ascontiguousarray(images)
    if arr.dtype != np.uint8 or arr.ndim not in (3, 4):
        raise EvaluateError(f"images: expected uint8 [n,H,W] or [n,H,W,3], got {arr.dtype}")
    t = torch.from_numpy(np.array(arr, copy=True))
    return t.unsqueeze(1) if t.ndim == 3 else t.permute(0, 3, 1, 2).contiguous()


def to_float(batch: torch.Tensor, device: torch.device) -> torch.Tensor:
    return batch.to(device, non_blocking=True).float().div_(255.0)


@contextlib.contextmanager
def deterministic(seed: int) -> Iterator[None]:
    """Seed torch and force deterministic kernels; restore the previous mode afterwards."""
    # cuBLAS needs this set before its first use to be deterministic.
    os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
    previous = torch.are_deterministic_algorithms_enabled()
    previous_bench = torch.backends.cudnn.benchmark
    # On CUDA a few kernels have no deterministic version (user models may use them):
    # warn there instead of failing. On CPU every kernel we use is deterministic.
    torch.use_deterministic_algorithms(True, warn_only=torch.cuda.is_available())
    torch.backends.cudnn.benchmark = False
    torch.manual_seed(seed)
    try:
        yield
    finally:
        torch.use_deterministic_algorithms(previous)
        torch.backends.cudnn.benchmark = previous_bench


def group_ids(arrays: Mapping[str, np.ndarray]) -> tuple[np.ndarray, list[str]]:
    """Each example's group index and the group names (`group` column, else label x texture)."""
    if "group" in arrays:
        names, ids = np.unique(np.asarray(arrays["group"]).astype(str), return_inverse=True)
        return ids.astype(np.int64), [str(n) for n in names]
    if "texture" not in arrays:
        raise EvaluateError("groups: the data has neither a 'group' nor a 'texture' column")
    codes = np.asarray(arrays["label"]) * (NONE_TEXTURE + 1) + np.asarray(arrays["texture"])
    uniq, ids = np.unique(codes, return_inverse=True)
    width = NONE_TEXTURE + 1
    return ids.astype(np.int64), [f"y={c // width},t={c % width}" for c in uniq.tolist()]


def subset(arrays: Mapping[str, np.ndarray], index: np.ndarray) -> dict[str, np.ndarray]:
    return {k: np.asarray(v)[index] for k, v in arrays.items()}


def held_out_split(train, validation, s: TrainSettings):
    """(train part, held-out part, facts): the validation split when there is one, else a
    seeded ``s.dfr_holdout`` share of train that the trained model never sees."""
    if validation is not None and len(validation["label"]):
        return train, validation, {"source": "validation", "n": int(len(validation["label"]))}
    n = len(train["label"])
    order = np.random.default_rng(s.seed).permutation(n)
    k = max(1, int(round(n * s.dfr_holdout)))
    held, kept = np.sort(order[:k]), np.sort(order[k:])
    info = {"source": f"held-out {s.dfr_holdout:.0%} of train", "n": int(k)}
    return subset(train, kept), subset(train, held), info


def worst_group_acc(pred: np.ndarray, labels: np.ndarray, groups: np.ndarray) -> float:
    accs = [float((pred[groups == g] == labels[groups == g]).mean()) for g in np.unique(groups)]
    return min(accs) if accs else 0.0
