"""Build and load speed of texmnist against the I/O floor and a naive per-example version.

    python bench/bench.py [--quick] [--out bench/results.json] [--strict]

One run measures, on the same inputs: (a) the floor (PNG-encode every image and mask
once, write them to Parquet through `datasets`, decode every texture photo once);
(b) `texmnist.repo.folder.build` of the default config end to end, num_proc 1 and 2;
(c) bench/reference.py, a per-example PIL implementation, on a subset; (d) loading
`test_random` into NumPy through `texmnist.repo.arrays.to_numpy` against a PIL decode loop;
(e) the build's peak RSS; (f) build time at 1/4, 1/2 and 1x the sizes. Timings are
medians of repeats (wall clock; CPU seconds alongside, as the machine may be shared).
Builds run in subprocesses (imports excluded from their time; RSS via os.wait4).
Exit code 0 unless --strict and a target fails: it is a report, not a test.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from common import (
    DEFAULT_DATA,
    FULL_TEST,
    FULL_TRAIN,
    child_build,
    log,
    median_build,
    prepare_inputs,
    run_build,
)
from floor import measure_floor, measure_load, measure_reference

TARGETS = {  # name: (ratio key, comparison, bound, text)
    "build_vs_floor": ("build_over_floor", "<=", 1.3, "build <= 1.3x floor (1 process)"),
    "vs_reference": ("reference_over_build", ">=", 20.0, ">= 20x faster/example than reference"),
    "num_proc": ("num_proc_speedup", ">=", 1.6, "num_proc=2 >= 1.6x faster than 1"),
    "load_vs_floor": ("load_over_floor", "<=", 1.2, "load <= 1.2x PNG-decode floor"),
    "peak_rss": ("peak_rss_gb", "<=", 1.5, "peak RSS of the build <= 1.5 GB"),
    "scaling": ("scaling_deviation", "<=", 0.15, "per-example time at 1x within 15% of 1/4x"),
}


def ratios(r: dict) -> dict:
    b1, b2, floor = r["build_np1"], r["build_np2"], r["floor"]
    per_build = b1["seconds"] / b1["rows"]
    quarter = r["scaling"]["0.25"]
    per_quarter = quarter["seconds"] / quarter["rows"]
    return {
        "build_over_floor": b1["seconds"] / floor["seconds"],
        "build_over_floor_cpu": b1["cpu_seconds"] / floor["cpu_seconds"],
        "reference_over_build": r["reference"]["us_per_example"] / (1e6 * per_build),
        "reference_over_build_cpu": (r["reference"]["cpu_seconds"] / r["reference"]["examples"])
        / (b1["cpu_seconds"] / b1["rows"]),
        "num_proc_speedup": b1["seconds"] / b2["seconds"],
        "num_proc_2_over_1_cpu": b2["cpu_seconds"] / b1["cpu_seconds"],
        "load_over_floor": r["load"]["warm"]["seconds"] / r["load"]["floor_image_mask"]["seconds"],
        "load_cold_over_floor": (
            r["load"]["cold"]["seconds"] / r["load"]["floor_image_mask"]["seconds"]
        ),
        "peak_rss_gb": b1["max_rss_bytes"] / 1e9,
        "per_example_1x_over_quarter": per_build / per_quarter,
        "scaling_deviation": abs(per_build / per_quarter - 1.0),
        "per_example_1x_over_quarter_cpu": (b1["cpu_seconds"] / b1["rows"])
        / (quarter["cpu_seconds"] / quarter["rows"]),
        "marginal_us_per_example": linear_fit(r)[0],
        "fixed_seconds": linear_fit(r)[1],
        "slope_half_to_1x_over_quarter_to_half": slope_ratio(r),
        "floor_per_example_1x_over_quarter": floor_scaling(floor),
    }


def linear_fit(r: dict) -> tuple[float, float]:
    """Build seconds against rows over the scaling points: (us per example, fixed seconds)."""
    pts = [(v["rows"], v["seconds"]) for v in r["scaling"].values()]
    x, y = np.array(pts, dtype=float).T
    slope, intercept = np.polyfit(x, y, 1)
    return float(1e6 * slope), float(intercept)


def slope_ratio(r: dict) -> float:
    """Marginal cost per example from 1/2 to 1x over that from 1/4 to 1/2 (1 = linear)."""
    (n1, t1), (n2, t2), (n3, t3) = sorted((v["rows"], v["seconds"]) for v in r["scaling"].values())
    return ((t3 - t2) / (n3 - n2)) / ((t2 - t1) / (n2 - n1))


def floor_scaling(floor: dict) -> float:
    """The same per-example ratio for the floor itself: its texture bank is a fixed cost too."""
    per_rows = floor["encode_pngenc"]["seconds"] + floor["parquet_write"]["seconds"]
    bank = floor["texture_bank"]["seconds"]
    return ((per_rows + bank) / 4) / (per_rows / 4 + bank)


def check_targets(rat: dict) -> list[dict]:
    out = []
    for name, (key, op, bound, text) in TARGETS.items():
        value = rat[key]
        ok = value <= bound if op == "<=" else value >= bound
        out.append({"target": name, "text": text, "value": value, "bound": bound, "pass": ok})
    return out


def print_report(r: dict) -> None:
    f, b1, b2, ref, ld = r["floor"], r["build_np1"], r["build_np2"], r["reference"], r["load"]
    n = b1["rows"]
    log("")
    log(f"inputs: {r['inputs']}; {n:,} examples; load average {r['loadavg']}")
    log("times are medians of repeats: wall seconds (CPU seconds) [samples]")
    log("(a) floor")
    log(
        f"  pngenc encode {f['images']:,} images + masks  {fmt(f['encode_pngenc'])}"
        f"  = {f['encode_us_per_example']:.1f} us/example; identical to build's PNGs: "
        f"{f['encode_identical_to_build']}"
    )
    log(
        f"  PIL encode for reference: {f['pil_encode_us_image']:.1f} us/image, "
        f"{f['pil_encode_us_mask']:.1f} us/mask (10,000 train images)"
    )
    log(f"  Parquet write via datasets          {fmt(f['parquet_write'])}")
    log(
        f"  texture bank ({f['photos']} photos, build_bank) {fmt(f['texture_bank'])}"
        f"; decode only: {f['photo_decode_only']['seconds']:.2f} s"
    )
    log(
        f"    (BLAS threads limited to 1; with the default BLAS threads: "
        f"{fmt(f['texture_bank_default_blas_threads'])})"
    )
    log(f"  floor total                         {f['seconds']:.2f} s ({f['cpu_seconds']:.2f})")
    log("(b) texmnist build (folder.build, default config, card+preview+fingerprint)")
    for label, b in (("num_proc=1", b1), ("num_proc=2", b2)):
        log(
            f"  {label}  {fmt(b)}  = {1e6 * b['seconds'] / n:.1f} us/example;"
            f" process incl. imports {b['process_seconds']:.2f} s"
        )
    log(
        f"(c) reference, {ref['examples']:,} examples (all splits, pro rata)  {fmt(ref)}"
        f"  = {ref['us_per_example']:.0f} us/example; pixels vs build: max |diff| "
        f"{ref['max_abs_diff_vs_build']}, mean {ref['mean_abs_diff_vs_build']:.3f}"
    )
    log(f"(d) load test_random ({ld['rows']:,} rows) to NumPy")
    log(f"  load_dataset + to_numpy, cold cache  {fmt(ld['cold'])}")
    log(f"  load_dataset + to_numpy, warm        {fmt(ld['warm'])}")
    log(f"  same, columns image+label            {fmt(ld['warm_image_label'])}")
    log(
        f"  floor: pyarrow + PIL decode image+mask {fmt(ld['floor_image_mask'])}"
        f"; image only {fmt(ld['floor_image'])}; identical pixels: {ld['identical_to_pil']}"
    )
    log(
        f"(e) peak RSS of the 1-process build: {b1['max_rss_bytes'] / 1e9:.2f} GB "
        f"(num_proc=2: largest single process {b2['max_rss_bytes'] / 1e9:.2f} GB)"
    )
    rat = r["ratios"]
    log(
        f"(f) scaling (num_proc=1); linear fit: {rat['marginal_us_per_example']:.1f} us/example"
        f" + {rat['fixed_seconds']:.2f} s fixed"
    )
    for k, v in r["scaling"].items():
        log(
            f"  {k:>5}x  {v['rows']:>6,} examples  {fmt(v)}"
            f"  = {1e6 * v['seconds'] / v['rows']:.1f} us/example"
        )
    log("ratios")
    for key, value in rat.items():
        log(f"  {key:40s} {value:.3f}")
    log("targets")
    for t in r["targets"]:
        log(f"  {'PASS' if t['pass'] else 'FAIL'}  {t['text']:42s} measured {t['value']:.3f}")


def fmt(t: dict) -> str:
    return f"{t['seconds']:.2f} s ({t['cpu_seconds']:.2f}) {t['samples']}"


# -- main ---------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true", help="1/4 sizes, fewer repeats (smoke run)")
    p.add_argument("--out", type=Path, default=None, help="write the results as JSON here")
    p.add_argument("--strict", action="store_true", help="exit 1 when a target fails")
    p.add_argument("--data", type=Path, default=DEFAULT_DATA, help="real MNIST/DTD folder")
    p.add_argument(
        "--repeats",
        type=int,
        default=None,
        help="repeats of each build (default 3; 1 with --quick)",
    )
    p.add_argument("--child-build", help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.child_build:
        child_build(json.loads(args.child_build))
        return 0
    start = time.perf_counter()
    base = 0.25 if args.quick else 1.0
    reps = args.repeats or (1 if args.quick else 3)
    fast_reps = 2 if args.quick else 3
    n_ref = 1000 if args.quick else 5000
    with tempfile.TemporaryDirectory(prefix="texmnist-bench-") as tmp:
        work = Path(tmp)
        results = run_all(args.data, work, base, reps, fast_reps, n_ref)
    results["total_seconds"] = time.perf_counter() - start
    print_report(results)
    log(f"total benchmark time {results['total_seconds']:.0f} s")
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(results, indent=2) + "\n")
        log(f"wrote {args.out}")
    failed = [t for t in results["targets"] if not t["pass"]]
    return 1 if args.strict and failed else 0


def run_all(data: Path, work: Path, base: float, reps: int, fast_reps: int, n_ref: int) -> dict:
    load0 = os.getloadavg()
    log("preparing inputs ...")
    mnist, dtd, digits, what = prepare_inputs(data, work)
    builds_log = work / "builds.log"

    def spec(frac: float, num_proc: int, out: str) -> dict:
        sizes = round(FULL_TRAIN * frac), round(FULL_TEST * frac)
        full = sizes == (FULL_TRAIN, FULL_TEST)
        return {
            "mnist": str(mnist),
            "dtd": str(dtd),
            "out": str(work / out),
            "num_proc": num_proc,
            "max_train": None if full else sizes[0],
            "max_test": None if full else sizes[1],
        }

    np1, np2 = [], []
    for i in range(reps):  # interleaved, so drifting load hits both alike
        log(f"build num_proc=1 ({i + 1}/{reps}) ...")
        np1.append(run_build(spec(base, 1, "built" if i == 0 else "b1"), builds_log))
        log(f"build num_proc=2 ({i + 1}/{reps}) ...")
        np2.append(run_build(spec(base, 2, "b2"), builds_log))
    built = work / "built"
    log("floor ...")
    floor, tables = measure_floor(built, dtd, work, fast_reps)
    log(f"reference on {n_ref} examples ...")
    ref = measure_reference(tables, digits, dtd, work, n_ref)
    del tables
    log("load ...")
    load = measure_load(built, work, fast_reps)
    scaling = {}
    for frac in (0.25, 0.5):
        log(f"scaling build {frac}x ...")
        runs = [run_build(spec(base * frac, 1, "bs"), builds_log) for _ in range(reps)]
        scaling[str(frac)] = median_build(runs)
    results = {
        "inputs": what,
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version()},
        "loadavg": [round(x, 2) for x in (*load0, *os.getloadavg())],
        "base_fraction": base,
        "floor": floor,
        "build_np1": median_build(np1),
        "build_np2": median_build(np2),
        "reference": ref,
        "load": load,
    }
    scaling["1.0"] = results["build_np1"]
    results["scaling"] = scaling
    results["ratios"] = ratios(results)
    results["targets"] = check_targets(results["ratios"])
    return results


if __name__ == "__main__":
    sys.exit(main())
