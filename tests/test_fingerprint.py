"""Content fingerprints (texmnist.repo.meta): a hand-computed digest of a small table, and the
changes that must change it (one image byte, one string length, two rows swapped)."""

from __future__ import annotations

import hashlib
import json
import struct

import pyarrow as pa
import pytest
from fakedata import config_entry

from texmnist.errors import OutputError
from texmnist.repo.meta import (
    META_FILE,
    config_dir,
    config_fingerprint,
    config_metadata,
    read_metadata,
    table_fingerprint,
    write_metadata,
)

IMAGE = pa.struct([("bytes", pa.binary()), ("path", pa.string())])


def _table(images: list[bytes], names: list[str | None], labels: list[int]) -> pa.Table:
    return pa.table(
        {
            "image": pa.array([{"bytes": b, "path": None} for b in images], type=IMAGE),
            "name": pa.array(names, type=pa.string()),
            "label": pa.array(labels, type=pa.int64()),
        }
    )


IMAGES = [b"\x89PNG-one", b"\x89PNG-two", b"\x89PNG-3"]


@pytest.fixture
def table() -> pa.Table:
    return _table(
        [b"\x89PNG-one", b"\x89PNG-two", b"\x89PNG-3"], ["a.jpg", "bb.jpg", None], [3, 1, 4]
    )


def _i8(*values: int) -> bytes:
    return struct.pack(f"<{len(values)}q", *values)


def test_digest_of_a_small_table_computed_by_hand():
    """The documented encoding, written out byte by byte: per column its name, then per
    array its null mask (one byte a row); strings and bytes: lengths (int64) then the
    concatenated values; lists: lengths then the values; structs: per field, its name and
    its child; numbers and booleans: little-endian values with nulls as 0."""
    t = pa.table(
        {
            "n": pa.array([7, None, -2], type=pa.int64()),
            "s": pa.array(["ab", "", None]),
            "l": pa.array([[1, 2], None, [3]], type=pa.list_(pa.int32())),
            "st": pa.array(
                [{"b": b"\x00\xff", "w": 1.5}, {"b": b"", "w": -2.0}, {"b": b"z", "w": 0.0}],
                type=pa.struct([("b", pa.binary()), ("w", pa.float32())]),
            ),
            "f": pa.array([True, None, False]),
            "fl": pa.array([[1, 2], [3, 4], None], type=pa.list_(pa.int8(), 2)),
            "ll": pa.array([[9], [], [8, 7]], type=pa.large_list(pa.int16())),
        }
    )
    expected = (
        b"n" + bytes([0, 1, 0]) + _i8(7, 0, -2)
        + b"s" + bytes([0, 0, 1]) + _i8(2, 0, 0) + b"ab"
        + b"l" + bytes([0, 1, 0]) + _i8(2, 0, 1) + bytes([0, 0, 0]) + struct.pack("<3i", 1, 2, 3)
        + b"st" + bytes([0, 0, 0])
        + b"b" + bytes([0, 0, 0]) + _i8(2, 0, 1) + b"\x00\xffz"
        + b"w" + bytes([0, 0, 0]) + struct.pack("<3f", 1.5, -2.0, 0.0)
        + b"f" + bytes([0, 1, 0]) + bytes([1, 0, 0])
        + b"fl" + bytes([0, 0, 1]) + _i8(2, 2, 0) + bytes([0, 0, 0, 0]) + bytes([1, 2, 3, 4])
        + b"ll" + bytes([0, 0, 0]) + _i8(1, 0, 2) + bytes([0, 0, 0])
        + struct.pack("<3h", 9, 8, 7)
    )  # fmt: skip
    assert table_fingerprint(t) == hashlib.sha256(expected).hexdigest()


def test_one_image_byte_changes_the_fingerprint(table):
    edited = _table(
        [b"\x89PNG-one", b"\x89PNG-twp", b"\x89PNG-3"], ["a.jpg", "bb.jpg", None], [3, 1, 4]
    )
    assert table_fingerprint(edited) != table_fingerprint(table)


