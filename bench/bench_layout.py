"""Parquet layouts against the stock streaming client: bench/layout_results.md.

    python bench/bench_layout.py [--data ../shared/data] [--repeats 3]

Builds `default` and `rgb` from the real MNIST (60,000 training, 10,000 test digits) and
the real DTD photos, then writes every split of both configs again in each candidate
layout with `texmnist.repo.folder.export_split` (the function `build` uses), updates
texmnist.json and the card, and checks each copy with `verify` (no loading: the viewer
rules and the card's data_files globs). Each copy is served by the Hub test double
(`tests/hub_double.py`, 127.0.0.1, logs the body bytes of every response) and measured in
one run, layouts alternating so that load drifts hit all of them:

- stock stream: Parquet bytes and seconds until
  `next(iter(load_dataset(repo, config, split="train", streaming=True)))` returns, with
  the unmodified `datasets` / `huggingface_hub` / `pyarrow` defaults;
- bulk: the whole train split into NumPy from the local folder, through
  `texmnist.arrays.load_split` and through a fresh-cache `load_dataset` (both + `to_numpy`);
- files: Parquet files of the config (all splits), and the config folder's size.

It prints the table, writes bench/results_layout.json and the Markdown table to
bench/layout_results.md. Bytes do not depend on the machine; timings do (the load average
is recorded with them).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

import bench_hub  # bench/ is sys.path[0] when this runs as a script

ROOT = Path(__file__).resolve().parents[1]
CONFIGS = ("default", "rgb")
GOAL_BYTES = 2 * 10**6
MB = 10**6


def _layouts() -> dict:
    from texmnist.repo.folder import LAYOUT, ShardLayout

    return {
        "20,000-row shards (previous layout)": ShardLayout(head_rows=None),
        "one-group head + 20,000-row shards (chosen)": LAYOUT,
        "1,000-row head + 20,000-row shards": ShardLayout(head_rows=1_000),
        "one-group head, 50-row groups": ShardLayout(head_rows=50, row_group_rows=50),
        "shards of at most 2 MB": ShardLayout(head_rows=None, shard_rows=10**9, shard_bytes=2 * MB),
        "shards of at most 1 MB": ShardLayout(head_rows=None, shard_rows=10**9, shard_bytes=MB),
    }


def _relayout(base: Path, dest: Path, layout) -> None:
    """A copy of `base` with every split rewritten in `layout` (texmnist.json, card updated)."""
    import datasets

    from texmnist.repo.card import write_card
    from texmnist.repo.folder import export_split
    from texmnist.repo.meta import config_dir, read_metadata, write_metadata

    shutil.copytree(base, dest)
    meta = read_metadata(dest)
    for name, c in meta["configs"].items():
        features = datasets.Features.from_dict(c["features"])
        cdir = dest / config_dir(name)
        for split, s in c["splits"].items():
            ds = datasets.Dataset.from_parquet(
                [str(base / f) for f in s["files"]], features=features, split=split,
                cache_dir=str(dest.parent / "cache"),
            )  # fmt: skip
            for f in s["files"]:
                (dest / f).unlink()
            s["files"] = [f"{cdir.name}/{f}" for f in export_split(ds, cdir, split, layout)]
    write_metadata(dest, meta)
    write_card(dest)


def _stream_seconds_and_bytes(hub, repo: str, config: str) -> dict:
    return bench_hub._first_streamed_row(hub, repo, config, {})


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "data")
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--out", type=Path, default=ROOT / "bench" / "results_layout.json")
    p.add_argument("--markdown", type=Path, default=ROOT / "bench" / "layout_results.md")
    args = p.parse_args()
    if not (args.data / "mnist").is_dir() or not (args.data / "dtd").is_dir():
        print(f"bench_layout: real data not found at {args.data} (--data)", file=sys.stderr)
        return 2

    work = Path(tempfile.mkdtemp(prefix="texmnist-bench-layout-"))
    port = bench_hub._free_port()
    bench_hub._client_environment(port, work / "hf")
    sys.path.insert(0, str(ROOT / "tests"))
    from hub_double import HubDouble

    from texmnist.config import named_config
    from texmnist.repo.folder import build_many
    from texmnist.repo.meta import config_dir
    from texmnist.repo.verify import verify

    try:
        base = work / "base"
        mnist, dtd = str(args.data / "mnist"), str(args.data / "dtd")
        build_many(
            [named_config(c, mnist_dir=mnist, dtd_dir=dtd) for c in CONFIGS], base, progress=False
        )
        layouts = _layouts()
        folders, repos = {}, {}
        for i, (label, layout) in enumerate(layouts.items()):
            folders[label] = work / f"layout{i}"
            _relayout(base, folders[label], layout)
            problems = verify(folders[label], load=False)
            if problems:
                print(f"bench_layout: {label}: fails verify: {problems[0]}", file=sys.stderr)
                return 1
            repos[label] = f"bench/layout{i}"
        hub = HubDouble().start(port)
        for label, folder in folders.items():
            hub.seed(repos[label], folder)
        results: dict = {"repeats": args.repeats, "configs": {}}
        cache = work / "hf" / "datasets"
        load = []
        for config in CONFIGS:
            for label in folders:  # warm-up, untimed: imports and first connections
                _stream_seconds_and_bytes(hub, repos[label], config)
            runs: dict = {k: {"stream": [], "bulk": [], "bulk_ds": []} for k in folders}
            for _ in range(args.repeats):
                for label, folder in folders.items():
                    load.append(os.getloadavg()[0])
                    runs[label]["stream"].append(
                        _stream_seconds_and_bytes(hub, repos[label], config)
                    )
                    runs[label]["bulk"].append(bench_hub._bulk(folder, config, cache))
                    runs[label]["bulk_ds"].append(
                        bench_hub._bulk(folder, config, cache, via_datasets=True)
                    )
            results["configs"][config] = {}
            for label, folder in folders.items():
                cdir = folder / config_dir(config)
                first = sorted(cdir.glob("train-*.parquet"))[0]
                results["configs"][config][label] = {
                    **{part: bench_hub._median(r) for part, r in runs[label].items()},
                    "files": len(list(cdir.glob("*.parquet"))),
                    "config_bytes": bench_hub._size(cdir),
                    "first_train_shard_bytes": first.stat().st_size,
                }
        hub.stop()
        results["load_average"] = {"min": min(load), "max": max(load)}
    finally:
        shutil.rmtree(work, ignore_errors=True)
    table = _table(results)
    print(table)
    args.out.write_text(json.dumps(results, indent=2) + "\n")
    args.markdown.write_text(_markdown(results, table, args.markdown))
    print(f"wrote {args.out} and {args.markdown}")
    return 0


def _table(results: dict) -> str:
    head = (
        "| config | layout | stock stream: MB before the first row | s to first row "
        "| bulk `load_split` s | bulk `load_dataset` s | Parquet files | config MB |"
    )
    lines = [head, "|" + " --- |" * 2 + " ---: |" * 6]
    for config, by_layout in results["configs"].items():
        for label, r in by_layout.items():
            mb = r["stream"]["parquet_bytes"] / MB
            mark = "" if mb <= GOAL_BYTES / MB else " (over 2)"
            lines.append(
                f"| `{config}` | {label} | {mb:.2f}{mark} | {r['stream']['seconds']:.2f} "
                f"| {r['bulk']['total_seconds']:.2f} | {r['bulk_ds']['total_seconds']:.2f} "
                f"| {r['files']} | {r['config_bytes'] / MB:.1f} |"
            )
    return "\n".join(lines)


BEGIN, END = "<!-- table: written by bench/bench_layout.py -->", "<!-- end of table -->"


def _markdown(results: dict, table: str, path: Path) -> str:
    """`path`'s text with the block between BEGIN and END replaced by this run's table."""
    load = results["load_average"]
    when = time.strftime("%Y-%m-%d", time.gmtime())
    block = (
        f"{BEGIN}\n"
        f"`python bench/bench_layout.py` ({when}; medians of {results['repeats']} runs; "
        f"1-minute load average {load['min']:.1f}-{load['max']:.1f} on a shared 2-core "
        "machine, so the seconds are noisy and only the bytes and file counts are exact). "
        "Train split: 60,000 rows of `default`, 55,000 of `rgb` (real MNIST and DTD); "
        "files and MB count every split of the config.\n\n"
        f"{table}\n{END}"
    )
    text = path.read_text()
    head, _, rest = text.partition(BEGIN)
    _, _, tail = rest.partition(END)
    return head + block + tail


if __name__ == "__main__":
    sys.exit(main())
