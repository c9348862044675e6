"""All nine named configs: one `texmnist build --config all` run against nine separate runs.

    python bench/bench_multiconfig.py [--data ../shared/data] [--num-proc 2] [--max-train N]

Both are measured in this one script run, on the same inputs, as the commands a user
types (subprocesses; wall clock, and CPU seconds of each command and its workers, as
the machine may be shared), and the fingerprints of the two folders are compared.
Inputs: the real MNIST test digits, tiled x6 as the 60,000 training digits (a speed
benchmark only: never train on them), the real Fashion-MNIST and the real DTD photos
from `--data`. Prints the load average before and after each measurement.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from common import FULL_TRAIN, write_idx

from texmnist.generate.config import NAMED_CONFIGS

REPO = Path(__file__).resolve().parents[1]
DEFAULT_DATA = REPO.parent / "shared" / "data"
GOAL_SECONDS = 30.0  # all nine at full size, idle 2-core machine (issue 12)


def mnist_folder(data: Path, work: Path) -> Path:
    """The real t10k digits as test, tiled to 60,000 as train (IDX, uncompressed)."""
    import numpy as np

    from texmnist.sources import read_idx

    images = read_idx(data / "mnist" / "t10k-images-idx3-ubyte.gz")
    labels = read_idx(data / "mnist" / "t10k-labels-idx1-ubyte.gz")
    reps = FULL_TRAIN // len(images)
    folder = work / "mnist"
    folder.mkdir(parents=True)
    write_idx(folder / "train-images-idx3-ubyte", np.tile(images, (reps, 1, 1)))
    write_idx(folder / "train-labels-idx1-ubyte", np.tile(labels, reps))
    write_idx(folder / "t10k-images-idx3-ubyte", images)
    write_idx(folder / "t10k-labels-idx1-ubyte", labels)
    return folder


def run(argv: list[str], log: Path) -> dict:
    """One `texmnist` command: wall seconds, CPU seconds of it and its reaped workers."""
    cmd = [sys.executable, "-m", "texmnist.cli", *argv]
    with open(log, "ab") as err:
        t0 = time.perf_counter()
        proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=err)
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - t0
    if os.waitstatus_to_exitcode(status) != 0:
        raise RuntimeError(f"{' '.join(argv)} failed; see {log}")
    return {"wall": wall, "cpu": usage.ru_utime + usage.ru_stime}


def fingerprints(folder: Path) -> dict[str, str]:
    meta = json.loads((folder / "texmnist.json").read_text())
    return {name: c["fingerprint"] for name, c in meta["configs"].items()}


def load() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data", type=Path, default=DEFAULT_DATA)
    p.add_argument("--num-proc", type=int, default=2)
    p.add_argument("--max-train", type=int, help="quick run: the first N training digits")
    args = p.parse_args(argv)
    if not (args.data / "mnist").is_dir() or not (args.data / "fashion-mnist").is_dir():
        print(f"real data not found in {args.data}", file=sys.stderr)
        return 1
    work = Path(tempfile.mkdtemp(prefix="texmnist-bench-multi-"))
    try:
        mnist = mnist_folder(args.data, work)
        fashion = args.data / "fashion-mnist"
        common = ["--mnist-dir", str(mnist), "--fashion-mnist-dir", str(fashion),
                  "--dtd-dir", str(args.data / "dtd"), "--no-download",
                  "--num-proc", str(args.num_proc)]  # fmt: skip
        if args.max_train:
            common += ["--max-train", str(args.max_train)]
        log = work / "build.log"
        print(f"cpus {os.cpu_count()}, num_proc {args.num_proc}, load average {load()}")

        one = run(["build", "--out", str(work / "one"), "--config", "all", *common], log)
        print(f"one run, all nine:  {one['wall']:6.1f} s wall  {one['cpu']:6.1f} s CPU"
              f"   (load average after: {load()})")  # fmt: skip

        separate = {"wall": 0.0, "cpu": 0.0}
        for name in NAMED_CONFIGS:
            r = run(["build", "--out", str(work / "separate"), "--config", name, *common], log)
            separate = {k: separate[k] + r[k] for k in separate}
            print(f"  separate {name:<19} {r['wall']:6.1f} s wall  {r['cpu']:6.1f} s CPU")
        print(f"nine separate runs: {separate['wall']:6.1f} s wall  {separate['cpu']:6.1f} s CPU"
              f"   (load average after: {load()})")  # fmt: skip

        same = fingerprints(work / "one") == fingerprints(work / "separate")
        print(f"separate / one: {separate['wall'] / one['wall']:.2f}x wall, "
              f"{separate['cpu'] / one['cpu']:.2f}x CPU")  # fmt: skip
        print(f"fingerprints of all nine configs equal: {same}")
        verdict = "PASS" if one["wall"] <= GOAL_SECONDS else "over (see the load average)"
        print(f"goal: one run <= {GOAL_SECONDS:.0f} s on an idle 2-core machine: {verdict}")
        return 0 if same else 1
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
