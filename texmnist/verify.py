"""`texmnist verify`: is a dataset folder what the card says, and will the Hub take it?

Checks, each reported as one `Problem` line naming the file, config or split:
the card's YAML parses and lists every config and split of texmnist.json with
the right files, counts and features; split names are ones the Hub accepts; no
Python file lies anywhere in the folder (the Hub runs no dataset scripts);
Parquet shards and row groups are within the Hub's limits; image columns are
typed Image; the content matches the fingerprints in texmnist.json; and every
config x split loads with `datasets.load_dataset`, regular and streaming.
"""

from __future__ import annotations

import dataclasses
import re
import tempfile
from pathlib import Path

import datasets
import pyarrow as pa
import pyarrow.parquet as pq
import yaml
from datasets.info import DatasetInfosDict
from huggingface_hub import DatasetCard

from .errors import OutputError, PublishError
from .meta import META_FILE, config_fingerprint, read_metadata, table_fingerprint

SPLIT_NAME = re.compile(r"^\w+(\.\w+)*$")
MAX_FILE_BYTES = 500 * 10**6  # the Hub's limit per Parquet shard
MAX_ROW_GROUP_BYTES = 100 * 10**6  # uncompressed, for the dataset viewer
# Rows per row group in files with image columns: the viewer pages 100 rows and reads whole
# row groups, and streaming yields nothing before the first group is fetched.
MAX_IMAGE_ROW_GROUP_ROWS = 100
IMAGE_COLUMNS = ("image", "mask")
CARD_FILE = "README.md"


@dataclasses.dataclass(frozen=True)
class Problem:
    """One thing wrong with a folder: where (a file, or config/split) and what."""

    where: str
    message: str

    def __str__(self) -> str:
        return f"{self.where}: {self.message}"


class VerificationFailed(PublishError):
    """The folder fails `verify`; `problems` lists why."""

    def __init__(self, folder: Path, problems: list[Problem]):
        self.problems = problems
        n = len(problems)
        super().__init__(
            f"{folder}: fails verification ({n} problem{'s' * (n != 1)}, first: {problems[0]}); "
            f"run `texmnist verify {folder}`"
        )


def verify(folder: str | Path, *, load: bool = True) -> list[Problem]:
    """Every problem found in the dataset folder `folder` (empty when it is sound).

    `load=False` skips the `load_dataset` round trips (the slowest part).
    """
    folder = Path(folder).absolute()
    if not folder.is_dir():
        return [Problem(str(folder), "not a folder")]
    problems = _python_files(folder)
    try:
        meta = read_metadata(folder)
    except OutputError as e:
        return [*problems, Problem(str(folder / META_FILE), str(e).split(": ", 1)[-1])]
    if meta is None or not meta.get("configs"):
        where = str(folder / META_FILE)
        return [*problems, Problem(where, "missing or lists no config; not a texmnist folder")]
    problems += _parquet_files(folder, meta)
    problems += _fingerprints(folder, meta)
    problems += _previews(folder, meta)
    card, card_problems = _read_card(folder)
    problems += card_problems
    if card is not None:
        problems += _card_against_meta(folder, card, meta)
        if load and not card_problems:
            problems += _loads(folder, meta)
    return problems


# -- the folder -------------------------------------------------------------------


def _python_files(folder: Path) -> list[Problem]:
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


def _parquet_files(folder: Path, meta: dict) -> list[Problem]:
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


def _fingerprints(folder: Path, meta: dict) -> list[Problem]:
    """The content of every split against the sha256 recorded at build time."""
    problems = []
    for name, c in meta["configs"].items():
        found = {}
        for split, s in c["splits"].items():
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


def _previews(folder: Path, meta: dict) -> list[Problem]:
    out = []
    for name in meta["configs"]:
        path = folder / "images" / f"preview-{name}.png"
        if not path.is_file():
            out.append(Problem(str(path), "missing; the card shows it (`texmnist preview`)"))
    return out


# -- the card -----------------------------------------------------------------------


def _read_card(folder: Path) -> tuple[DatasetCard | None, list[Problem]]:
    path = folder / CARD_FILE
    if not path.is_file():
        return None, [Problem(str(path), "missing; the Hub reads configs from it")]
    text = path.read_text()
    match = re.match(r"^---\s*\n(.*?)\n---\s*\n", text, re.DOTALL)
    if match is None:
        return None, [Problem(str(path), "no YAML header (--- ... ---) at the top")]
    try:
        header = yaml.safe_load(match.group(1))
    except yaml.YAMLError as e:
        where = getattr(e, "problem_mark", None)
        at = f" at line {where.line + 2}" if where is not None else ""
        reason = getattr(e, "problem", None) or type(e).__name__
        return None, [Problem(str(path), f"YAML header does not parse{at}: {reason}")]
    if not isinstance(header, dict):
        return None, [Problem(str(path), "YAML header is not a mapping")]
    try:
        return DatasetCard(text), []
    except Exception as e:  # huggingface_hub's own validation of the header
        return None, [Problem(str(path), f"not a valid dataset card ({e})")]


