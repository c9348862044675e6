"""What the Hub's "Use this dataset" snippets would load from a texmnist folder.

    python bench/hub_snippets.py FOLDER [FOLDER ...]

The Hub's pandas / polars / dask snippets come from the dataset viewer's
`compatible-libraries` job (huggingface/dataset-viewer,
services/worker/src/worker/job_runners/dataset/compatible_libraries.py:
`get_builder_configs(..., with_simplified_data_files=True)`, `simplify_data_files_patterns`,
`_init_empty_loading_codes`). For each config and split it takes the split's `data_files`
patterns from the card's YAML and simplifies each: a pattern that resolves to one file
becomes that file, and the function returns at once (so of an explicit list of shards
only the first survives); a pattern that resolves to several files stays a pattern (the
`[0-9]` classes and separators of `datasets`' inferred patterns are rewritten, which a
texmnist card does not use). The snippet then names the first simplified entry per split.

This script follows those steps on a local folder, resolving with `datasets`' own
`resolve_pattern`, and prints per config the default flag, and per split the snippet
path, the rows it covers and the split's rows. It reproduces that logic; it does not
import the viewer.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import datasets
import pyarrow.parquet as pq
from datasets.data_files import resolve_pattern
from huggingface_hub import DatasetCard


def snippet_path(folder: Path, patterns: list[str]) -> str | None:
    """The path the snippet names for a split whose `data_files` are `patterns`."""
    for pattern in patterns:
        try:
            files = resolve_pattern(pattern, base_path=str(folder))
        except FileNotFoundError:
            continue
        if len(files) == 1:
            return Path(files[0]).relative_to(folder).as_posix()  # returned at once
        if files:
            return pattern
    return None


def rows(folder: Path, pattern: str) -> int:
    files = resolve_pattern(pattern, base_path=str(folder))
    return sum(pq.ParquetFile(f).metadata.num_rows for f in files)


def report(folder: Path) -> list[str]:
    card = DatasetCard((folder / "README.md").read_text())
    default = datasets.get_dataset_default_config_name(str(folder))
    lines = [f"{folder.name}: get_dataset_default_config_name -> {default!r}"]
    for config in card.data.configs or []:
        name = config["config_name"]
        lines.append(f"  config {name!r}" + (" (default: true)" if config.get("default") else ""))
        infos = card.data.dataset_info
        infos = infos if isinstance(infos, list) else [infos]
        info = next(i for i in infos if i.get("config_name", "default") == name)
        want = {s["name"]: s["num_examples"] for s in info["splits"]}
        for entry in config["data_files"]:
            paths = entry["path"]
            patterns = [paths] if isinstance(paths, str) else list(paths)
            path = snippet_path(folder, patterns)
            got = rows(folder, path) if path else 0
            split = entry["split"]
            mark = "" if got == want[split] else "  <- MISSES ROWS"
            lines.append(f"    {split:22} {path!s:45} {got:>7,} of {want[split]:>7,} rows{mark}")
    return lines


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("folders", type=Path, nargs="+")
    args = p.parse_args()
    for folder in args.folders:
        print("\n".join(report(folder)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
