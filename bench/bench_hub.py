"""Parquet layout for the Hub: one row group per split (texmnist <= 0.1) against 100-row groups.

    python bench/bench_hub.py [--data ../shared/data] [--repeats 3]

Builds `default` and `rgb` from the real MNIST test digits (repeated `--train-copies` times,
default 6, as the 60,000 training digits: this measures bytes and speed, never accuracy)
and the real DTD photos, then writes
each train split a second time in the old layout (one file, `Dataset.to_parquet` with its
defaults, as texmnist 0.1 did: one row group per split; card and texmnist.json updated).
Both layouts are served by the Hub test double (`tests/hub_double.py`, 127.0.0.1 only),
which honours Range and logs the body bytes of every response, and measured in one run:

- streaming: bytes and time until `next(iter(load_dataset(repo, config, split="train",
  streaming=True)))` returns, with the unmodified `datasets` client;
- tuned streaming: the same with the small-read options the README gives;
- range reader: bytes and time to read the first row through `pyarrow.parquet.ParquetFile`
  on an `HfFileSystem` file without read-ahead (what a reader that fetches only what it
  needs, like the dataset viewer, pays);
- bulk: a whole train split from the local folder into NumPy, two ways: `load_dataset`
  (fresh cache: its per-row-group Parquet to Arrow conversion and cache copy) then
  `to_numpy`, which is what texmnist 0.1's `load_split` did; and today's
  `texmnist.repo.arrays.load_split` (pyarrow reads the files texmnist.json lists) then
  `to_numpy`. The goal (new layout no more than 10% slower than the old one) is checked
  for today's code on both layouts and against 0.1's path on the old layout;
- sizes: the train files and the whole config folder.

It prints medians over `--repeats`, ratios new/old, and writes bench/results_hub.json.
Timings depend on the machine's load; bytes do not.
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import shutil
import socket
import statistics
import struct
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CONFIGS = ("default", "rgb")
GOAL_BYTES = 10**6
SMALL_READ = 128 * 1024  # bytes per request of the tuned stream
PARTS = ("stream", "tuned", "range", "bulk", "bulk_ds")
OLD_TRAIN = "train-00000-of-00001.parquet"  # texmnist 0.1: one file, one row group per split


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _client_environment(port: int, home: Path) -> None:
    """Point the clients at the double; they read these once, at import, so call it first."""
    for name in ("HF_HUB_OFFLINE", "HF_DATASETS_OFFLINE"):
        os.environ.pop(name, None)
    os.environ.update(
        HF_ENDPOINT=f"http://127.0.0.1:{port}",
        HF_HUB_DISABLE_XET="1",
        HF_HOME=str(home),
        HF_TOKEN="hf_benchmarkNotASecret",
        HF_DATASETS_DISABLE_PROGRESS_BARS="1",
        HF_HUB_DISABLE_PROGRESS_BARS="1",
        NO_PROXY="127.0.0.1",
    )


def _sources(data: Path, work: Path, copies: int) -> tuple[Path, Path]:
    """MNIST files whose train side is the 10,000 test digits repeated `copies` times."""
    mnist = work / "mnist"
    mnist.mkdir()
    for kind in ("images-idx3-ubyte", "labels-idx1-ubyte"):
        src = data / "mnist" / f"t10k-{kind}.gz"
        shutil.copy(src, mnist / src.name)
        raw = gzip.decompress(src.read_bytes())
        header = 16 if kind.startswith("images") else 8  # magic, count[, rows, cols]
        (count,) = struct.unpack(">I", raw[4:8])
        tiled = raw[:4] + struct.pack(">I", count * copies) + raw[8:header] + raw[header:] * copies
        (mnist / f"train-{kind}.gz").write_bytes(gzip.compress(tiled, compresslevel=1))
    return mnist, data / "dtd"


def _old_layout(new: Path, old: Path) -> None:
    """A copy of `new` whose train shards are rewritten as texmnist 0.1 wrote them."""
    import datasets
    import pyarrow.parquet as pq

    from texmnist.repo.card import write_card
    from texmnist.repo.meta import read_metadata, write_metadata

    shutil.copytree(new, old)
    meta = read_metadata(old)
    for config in CONFIGS:
        folder = old / ("data" if config == "default" else config)
        paths = _train(folder)
        table = datasets.table.concat_tables([pq.read_table(p) for p in paths])
        for path in paths:
            path.unlink()
        ds = datasets.Dataset(datasets.table.InMemoryTable(table))
        ds.to_parquet(str(folder / OLD_TRAIN))  # datasets' defaults: row groups up to 100 MB
        meta["configs"][config]["splits"]["train"]["files"] = [f"{folder.name}/{OLD_TRAIN}"]
    write_metadata(old, meta)
    write_card(old)  # the card lists the data files


def _parquet_bytes(hub, start: int) -> int:
    return sum(n for path, n in hub.served[start:] if path.endswith(".parquet"))


def _no_read_ahead() -> dict:
    """`load_dataset` options for a stream that fetches little more than it decodes.

    By default pyarrow pre-buffers the file in coalesced ranges of up to 32 MiB and
    `HfFileSystem` reads 5 MiB ahead of every request; these bring both down to what
    one 100-row group needs.
    """
    import pyarrow as pa
    import pyarrow.dataset as pds

    cache = pa.CacheOptions(range_size_limit=SMALL_READ, lazy=True)
    return {
        "fragment_scan_options": pds.ParquetFragmentScanOptions(cache_options=cache),
        "storage_options": {"hf": {"block_size": SMALL_READ // 2}},
    }


def _first_streamed_row(hub, repo: str, config: str, options: dict) -> dict:
    import datasets
    from huggingface_hub import HfFileSystem

    HfFileSystem.clear_instance_cache()  # no listing or block cached by an earlier run
    start = len(hub.served)
    t0 = time.perf_counter()
    stream = datasets.load_dataset(repo, config, split="train", streaming=True, **options)
    row = next(iter(stream))
    seconds = time.perf_counter() - t0
    assert row["image"].size[0] > 0
    return {
        "seconds": seconds,
        "parquet_bytes": _parquet_bytes(hub, start),
        "all_bytes": sum(n for _, n in hub.served[start:]),
    }


def _first_row_range_reader(hub, repo: str, path: str) -> dict:
    import pyarrow.parquet as pq
    from huggingface_hub import HfFileSystem

    HfFileSystem.clear_instance_cache()
    fs = HfFileSystem()
    start = len(hub.served)
    t0 = time.perf_counter()
    with fs.open(f"datasets/{repo}/{path}", cache_type="none") as f:
        table = pq.ParquetFile(f).read_row_group(0).slice(0, 1)
    seconds = time.perf_counter() - t0
    assert table.num_rows == 1
    return {"seconds": seconds, "parquet_bytes": _parquet_bytes(hub, start)}


def _bulk(folder: Path, config: str, cache: Path, via_datasets: bool = False) -> dict:
    """A whole split into NumPy: `load_split` (or `load_dataset`, fresh cache), `to_numpy`."""
    import datasets

    from texmnist.repo.arrays import load_split, to_numpy

    shutil.rmtree(cache, ignore_errors=True)  # where load_dataset caches
    t0 = time.perf_counter()
    if via_datasets:
        ds = datasets.load_dataset(str(folder), config, split="train")
    else:
        ds = load_split(folder, config, "train")
    t1 = time.perf_counter()
    arrays = to_numpy(ds)
    t2 = time.perf_counter()
    assert len(arrays["label"]) == len(ds)
    return {"load_seconds": t1 - t0, "to_numpy_seconds": t2 - t1, "total_seconds": t2 - t0}


def _median(runs: list[dict]) -> dict:
    return {k: statistics.median(r[k] for r in runs) for k in runs[0]}


def _size(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "data")
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument(
        "--train-copies",
        type=int,
        default=6,
        help="train = the 10,000 test digits this many times (6: MNIST's 60,000)",
    )
    p.add_argument("--out", type=Path, default=ROOT / "bench" / "results_hub.json")
    args = p.parse_args()
    if not (args.data / "mnist").is_dir() or not (args.data / "dtd").is_dir():
        print(f"bench_hub: real data not found at {args.data} (--data)", file=sys.stderr)
        return 2

    work = Path(tempfile.mkdtemp(prefix="texmnist-bench-hub-"))
    port = _free_port()
    _client_environment(port, work / "hf")
    sys.path.insert(0, str(ROOT / "tests"))
    from hub_double import HubDouble

    from texmnist.generate.config import named_config
    from texmnist.repo.folder import build
    from texmnist.repo.meta import read_metadata

    try:
        mnist, dtd = _sources(args.data, work, args.train_copies)
        new, old = work / "new", work / "old"
        for config in CONFIGS:
            build(named_config(config, mnist_dir=str(mnist), dtd_dir=str(dtd)), new)
        _old_layout(new, old)
        hub = HubDouble().start(port)
        layouts = {"old": old, "new": new}
        for name, folder in layouts.items():
            hub.seed(f"bench/{name}", folder)
        results: dict = {"rows": {}, "configs": {}}
        for config in CONFIGS:
            train = read_metadata(new)["configs"][config]["splits"]["train"]
            cdir = train["files"][0].split("/")[0]
            results["rows"][config] = train["num_examples"]
            for name in layouts:  # warm-up, untimed: imports and first connections
                _first_streamed_row(hub, f"bench/{name}", config, {})
            runs: dict = {k: {p: [] for p in PARTS} for k in layouts}
            for _ in range(args.repeats):
                for name, folder in layouts.items():  # alternate: load drifts hit both
                    repo = f"bench/{name}"
                    runs[name]["stream"].append(_first_streamed_row(hub, repo, config, {}))
                    tuned = _first_streamed_row(hub, repo, config, _no_read_ahead())
                    runs[name]["tuned"].append(tuned)
                    first = _train(folder / cdir)[0].relative_to(folder).as_posix()
                    runs[name]["range"].append(_first_row_range_reader(hub, repo, first))
                    cache = work / "hf" / "datasets"
                    runs[name]["bulk"].append(_bulk(folder, config, cache))
                    runs[name]["bulk_ds"].append(_bulk(folder, config, cache, via_datasets=True))
            results["configs"][config] = {
                name: {
                    **{part: _median(runs[name][part]) for part in PARTS},
                    "train_bytes": sum(f.stat().st_size for f in _train(folder / cdir)),
                    "config_bytes": _size(folder / cdir),
                    "train_files": len(_train(folder / cdir)),
                    "row_groups": sum(_row_groups(f) for f in _train(folder / cdir)),
                }
                for name, folder in layouts.items()
            }
        hub.stop()
    finally:
        shutil.rmtree(work, ignore_errors=True)
    results["repeats"] = args.repeats
    _report(results)
    args.out.write_text(json.dumps(results, indent=2) + "\n")
    print(f"wrote {args.out}")
    return 0


def _train(config_folder: Path) -> list[Path]:
    return sorted(config_folder.glob("train-*.parquet"))


def _row_groups(path: Path) -> int:
    import pyarrow.parquet as pq

    return pq.ParquetFile(path).metadata.num_row_groups


def _report(results: dict) -> None:
    mb = 1e6
    print(f"train splits of {results['rows']} rows; medians of {results['repeats']} runs")
    head = f"{'':38}{'old':>12}{'new':>12}{'new/old':>10}"
    for config, r in results["configs"].items():
        old, new = r["old"], r["new"]
        groups = f"{old['row_groups']} vs {new['row_groups']} row groups"
        files = f"{old['train_files']} vs {new['train_files']} files"
        print(f"\n{config} train ({groups}, {files})\n{head}")
        rows = [
            ("stream: MB to first row", "stream", "parquet_bytes", mb),
            ("stream: MB incl. README etc.", "stream", "all_bytes", mb),
            ("stream: s to first row", "stream", "seconds", 1),
            ("tuned stream: MB to first row", "tuned", "parquet_bytes", mb),
            ("tuned stream: s to first row", "tuned", "seconds", 1),
            ("range reader: MB to first row", "range", "parquet_bytes", mb),
            ("range reader: s to first row", "range", "seconds", 1),
            ("bulk via load_dataset: load s", "bulk_ds", "load_seconds", 1),
            ("bulk via load_dataset: to_numpy s", "bulk_ds", "to_numpy_seconds", 1),
            ("bulk via load_dataset: total s", "bulk_ds", "total_seconds", 1),
            ("bulk via load_split: load s", "bulk", "load_seconds", 1),
            ("bulk via load_split: to_numpy s", "bulk", "to_numpy_seconds", 1),
            ("bulk via load_split: total s", "bulk", "total_seconds", 1),
        ]
        for label, part, key, unit in rows:
            a, b = old[part][key] / unit, new[part][key] / unit
            print(f"{label:38}{a:12.3f}{b:12.3f}{b / a:10.3f}")
        for label, key in (("train files MB", "train_bytes"), ("config folder MB", "config_bytes")):
            a, b = old[key] / mb, new[key] / mb
            print(f"{label:38}{a:12.3f}{b:12.3f}{b / a:10.3f}")
        for reader in ("stream", "tuned", "range"):
            got = new[reader]["parquet_bytes"]
            verdict = "PASS" if got <= GOAL_BYTES else "FAIL"
            print(f"{verdict}: {reader} bytes to the first row {got:,} (goal <= {GOAL_BYTES:,})")
        after = new["bulk"]["total_seconds"]
        for label, before in (
            ("load_split, new layout / old layout", old["bulk"]["total_seconds"]),
            ("new layout + load_split / old layout + 0.1's load_dataset path",
             old["bulk_ds"]["total_seconds"]),
        ):  # fmt: skip
            ratio = after / before
            print(f"{'PASS' if ratio <= 1.10 else 'FAIL'}: bulk {label} {ratio:.3f} (<= 1.10)")


if __name__ == "__main__":
    sys.exit(main())
