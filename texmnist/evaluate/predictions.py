"""Read and check a predictions file made anywhere (pure NumPy and pyarrow, no torch).

A predictions file is CSV or Parquet with one row per scored example:

- ``split``: the split's name (``test_correlated``, ...);
- ``index``: the row index in that split, or ``mnist_index`` where it is unique in the
  split (every split but ``test_counterfactual``); with both, ``index`` places the row and
  ``mnist_index`` must agree with the data;
- ``prediction``: the predicted label 0..9 (may be left out when scores are given: then it
  is their argmax);
- optional ``seed``: one run per seed (several runs give intervals over seeds);
- optional ``logit_0`` .. ``logit_9`` or ``prob_0`` .. ``prob_9``: the prediction must be
  one of each row's largest scores.

Every problem is refused with one line naming the file, the column and the first bad row
(rows count from 1, the header not included).
"""

from __future__ import annotations

import dataclasses
import hashlib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.csv as pcsv
import pyarrow.parquet as pq

from ..errors import first_line
from ..generate.splits import NUM_CLASSES
from .errors import EvaluateError

SCORE_KINDS = ("logit", "prob")
SCORE_COLUMNS = {kind: [f"{kind}_{c}" for c in range(NUM_CLASSES)] for kind in SCORE_KINDS}
KEY_COLUMNS = ("index", "mnist_index")
BASE_COLUMNS = ("split", *KEY_COLUMNS, "prediction", "seed")
PROB_SUM_TOLERANCE = 1e-3  # probabilities written with a few decimals still sum to ~1
EXPECTED = (
    "expected split, index (or mnist_index), prediction, optional seed and "
    f"logit_0..logit_{NUM_CLASSES - 1} or prob_0..prob_{NUM_CLASSES - 1}"
)


class PredictionsError(EvaluateError, ValueError):
    """A predictions file cannot be scored as it is (format, columns, rows)."""


@dataclasses.dataclass
class Predictions:
    """The checked columns of a predictions file, one entry per row, in file order."""

    where: str  # the file's name (or "predictions") for messages
    split: np.ndarray  # object array of split names
    key: np.ndarray  # int64: `index`, else `mnist_index`
    key_name: str  # "index" or "mnist_index"
    mnist_index: np.ndarray | None  # the `mnist_index` column when `index` places the rows
    prediction: np.ndarray  # int64 in 0..9
    seed: np.ndarray | None  # int64, None without a seed column
    score_kind: str | None  # "logit", "prob" or None

    @property
    def seeds(self) -> list[int | None]:
        return [None] if self.seed is None else [int(s) for s in np.unique(self.seed)]

    @property
    def splits(self) -> list[str]:
        return sorted(set(self.split.tolist()))