def test_one_string_length_changes_the_fingerprint(table):
    # The same characters in the same order, only the boundary between two values moved.
    moved = _table(
        [b"\x89PNG-one", b"\x89PNG-two", b"\x89PNG-3"], ["a.jp", "gbb.jpg", None], [3, 1, 4]
    )
    assert table_fingerprint(moved) != table_fingerprint(table)
    images = _table(
        [b"\x89PNG-on", b"e\x89PNG-two", b"\x89PNG-3"], ["a.jpg", "bb.jpg", None], [3, 1, 4]
    )
    assert table_fingerprint(images) != table_fingerprint(table)


def test_a_null_differs_from_an_empty_string(table):
    empty = _table(
        [b"\x89PNG-one", b"\x89PNG-two", b"\x89PNG-3"], ["a.jpg", "bb.jpg", ""], [3, 1, 4]
    )
    assert table_fingerprint(empty) != table_fingerprint(table)


def test_two_swapped_rows_change_the_fingerprint(table):
    swapped = table.take([1, 0, 2])
    assert table_fingerprint(swapped) != table_fingerprint(table)


def test_renamed_column_changes_the_fingerprint(table):
    renamed = table.rename_columns(["image", "file", "label"])
    assert table_fingerprint(renamed) != table_fingerprint(table)


def test_chunking_and_slicing_do_not_change_the_fingerprint(table):
    rebuilt = pa.concat_tables([table.slice(0, 1), table.slice(1, 2)])
    assert rebuilt.column("name").num_chunks == 2
    assert table_fingerprint(rebuilt) == table_fingerprint(table)
    # A slice starts at an offset into the Arrow buffers; a fresh copy does not.
    tail = table.slice(1)
    fresh = _table([b"\x89PNG-two", b"\x89PNG-3"], ["bb.jpg", None], [1, 4])
    assert table_fingerprint(tail) == table_fingerprint(fresh)


def test_config_fingerprint_by_hand():
    lines = "test=bbb\ntrain=aaa\n"  # sorted by split name, whatever the dict order
    expected = hashlib.sha256(lines.encode()).hexdigest()
    assert config_fingerprint({"train": "aaa", "test": "bbb"}) == expected
    assert config_fingerprint({"test": "bbb", "train": "aaa"}) == expected


# -- texmnist.json ---------------------------------------------------------------------


def test_config_dir():
    assert config_dir("default") == "data"
    assert config_dir("rgb") == "rgb"


def test_metadata_round_trip_and_lookups(tmp_path):
    meta = {"format": 2, "configs": {"rgb": config_entry({"train": ["rgb/train.parquet"]})}}
    path = write_metadata(tmp_path, meta)
    assert path == tmp_path / META_FILE
    # Readable: two-space indents, one key a line, a final newline.
    write_metadata(tmp_path, {"format": 2, "configs": {}})
    assert path.read_text() == '{\n  "format": 2,\n  "configs": {}\n}\n'
    write_metadata(tmp_path, meta)
    assert json.loads(path.read_text()) == meta
    assert read_metadata(tmp_path) == meta
    assert config_metadata(tmp_path, "rgb") == meta["configs"]["rgb"]
    assert config_metadata(tmp_path, "default") is None
    assert read_metadata(tmp_path / "nowhere") is None
    assert config_metadata(tmp_path / "nowhere", "rgb") is None


@pytest.mark.parametrize(
    ("text", "needle"),
    [("{not json", "unreadable texmnist metadata"), ('{"format": 2}', "no 'configs' key"),
     ("[1, 2]", "no 'configs' key")],
)  # fmt: skip
def test_bad_metadata_is_a_one_line_error_naming_the_file(tmp_path, text, needle):
    (tmp_path / META_FILE).write_text(text)
    with pytest.raises(OutputError, match=needle) as e:
        read_metadata(tmp_path)
    assert str(e.value).startswith(f"{tmp_path / META_FILE}: ")
    assert "\n" not in str(e.value)
