"""Whole splits as NumPy arrays, fast: the array path for training and evaluation.

``to_numpy(ds)`` turns a Textured MNIST split into ``{"image": uint8 [n,H,W] or [n,H,W,3],
"mask": bool [n,H,W], "label": int64 [n], ...}`` with every other column as an array too
(ClassLabel -> int64, strings -> object arrays, fixed-length sequences -> [n, k]).

Images are decoded straight from the Arrow column's PNG bytes. texmnist's own PNGs (one
IDAT chunk, 8-bit gray/RGB or 1-bit masks, filters None/Sub/Up) are inflated with
``zlib`` and un-filtered for the whole split at once in NumPy, which is several times faster
than PIL's per-image overhead at 28x28; any other PNG (palette, Paeth, interlaced, several
IDATs, ...) goes through PIL, so the result is always PIL's decoding, exactly.

With ``cache_dir`` the arrays are saved as ``.npy`` files under a key made of the dataset
fingerprint and the columns, and a second call returns memory maps.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import shutil
import struct
import uuid
import zlib
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import datasets
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from ..errors import ConfigError, TexmnistError, first_line
from .meta import META_FILE, config_metadata, read_metadata, table_fingerprint

CACHE_FORMAT = 1
_SIGNATURE = b"\x89PNG\r\n\x1a\n"
_CHANNELS = {0: 1, 2: 3}  # PNG colour type -> channels (gray, RGB); others go through PIL
_IDAT_AT = 33  # signature (8) + IHDR chunk (25)


class DataError(TexmnistError):
    """A dataset folder or Hub repository cannot be read as Textured MNIST."""


# -- PNG decoding ---------------------------------------------------------------


def _header(png: bytes | memoryview) -> tuple[int, int, int, int, int] | None:
    """(width, height, bit depth, colour type, interlace) from a PNG's IHDR, or None."""
    if len(png) < _IDAT_AT or bytes(png[:8]) != _SIGNATURE or bytes(png[12:16]) != b"IHDR":
        return None
    w, h, depth, ctype, _, _, interlace = struct.unpack(">IIBBBBB", png[16:29])
    return w, h, depth, ctype, interlace


def _single_idat(png: memoryview) -> memoryview | None:
    """The zlib stream when the PNG is signature, IHDR, one IDAT, IEND; else None."""
    if bytes(png[_IDAT_AT + 4 : _IDAT_AT + 8]) != b"IDAT":
        return None
    (length,) = struct.unpack(">I", png[_IDAT_AT : _IDAT_AT + 4])
    end = _IDAT_AT + 8 + length
    if bytes(png[end + 8 : end + 12]) != b"IEND":
        return None
    return png[_IDAT_AT + 8 : end]


def _unfilter(raw: np.ndarray, bpp: int) -> np.ndarray | None:
    """Undo PNG row filters of a batch [n, H, 1 + W*bpp]; None if Average/Paeth occur."""
    filters, rows = raw[:, :, 0], raw[:, :, 1:]
    if filters.max(initial=0) > 2:
        return None
    if not filters.any():
        return rows
    if (filters == 2).all():  # texmnist's own choice: one running sum down the rows
        return np.cumsum(rows, axis=1, dtype=np.uint8)
    out = rows.copy()
    for r in range(rows.shape[1]):
        f = filters[:, r]
        sub = f == 1
        if sub.any():  # Sub: running sum along x per channel (uint8 arithmetic wraps mod 256)
            n, width = int(sub.sum()), rows.shape[2] // bpp
            block = out[sub, r].reshape(n, width, bpp)
            out[sub, r] = np.cumsum(block, axis=1, dtype=np.uint8).reshape(n, -1)
        up = f == 2
        if r and up.any():
            out[up, r] += out[up, r - 1]
    return out


def _pil_decode(png: bytes) -> np.ndarray:
    from PIL import Image

    with Image.open(io.BytesIO(png)) as im:
        return np.asarray(im)


def decode_pngs(pngs: pa.Array | Sequence[bytes]) -> np.ndarray:
    """Decode same-shaped PNGs into one array, exactly as PIL would (bool for 1-bit gray)."""
    blobs = pngs.to_pylist() if isinstance(pngs, pa.Array) else list(pngs)
    n = len(blobs)
    if n == 0:
        return np.zeros((0, 0, 0), dtype=np.uint8)
    head = _header(blobs[0])
    fast = head is not None and head[3] in _CHANNELS and head[4] == 0 and head[2] in (1, 8)
    if fast and not (head[2] == 1 and head[3] != 0):
        out = _decode_fast(blobs, head)
        if out is not None:
            return out
    return _decode_pil_all(blobs)


