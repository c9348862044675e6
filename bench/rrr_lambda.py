"""How large RRR's right-reasons term is against cross-entropy, per lambda: the measurement
behind RRR_WEIGHT_GRID (Ross et al. set lambda so that the two terms are of one order).

    python bench/rrr_lambda.py [DATA] [--config rho-0.9] [--n 15000] [--epochs 2]
        [--lambdas 0,0.01,0.1,1]

DATA (default bench/results/full-data) is a built folder. Trains the CNN from one seed per
lambda, one torch thread, batch 128, AdamW lr 1e-3 (constant), on the first N training
digits, and prints per epoch the mean cross-entropy, the mean term (before lambda) and the
validation accuracy. Measured on rho-0.9 (full real MNIST, 15,000 digits, 2 epochs):

    lambda 0     epoch 2: CE 0.424, term 539.8, validation 89.6%
    lambda 0.01  epoch 2: CE 0.845, term 18.38, validation 89.7%
    lambda 0.1   epoch 2: CE 1.260, term 1.731, validation 87.4%
    lambda 1     epoch 2: CE 1.637, term 0.1325, validation 83.1%

(3 min of wall time beside two training jobs.) At lambda 1 the term is held near 0.1 and
cross-entropy stays high; at 0.01 the weighted term (0.18) and cross-entropy are of one
order, so the grid is 0.001, 0.01, 0.1.
"""

from __future__ import annotations

import argparse

import numpy as np
import torch
import torch.nn.functional as F

from texmnist.evaluate.data import image_tensor, to_float
from texmnist.evaluate.load import load_config
from texmnist.evaluate.models import build_model
from texmnist.evaluate.rrr import background_mask, rrr_penalty

BATCH = 128


def epochs_of(lam: float, train: dict, val: dict, epochs: int) -> list[tuple[float, float, float]]:
    """(mean CE, mean term, validation accuracy) after each epoch at weight `lam`."""
    images, labels = image_tensor(train["image"]), torch.from_numpy(train["label"].astype(np.int64))
    background = background_mask(train)
    v_images = to_float(image_tensor(val["image"]), torch.device("cpu"))
    v_labels = torch.from_numpy(val["label"].astype(np.int64))
    torch.manual_seed(0)
    model = build_model("cnn", images.shape[1], images.shape[-1])
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3, weight_decay=1e-4)
    gen = torch.Generator().manual_seed(0)
    out = []
    for _ in range(epochs):
        order = torch.randperm(len(labels), generator=gen)
        ce_sum = term_sum = 0.0
        model.train()
        for i in range(0, len(order), BATCH):
            idx = order[i : i + BATCH]
            x = to_float(images[idx], torch.device("cpu")).requires_grad_(True)
            logits = model(x)
            ce = F.cross_entropy(logits, labels[idx])
            term = rrr_penalty(logits, x, background[idx])
            opt.zero_grad()
            (ce + lam * term).backward()
            opt.step()
            ce_sum += float(ce.detach()) * len(idx)
            term_sum += float(term.detach()) * len(idx)
        model.eval()
        with torch.no_grad():
            acc = float((model(v_images).argmax(1) == v_labels).float().mean())
        out.append((ce_sum / len(order), term_sum / len(order), acc))
    return out


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("data", nargs="?", default="bench/results/full-data")
    p.add_argument("--config", default="rho-0.9")
    p.add_argument("--n", type=int, default=15000, help="training digits used")
    p.add_argument("--epochs", type=int, default=2)
    p.add_argument("--lambdas", default="0,0.01,0.1,1")
    args = p.parse_args()
    torch.set_num_threads(1)
    arrays, _ = load_config(args.data, args.config, progress=False)
    train = {k: v[: args.n] for k, v in arrays["train"].items()}
    for lam in (float(v) for v in args.lambdas.split(",")):
        for epoch, (ce, term, acc) in enumerate(epochs_of(lam, train, arrays["validation"],
                                                          args.epochs), 1):  # fmt: skip
            print(f"lambda {lam:<5g} epoch {epoch}: CE {ce:.3f}, term {term:.4g}, "
                  f"validation {acc:.1%}", flush=True)  # fmt: skip


if __name__ == "__main__":
    main()
