"""A dataset folder's metadata: `texmnist.json`, config folders and content fingerprints.

Everything that only *reads* a folder (card, preview, verify, push, arrays, evaluate)
imports this module, not `folder`: reading metadata needs neither `datasets` nor the
builder. `folder` (which builds) writes through it too.

    DIR/texmnist.json   {"format": 2, "configs": {name: {recipe, splits, fingerprint, ...}}}
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path, PurePosixPath

import numpy as np
import pyarrow as pa

from ..errors import OutputError

META_FILE = "texmnist.json"
META_FORMAT = 2  # 2: per-source provenance and the data version


def config_dir(name: str) -> str:
    """Folder of a config's Parquet files: `data/` for default, else its name."""
    return "data" if name == "default" else name


def shard_name(split: str, index: int, count: int) -> str:
    """File name of shard `index` of `count` of a split: `train-00000-of-00004.parquet`."""
    return f"{split}-{index:05d}-of-{count:05d}.parquet"


def split_pattern(config: str, split: str) -> str:
    """The card's `data_files` glob of one split: exactly that split's shards.

    Split names match `^\\w+(\\.\\w+)*$` (no '-'), so `<split>-` ends the name: the pattern of
    `test_random` cannot take a shard of `test_random_x`. A glob, not the file list, because
    the Hub's "Use this dataset" snippets keep only the first entry of an explicit list.
    """
    return f"{config_dir(config)}/{split}-*.parquet"


def default_config(meta: dict) -> str:
    """The config `load_dataset(repo)` loads without a name: `default` when built, else the
    first config built. texmnist.json keeps configs in build order and a rebuild keeps a
    config's place, so the choice stays put when later builds add configs."""
    names = list(meta["configs"])
    return "default" if "default" in names else names[0]


def read_metadata(folder: str | Path) -> dict | None:
    """The folder's texmnist.json, or None when texmnist did not make the folder."""
    path = Path(folder) / META_FILE
    if not path.is_file():
        return None
    try:
        meta = json.loads(path.read_text())
    except (OSError, ValueError) as e:
        raise OutputError(f"{path}: unreadable texmnist metadata ({e})") from e
    if not isinstance(meta, dict) or "configs" not in meta:
        raise OutputError(f"{path}: not texmnist metadata (no 'configs' key)")
    problem = metadata_problem(Path(folder), meta)
    if problem:
        raise OutputError(f"{path}: {problem}; rebuild the folder with texmnist build")
    return meta


# What every reader of a config entry (card, preview, verify, push, arrays, evaluate) takes
# for granted, key by key: (key, type, what it must be).
_CONFIG_KEYS = (("recipe", dict, "an object"), ("features", dict, "an object"),
                ("splits", dict, "an object"))  # fmt: skip
_SPLIT_KEYS = (("files", list, "a list"), ("num_examples", int, "a count"),
               ("num_bytes", int, "a count"), ("fingerprint", str, "a string"))  # fmt: skip


def metadata_problem(folder: Path, meta: dict) -> str | None:
    """What is wrong with the shape of `meta` (one line), or None.

    A dataset folder is input from anyone: every file it lists must be a relative path that
    stays inside `folder`, also once symbolic links are followed.
    """
    if not isinstance(meta["configs"], dict):
        return "'configs' is not an object"
    for name, c in meta["configs"].items():
        where = f"configs.{name}"
        problem = _missing(c, where, _CONFIG_KEYS)
        if problem:
            return problem
        if not c["splits"]:
            return f"{where}.splits lists no split"
        for split, s in c["splits"].items():
            problem = _missing(s, f"{where}.splits.{split}", _SPLIT_KEYS)
            if problem:
                return problem
            for entry in s["files"]:
                problem = outside_problem(folder, entry)
                if problem:
                    return f"{where}.splits.{split}.files: {problem}"
    return None


def _missing(entry: object, where: str, keys: tuple[tuple[str, type, str], ...]) -> str | None:
    if not isinstance(entry, dict):
        return f"{where} is not an object"
    for key, kind, what in keys:
        if key not in entry:
            return f"{where} has no '{key}'"
        value = entry[key]
        if not isinstance(value, kind) or isinstance(value, bool) or (kind is int and value < 0):
            return f"{where}.{key} is not {what}: {json.dumps(value)[:60]}"
    return None


def outside_problem(folder: Path, entry: object) -> str | None:
    """Why the listed path `entry` may not be read or written under `folder`, or None."""
    if not isinstance(entry, str) or not entry:
        return f"{json.dumps(entry)[:60]} is not a file path"
    path = PurePosixPath(entry)
    if path.is_absolute() or "\\" in entry or ":" in path.parts[0] or ".." in path.parts:
        return f"{entry!r} is not a relative path inside the folder"
    root = folder.resolve()
    if not (folder / path).resolve().is_relative_to(root):
        return f"{entry!r} leads outside the folder (through a symbolic link)"
    return None


def config_metadata(folder: str | Path, config: str) -> dict | None:
    """The texmnist.json entry of one config, or None when it is not built there."""
    meta = read_metadata(folder)
    return None if meta is None else meta["configs"].get(config)


def write_metadata(folder: str | Path, meta: dict) -> Path:
    path = Path(folder) / META_FILE
    path.write_text(json.dumps(meta, indent=2) + "\n")
    return path


# -- content fingerprints ----------------------------------------------------------


def _hash_array(h, arr: pa.Array) -> None:
    """Feed a canonical, version-independent encoding of `arr` into h."""
    h.update(np.asarray(arr.is_null(), dtype=np.uint8).tobytes())
    t = arr.type
    if pa.types.is_struct(t):
        for field, child in zip(t, arr.flatten(), strict=True):
            h.update(field.name.encode())
            _hash_array(h, child)
    elif pa.types.is_list(t) or pa.types.is_large_list(t) or pa.types.is_fixed_size_list(t):
        lengths = arr.value_lengths().fill_null(0).to_numpy(zero_copy_only=False)
        h.update(lengths.astype("<i8").tobytes())
        _hash_array(h, arr.flatten())
    elif pa.types.is_binary(t) or pa.types.is_string(t):
        # Lengths, then the concatenated values, straight from the Arrow buffers.
        _, offsets, data = arr.buffers()
        off = np.frombuffer(offsets, dtype=np.int32)[arr.offset : arr.offset + len(arr) + 1]
        h.update(np.diff(off).astype("<i8").tobytes())
        if data is not None:
            h.update(memoryview(data)[off[0] : off[-1]])
    else:
        zero = False if pa.types.is_boolean(t) else 0
        values = (arr.fill_null(zero) if arr.null_count else arr).to_numpy(zero_copy_only=False)
        h.update(values.astype(values.dtype.newbyteorder("<")).tobytes())


def table_fingerprint(table: pa.Table) -> str:
    """sha256 of a table's content: independent of chunking, shards and versions."""
    h = hashlib.sha256()
    for name in table.column_names:
        h.update(name.encode())
        _hash_array(h, table.column(name).combine_chunks())
    return h.hexdigest()


def config_fingerprint(split_fingerprints: dict[str, str]) -> str:
    """sha256 over the (split, fingerprint) pairs of one config, in split-name order."""
    lines = "".join(f"{k}={v}\n" for k, v in sorted(split_fingerprints.items()))
    return hashlib.sha256(lines.encode()).hexdigest()
