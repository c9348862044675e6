"""The sources a build read, identified by name and content, never by where they lay.

texmnist.json records these instead of folders: two builds from the same digits and
photos record the same sums whatever the paths, and re-compressed copies of the IDX
files (whose gzip bytes differ from the official downloads) count as the same source.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np

from .digits import Digits


def digits_identity(digits: Digits) -> dict:
    """sha256 of the decoded arrays: train images, train labels, test images, test labels."""
    h = hashlib.sha256()
    arrays = (digits.train_images, digits.train_labels, digits.test_images, digits.test_labels)
    for array in arrays:
        h.update(np.ascontiguousarray(array, dtype=np.uint8).tobytes())
    return {
        "name": digits.source.name,
        "train": len(digits.train_labels),
        "test": len(digits.test_labels),
        "sha256": h.hexdigest(),
        "of": "the decoded uint8 arrays: train images, train labels, test images, test labels",
    }


def photos_identity(images_dir: Path, files: tuple[str, ...]) -> dict:
    """sha256 over the photos used: each relative name, then the sha256 of its bytes."""
    h = hashlib.sha256()
    for rel in sorted(files):
        h.update(rel.encode() + b"\0")
        h.update(hashlib.sha256((images_dir / rel).read_bytes()).digest())
    return {
        "name": "dtd",
        "photos": len(files),
        "sha256": h.hexdigest(),
        "of": "each photo's path under images/ and the sha256 of its bytes, in name order",
    }


def inputs_identity(inputs, sums: dict) -> list[dict]:
    """The digits and photos a config's `Inputs` came from. `sums` memoises per run: the
    configs of one build that share a source (the same arrays, the same photos) share it."""
    digits = inputs.digits
    images_dir = inputs.dtd_root / "images"
    used = tuple(inputs.texture_files)
    keys = (("digits", id(digits)), ("photos", images_dir, used))
    if keys[0] not in sums:
        sums[keys[0]] = digits_identity(digits)
    if keys[1] not in sums:
        sums[keys[1]] = photos_identity(images_dir, used)
    return [sums[k] for k in keys]