def _decode_fast(blobs: list[bytes], head: tuple[int, int, int, int, int]) -> np.ndarray | None:
    w, h, depth, ctype, _ = head
    bpp = _CHANNELS[ctype]
    row_bytes = (w * bpp * depth + 7) // 8
    size = h * (1 + row_bytes)
    streams = []
    ihdr = bytes(blobs[0][16:29])
    for blob in blobs:
        view = memoryview(blob)
        if view[16:29] != ihdr:
            return None  # a different shape or format: not one array
        stream = _single_idat(view)
        if stream is None:
            return None
        streams.append(stream)
    try:
        raw = b"".join(zlib.decompress(s, 15, size) for s in streams)
    except zlib.error:
        return None
    if len(raw) != size * len(blobs):
        return None
    batch = np.frombuffer(raw, dtype=np.uint8).reshape(len(blobs), h, 1 + row_bytes)
    rows = _unfilter(batch, max(1, bpp * depth // 8))
    if rows is None:
        return None
    if depth == 1:
        return np.unpackbits(rows, axis=2)[:, :, :w].astype(bool)
    return rows.reshape(len(blobs), h, w, bpp)[..., 0] if bpp == 1 else rows.reshape(-1, h, w, 3)


def _decode_pil_all(blobs: list[bytes]) -> np.ndarray:
    first = _pil_decode(blobs[0])
    out = np.empty((len(blobs), *first.shape), dtype=first.dtype)
    out[0] = first
    for i in range(1, len(blobs)):
        img = _pil_decode(blobs[i])
        if img.shape != first.shape:
            raise DataError(f"image {i}: shape {img.shape} differs from {first.shape}")
        out[i] = img
    return out


# -- columns --------------------------------------------------------------------


def _arrow_table(ds: datasets.Dataset, columns: Sequence[str]) -> pa.Table:
    """The rows of `ds` (indices mapping applied) with images left as PNG bytes."""
    return ds.with_format("arrow", columns=list(columns))[:]


def _column_array(feature: Any, col: pa.ChunkedArray) -> np.ndarray:
    arr = col.combine_chunks()
    if isinstance(feature, datasets.Image):
        return decode_pngs(arr.field("bytes"))
    if isinstance(feature, datasets.ClassLabel):
        return arr.to_numpy(zero_copy_only=False).astype(np.int64)
    t = arr.type
    if pa.types.is_string(t) or pa.types.is_large_string(t):
        return np.array(arr.to_pylist(), dtype=object)
    if pa.types.is_list(t) or pa.types.is_large_list(t) or pa.types.is_fixed_size_list(t):
        values = np.asarray(arr.flatten().to_numpy(zero_copy_only=False))
        return values.reshape(len(arr), -1) if len(arr) else values.reshape(0, 0)
    return arr.to_numpy(zero_copy_only=False)


def to_numpy(
    ds: datasets.Dataset,
    *,
    columns: Sequence[str] | None = None,
    cache_dir: str | Path | None = None,
) -> dict[str, np.ndarray]:
    """Every column (or `columns`) of `ds` as NumPy arrays; see the module docstring."""
    names = list(ds.column_names if columns is None else columns)
    missing = [c for c in names if c not in ds.column_names]
    if missing:
        raise ConfigError(f"columns: {missing} not in the dataset (has {ds.column_names})")
    if cache_dir is not None:
        cached = _cache_load(_cache_path(ds, names, cache_dir), names)
        if cached is not None:
            return cached
    table = _arrow_table(ds, names)
    out = {name: _column_array(ds.features[name], table.column(name)) for name in names}
    if cache_dir is not None:
        _cache_save(_cache_path(ds, names, cache_dir), out)
        return _cache_load(_cache_path(ds, names, cache_dir), names) or out
    return out


# -- cache ----------------------------------------------------------------------


def _cache_path(ds: datasets.Dataset, names: list[str], cache_dir: str | Path) -> Path:
    key = json.dumps(
        {"format": CACHE_FORMAT, "fingerprint": ds._fingerprint, "n": len(ds), "columns": names}
    )
    return Path(cache_dir) / hashlib.sha256(key.encode()).hexdigest()[:32]


def _cache_load(path: Path, names: list[str]) -> dict[str, np.ndarray] | None:
    if not (path / "done").is_file():
        return None
    out = {}
    for name in names:
        arr = np.load(path / f"{name}.npy", mmap_mode="r")
        # Strings are stored fixed-width; callers get object arrays like the uncached path.
        out[name] = arr.astype(object) if arr.dtype.kind == "U" else arr
    return out


def _cache_save(path: Path, arrays: dict[str, np.ndarray]) -> None:
    """Write into a private folder and rename it into place, so readers never see a part."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.parent / f".{path.name}.{uuid.uuid4().hex[:8]}"
    tmp.mkdir()
    try:
        for name, arr in arrays.items():
            if arr.dtype == object:
                arr = arr.astype(str) if arr.size else arr.astype("U1")
            np.save(tmp / f"{name}.npy", arr, allow_pickle=False)
        (tmp / "done").touch()
        try:
            os.replace(tmp, path)
        except OSError:
            if not (path / "done").is_file():  # not a concurrent writer's finished copy
                raise
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


# -- loading --------------------------------------------------------------------


def check_data(data: str | Path) -> None:
    """A DATA that is neither a folder nor a repo id is a typo, not a network problem."""
    from .push import REPO_ID

    if Path(data).is_dir() or REPO_ID.match(str(data)):
        return
    what = "is a file, not a folder" if Path(data).exists() else "no such folder"
    raise DataError(f"{data}: {what}, and not a Hub dataset id (USER/NAME) either")


def _read_local(folder: Path, config: str, split: str) -> datasets.Dataset | None:
    """A split of a texmnist folder read straight from its Parquet files, or None when
    texmnist.json does not describe the config (a folder texmnist did not write).

    `load_dataset` converts Parquet to Arrow one row group at a time and writes a cache
    copy; with the Hub's 100-row groups that is 600 steps for a 60,000-row split. pyarrow
    reads the files' row groups in parallel into memory, which the array path decodes
    once anyway. The features come from the files' own `huggingface` schema metadata."""
    entry = config_metadata(folder, config)
    if entry is None:
        return None
    if split not in entry["splits"]:
        have = ", ".join(entry["splits"])
        raise ConfigError(f"{folder}: config {config!r} has no split {split!r} (has {have})")
    paths = [folder / f for f in entry["splits"][split]["files"]]
    tables = []
    for path in paths:
        try:
            tables.append(pq.read_table(path))
        except FileNotFoundError as e:
            raise DataError(f"{path}: listed in {META_FILE} but missing") from e
        except (OSError, pa.ArrowException) as e:
            text = first_line(e)
            raise DataError(f"{path}: not a readable Parquet file ({text})") from e
    try:
        table = pa.concat_tables(tables) if len(tables) > 1 else tables[0]
        features = datasets.Features.from_arrow_schema(table.schema)
    except (IndexError, pa.ArrowException, ValueError, TypeError) as e:
        text = first_line(e)
        raise DataError(f"{paths[0].parent}: the {split} shards do not agree ({text})") from e
    # What is read is what texmnist.json describes (and what reports will name): the content
    # fingerprint verify checks, about a second for 60,000 rows.
    recorded = entry["splits"][split]["fingerprint"]
    if table_fingerprint(table) != recorded:
        raise DataError(
            f"{paths[0].parent}: the {split} shards of config {config!r} do not match their "
            f"fingerprint in {META_FILE} (changed after the build); rebuild the config, or run "
            f"`texmnist verify {folder}`"
        )
    # The content fingerprint texmnist.json records, plus the files' sizes and times: an
    # edited shard (which verify reports) never reuses an array cache made before the edit.
    stamp = [recorded]
    stamp += [f"{st.st_size}:{st.st_mtime_ns}" for st in (p.stat() for p in paths)]
    fingerprint = hashlib.sha256(json.dumps([config, split, stamp]).encode()).hexdigest()[:32]
    info = datasets.DatasetInfo(features=features, config_name=config)
    return datasets.Dataset(
        datasets.table.InMemoryTable(table),
        info=info,
        split=datasets.NamedSplit(split),
        fingerprint=fingerprint,
    )


def load_split(data: str | Path, config: str, split: str) -> datasets.Dataset:
    """One split of a local dataset folder or Hub repository, as a `datasets.Dataset`.

    A folder texmnist wrote is read directly from the Parquet files its texmnist.json
    lists (same rows, features and order as `load_dataset`, without the cache copy);
    anything else goes through `datasets.load_dataset`."""
    check_data(data)
    where = str(data)
    if Path(data).is_dir():
        local = _read_local(Path(data), config, split)
        if local is not None:
            return local
    try:
        return datasets.load_dataset(where, config, split=split)
    except ValueError as e:
        text = first_line(e)
        if "split" in text.lower() or "Unknown split" in text:
            raise ConfigError(f"{where}: config {config!r} has no split {split!r} ({text})") from e
        raise ConfigError(f"{where}: cannot load config {config!r} ({text})") from e
    except FileNotFoundError as e:
        raise DataError(f"{where}: not a dataset folder or reachable Hub dataset ({e})") from e
    except Exception as e:  # datasets raises many types (Hub, network, schema)
        text = first_line(e)
        raise DataError(f"{where}: cannot load config {config!r} split {split!r}: {text}") from e


def split_names(data: str | Path, config: str) -> list[str]:
    """The splits of `config` in a local folder (from texmnist.json) or a Hub repository."""
    check_data(data)
    folder = Path(data)
    if folder.is_dir():
        meta = read_metadata(folder)
        if meta is not None:
            if config not in meta["configs"]:
                have = ", ".join(meta["configs"]) or "none"
                raise ConfigError(f"{folder}: config {config!r} is not built there (has {have})")
            return list(meta["configs"][config]["splits"])
    try:
        return list(datasets.get_dataset_split_names(str(data), config))
    except Exception as e:
        text = first_line(e)
        raise DataError(f"{data}: cannot list the splits of config {config!r}: {text}") from e


def load_arrays(
    data: str | Path,
    config: str,
    split: str,
    *,
    columns: Sequence[str] | None = None,
    cache_dir: str | Path | None = None,
) -> dict[str, np.ndarray]:
    """`to_numpy` of one split of a local folder or Hub repo id (`load_dataset(data, config)`)."""
    return to_numpy(load_split(data, config, split), columns=columns, cache_dir=cache_dir)
