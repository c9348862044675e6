"""Build and load speed of texmnist against the I/O floor and a naive per-example version.

    python bench/bench.py [--quick] [--out bench/results.json] [--strict]

One run measures, on the same inputs: (a) the floor (PNG-encode every image and mask
once, write them to Parquet through `datasets`, decode every texture photo once);
(b) `texmnist.folder.build` of the default config end to end, num_proc 1 and 2;
(c) bench/reference.py, a per-example PIL implementation, on a subset; (d) loading
`test_random` into NumPy through `texmnist.arrays.to_numpy` against a PIL decode loop;
(e) the build's peak RSS; (f) build time at 1/4, 1/2 and 1x the sizes. Timings are
medians of repeats (wall clock; CPU seconds alongside, as the machine may be shared).
Builds run in subprocesses (imports excluded from their time; RSS via os.wait4).
Exit code 0 unless --strict and a target fails: it is a report, not a test.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
DEFAULT_DATA = REPO.parent / "shared" / "data"
FULL_TRAIN, FULL_TEST = 60_000, 10_000
SPLITS = ("train", "test_correlated", "test_random", "test_no_background")
CHUNK = 1000  # the builder's chunk size: encode in the same batches

TARGETS = {  # name: (ratio key, comparison, bound, text)
    "build_vs_floor": ("build_over_floor", "<=", 1.3, "build <= 1.3x floor (1 process)"),
    "vs_reference": ("reference_over_build", ">=", 20.0, ">= 20x faster/example than reference"),
    "num_proc": ("num_proc_speedup", ">=", 1.6, "num_proc=2 >= 1.6x faster than 1"),
    "load_vs_floor": ("load_over_floor", "<=", 1.2, "load <= 1.2x PNG-decode floor"),
    "peak_rss": ("peak_rss_gb", "<=", 1.5, "peak RSS of the build <= 1.5 GB"),
    "scaling": ("scaling_deviation", "<=", 0.15, "per-example time at 1x within 15% of 1/4x"),
}


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
        dtd, what = data / "dtd", f"real MNIST t10k tiled x6 + real DTD ({data})"
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

    from texmnist.config import DEFAULT_CATEGORIES

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

    from texmnist.config import named_config
    from texmnist.folder import build

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


def png_bytes(table, column: str) -> list[bytes]:
    return table.column(column).combine_chunks().field("bytes").to_pylist()


def encode_all(images: dict, masks: dict) -> dict:
    """Every image and mask PNG-encoded with texmnist.pngenc, in the builder's batches."""
    from texmnist.pngenc import encode_gray_batch, encode_mask_batch

    out = {}
    for s in images:
        img, msk = images[s], masks[s]
        pngs, mpngs = [], []
        for a in range(0, len(img), CHUNK):
            pngs += encode_gray_batch(img[a : a + CHUNK])
            mpngs += encode_mask_batch(msk[a : a + CHUNK])
        out[s] = (pngs, mpngs)
    return out


def write_parquet_floor(tables: dict, encoded: dict, folder: Path) -> None:
    """The encoded PNGs (plus the small columns) to Parquet through `datasets`."""
    import datasets
    import pyarrow as pa

    folder.mkdir(parents=True, exist_ok=True)
    for s, table in tables.items():
        for column, pngs in zip(("image", "mask"), encoded[s], strict=True):
            struct = pa.StructArray.from_arrays(
                [pa.array(pngs, pa.binary()), pa.nulls(len(pngs), pa.string())],
                names=["bytes", "path"],
            )
            table = table.set_column(table.schema.get_field_index(column), column, struct)
        # The schema metadata carries the `datasets` features, as in the build.
        datasets.Dataset(table).to_parquet(str(folder / f"{s}.parquet"))


def blas_threads(n: int):
    """A context limiting BLAS threads to n (threadpoolctl), or a no-op without it."""
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:
        import contextlib

        return contextlib.nullcontext()
    return threadpool_limits(limits=n, user_api="blas")


def pil_encode_us(images: np.ndarray, masks: np.ndarray, repeats: int) -> tuple[float, float]:
    from PIL import Image

    def enc(arrays: np.ndarray) -> None:
        for a in arrays:
            buf = io.BytesIO()
            Image.fromarray(a).save(buf, format="PNG")

    t_img, _ = timed(lambda: enc(images), repeats)
    t_msk, _ = timed(lambda: enc(masks), repeats)
    return 1e6 * t_img["seconds"] / len(images), 1e6 * t_msk["seconds"] / len(masks)


