"""Train a torch model of your own on Textured MNIST and write predictions for `texmnist score`.

    python examples/train_and_predict.py textured-mnist --config default --seeds 0,1 \
        --epochs 2 --out predictions.csv
    texmnist score textured-mnist --config default --predictions predictions.csv --out report

The data comes from `texmnist.torch_dataset` (a map-style Dataset, decoded once into
memory); the model, the loop and the prediction are plain PyTorch: nothing of texmnist's
training harness is imported. Swap `Net` for any model that maps [n, C, H, W] floats in
[0, 1] to [n, 10] logits (a torchvision ResNet with `num_classes=10`, a ViT, ...).
The predictions file holds every row of every `test_*` split: `split`, `index`, `seed`,
`prediction` and the ten logits.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.csv as pcsv
import torch
from torch import nn
from torch.utils.data import DataLoader

import texmnist
from texmnist.repo.arrays import split_names


class Net(nn.Module):
    """A small VGG-style CNN: two conv blocks with BatchNorm, then two linear layers."""

    def __init__(self, in_channels: int, num_classes: int = 10):
        super().__init__()

        def block(cin: int, cout: int) -> nn.Sequential:
            return nn.Sequential(
                nn.Conv2d(cin, cout, 3, padding=1), nn.BatchNorm2d(cout), nn.ReLU(),
                nn.MaxPool2d(2),
            )  # fmt: skip

        self.features = nn.Sequential(block(in_channels, 16), block(16, 32))
        self.classifier = nn.Sequential(
            nn.Flatten(), nn.LazyLinear(64), nn.ReLU(), nn.Linear(64, num_classes)
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.features(x))


def train(data: str, config: str, seed: int, epochs: int, workers: int) -> nn.Module:
    torch.manual_seed(seed)
    dataset = texmnist.torch_dataset(data, config, "train")
    loader = DataLoader(dataset, batch_size=128, shuffle=True, num_workers=workers)
    model = Net(in_channels=dataset.images.shape[1])
    model(dataset[0][0][None])  # materialise the lazy layer before the optimizer sees it
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3)
    model.train()
    for epoch in range(epochs):
        total, count = 0.0, 0
        for images, labels in loader:
            loss = nn.functional.cross_entropy(model(images), labels)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            total, count = total + loss.item() * len(labels), count + len(labels)
        print(f"seed {seed} epoch {epoch + 1}: train loss {total / count:.4f}", flush=True)
    return model


@torch.no_grad()
def predict(model: nn.Module, data: str, config: str, split: str, seed: int) -> pa.Table:
    model.eval()
    loader = DataLoader(texmnist.torch_dataset(data, config, split), batch_size=1000)
    logits = torch.cat([model(images) for images, _ in loader]).numpy()
    n = len(logits)
    columns = {"split": [split] * n, "index": np.arange(n), "seed": np.full(n, seed)}
    columns["prediction"] = logits.argmax(1)
    columns.update({f"logit_{c}": logits[:, c] for c in range(logits.shape[1])})
    return pa.table(columns)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("data", help="a texmnist folder or Hub dataset id")
    p.add_argument("--config", default="default")
    p.add_argument("--seeds", default="0", help="comma-separated; one model each")
    p.add_argument("--epochs", type=int, default=2)
    p.add_argument("--workers", type=int, default=2, help="DataLoader worker processes")
    p.add_argument("--out", type=Path, default=Path("predictions.csv"))
    args = p.parse_args()
    tests = [s for s in split_names(args.data, args.config) if s.startswith("test_")]
    tables = []
    for seed in (int(s) for s in args.seeds.split(",")):
        model = train(args.data, args.config, seed, args.epochs, args.workers)
        tables += [predict(model, args.data, args.config, s, seed) for s in tests]
    pcsv.write_csv(pa.concat_tables(tables), args.out)
    print(f"wrote {args.out}: {sum(t.num_rows for t in tables):,} predictions of {tests}")


if __name__ == "__main__":
    main()
