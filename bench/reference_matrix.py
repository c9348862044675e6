"""The reference baseline matrix on the full real MNIST (issue 20's measured run).

1. Builds `default`, `rho-0.9` and `uncorrelated` from the full real MNIST (60,000 training
   digits, the 10,000 t10k digits for testing: disjoint) and the DTD photos, into
   WORK/textured-mnist (configs already there are kept). The rho configs hold out their
   5,000 validation digits; `default` has none, so every method selects on a seeded 10% of
   its training digits.
2. Runs every method on every config over the seeds into WORK/textured-mnist/reports
   (matrix.md goes into the card) and prints the CPU and wall time. Each run keeps its best
   epoch on validation and stops early; finished cells are reused, so an interrupted run
   resumes where it stopped (`--shard K/N` splits the cells between processes).

    python bench/reference_matrix.py --work W
    python bench/reference_matrix.py --work W --time-cell default/rrr

`--time-cell CONFIG/METHOD` trains only that cell with the first seed (into WORK/timing)
and prints its times: the way to estimate the matrix's cost before running it.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import torch

from texmnist.evaluate.matrix import run_matrix
from texmnist.evaluate.train import METHODS
from texmnist.generate.config import named_config
from texmnist.repo.card import write_card
from texmnist.repo.folder import build
from texmnist.repo.meta import read_metadata

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data"
CONFIGS = ("default", "rho-0.9", "uncorrelated")
# The most epochs a run trains; it keeps its best epoch on validation and stops after 3
# epochs without a better one (MNIST's CNN converges within it).
EPOCHS = 8


def build_configs(mnist: Path, dtd: Path, repo: Path, num_proc: int | None) -> None:
    have = (read_metadata(repo) or {}).get("configs", {}) if repo.is_dir() else {}
    for name in CONFIGS:
        if name in have:
            continue  # built by an earlier run: same inputs, same bytes
        config = named_config(name, mnist_dir=str(mnist), dtd_dir=str(dtd), download=False)
        procs = {"num_proc": num_proc} if num_proc else {}  # else the builder's default
        build(config, repo, command=f"texmnist build --config {name}", **procs)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--work", type=Path, required=True, help="folder for the data and reports")
    p.add_argument("--mnist", type=Path, default=SHARED / "mnist")
    p.add_argument("--dtd", type=Path, default=SHARED / "dtd")
    p.add_argument("--epochs", type=int, default=EPOCHS)
    p.add_argument("--seeds", default="0,1,2")
    p.add_argument("--model", default="cnn")
    p.add_argument("--num-proc", type=int, help="processes for the builds (default: the cores)")
    p.add_argument("--time-cell", help="CONFIG/METHOD: time this one cell, first seed only")
    p.add_argument("--threads", type=int, help="torch threads (default: torch's, every core)")
    p.add_argument("--shard", help="K/N: train every N-th cell only (see run_matrix)")
    p.add_argument("--device", help="cpu or cuda (default: cuda when available)")
    args = p.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    seeds = [int(s) for s in args.seeds.split(",")]
    repo = args.work / "textured-mnist"
    start = time.perf_counter()
    build_configs(args.mnist, args.dtd, repo, args.num_proc)
    print(f"data ready in {repo} ({time.perf_counter() - start:.0f} s)")
    configs, methods, out = ",".join(CONFIGS), ",".join(METHODS), repo / "reports"
    if args.time_cell:
        configs, methods = args.time_cell.split("/")
        name = f"{args.time_cell.replace('/', '-')}-{torch.get_num_threads()}t"
        seeds, out = seeds[:1], args.work / "timing" / name
    wall, cpu = time.perf_counter(), time.process_time()
    matrix = run_matrix(
        repo, out, configs=configs, methods=methods, seeds=seeds, model=args.model,
        epochs=args.epochs, progress=False, shard=args.shard, device=args.device,
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
    if not args.time_cell and not args.shard:
        write_card(repo)  # the card's Baselines section now holds reports/matrix.md
        print(f"wrote {out / 'matrix.md'} and the card {repo / 'README.md'}")


if __name__ == "__main__":
    main()
