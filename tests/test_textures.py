from __future__ import annotations

import glob
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageFile

from texmnist.errors import ConfigError, SourceError
from texmnist.generate.recipe import draw_crops
from texmnist.sources import photos as textures
from texmnist.sources.photos import (
    TextureBank,
    build_bank,
    decode_photos,
    load_photo,
    photo_scale,
    render_crops,
    resize_photo,
)
from texmnist.sources.resize import resize_batch

REAL_DATA = Path(__file__).resolve().parents[2] / "shared" / "data"


def smooth(h: int, w: int, seed: int = 0) -> np.ndarray:
    """A smooth RGB photo (JPEG-friendly) with some structure."""
    yy, xx = np.mgrid[0:h, 0:w]
    phase = seed * 0.7
    r = 128 + 100 * np.sin(xx / 9.0 + phase)
    g = 128 + 100 * np.cos(yy / 13.0 + phase)
    b = (xx + yy + 40 * seed) % 256
    return np.stack([r, g, b], axis=-1).astype(np.uint8)


@pytest.fixture
def dtd(tmp_path: Path) -> tuple[Path, dict[str, list[str]]]:
    """A small DTD-like images/ folder with every awkward kind of file."""
    root = tmp_path / "images"
    (root / "banded").mkdir(parents=True)
    (root / "bumpy").mkdir()
    Image.fromarray(smooth(120, 90, 1)).save(root / "banded" / "banded_0001.jpg", quality=95)
    Image.fromarray(smooth(64, 200, 2)[..., 0]).save(root / "banded" / "banded_0002.jpg")
    Image.fromarray(smooth(80, 80, 3)).convert("CMYK").save(root / "banded" / "banded_0003.jpg")
    Image.fromarray(smooth(50, 70, 4)).convert("P").save(root / "bumpy" / "bumpy_0001.png")
    Image.fromarray(smooth(3, 3, 5)).save(root / "bumpy" / "bumpy_0002.png")
    Image.fromarray(smooth(1, 500, 6)).save(root / "bumpy" / "bumpy_0003.jpg")
    files = {
        "banded": ["banded/banded_0001.jpg", "banded/banded_0002.jpg", "banded/banded_0003.jpg"],
        "bumpy": ["bumpy_0001.png", "bumpy/bumpy_0002.png", "bumpy/bumpy_0003.jpg"],
    }
    return root, files


EXPECTED_FILES = [
    "banded/banded_0001.jpg",
    "banded/banded_0002.jpg",
    "banded/banded_0003.jpg",
    "bumpy/bumpy_0001.png",
    "bumpy/bumpy_0002.png",
    "bumpy/bumpy_0003.jpg",
]


# ----------------------------------------------------------------- load_photo


def test_load_photo_modes_and_shapes(dtd):
    root, _ = dtd
    for rel, shape in [
        ("banded/banded_0001.jpg", (120, 90)),
        ("banded/banded_0002.jpg", (64, 200)),
        ("banded/banded_0003.jpg", (80, 80)),
        ("bumpy/bumpy_0001.png", (50, 70)),
        ("bumpy/bumpy_0002.png", (3, 3)),
        ("bumpy/bumpy_0003.jpg", (1, 500)),
    ]:
        gray = load_photo(root / rel, mode="L")
        rgb = load_photo(root / rel, mode="RGB")
        assert gray.dtype == np.uint8 and gray.shape == shape, rel
        assert rgb.dtype == np.uint8 and rgb.shape == (*shape, 3), rel


def test_load_photo_matches_pil_conversions(dtd):
    root, _ = dtd
    palette = root / "bumpy" / "bumpy_0001.png"
    with Image.open(palette) as img:
        assert img.mode == "P"
        assert np.array_equal(load_photo(palette, mode="RGB"), np.asarray(img.convert("RGB")))
        assert np.array_equal(load_photo(palette, mode="L"), np.asarray(img.convert("L")))
    cmyk = root / "banded" / "banded_0003.jpg"
    with Image.open(cmyk) as img:
        assert img.mode == "CMYK"
        assert np.array_equal(load_photo(cmyk, mode="RGB"), np.asarray(img.convert("RGB")))
    gray_jpeg = root / "banded" / "banded_0002.jpg"
    rgb = load_photo(gray_jpeg, mode="RGB")
    assert np.array_equal(rgb[..., 0], rgb[..., 2]) and np.array_equal(
        rgb[..., 0], load_photo(gray_jpeg)
    )


def test_gray_from_rgb_jpeg_is_luma(dtd):
    root, _ = dtd
    path = root / "banded" / "banded_0001.jpg"
    with Image.open(path) as img:
        pil_luma = np.asarray(img.convert("L")).astype(int)
    # libjpeg's Y channel and PIL's RGB->L differ by rounding only.
    assert np.abs(load_photo(path, mode="L").astype(int) - pil_luma).max() <= 3