def _card_against_meta(folder: Path, card: DatasetCard, meta: dict) -> list[Problem]:
    readme = str(folder / CARD_FILE)
    problems = []
    yaml_configs = {c.get("config_name"): c for c in (card.data.configs or [])}
    try:
        infos = DatasetInfosDict.from_dataset_card_data(card.data)
    except Exception as e:  # malformed dataset_info: report, check the rest
        problems.append(Problem(readme, f"dataset_info does not parse ({e})"))
        infos = {}
    for name in sorted(set(yaml_configs) - set(meta["configs"])):
        problems.append(Problem(readme, f"config {name!r} in `configs` is not in {META_FILE}"))
    for name, c in meta["configs"].items():
        if name not in yaml_configs:
            problems.append(Problem(readme, f"config {name!r} is missing from `configs`"))
        else:
            problems += _data_files(readme, folder, name, yaml_configs[name], c)
        if name not in infos:
            problems.append(Problem(readme, f"config {name!r} is missing from `dataset_info`"))
        else:
            problems += _info(readme, name, infos[name], c)
    return problems


def _data_files(readme: str, folder: Path, name: str, entry: dict, c: dict) -> list[Problem]:
    problems = []
    if name == "default" and entry.get("default") is not True:
        problems.append(Problem(readme, "config 'default' lacks `default: true`"))
    listed = {}
    for item in entry.get("data_files") or []:
        split = item.get("split") if isinstance(item, dict) else None
        paths = item.get("path") if isinstance(item, dict) else None
        listed[split] = [paths] if isinstance(paths, str) else list(paths or [])
    for split in listed:
        if not isinstance(split, str) or not SPLIT_NAME.match(split):
            problems.append(
                Problem(readme, f"config {name!r}: split name {split!r} is not ^\\w+(\\.\\w+)*$")
            )
    for split, s in c["splits"].items():
        where = f"config {name!r} split {split!r}"
        if not SPLIT_NAME.match(split):
            problems.append(
                Problem(where, "split name is not ^\\w+(\\.\\w+)*$; the Hub refuses it")
            )
        if split not in listed:
            problems.append(Problem(readme, f"{where} is missing from `configs` data_files"))
        elif sorted(listed[split]) != sorted(s["files"]):
            problems.append(
                Problem(readme, f"{where}: data_files {listed[split]} != built {s['files']}")
            )
    for split in sorted(set(listed) - set(c["splits"]), key=str):
        problems.append(Problem(readme, f"config {name!r}: split {split!r} was never built"))
    return problems


def _info(readme: str, name: str, info: datasets.DatasetInfo, c: dict) -> list[Problem]:
    problems = []
    splits = info.splits or {}
    for split, s in c["splits"].items():
        where = f"config {name!r} split {split!r}"
        if split not in splits:
            problems.append(Problem(readme, f"{where} is missing from `dataset_info` splits"))
            continue
        got = splits[split]
        if got.num_examples != s["num_examples"]:
            problems.append(
                Problem(
                    readme,
                    f"{where}: num_examples {got.num_examples:,} in the card, "
                    f"{s['num_examples']:,} in the data",
                )
            )
        if got.num_bytes != s["num_bytes"]:
            problems.append(
                Problem(
                    readme,
                    f"{where}: num_bytes {got.num_bytes:,} in the card, {s['num_bytes']:,} built",
                )
            )
    for split in sorted(set(splits) - set(c["splits"])):
        problems.append(Problem(readme, f"config {name!r}: dataset_info lists unbuilt {split!r}"))
    expected = datasets.Features.from_dict(c["features"])
    if info.features is None:
        problems.append(Problem(readme, f"config {name!r}: dataset_info has no features"))
        return problems
    for column in IMAGE_COLUMNS:
        if column in info.features and not isinstance(info.features[column], datasets.Image):
            problems.append(
                Problem(
                    readme,
                    f"config {name!r}: image column {column!r} is typed "
                    f"{type(info.features[column]).__name__}, not Image",
                )
            )
    if info.features != expected:
        problems.append(Problem(readme, f"config {name!r}: features differ from the built data"))
    return problems


# -- loading ------------------------------------------------------------------------


def _loads(folder: Path, meta: dict) -> list[Problem]:
    """Every config x split through `load_dataset`, regular and streaming."""
    problems = []
    bars = datasets.is_progress_bar_enabled()
    datasets.disable_progress_bars()  # one bar per split would drown the report
    try:
        # A fresh cache: an old cached copy must not stand in for the files on disk.
        with tempfile.TemporaryDirectory(prefix="texmnist-verify-") as cache:
            for name, c in meta["configs"].items():
                expected = datasets.Features.from_dict(c["features"])
                for split, s in c["splits"].items():
                    where = f"config {name!r} split {split!r}"
                    problems += _load_one(folder, name, split, s, expected, cache, where)
    finally:
        if bars:
            datasets.enable_progress_bars()
    return problems


def _load_one(folder, name, split, s, expected, cache, where) -> list[Problem]:
    problems = []
    try:
        ds = datasets.load_dataset(str(folder), name, split=split, cache_dir=cache)
        if len(ds) != s["num_examples"]:
            problems.append(Problem(where, f"load_dataset gives {len(ds):,} rows"))
        if ds.features != expected:
            problems.append(Problem(where, "load_dataset gives other features than the card"))
    except Exception as e:  # any failure to load is the problem to report
        problems.append(Problem(where, f"load_dataset fails: {_one_line(e)}"))
    try:
        stream = datasets.load_dataset(str(folder), name, split=split, streaming=True)
        if stream.features != expected:
            problems.append(Problem(where, "streaming gives other features than the card"))
        n = sum(1 for _ in stream.select_columns([next(iter(expected))]))
        if n != s["num_examples"]:
            problems.append(Problem(where, f"streaming gives {n:,} rows"))
    except Exception as e:  # as above
        problems.append(Problem(where, f"streaming load_dataset fails: {_one_line(e)}"))
    return problems


def _one_line(e: BaseException) -> str:
    text = " ".join(str(e).split())
    return f"{type(e).__name__}: {text[:300]}"