def measure_floor(built: Path, dtd: Path, work: Path, repeats: int) -> tuple[dict, dict]:
    import datasets

    from texmnist.arrays import decode_pngs
    from texmnist.config import DEFAULT_CATEGORIES
    from texmnist.sources import list_textures, partition_textures
    from texmnist.textures import build_bank, load_photo

    datasets.disable_progress_bars()
    tables = read_built(built)
    images = {s: decode_pngs(png_bytes(t, "image")) for s, t in tables.items()}
    masks = {s: decode_pngs(png_bytes(t, "mask")) for s, t in tables.items()}
    n = sum(len(v) for v in images.values())
    enc, encoded = timed(lambda: encode_all(images, masks), repeats)
    same = all(
        encoded[s][0] == png_bytes(tables[s], "image")
        and encoded[s][1] == png_bytes(tables[s], "mask")
        for s in tables
    )
    pq_floor, _ = timed(lambda: write_parquet_floor(tables, encoded, work / "floor"), repeats)

    root = dtd
    cats = list(DEFAULT_CATEGORIES)
    files = list_textures(root, cats)
    part = partition_textures(root, files, 1)
    used = {c: sorted(part.train[c] + part.test[c]) for c in cats}
    n_photos = sum(len(v) for v in used.values())
    bank_fn = lambda: build_bank(root / "images", used, progress=False)  # noqa: E731
    # The floor decodes and resizes each photo once on one core: BLAS threads limited to 1,
    # since OpenBLAS's default pool only adds contention to these small per-photo matmuls.
    with blas_threads(1):
        bank, _ = timed(bank_fn, max(1, repeats - 1))
    bank_default, _ = timed(bank_fn, 1)
    paths = [root / "images" / f for c in cats for f in used[c]]
    decode_only, _ = timed(lambda: [load_photo(p) for p in paths], 1)

    sub = images["train"][:10_000], masks["train"][:10_000]
    pil_img_us, pil_mask_us = pil_encode_us(*sub, repeats=1)
    total = enc["seconds"] + pq_floor["seconds"] + bank["seconds"]
    floor = {
        "seconds": total,
        "cpu_seconds": enc["cpu_seconds"] + pq_floor["cpu_seconds"] + bank["cpu_seconds"],
        "images": n,
        "photos": n_photos,
        "encode_pngenc": enc,
        "encode_us_per_example": 1e6 * enc["seconds"] / n,
        "encode_identical_to_build": same,
        "parquet_write": pq_floor,
        "texture_bank": bank,
        "texture_bank_default_blas_threads": bank_default,
        "photo_decode_only": decode_only,
        "pil_encode_us_image": pil_img_us,
        "pil_encode_us_mask": pil_mask_us,
        "png_bytes_image_mean": float(np.mean([len(b) for b in encoded["train"][0]])),
    }
    return floor, tables


# -- (c) reference ------------------------------------------------------------------


def measure_reference(tables: dict, digits: dict, dtd: Path, work: Path, n: int) -> dict:
    """The reference on the first rows of every split, in proportion to the split sizes."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from reference import build_reference

    from texmnist.arrays import decode_pngs
    from texmnist.builder import features_for
    from texmnist.config import named_config

    cols = ["label", "texture", "texture_file", "aligned", "mnist_index", "image"]
    total = sum(t.num_rows for t in tables.values())
    heads = {s: t.slice(0, round(n * t.num_rows / total)).select(cols) for s, t in tables.items()}
    picked = [
        digits["train" if s == "train" else "test"][h.column("mnist_index").to_numpy()]
        for s, h in heads.items()
    ]
    head = pa.concat_tables(heads.values())
    rows = {c: head.column(c).to_pylist() for c in cols[:-1]}
    features = features_for(named_config("default"))
    out = work / "reference.parquet"
    args = (rows, np.concatenate(picked), dtd / "images", features, out)
    t, count = timed(lambda: build_reference(*args), 1)

    ref = decode_pngs(png_bytes(pq.read_table(out), "image")).astype(np.int16)
    ours = decode_pngs(png_bytes(head, "image")).astype(np.int16)
    diff = np.abs(ref - ours)
    t.update(
        examples=count,
        us_per_example=1e6 * t["seconds"] / count,
        max_abs_diff_vs_build=int(diff.max()),
        mean_abs_diff_vs_build=float(diff.mean()),
    )
    return t


# -- (d) load -----------------------------------------------------------------------


def measure_load(built: Path, work: Path, repeats: int) -> dict:
    import datasets

    from texmnist.arrays import to_numpy

    datasets.disable_progress_bars()
    cache = work / "hf-cache"

    def load(columns=None) -> dict:
        ds = datasets.load_dataset(str(built), "default", split="test_random", cache_dir=cache)
        return to_numpy(ds, columns=columns)

    cold, arrays = timed(load, 1)  # converts the folder's Parquet to the Arrow cache
    warm, _ = timed(load, repeats)
    warm_img, _ = timed(lambda: load(["image", "label"]), repeats)
    parquet = next((built / "data").glob("test_random-*.parquet"))
    floor_all, check = timed(lambda: pil_decode_floor(parquet, ("image", "mask")), repeats)
    floor_img, _ = timed(lambda: pil_decode_floor(parquet, ("image",)), repeats)
    equal = all(np.array_equal(arrays[c], check[c]) for c in ("image", "mask"))
    return {
        "rows": len(arrays["image"]),
        "cold": cold,
        "warm": warm,
        "warm_image_label": warm_img,
        "floor_image_mask": floor_all,
        "floor_image": floor_img,
        "identical_to_pil": equal,
    }


def pil_decode_floor(parquet: Path, columns: tuple[str, ...]) -> dict:
    """Read PNG bytes with pyarrow and PIL-decode each into a preallocated array."""
    import pyarrow.parquet as pq
    from PIL import Image

    table = pq.read_table(parquet, columns=list(columns))
    out = {}
    for c in columns:
        blobs = png_bytes(table, c)
        first = np.asarray(Image.open(io.BytesIO(blobs[0])))
        arr = np.empty((len(blobs), *first.shape), dtype=first.dtype)
        for i, b in enumerate(blobs):
            arr[i] = np.asarray(Image.open(io.BytesIO(b)))
        out[c] = arr
    return out


# -- report -------------------------------------------------------------------------


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
