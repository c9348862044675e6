"""Shared pieces of the build benchmarks: timing, real or fake inputs, builds in subprocesses."""

from __future__ import annotations

import json
import os
import shutil
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
DEFAULT_DATA = REPO.parent / "shared" / "data"
FULL_TRAIN, FULL_TEST = 60_000, 10_000
SPLITS = ("train", "test_correlated", "test_random", "test_no_background")


def _shown(path: Path) -> str:
    """`path` as the results show it: relative to the repository, never a local absolute path."""
    return os.path.relpath(Path(path).resolve(), REPO)


# -- timing -----------------------------------------------------------------------


def timed(fn: Callable[[], object], repeats: int) -> tuple[dict, object]:
    """Median wall and CPU seconds of `fn` over `repeats` calls, and its last result."""
    walls, cpus, result = [], [], None
    for _ in range(repeats):
        c0, t0 = time.process_time(), time.perf_counter()
        result = fn()
        walls.append(time.perf_counter() - t0)
        cpus.append(time.process_time() - c0)
    return summary(walls, cpus), result


def summary(walls: list[float], cpus: list[float]) -> dict:
    return {
        "seconds": statistics.median(walls),
        "cpu_seconds": statistics.median(cpus),
        "samples": [round(w, 3) for w in walls],
    }


def log(msg: str) -> None:
    print(msg, flush=True)


# -- inputs -----------------------------------------------------------------------


def write_idx(path: Path, array: np.ndarray) -> None:
    """An uncompressed IDX file (magic 0x0000 08 <ndim>, big-endian dims, data)."""
    array = np.ascontiguousarray(array, dtype=np.uint8)
    header = bytes([0, 0, 0x08, array.ndim]) + b"".join(d.to_bytes(4, "big") for d in array.shape)
    path.write_bytes(header + array.tobytes())


def prepare_inputs(data: Path, work: Path) -> tuple[Path, Path, dict, str]:
    """MNIST folder of the real sizes, DTD root, the digits by source split, what they are."""
    mnist = work / "mnist"
    mnist.mkdir(parents=True)
    real = data / "mnist" / "t10k-images-idx3-ubyte.gz"
    if real.is_file() and (data / "dtd" / "images").is_dir():
        from texmnist.sources import read_idx

        test_images = read_idx(real)
        test_labels = read_idx(data / "mnist" / "t10k-labels-idx1-ubyte.gz")
        train_labels_file = data / "mnist" / "train-labels-idx1-ubyte.gz"
        train_labels = read_idx(train_labels_file) if train_labels_file.is_file() else None
        dtd, what = data / "dtd", f"real MNIST t10k tiled x6 + real DTD ({_shown(data)})"
    else:
        test_images, test_labels = fake_digits(FULL_TEST)
        train_labels, dtd = None, fake_dtd(work / "dtd")
        what = "generated digits + 1,200 generated JPEGs (real data not found)"
    reps = FULL_TRAIN // len(test_images)
    train_images = np.tile(test_images, (reps, 1, 1))
    if train_labels is None or len(train_labels) != FULL_TRAIN:
        train_labels = np.tile(test_labels, reps)
    write_idx(mnist / "train-images-idx3-ubyte", train_images)
    write_idx(mnist / "train-labels-idx1-ubyte", train_labels)
    write_idx(mnist / "t10k-images-idx3-ubyte", test_images)
    write_idx(mnist / "t10k-labels-idx1-ubyte", test_labels)
    return mnist, dtd, {"train": train_images, "test": test_images}, what


def fake_digits(n: int) -> tuple[np.ndarray, np.ndarray]:
    sys.path.insert(0, str(REPO / "tests"))
    from fakedata import fake_digits as make

    return make(n, seed=0)


