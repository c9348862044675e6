"""Write the real MNIST test set split into disjoint train / test IDX files.

`../shared/data/mnist` holds only the 10,000 real MNIST *test* digits. Accuracy figures need
train and test digits that differ, so this writes the first N (default 8,000) as the train
files and the rest (2,000) as the `t10k` files, with true IDX headers:

    python bench/disjoint_mnist.py OUT [--mnist-dir ../shared/data/mnist] [--train 8000]

then `texmnist build --mnist-dir OUT ...`.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from texmnist.sources import MNIST, read_idx
from texmnist.sources.idx import IDX_IMAGES_MAGIC, IDX_LABELS_MAGIC, write_idx

DEFAULT_MNIST = Path(__file__).resolve().parents[2] / "shared" / "data" / "mnist"


def split_test_set(mnist_dir: Path, out: Path, n_train: int = 8000) -> Path:
    """First `n_train` real test digits -> train files, the rest -> t10k files."""
    names = {role: remote.filename for role, remote in MNIST.files.items()}
    images = read_idx(mnist_dir / names["test_images"], IDX_IMAGES_MAGIC)
    labels = read_idx(mnist_dir / names["test_labels"], IDX_LABELS_MAGIC)
    if not 0 < n_train < len(labels):
        raise SystemExit(f"--train must be in 1..{len(labels) - 1}, got {n_train}")
    write_idx(out / names["train_images"], images[:n_train])
    write_idx(out / names["train_labels"], labels[:n_train])
    write_idx(out / names["test_images"], images[n_train:])
    write_idx(out / names["test_labels"], labels[n_train:])
    return out


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("out", type=Path)
    p.add_argument("--mnist-dir", type=Path, default=DEFAULT_MNIST)
    p.add_argument("--train", type=int, default=8000)
    args = p.parse_args()
    out = split_test_set(args.mnist_dir, args.out, args.train)
    print(f"wrote disjoint MNIST ({args.train:,} train / rest test) to {out}")


if __name__ == "__main__":
    main()
