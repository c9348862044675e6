"""The training harness against a bare PyTorch loop on the same model and data.

Both train the same freshly initialised model (same seed) for the same epochs on the same
examples (the harness's train part: it holds out its selection share first), batch size,
optimiser and lr. The bare loop is what one would write by hand: images already as a
float tensor, a shuffled index per epoch, forward, cross-entropy, backward, step; nothing
else. The harness adds what it exists for: uint8 batches converted on the fly, the lr
schedule, deterministic kernels, the validation score and checkpoint after every epoch.
Runs alternate (bare, harness, bare, harness, ...) so that a busy machine slows both alike;
the ratio is of the fastest run of each. Usage:

    python bench/harness_overhead.py --data DIR [--config default] [--n 10000] [--epochs 2]
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch
import torch.nn.functional as F

from texmnist.evaluate.data import deterministic, held_out_split
from texmnist.evaluate.load import load_config
from texmnist.evaluate.models import build_model
from texmnist.evaluate.settings import TrainSettings
from texmnist.evaluate.train import train_model


def bare_loop(model, images: np.ndarray, labels: np.ndarray, s: TrainSettings) -> None:
    x = torch.from_numpy(np.ascontiguousarray(images)).float().div_(255.0).unsqueeze(1)
    y = torch.from_numpy(np.asarray(labels, dtype=np.int64))
    opt = torch.optim.AdamW(model.parameters(), lr=s.lr, weight_decay=s.resolved_weight_decay)
    gen = torch.Generator().manual_seed(s.seed)
    model.train()
    for _ in range(s.epochs):
        for idx in torch.randperm(len(y), generator=gen).split(s.batch_size):
            loss = F.cross_entropy(model(x[idx]), y[idx])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()


def fresh(name: str, seed: int):
    with deterministic(seed):
        return build_model(name, 1, 28)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data", required=True, help="a built texmnist folder")
    p.add_argument("--config", default="default")
    p.add_argument("--n", type=int, default=10000, help="training examples (first N)")
    p.add_argument("--epochs", type=int, default=2)
    p.add_argument("--model", default="cnn")
    p.add_argument("--repeats", type=int, default=2)
    args = p.parse_args()
    arrays, _ = load_config(args.data, args.config, max_train=args.n)
    train = {k: np.asarray(v) for k, v in arrays["train"].items()}
    s = TrainSettings(epochs=args.epochs, patience=None, progress=False, device="cpu")
    kept, _, _ = held_out_split(train, None, s)
    times: dict[str, list[float]] = {"bare": [], "harness": []}
    for _ in range(args.repeats):
        model = fresh(args.model, s.seed)
        start = time.perf_counter()
        bare_loop(model, kept["image"], kept["label"], s)
        times["bare"].append(time.perf_counter() - start)
        model = fresh(args.model, s.seed)
        start = time.perf_counter()
        train_model(model, train, settings=s)
        times["harness"].append(time.perf_counter() - start)
    bare, harness = min(times["bare"]), min(times["harness"])
    print(
        f"{args.model} on {len(kept['label']):,} examples of {args.config}, {args.epochs} epochs, "
        f"batch {s.batch_size}, {torch.get_num_threads()} torch threads"
    )
    for name, values in times.items():
        print(f"  {name:8s} " + ", ".join(f"{v:.1f} s" for v in values))
    print(f"harness / bare loop = {harness / bare:.3f} (fastest of {args.repeats} each)")


if __name__ == "__main__":
    main()