def fake_dtd(root: Path, per_category: int = 120) -> Path:
    """1,200 photo-like JPEGs, 300-640 px a side, in the DTD layout."""
    from PIL import Image

    from texmnist.generate.config import DEFAULT_CATEGORIES

    rng = np.random.default_rng(0)
    for category in DEFAULT_CATEGORIES:
        folder = root / "images" / category
        folder.mkdir(parents=True)
        for k in range(per_category):
            h, w = (int(v) for v in rng.integers(300, 641, size=2))
            coarse = rng.integers(0, 256, size=(h // 12 + 2, w // 12 + 2, 3), dtype=np.uint8)
            base = np.asarray(Image.fromarray(coarse).resize((w, h), Image.Resampling.BICUBIC))
            noise = rng.integers(-24, 25, size=base.shape, dtype=np.int16)
            pixels = np.clip(base.astype(np.int16) + noise, 0, 255).astype(np.uint8)
            Image.fromarray(pixels).save(folder / f"{category}_{k + 1:04d}.jpg", quality=90)
    return root


# -- (b, e, f) builds in subprocesses -----------------------------------------------


def child_build(spec: dict) -> None:
    """Run in a subprocess: one texmnist build; print its wall and CPU seconds as JSON."""
    import datasets

    from texmnist.generate.config import named_config
    from texmnist.repo.folder import build

    datasets.disable_progress_bars()
    config = named_config(
        "default",
        mnist_dir=spec["mnist"],
        dtd_dir=spec["dtd"],
        download=False,
        max_train=spec["max_train"],
        max_test=spec["max_test"],
    )
    k0, c0, t0 = children_cpu(), time.process_time(), time.perf_counter()
    result = build(config, Path(spec["out"]), overwrite=True, num_proc=spec["num_proc"])
    seconds = time.perf_counter() - t0
    cpu = time.process_time() - c0 + children_cpu() - k0  # workers too, imports excluded
    rows = sum(s["num_examples"] for s in result.splits.values())
    print(json.dumps({"seconds": seconds, "build_cpu": cpu, "rows": rows}))


def children_cpu() -> float:
    import resource

    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def run_build(spec: dict, log_file: Path) -> dict:
    """One build subprocess: its build seconds, CPU seconds of it and its workers, max RSS."""
    shutil.rmtree(spec["out"], ignore_errors=True)
    cmd = [sys.executable, str(Path(__file__).resolve()), "--child-build", json.dumps(spec)]
    with open(log_file, "ab") as err:
        t0 = time.perf_counter()
        proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=err)
        out = proc.stdout.read()
        _, status, usage = os.wait4(proc.pid, 0)
        total = time.perf_counter() - t0
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0:
        raise RuntimeError(f"build failed (exit {proc.returncode}); see {log_file}")
    res = json.loads(out.decode().strip().splitlines()[-1])
    res["process_seconds"] = total  # including interpreter start and imports
    res["cpu_seconds_all"] = usage.ru_utime + usage.ru_stime  # child + its reaped workers
    res["max_rss_bytes"] = usage.ru_maxrss * 1024  # Linux: KiB; max over the tree, not a sum
    return res


def median_build(runs: list[dict]) -> dict:
    return {
        "seconds": statistics.median(r["seconds"] for r in runs),
        "cpu_seconds": statistics.median(r["build_cpu"] for r in runs),
        "samples": [round(r["seconds"], 3) for r in runs],
        "rows": runs[0]["rows"],
        "max_rss_bytes": max(r["max_rss_bytes"] for r in runs),
        "process_seconds": statistics.median(r["process_seconds"] for r in runs),
    }


# -- (a) the floor ------------------------------------------------------------------


def read_built(folder: Path) -> dict:
    import pyarrow.parquet as pq

    files = {s: sorted((folder / "data").glob(f"{s}-*.parquet")) for s in SPLITS}
    return {s: pq.read_table(f[0]) if len(f) == 1 else _concat(f) for s, f in files.items()}


def _concat(files: list[Path]):
    import pyarrow as pa
    import pyarrow.parquet as pq

    return pa.concat_tables([pq.read_table(f) for f in files])
