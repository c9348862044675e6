"""A split as a map-style PyTorch dataset, decoded once into memory (needs torch).

    import texmnist
    from torch.utils.data import DataLoader

    train = texmnist.torch_dataset("textured-mnist", "default", "train")
    loader = DataLoader(train, batch_size=128, shuffle=True, num_workers=2)
    for images, labels in loader:  # float32 [128, C, H, W] in [0, 1], int64 [128]
        ...

The images go through the array path (`load_split` + `to_numpy`: one vectorised PNG decode
of the whole split) and one copy into a uint8 tensor [n, C, H, W]; an item is converted to
float in [0, 1] only when it is read, so the dataset holds a quarter of a float copy. The
tensors live in memory that DataLoader's workers share (fork) or receive (spawn).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.utils.data import Dataset

from ..errors import ConfigError
from .arrays import load_split, to_numpy

Item = tuple[torch.Tensor, int] | tuple[torch.Tensor, int, dict[str, Any]]


def image_tensor(images: np.ndarray) -> torch.Tensor:
    """uint8 [n, H, W] or [n, H, W, 3] -> a new uint8 tensor [n, C, H, W], in one copy
    (straight from the arrays, memory-mapped or read-only ones included)."""
    images = np.asarray(images)
    if images.dtype != np.uint8 or images.ndim not in (3, 4):
        raise ConfigError(
            f"images: expected uint8 [n,H,W] or [n,H,W,3], got {images.dtype} {images.shape}"
        )
    n, h, w = images.shape[:3]
    channels = 1 if images.ndim == 3 else images.shape[3]
    out = torch.empty((n, channels, h, w), dtype=torch.uint8)
    out.numpy()[...] = images[:, None] if images.ndim == 3 else images.transpose(0, 3, 1, 2)
    return out


class TexturedMNISTDataset(Dataset):
    """(image, label) pairs, or (image, label, metadata) with `metadata=True`.

    `image` is float32 [C, H, W] in [0, 1] (as torchvision's `ToTensor` gives), passed
    through `transform` when one is given; `label` an int. `metadata` is a dict of the
    row's other columns (`texture`, `mnist_index`, `aligned`, `mask` as a bool [H, W]
    tensor, `texture_file`, `index`: the row's index in the split, what `texmnist score` wants).
    """

    def __init__(
        self,
        images: torch.Tensor,
        labels: torch.Tensor,
        columns: dict[str, Any] | None = None,
        transform: Callable[[torch.Tensor], Any] | None = None,
    ):
        if len(images) != len(labels):
            raise ConfigError(f"images: {len(images)} rows for {len(labels)} labels")
        self.images = images
        self.labels = labels
        self.columns = columns
        self.transform = transform

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, i: int) -> Item:
        image = self.images[i].float().div_(255.0)
        if self.transform is not None:
            image = self.transform(image)
        label = int(self.labels[i])
        if self.columns is None:
            return image, label
        row = {name: column[i] for name, column in self.columns.items()}
        row["index"] = range(len(self))[i]  # a negative i counts from the end, as above
        return image, label, row


def _column(values: np.ndarray) -> Any:
    """A metadata column as a tensor where torch has the type (strings stay an array)."""
    if values.dtype == object or values.dtype.kind in "US":
        return values
    return torch.from_numpy(np.ascontiguousarray(values).copy())


def torch_dataset(
    data: str | Path,
    config: str = "default",
    split: str = "train",
    transform: Callable[[torch.Tensor], Any] | None = None,
    *,
    metadata: bool = False,
) -> TexturedMNISTDataset:
    """One split of a texmnist folder or Hub repository id as a map-style torch Dataset of
    `(image, label)` (with `metadata=True`, `(image, label, metadata dict)`)."""
    ds = load_split(data, config, split)
    arrays = to_numpy(ds, columns=None if metadata else ["image", "label"])
    images = image_tensor(arrays.pop("image"))
    labels = torch.from_numpy(np.ascontiguousarray(arrays.pop("label"), dtype=np.int64))
    columns = {k: _column(v) for k, v in arrays.items()} if metadata else None
    return TexturedMNISTDataset(images, labels, columns, transform)
