"""One loader for a run's inputs: every photo decoded once per decoding, banks as before."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

import texmnist.sources.photos as photos
from texmnist.dataset.inputs import load_inputs
from texmnist.dataset.pool import usable_cores, workers_for
from texmnist.generate.config import named_config
from texmnist.sources import list_textures


def _configs(fake_sources, **variants):
    mnist, dtd = fake_sources
    base = dataclasses.replace(named_config("default"), mnist_dir=str(mnist), dtd_dir=str(dtd))
    return [base] + [dataclasses.replace(base, name=n, **kw) for n, kw in variants.items()]


@pytest.fixture
def decodes(monkeypatch):
    """Every photo file decoded, in order (one process: the loader's own calls)."""
    seen = []
    real = photos.load_photo

    def counting(path, **kwargs):
        seen.append((str(path), kwargs.get("mode")))
        return real(path, **kwargs)

    monkeypatch.setattr(photos, "load_photo", counting)
    return seen


def _photo_count(dtd) -> int:
    categories = list(named_config("default").categories)
    return sum(len(v) for v in list_textures(dtd, categories).values())


def test_each_photo_is_decoded_once_whatever_the_canvases(fake_sources, decodes):
    configs = _configs(
        fake_sources,
        big=dict(canvas=56, scale=(28,)),
        crops=dict(texture_sampling="crop", crop_size=16),
    )
    inputs = load_inputs(configs, progress=False, num_proc=1)
    n = _photo_count(fake_sources[1])
    assert len(decodes) == n  # not 3n: both canvases and the crops share one decoding
    assert len({path for path, _ in decodes}) == n
    assert inputs["default"].bank.shape[1:] == (28, 28)
    assert inputs["big"].bank.shape[1:] == (56, 56)
    assert inputs["crops"].bank is None and len(inputs["crops"].photos) == n


def test_another_colour_mode_is_a_decoding_of_its_own(fake_sources, decodes):
    # "L" asks libjpeg for luma directly, so gray and RGB pixels come from two decodings.
    configs = _configs(fake_sources, colour=dict(color="rgb"))
    load_inputs(configs, progress=False, num_proc=1)
    n = _photo_count(fake_sources[1])
    assert len(decodes) == 2 * n
    assert sorted({mode for _, mode in decodes}) == ["L", "RGB"]


def test_banks_and_photos_equal_the_per_config_decoders(fake_sources):
    mnist, dtd = fake_sources
    configs = _configs(
        fake_sources,
        big=dict(canvas=56, scale=(28,)),
        colour=dict(color="rgb"),
        crops=dict(texture_sampling="crop", crop_size=16),
    )
    inputs = load_inputs(configs, progress=False, num_proc=2)
    images = dtd / "images"
    for config in configs:
        got = inputs[config.name]
        mode = "RGB" if config.color == "rgb" else "L"
        if config.texture_sampling == "crop":
            want = photos.decode_photos(images, got.texture_files, mode=mode, progress=False)
            assert all(np.array_equal(a, b) for a, b in zip(got.photos, want, strict=True))
            continue
        by_category = {c: [f for f in got.texture_files if f.startswith(f"{c}/")]
                       for c in config.categories}  # fmt: skip
        bank = photos.build_bank(images, by_category, size=config.canvas, mode=mode, progress=False)
        assert bank.files == got.texture_files
        np.testing.assert_array_equal(got.bank, bank.images)


def test_shared_sources_are_one_object_per_run(fake_sources):
    inputs = load_inputs(_configs(fake_sources, big=dict(canvas=56, scale=(28,))), progress=False)
    assert inputs["default"].digits is inputs["big"].digits
    assert inputs["default"].partition is inputs["big"].partition


def test_workers_default_to_the_usable_cores_capped_by_the_work():
    assert usable_cores() >= 1
    assert workers_for(None, 10_000) == usable_cores()
    assert workers_for(None, 1) == 1
    assert workers_for(8, 3) == 3
    assert workers_for(2, 0) == 1
