from __future__ import annotations

import io
import struct
import zlib

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp
from PIL import Image

from texmnist.generate.pngenc import (
    encode_batch,
    encode_gray,
    encode_gray_batch,
    encode_mask,
    encode_mask_batch,
    encode_rgb,
    encode_rgb_batch,
)


def decode(data: bytes) -> tuple[str, np.ndarray]:
    with Image.open(io.BytesIO(data)) as img:
        img.load()
        return img.mode, np.asarray(img)


def verify(data: bytes) -> None:
    with Image.open(io.BytesIO(data)) as img:
        img.verify()  # checks every chunk CRC


def chunks(data: bytes) -> list[tuple[bytes, bytes, int]]:
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    out, pos = [], 8
    while pos < len(data):
        (length,) = struct.unpack(">I", data[pos : pos + 4])
        kind = data[pos + 4 : pos + 8]
        body = data[pos + 8 : pos + 8 + length]
        (crc,) = struct.unpack(">I", data[pos + 8 + length : pos + 12 + length])
        out.append((kind, body, crc))
        pos += 12 + length
    return out


EDGE_SHAPES = [(1, 1), (3, 5), (5, 3), (28, 28), (1, 17), (17, 1), (8, 9)]


@pytest.mark.parametrize("shape", EDGE_SHAPES)
@pytest.mark.parametrize("fill", ["zeros", "full", "random"])
def test_gray_rgb_mask_roundtrip_edges(shape, fill):
    rng = np.random.default_rng(sum(shape))
    if fill == "zeros":
        gray, rgb, mask = (
            np.zeros(shape, np.uint8),
            np.zeros((*shape, 3), np.uint8),
            np.zeros(shape, bool),
        )
    elif fill == "full":
        gray, rgb, mask = (
            np.full(shape, 255, np.uint8),
            np.full((*shape, 3), 255, np.uint8),
            np.ones(shape, bool),
        )
    else:
        gray = rng.integers(0, 256, shape, dtype=np.uint8)
        rgb = rng.integers(0, 256, (*shape, 3), dtype=np.uint8)
        mask = rng.random(shape) < 0.5
    for data, mode, expected in [
        (encode_gray(gray), "L", gray),
        (encode_rgb(rgb), "RGB", rgb),
        (encode_mask(mask), "1", mask),
    ]:
        verify(data)
        got_mode, pixels = decode(data)
        assert got_mode == mode
        assert pixels.shape == expected.shape
        assert np.array_equal(pixels, expected)


def test_chunk_layout_and_crcs():
    data = encode_gray(np.arange(12, dtype=np.uint8).reshape(3, 4))
    kinds = [c[0] for c in chunks(data)]
    assert kinds == [b"IHDR", b"IDAT", b"IEND"]
    for kind, body, crc in chunks(data):
        assert zlib.crc32(kind + body) == crc
    width, height, depth, color = struct.unpack(">IIBB", chunks(data)[0][1][:10])
    assert (width, height, depth, color) == (4, 3, 8, 0)


def test_mask_is_one_bit_and_small():
    mask = np.zeros((28, 28), bool)
    mask[5:20, 10:15] = True
    data = encode_mask(mask)
    width, height, depth, color = struct.unpack(">IIBB", chunks(data)[0][1][:10])
    assert (depth, color) == (1, 0)
    assert len(data) < 150


def test_batch_dispatch_matches_single():
    rng = np.random.default_rng(1)
    gray = rng.integers(0, 256, (4, 6, 7), dtype=np.uint8)
    rgb = rng.integers(0, 256, (4, 6, 7, 3), dtype=np.uint8)
    mask = rng.random((4, 6, 7)) < 0.3
    assert encode_batch(gray) == [encode_gray(g) for g in gray]
    assert encode_batch(rgb) == [encode_rgb(c) for c in rgb]
    assert encode_batch(mask) == [encode_mask(m) for m in mask]
    assert [decode(d)[0] for d in encode_batch(rgb)] == ["RGB"] * 4


def test_non_contiguous_input():
    base = np.random.default_rng(2).integers(0, 256, (10, 12), dtype=np.uint8)
    view = base[::2, ::3]
    assert np.array_equal(decode(encode_gray(view))[1], view)
    assert np.array_equal(decode(encode_gray(base.T))[1], base.T)


def test_deterministic_bytes():
    img = np.random.default_rng(3).integers(0, 256, (28, 28), dtype=np.uint8)
    assert encode_gray(img) == encode_gray(img.copy())


@pytest.mark.parametrize(
    "bad",
    [
        np.zeros((4, 4), np.int16),
        np.zeros((4, 4), np.float32),
        np.zeros((2, 4, 4, 4), np.uint8),
        np.zeros((0, 4, 4), np.uint8)[:, :0],
        np.zeros(5, np.uint8),
    ],
)
def test_encode_batch_rejects_bad_input(bad):
    with pytest.raises(ValueError):
        encode_batch(bad)


def test_single_encoders_reject_wrong_types():
    with pytest.raises(ValueError):
        encode_gray(np.zeros((3, 3), bool))
    with pytest.raises(ValueError):
        encode_rgb(np.zeros((3, 3, 4), np.uint8))
    with pytest.raises(ValueError):
        encode_mask(np.zeros((3, 3), np.uint8))
    with pytest.raises(ValueError):
        encode_gray_batch(np.zeros((1, 0, 3), np.uint8))


