"""The reference baseline matrix on real, disjoint digits (issue 13's measured run).

1. Splits the real MNIST test set (10,000 digits) into 8,000 train / 2,000 test digits and
   writes them as IDX files with true headers (first 8,000 -> train-*, last 2,000 -> t10k-*):
   no digit is both trained on and scored.
2. Builds `default`, `rho-0.9` and `uncorrelated` from them and the DTD photos, each with a
   validation split of 1,000 of the 8,000 train digits (JTT and DFR select on it; 7,000 train).
3. Runs every method on every config over the seeds into DIR/reports (matrix.md goes into
   the card) and prints the CPU and wall time.

    python bench/reference_matrix.py --work /tmp/texmnist-reference
    python bench/reference_matrix.py --work /tmp/texmnist-reference --time-cell default/rrr

`--time-cell CONFIG/METHOD` trains only that cell with the first seed (into DIR/timing) and
prints its times: the way to estimate the matrix's cost before running it.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import torch
from disjoint_mnist import split_test_set

from texmnist.evaluate.matrix import run_matrix
from texmnist.evaluate.train import METHODS
from texmnist.generate.config import named_config
from texmnist.repo.card import write_card
from texmnist.repo.folder import build
from texmnist.repo.meta import read_metadata

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data"
CONFIGS = ("default", "rho-0.9", "uncorrelated")
N_TRAIN = 8000  # of the 10,000 real MNIST test digits; the rest are the test digits
# Epochs keep 3 configs x 7 methods x 3 seeds under 60 CPU-minutes on the 2-core development
# machine (measured per cell with --time-cell; JTT, 2 + 6 x EPOCHS epochs, dominates).
EPOCHS = 3
VALIDATION = 1000
# One torch thread: on a busy 2-core machine a second thread mostly spins (measured: 4x the
# CPU time for the same JTT cell); the matrix's cells run one after the other.
THREADS = 1


def build_configs(mnist: Path, dtd: Path, repo: Path, validation: int, num_proc: int) -> None:
    have = (read_metadata(repo) or {}).get("configs", {}) if repo.is_dir() else {}
    for name in CONFIGS:
        if name in have:
            continue  # built by an earlier run: same inputs, same bytes
        config = named_config(
            name, mnist_dir=str(mnist), dtd_dir=str(dtd), validation_size=validation,
            download=False,
        )  # fmt: skip
        build(config, repo, num_proc=num_proc, command=f"texmnist build --config {name}")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--work", type=Path, required=True, help="folder for the data and reports")
    p.add_argument("--mnist", type=Path, default=SHARED / "mnist")
    p.add_argument("--dtd", type=Path, default=SHARED / "dtd")
    p.add_argument("--epochs", type=int, default=EPOCHS)
    p.add_argument("--seeds", default="0,1,2")
    p.add_argument("--model", default="cnn")
    p.add_argument("--validation-size", type=int, default=VALIDATION)
    p.add_argument("--num-proc", type=int, default=2, help="processes for the builds")
    p.add_argument("--time-cell", help="CONFIG/METHOD: time this one cell, first seed only")
    p.add_argument("--threads", type=int, default=THREADS, help="torch threads")
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    seeds = [int(s) for s in args.seeds.split(",")]
    repo = args.work / "textured-mnist"
    digits = split_test_set(args.mnist, args.work / "mnist-8000-2000", N_TRAIN)
    start = time.perf_counter()
    build_configs(digits, args.dtd, repo, args.validation_size, args.num_proc)
    print(f"data ready in {repo} ({time.perf_counter() - start:.0f} s)")
    configs, methods, out = ",".join(CONFIGS), ",".join(METHODS), repo / "reports"
    if args.time_cell:
        configs, methods = args.time_cell.split("/")
        name = f"{args.time_cell.replace('/', '-')}-{torch.get_num_threads()}t"
        seeds, out = seeds[:1], args.work / "timing" / name
    wall, cpu = time.perf_counter(), time.process_time()
    matrix = run_matrix(
        repo, out, configs=configs, methods=methods, seeds=seeds, model=args.model,
        epochs=args.epochs, progress=False,
    )  # fmt: skip
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    for key, cell in matrix["cells"].items():
        state = cell["status"] + (" (reused)" if cell.get("reused") else "")
        print(f"{key}: {state}, {cell.get('cpu_seconds', 0.0):.0f} CPU-s")
    print(
        f"{len(matrix['cells'])} cells x {len(seeds)} seeds, {args.epochs} epochs, "
        f"{torch.get_num_threads()} torch threads: {wall / 60:.1f} min wall, "
        f"{cpu / 60:.1f} CPU-min"
    )
    if not args.time_cell:
        write_card(repo)  # the card's Baselines section now holds reports/matrix.md
        print(f"wrote {out / 'matrix.md'} and the card {repo / 'README.md'}")


if __name__ == "__main__":
    main()