def test_transparency_is_flattened_onto_black(tmp_path):
    rgba = np.zeros((4, 4, 4), np.uint8)
    rgba[..., :3] = 200
    rgba[:2, :, 3] = 255  # top half opaque, bottom transparent
    path = tmp_path / "alpha.png"
    Image.fromarray(rgba, "RGBA").save(path)
    out = load_photo(path, mode="RGB")
    assert np.all(out[:2] == 200) and np.all(out[2:] == 0)
    la = tmp_path / "la.png"
    Image.fromarray(rgba, "RGBA").convert("LA").save(la)
    assert np.all(load_photo(la)[:2] == 200) and np.all(load_photo(la)[2:] == 0)


def test_sixteen_bit_gray_keeps_top_byte(tmp_path):
    values = np.array([[0, 255, 256, 65535]], dtype=np.uint16)
    path = tmp_path / "deep.png"
    Image.fromarray(values).save(path)
    assert np.array_equal(load_photo(path), np.array([[0, 0, 1, 255]], np.uint8))


def test_draft_scales_jpeg_but_keeps_min_side(tmp_path):
    path = tmp_path / "big.jpg"
    Image.fromarray(smooth(400, 300)).save(path)
    full = load_photo(path)
    drafted = load_photo(path, draft_size=56)
    assert full.shape == (400, 300)
    assert drafted.shape == (100, 75)  # 1/4 keeps both sides >= 56; 1/8 would not
    assert photo_scale(path, 56) == 4 and photo_scale(path, None) == 1
    assert min(load_photo(path, draft_size=30).shape) >= 30