shapes = st.tuples(st.integers(1, 3), st.integers(1, 40), st.integers(1, 40))


@settings(max_examples=60, deadline=None)
@given(hnp.arrays(np.uint8, shapes))
def test_property_gray(batch):
    for img, data in zip(batch, encode_batch(batch), strict=True):
        mode, pixels = decode(data)
        assert mode == "L" and np.array_equal(pixels, img)


@settings(max_examples=40, deadline=None)
@given(hnp.arrays(np.uint8, shapes.map(lambda s: (*s, 3))))
def test_property_rgb(batch):
    for img, data in zip(batch, encode_batch(batch), strict=True):
        mode, pixels = decode(data)
        assert mode == "RGB" and np.array_equal(pixels, img)


@settings(max_examples=60, deadline=None)
@given(hnp.arrays(np.bool_, shapes))
def test_property_mask(batch):
    for img, data in zip(batch, encode_batch(batch), strict=True):
        verify(data)
        mode, pixels = decode(data)
        assert mode == "1" and np.array_equal(pixels, img)


# -- every byte, against a PNG assembled here from the spec ------------------------------


def _spec_png(rows: list[bytes], width: int, depth: int, ctype: int, up: bool, level: int):
    """Signature, IHDR, one IDAT of zlib.compress(filtered rows, level), IEND; Up filtering
    byte by byte (each byte minus the one above, the first row against zeros)."""
    raw, prior = b"", bytes(len(rows[0]))
    for row in rows:
        line = bytes((x - p) % 256 for x, p in zip(row, prior, strict=True)) if up else row
        raw += bytes([2 if up else 0]) + line
        prior = row

    def chunk(kind: bytes, body: bytes) -> bytes:
        return (
            struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))
        )

    ihdr = struct.pack(">IIBBBBB", width, len(rows), depth, ctype, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr)
        + chunk(b"IDAT", zlib.compress(raw, level)) + chunk(b"IEND", b"")
    )  # fmt: skip


@pytest.mark.parametrize("level", [0, 1, 9])
def test_every_encoder_writes_the_spec_bytes_at_every_level(level):
    rng = np.random.default_rng(level)
    gray = rng.integers(0, 256, (2, 3, 5), dtype=np.uint8)
    rgb = rng.integers(0, 256, (2, 3, 4, 3), dtype=np.uint8)
    masks = rng.integers(0, 2, (2, 3, 11)).astype(bool)
    for i in range(2):
        g = _spec_png([r.tobytes() for r in gray[i]], 5, 8, 0, True, level)
        c = _spec_png([r.reshape(-1).tobytes() for r in rgb[i]], 4, 8, 2, True, level)
        m = _spec_png([np.packbits(r).tobytes() for r in masks[i]], 11, 1, 0, False, level)
        assert encode_batch(gray, level)[i] == encode_gray(gray[i], level) == g
        assert encode_batch(rgb, level)[i] == encode_rgb(rgb[i], level) == c
        assert encode_batch(masks, level)[i] == encode_mask(masks[i], level) == m
    assert encode_gray(gray[0]) == _spec_png([r.tobytes() for r in gray[0]], 5, 8, 0, True, 6)


GOT = "got dtype uint8 and shape"
TINY = "gray images: expected uint8 [n,H,W]: PNG images need at least 1x1 pixels, got"
ERRORS = [
    (encode_gray, np.zeros((3, 3), bool), "gray image: expected uint8 [H,W]: got dtype bool"
     " and shape (3, 3)"),
    (encode_rgb, np.zeros((3, 3), np.uint8), f"rgb image: expected uint8 [H,W,3]: {GOT} (3, 3)"),
    (encode_mask, np.zeros((3, 3), np.uint8), f"mask: expected bool [H,W]: {GOT} (3, 3)"),
    (encode_gray_batch, np.zeros((3, 3), np.uint8),
     f"gray images: expected uint8 [n,H,W]: {GOT} (3, 3)"),
    (encode_rgb_batch, np.zeros((1, 3, 3, 4), np.uint8),
     "rgb images: expected uint8 [n,H,W,3], got shape (1, 3, 3, 4)"),
    (encode_rgb_batch, np.zeros((1, 3, 3), np.uint8),
     f"rgb images: expected uint8 [n,H,W,3]: {GOT} (1, 3, 3)"),
    (encode_mask_batch, np.zeros((1, 3, 3), np.uint8),
     f"masks: expected bool [n,H,W]: {GOT} (1, 3, 3)"),
    (encode_gray_batch, np.zeros((1, 0, 3), np.uint8), f"{TINY} (1, 0, 3)"),
    (encode_gray_batch, np.zeros((1, 3, 0), np.uint8), f"{TINY} (1, 3, 0)"),
    (encode_batch, np.zeros((1, 3), np.uint8),
     f"images: expected bool [n,H,W], uint8 [n,H,W] or uint8 [n,H,W,3], {GOT} (1, 3)"),
]  # fmt: skip


@pytest.mark.parametrize(("encoder", "bad", "message"), ERRORS)
def test_errors_say_what_was_expected_and_what_came(encoder, bad, message):
    with pytest.raises(ValueError) as e:
        encoder(bad)
    assert str(e.value) == message