def file_sha256(path: str | Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def read_table(path: str | Path) -> pa.Table:
    """A CSV (`.csv`) or Parquet (`.parquet`, `.pq`) file as an Arrow table."""
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in (".csv", ".parquet", ".pq"):
        raise PredictionsError(f"{path}: expected a .csv or .parquet predictions file")
    if not path.is_file():
        raise PredictionsError(f"{path}: no such file")
    try:
        if suffix == ".csv":
            # `split` stays text even when a name looks like a number; empty cells are nulls.
            convert = pcsv.ConvertOptions(
                column_types={"split": pa.string()}, strings_can_be_null=True
            )
            return pcsv.read_csv(path, convert_options=convert)
        return pq.read_table(path)
    except (OSError, pa.ArrowException) as e:
        what = "CSV" if suffix == ".csv" else "Parquet"
        raise PredictionsError(f"{path}: not a readable {what} file ({first_line(e)})") from e


def as_table(predictions: Any) -> tuple[pa.Table, str]:
    """(table, name for messages) from a path, an Arrow table, a DataFrame or a dict of
    columns."""
    if isinstance(predictions, (str, Path)):
        return read_table(predictions), str(predictions)
    if isinstance(predictions, pa.Table):
        return predictions, "predictions"
    if hasattr(predictions, "to_dict") and hasattr(predictions, "columns"):  # a DataFrame
        return pa.Table.from_pandas(predictions, preserve_index=False), "predictions"
    if isinstance(predictions, Mapping):
        try:
            return pa.table({k: np.asarray(v) for k, v in predictions.items()}), "predictions"
        except (pa.ArrowException, ValueError, TypeError) as e:
            raise PredictionsError(f"predictions: not a table of columns ({first_line(e)})") from e
    raise PredictionsError(
        f"predictions: expected a file path, a pyarrow Table, a DataFrame or a dict of "
        f"columns, got {type(predictions).__name__}"
    )


def parse(table: pa.Table, where: str) -> Predictions:
    """Check the columns of `table` (names, types, empty cells, ranges)."""
    names = table.column_names
    repeated = sorted({n for n in names if names.count(n) > 1})
    if repeated:
        raise PredictionsError(f"{where}: column {repeated[0]!r} appears twice")
    kinds = [k for k in SCORE_KINDS if any(n.startswith(f"{k}_") for n in names)]
    allowed = set(BASE_COLUMNS).union(*(SCORE_COLUMNS[k] for k in kinds))
    unknown = [n for n in names if n not in allowed]
    if unknown:
        raise PredictionsError(f"{where}: unknown column {unknown[0]!r}; {EXPECTED}")
    if len(kinds) > 1:
        raise PredictionsError(f"{where}: both logit_ and prob_ columns; give one kind")
    kind = kinds[0] if kinds else None
    if kind is not None:
        missing = [c for c in SCORE_COLUMNS[kind] if c not in names]
        if missing:
            raise PredictionsError(f"{where}: has {kind}_ columns but not {missing[0]!r}")
    if "split" not in names:
        raise PredictionsError(f"{where}: no 'split' column; {EXPECTED}")
    if not any(k in names for k in KEY_COLUMNS):
        raise PredictionsError(f"{where}: no 'index' (or 'mnist_index') column; {EXPECTED}")
    if "prediction" not in names and kind is None:
        raise PredictionsError(f"{where}: no 'prediction' column (nor scores); {EXPECTED}")
    if table.num_rows == 0:
        raise PredictionsError(f"{where}: no rows")
    split = _split_column(where, table.column("split"))
    key_name = "index" if "index" in names else "mnist_index"
    key = _int_column(where, table, key_name, lo=0)
    mnist_index = _int_column(where, table, "mnist_index", lo=0) if "mnist_index" in names else None
    seed = _int_column(where, table, "seed") if "seed" in names else None
    scores = _scores(where, table, kind) if kind else None
    if "prediction" in names:
        prediction = _int_column(where, table, "prediction", lo=0, hi=NUM_CLASSES - 1)
        if scores is not None:
            _check_argmax(where, prediction, scores)
    else:
        prediction = scores.argmax(1).astype(np.int64)
    return Predictions(
        where, split, key, key_name, mnist_index if key_name == "index" else None,
        prediction, seed, kind,
    )  # fmt: skip


def _first(mask: np.ndarray) -> int:
    return int(np.argmax(mask))


def _split_column(where: str, col: pa.ChunkedArray) -> np.ndarray:
    if not (pa.types.is_string(col.type) or pa.types.is_large_string(col.type)):
        if not pa.types.is_dictionary(col.type):
            raise PredictionsError(f"{where}: column 'split' must hold split names (text)")
        col = col.cast(pa.string())
    if col.null_count:
        row = _first(col.is_null().to_numpy(zero_copy_only=False))
        raise PredictionsError(f"{where}: column 'split' is empty at row {row + 1}")
    return np.asarray(col.to_numpy(zero_copy_only=False), dtype=object)


def _int_column(
    where: str, table: pa.Table, name: str, *, lo: int | None = None, hi: int | None = None
) -> np.ndarray:
    """An integer column; integral floats (3.0) pass, 3.5, NaN, text and empty cells not."""
    col = table.column(name)
    if col.null_count:
        row = _first(col.is_null().to_numpy(zero_copy_only=False))
        raise PredictionsError(f"{where}: column {name!r} is empty at row {row + 1}")
    t = col.type
    if pa.types.is_integer(t):
        values = col.to_numpy().astype(np.int64)
    elif pa.types.is_floating(t):
        raw = col.to_numpy().astype(np.float64)
        bad = ~np.isfinite(raw) | (raw != np.round(raw))
        if bad.any():
            row = _first(bad)
            raise PredictionsError(
                f"{where}: column {name!r} must hold integers, found {float(raw[row])} at row "
                f"{row + 1}"
            )
        values = raw.astype(np.int64)
    else:
        raise PredictionsError(f"{where}: column {name!r} must hold integers, not {t}")
    out_of_range = np.zeros(values.size, dtype=bool)
    if lo is not None:
        out_of_range |= values < lo
    if hi is not None:
        out_of_range |= values > hi
    if out_of_range.any():
        row = _first(out_of_range)
        bound = f">= {lo}" if hi is None else f"in {lo}..{hi}"
        raise PredictionsError(
            f"{where}: column {name!r} must be {bound}, found {values[row]} at row {row + 1}"
        )
    return values


def _scores(where: str, table: pa.Table, kind: str) -> np.ndarray:
    """The [n, 10] score matrix: finite numbers; probabilities in [0, 1] summing to 1."""
    columns = []
    for name in SCORE_COLUMNS[kind]:
        col = table.column(name)
        if not (pa.types.is_floating(col.type) or pa.types.is_integer(col.type)):
            raise PredictionsError(f"{where}: column {name!r} must hold numbers, not {col.type}")
        if col.null_count:
            row = _first(col.is_null().to_numpy(zero_copy_only=False))
            raise PredictionsError(f"{where}: column {name!r} is empty at row {row + 1}")
        values = col.to_numpy().astype(np.float64)
        bad = ~np.isfinite(values) | ((values < 0) | (values > 1) if kind == "prob" else False)
        if np.any(bad):
            row = _first(bad)
            what = "a probability in [0, 1]" if kind == "prob" else "a finite number"
            raise PredictionsError(
                f"{where}: column {name!r} must hold {what}, found {float(values[row])} at row "
                f"{row + 1}"
            )
        columns.append(values)
    scores = np.stack(columns, axis=1)
    if kind == "prob":
        off = np.abs(scores.sum(1) - 1) > PROB_SUM_TOLERANCE
        if off.any():
            row = _first(off)
            raise PredictionsError(
                f"{where}: prob_0..prob_{NUM_CLASSES - 1} sum to {scores[row].sum():.6g} at row "
                f"{row + 1}, not 1"
            )
    return scores


def _check_argmax(where: str, prediction: np.ndarray, scores: np.ndarray) -> None:
    picked = scores[np.arange(prediction.size), prediction]
    bad = picked < scores.max(1)
    if bad.any():
        row = _first(bad)
        raise PredictionsError(
            f"{where}: prediction {prediction[row]} at row {row + 1} is not the largest score "
            f"(argmax {int(scores[row].argmax())})"
        )


def align(
    parsed: Predictions, data: Mapping[str, Mapping[str, np.ndarray]]
) -> dict[int | None, dict[str, np.ndarray]]:
    """Per seed, per split present, the predictions in the data's row order.

    Refuses an unknown split, a row outside the split, a repeated row, a split whose rows
    are not all there, a seed without a split another seed has, and an `mnist_index` that
    does not match the data (or is not unique in a split it places)."""
    where = parsed.where
    unknown = [s for s in parsed.splits if s not in data]
    if unknown:
        raise PredictionsError(
            f"{where}: unknown split {unknown[0]!r} (the data has {', '.join(data)})"
        )
    seeds = parsed.seeds
    rows_of = _group_rows(parsed)
    out: dict[int | None, dict[str, np.ndarray]] = {}
    for seed in seeds:
        out[seed] = {}
        for split in parsed.splits:
            rows = rows_of.get((seed, split))
            if rows is None:
                other = next(s for s in seeds if (s, split) in rows_of)
                raise PredictionsError(
                    f"{where}: seed {seed} has no rows of split {split!r} (seed {other} has)"
                )
            out[seed][split] = _place(parsed, data[split], split, seed, rows)
    return out


def _group_rows(parsed: Predictions) -> dict[tuple[int | None, str], np.ndarray]:
    """The file rows of each (seed, split), each group in file order."""
    names, split_code = np.unique(parsed.split.astype(str), return_inverse=True)
    seeds = np.zeros(split_code.size, np.int64) if parsed.seed is None else parsed.seed
    order = np.lexsort((split_code, seeds))  # stable: file order within a group
    keys = np.stack([seeds[order], split_code[order]], axis=1)
    starts = np.flatnonzero(np.r_[True, np.any(keys[1:] != keys[:-1], axis=1)])
    groups = {}
    for start, stop in zip(starts, [*starts[1:], order.size], strict=True):
        seed = None if parsed.seed is None else int(keys[start, 0])
        groups[(seed, str(names[keys[start, 1]]))] = order[start:stop]
    return groups


def _place(
    parsed: Predictions,
    arrays: Mapping[str, np.ndarray],
    split: str,
    seed: int | None,
    rows: np.ndarray,
) -> np.ndarray:
    """The predictions of one (seed, split) at their data rows; all rows exactly once."""
    where = parsed.where
    n = len(arrays["label"])
    run = "" if seed is None else f" (seed {seed})"
    if parsed.key_name == "index":
        position = parsed.key[rows]
        beyond = position >= n
        if beyond.any():
            row = int(rows[_first(beyond)])
            raise PredictionsError(
                f"{where}: index {position[_first(beyond)]} at row {row + 1} is outside split "
                f"{split!r} ({n:,} rows)"
            )
        if parsed.mnist_index is not None and "mnist_index" in arrays:
            differ = np.asarray(arrays["mnist_index"])[position] != parsed.mnist_index[rows]
            if differ.any():
                row = int(rows[_first(differ)])
                raise PredictionsError(
                    f"{where}: mnist_index at row {row + 1} is not that of split {split!r} "
                    f"row {position[_first(differ)]} (rows misaligned?)"
                )
    else:
        position = _by_mnist_index(where, arrays, split, parsed.key[rows], rows)
    counts = np.bincount(position, minlength=n)
    if (counts > 1).any():
        repeated = int(np.argmax(counts > 1))
        first_rows = rows[np.flatnonzero(position == repeated)[:2]] + 1
        raise PredictionsError(
            f"{where}: split {split!r}{run} row {repeated} appears twice (rows "
            f"{first_rows[0]} and {first_rows[1]})"
        )
    if (counts == 0).any():
        absent = int(np.count_nonzero(counts == 0))
        raise PredictionsError(
            f"{where}: split {split!r}{run} misses {absent:,} of its {n:,} rows (first: "
            f"{int(np.argmax(counts == 0))}); score every row of a split, or leave the split out"
        )
    placed = np.empty(n, dtype=np.int64)
    placed[position] = parsed.prediction[rows]
    return placed


def _by_mnist_index(
    where: str, arrays: Mapping[str, np.ndarray], split: str, keys: np.ndarray, rows: np.ndarray
) -> np.ndarray:
    if "mnist_index" not in arrays:
        raise PredictionsError(f"{where}: split {split!r} has no mnist_index column; use index")
    known = np.asarray(arrays["mnist_index"]).astype(np.int64)
    order = np.argsort(known, kind="stable")
    ordered = known[order]
    if np.any(ordered[1:] == ordered[:-1]):
        raise PredictionsError(
            f"{where}: mnist_index is not unique in split {split!r}; give its rows by index"
        )
    at = np.searchsorted(ordered, keys).clip(max=ordered.size - 1)
    found = ordered[at] == keys
    if not found.all():
        bad = _first(~found)
        raise PredictionsError(
            f"{where}: mnist_index {keys[bad]} at row {int(rows[bad]) + 1} is not in split "
            f"{split!r}"
        )
    return order[at]
