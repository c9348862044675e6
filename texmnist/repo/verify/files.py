"""Checks of the folder's files: no scripts, Parquet shards, row groups, fingerprints, previews."""

from __future__ import annotations

from pathlib import Path

import datasets
import pyarrow as pa
import pyarrow.parquet as pq
from tqdm.auto import tqdm

from ..localpaths import find_local_paths, strings_in
from ..meta import META_FILE, config_fingerprint, table_fingerprint
from .rules import (
    CARD_FILE,
    IMAGE_COLUMNS,
    MAX_FILE_BYTES,
    MAX_IMAGE_ROW_GROUP_ROWS,
    MAX_ROW_GROUP_BYTES,
    Problem,
)


def local_paths(folder: Path, meta: dict) -> list[Problem]:
    """README.md and texmnist.json, which `push` uploads, hold no path of the build machine."""
    card = folder / CARD_FILE
    texts = {folder / META_FILE: strings_in(meta)}
    if card.is_file():
        texts[card] = [card.read_text(errors="replace")]
    problems = []
    for path, strings in texts.items():
        found = [hit for text in strings for hit in find_local_paths(text)]
        if found:
            problems.append(
                Problem(
                    str(path),
                    f"holds a path of the build machine ({found[0]!r}); "
                    "rebuild with this texmnist, or remove it",
                )
            )
    return problems


def python_files(folder: Path) -> list[Problem]:
    return [
        Problem(str(p), "a Python file; the Hub refuses dataset scripts, remove it")
        for p in sorted(folder.rglob("*.py"))
    ]


def _listed_files(meta: dict) -> dict[str, tuple[str, str]]:
    """Relative Parquet path -> (config, split), from texmnist.json."""
    return {
        f: (name, split)
        for name, c in meta["configs"].items()
        for split, s in c["splits"].items()
        for f in s["files"]
    }


def parquet_files(folder: Path, meta: dict) -> list[Problem]:
    """Shard and row-group sizes, stray shards, row counts and image column types."""
    problems = []
    listed = _listed_files(meta)
    for path in sorted(folder.rglob("*.parquet")):
        rel = path.relative_to(folder).as_posix()
        if rel not in listed:
            problems.append(Problem(str(path), "Parquet file listed by no config; remove it"))
    rows: dict[tuple[str, str], int] = {}
    for rel, key in listed.items():
        path = folder / rel
        if not path.is_file():
            problems.append(Problem(str(path), f"missing (config {key[0]!r}, split {key[1]!r})"))
            continue
        try:
            md = pq.read_metadata(path)
            schema = pq.read_schema(path)
        except (OSError, pa.ArrowException) as e:
            problems.append(Problem(str(path), f"not readable as Parquet ({e})"))
            continue
        rows[key] = rows.get(key, 0) + md.num_rows
        size = path.stat().st_size
        if size > MAX_FILE_BYTES:
            problems.append(
                Problem(str(path), f"{size:,} bytes, over the Hub's {MAX_FILE_BYTES:,} per shard")
            )
        problems += _row_groups(path, md, has_images=any(map(_is_image_struct, schema.types)))
        problems += _image_columns_in_parquet(path, schema)
    for name, c in meta["configs"].items():
        for split, s in c["splits"].items():
            n = rows.get((name, split))
            if n is not None and n != s["num_examples"]:
                problems.append(
                    Problem(
                        f"config {name!r} split {split!r}",
                        f"Parquet holds {n:,} rows, texmnist.json says {s['num_examples']:,}",
                    )
                )
    return problems


def _row_groups(path: Path, md: pq.FileMetaData, has_images: bool) -> list[Problem]:
    """Row groups within the viewer's byte limit and, with images, its 100-row page."""
    problems = []
    for i in range(md.num_row_groups):
        group = md.row_group(i)
        if group.total_byte_size > MAX_ROW_GROUP_BYTES:
            problems.append(
                Problem(
                    str(path),
                    f"row group {i} is {group.total_byte_size:,} bytes uncompressed, over "
                    f"{MAX_ROW_GROUP_BYTES:,}; write smaller row groups",
                )
            )
        if has_images and group.num_rows > MAX_IMAGE_ROW_GROUP_ROWS:
            problems.append(
                Problem(
                    str(path),
                    f"row group {i} holds {group.num_rows:,} rows of images, over "
                    f"{MAX_IMAGE_ROW_GROUP_ROWS}; rebuild the config with this texmnist",
                )
            )
    return problems


def _is_image_struct(t: pa.DataType) -> bool:
    return pa.types.is_struct(t) and {f.name for f in t} == {"bytes", "path"}


def _image_columns_in_parquet(path: Path, schema: pa.Schema) -> list[Problem]:
    """Image columns are stored as {bytes, path} and declared Image in the schema metadata."""
    problems = []
    features = None
    if schema.metadata and b"huggingface" in schema.metadata:
        try:
            features = datasets.Features.from_arrow_schema(schema)
        except Exception as e:  # the metadata is foreign text; any failure is a problem
            problems.append(Problem(str(path), f"unreadable datasets schema metadata ({e})"))
    for field in schema:
        expected = field.name in IMAGE_COLUMNS or _is_image_struct(field.type)
        if not expected:
            continue
        if not _is_image_struct(field.type):
            problems.append(
                Problem(str(path), f"image column {field.name!r} is {field.type}, not an Image")
            )
        elif features is not None and not isinstance(features.get(field.name), datasets.Image):
            problems.append(
                Problem(str(path), f"column {field.name!r} is not typed Image in its schema")
            )
    return problems


def fingerprints(folder: Path, meta: dict, bar: tqdm | None = None) -> list[Problem]:
    """The content of every split against the sha256 recorded at build time (`bar` advances
    once per split)."""
    bar = bar if bar is not None else tqdm(disable=True)
    problems = []
    for name, c in meta["configs"].items():
        found = {}
        for split, s in c["splits"].items():
            bar.set_postfix_str(f"fingerprint {name}/{split}")
            bar.update()
            paths = [folder / f for f in s["files"]]
            if not all(p.is_file() for p in paths):
                continue  # reported as missing
            try:
                table = pa.concat_tables([pq.read_table(p) for p in paths])
            except (OSError, pa.ArrowException) as e:
                problems.append(Problem(f"config {name!r} split {split!r}", f"unreadable ({e})"))
                continue
            found[split] = table_fingerprint(table)
            if found[split] != s.get("fingerprint"):
                problems.append(
                    Problem(
                        ", ".join(str(p) for p in paths),
                        f"content does not match the fingerprint in {META_FILE} "
                        f"(config {name!r}, split {split!r}); the file was changed after the "
                        "build, rebuild the config",
                    )
                )
        if len(found) == len(c["splits"]):
            recorded = {k: v.get("fingerprint", "") for k, v in c["splits"].items()}
            if config_fingerprint(recorded) != c.get("fingerprint"):
                problems.append(
                    Problem(
                        str(folder / META_FILE),
                        f"config {name!r}: fingerprint is not that of its splits' fingerprints",
                    )
                )
    return problems


def previews(folder: Path, meta: dict) -> list[Problem]:
    out = []
    for name in meta["configs"]:
        path = folder / "images" / f"preview-{name}.png"
        if not path.is_file():
            out.append(Problem(str(path), "missing; the card shows it (`texmnist preview`)"))
    return out