def test_corrupt_and_empty_files_raise_source_error(tmp_path):
    good = tmp_path / "good.jpg"
    Image.fromarray(smooth(200, 200)).save(good)
    data = good.read_bytes()
    truncated = tmp_path / "dtd" / "images" / "banded" / "banded_0002.jpg"
    truncated.parent.mkdir(parents=True)
    truncated.write_bytes(data[: len(data) // 2])
    empty = tmp_path / "empty.jpg"
    empty.write_bytes(b"")
    text = tmp_path / "notes.jpg"
    text.write_text("not an image\n")
    missing = tmp_path / "missing.jpg"
    assert ImageFile.LOAD_TRUNCATED_IMAGES is False
    for path, words in [
        (truncated, "truncated"),
        (empty, "empty"),
        (text, "identify"),
        (missing, "not found"),
    ]:
        for draft_size in (None, 28):
            with pytest.raises(SourceError) as info:
                load_photo(path, mode="L", draft_size=draft_size)
            message = str(info.value)
            assert "\n" not in message
            assert message.startswith(f"{path}: ")
            assert words in message
    assert ImageFile.LOAD_TRUNCATED_IMAGES is False


def test_bad_mode_is_config_error(dtd):
    root, files = dtd
    with pytest.raises(ConfigError):
        load_photo(root / EXPECTED_FILES[0], mode="RGBA")
    with pytest.raises(ConfigError):
        build_bank(root, files, mode="CMYK", progress=False)


def test_resize_photo_accepts_pil_and_arrays():
    arr = smooth(37, 91)
    out = resize_photo(Image.fromarray(arr), 28)
    assert out.shape == (28, 28, 3)
    assert np.array_equal(out, resize_photo(arr, 28))
    assert np.array_equal(resize_photo(arr[..., 1], 28), out[..., 1])


# ----------------------------------------------------------------------- bank


@pytest.mark.parametrize("mode", ["L", "RGB"])
def test_bank_shapes_order_and_categories(dtd, mode):
    root, files = dtd
    bank = build_bank(root, files, size=28, mode=mode, progress=False)
    assert isinstance(bank, TextureBank)
    assert bank.files == EXPECTED_FILES
    assert bank.category_names == ["banded", "bumpy"]
    assert bank.categories.tolist() == [0, 0, 0, 1, 1, 1]
    shape = (6, 28, 28) if mode == "L" else (6, 28, 28, 3)
    assert bank.images.shape == shape and bank.images.dtype == np.uint8
    for i, rel in enumerate(EXPECTED_FILES):
        assert bank.index_of(rel) == i
        expected = resize_batch(load_photo(root / rel, mode=mode)[None], 28)[0]
        assert np.array_equal(bank.images[i], expected)
    with pytest.raises(KeyError):
        bank.index_of("banded/nope.jpg")


def test_bank_decodes_each_photo_once(dtd, monkeypatch):
    root, files = dtd
    calls: list[str] = []
    real = textures.load_photo

    def counting(path, **kwargs):
        calls.append(Path(path).relative_to(root).as_posix())
        return real(path, **kwargs)

    monkeypatch.setattr(textures, "load_photo", counting)
    files = {k: v + v[:1] for k, v in files.items()}  # duplicates are decoded once
    bank = build_bank(root, files, progress=False)
    assert calls == EXPECTED_FILES == bank.files


def test_bank_draft_option(dtd, tmp_path):
    root, files = dtd
    exact = build_bank(root, files, size=8, progress=False)
    drafted = build_bank(root, files, size=8, draft=True, progress=False)
    assert drafted.images.shape == exact.images.shape
    # Smooth synthetic photos: draft changes the result only slightly.
    assert np.abs(drafted.images.astype(int) - exact.images).max() <= 6


def test_bank_parallel_equals_serial(dtd):
    root, files = dtd
    serial = build_bank(root, files, mode="RGB", progress=False)
    parallel = build_bank(root, files, mode="RGB", progress=True, num_proc=2)
    assert parallel.files == serial.files
    assert np.array_equal(parallel.images, serial.images)
    photos1 = decode_photos(root, EXPECTED_FILES, mode="L", progress=False)
    photos2 = decode_photos(root, EXPECTED_FILES, mode="L", progress=False, num_proc=2)
    assert all(np.array_equal(a, b) for a, b in zip(photos1, photos2, strict=True))


def test_bank_error_names_the_photo(dtd):
    root, files = dtd
    bad = root / "bumpy" / "bumpy_0002.png"
    bad.write_bytes(bad.read_bytes()[:20])
    with pytest.raises(SourceError, match="bumpy_0002.png"):
        build_bank(root, files, progress=False)
    with pytest.raises(SourceError, match="bumpy_0002.png"):
        build_bank(root, files, progress=False, num_proc=2)


# ---------------------------------------------------------------------- crops


def test_decode_photos_full_resolution_by_default(dtd):
    root, _ = dtd
    photos = decode_photos(root, EXPECTED_FILES, mode="RGB", min_side=16, progress=False)
    assert [p.shape[:2] for p in photos] == [
        (120, 90),
        (64, 200),
        (80, 80),
        (50, 70),
        (3, 3),
        (1, 500),
    ]
    drafted = decode_photos(root, EXPECTED_FILES[:1], min_side=16, draft=True, progress=False)
    assert drafted[0].shape == (30, 23)  # 1/4 of 120x90 (rounded up)
    with pytest.raises(ConfigError):
        decode_photos(root, EXPECTED_FILES, draft=True, progress=False)


def test_drawn_crops_boxes_and_pixels(dtd):
    root, _ = dtd
    photos = decode_photos(root, EXPECTED_FILES, mode="L", progress=False)
    rng = np.random.default_rng(0)
    index = rng.integers(0, len(photos), 300)
    sizes = np.array([p.shape[:2] for p in photos])
    boxes = draw_crops(index, sizes, 48, np.random.default_rng(1))
    tex = render_crops(photos, index, boxes, 28)
    assert tex.shape == (300, 28, 28) and tex.dtype == np.uint8
    assert boxes.shape == (300, 4) and boxes.dtype == np.int32
    for i, (x0, y0, x1, y1) in enumerate(boxes.tolist()):
        h, w = photos[index[i]].shape
        side = min(48, h, w)
        assert x1 - x0 == side and y1 - y0 == side
        assert 0 <= x0 and x1 <= w and 0 <= y0 and y1 <= h
        crop = photos[index[i]][y0:y1, x0:x1]
        assert np.array_equal(tex[i], resize_batch(crop[None], 28)[0])
    boxes2 = draw_crops(index, sizes, 48, np.random.default_rng(1))
    assert np.array_equal(boxes2, boxes)
    assert np.array_equal(render_crops(photos, index, boxes2, 28), tex)
    # crops vary: not every box of the 120x90 photo starts at the origin
    assert len({tuple(b) for b in boxes[index == 0].tolist()}) > 1


def test_crop_textures_rgb_and_thin_photo(dtd):
    root, _ = dtd
    photos = decode_photos(root, EXPECTED_FILES, mode="RGB", progress=False)
    index = np.array([0, 5, 4])
    sizes = np.array([p.shape[:2] for p in photos])
    boxes = draw_crops(index, sizes, 20, np.random.default_rng(2))
    tex = render_crops(photos, index, boxes, 10)
    assert tex.shape == (3, 10, 10, 3)
    assert boxes[1].tolist()[1::2] == [0, 1]  # 1x500 photo: crop side 1


# ------------------------------------------------------------------ real data


@pytest.mark.skipif(not (REAL_DATA / "dtd" / "images").is_dir(), reason="no ../shared/data")
def test_real_draft_tolerance():
    """The tolerance stated in textures.py, on the real DTD photos."""
    root = REAL_DATA / "dtd" / "images"
    categories = sorted(p.name for p in root.iterdir() if p.is_dir())
    files = {
        c: sorted(Path(p).name for p in glob.glob(str(root / c / "*.jpg"))) for c in categories
    }
    exact = build_bank(root, files, size=28, progress=False)
    drafted = build_bank(root, files, size=28, draft=True, progress=False)
    assert exact.images.shape[0] == sum(len(v) for v in files.values()) > 0
    diff = np.abs(drafted.images.astype(int) - exact.images)
    assert diff.mean() <= textures.DRAFT_MEAN_TOLERANCE
    assert diff.max() <= textures.DRAFT_MAX_TOLERANCE
