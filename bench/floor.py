"""What builds and loads are measured against: the I/O floor, the reference, a PNG decode loop."""

from __future__ import annotations

import io
import sys
from pathlib import Path

import numpy as np
from common import read_built, timed

CHUNK = 1000  # the builder's chunk size: encode in the same batches


def png_bytes(table, column: str) -> list[bytes]:
    return table.column(column).combine_chunks().field("bytes").to_pylist()


def encode_all(images: dict, masks: dict) -> dict:
    """Every image and mask PNG-encoded with texmnist.generate.pngenc, in the builder's batches."""
    from texmnist.generate.pngenc import encode_gray_batch, encode_mask_batch

    out = {}
    for s in images:
        img, msk = images[s], masks[s]
        pngs, mpngs = [], []
        for a in range(0, len(img), CHUNK):
            pngs += encode_gray_batch(img[a : a + CHUNK])
            mpngs += encode_mask_batch(msk[a : a + CHUNK])
        out[s] = (pngs, mpngs)
    return out


def write_parquet_floor(tables: dict, encoded: dict, folder: Path) -> None:
    """The encoded PNGs (plus the small columns) to Parquet through `datasets`."""
    import datasets
    import pyarrow as pa

    folder.mkdir(parents=True, exist_ok=True)
    for s, table in tables.items():
        for column, pngs in zip(("image", "mask"), encoded[s], strict=True):
            struct = pa.StructArray.from_arrays(
                [pa.array(pngs, pa.binary()), pa.nulls(len(pngs), pa.string())],
                names=["bytes", "path"],
            )
            table = table.set_column(table.schema.get_field_index(column), column, struct)
        # The schema metadata carries the `datasets` features, as in the build.
        datasets.Dataset(table).to_parquet(str(folder / f"{s}.parquet"))


def blas_threads(n: int):
    """A context limiting BLAS threads to n (threadpoolctl), or a no-op without it."""
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:
        import contextlib

        return contextlib.nullcontext()
    return threadpool_limits(limits=n, user_api="blas")


def pil_encode_us(images: np.ndarray, masks: np.ndarray, repeats: int) -> tuple[float, float]:
    from PIL import Image

    def enc(arrays: np.ndarray) -> None:
        for a in arrays:
            buf = io.BytesIO()
            Image.fromarray(a).save(buf, format="PNG")

    t_img, _ = timed(lambda: enc(images), repeats)
    t_msk, _ = timed(lambda: enc(masks), repeats)
    return 1e6 * t_img["seconds"] / len(images), 1e6 * t_msk["seconds"] / len(masks)


def measure_floor(built: Path, dtd: Path, work: Path, repeats: int) -> tuple[dict, dict]:
    import datasets

    from texmnist.generate.config import DEFAULT_CATEGORIES
    from texmnist.repo.arrays import decode_pngs
    from texmnist.sources import list_textures, partition_textures
    from texmnist.sources.photos import build_bank, load_photo

    datasets.disable_progress_bars()
    tables = read_built(built)
    images = {s: decode_pngs(png_bytes(t, "image")) for s, t in tables.items()}
    masks = {s: decode_pngs(png_bytes(t, "mask")) for s, t in tables.items()}
    n = sum(len(v) for v in images.values())
    enc, encoded = timed(lambda: encode_all(images, masks), repeats)
    same = all(
        encoded[s][0] == png_bytes(tables[s], "image")
        and encoded[s][1] == png_bytes(tables[s], "mask")
        for s in tables
    )
    pq_floor, _ = timed(lambda: write_parquet_floor(tables, encoded, work / "floor"), repeats)

    root = dtd
    cats = list(DEFAULT_CATEGORIES)
    files = list_textures(root, cats)
    part = partition_textures(root, files, 1)
    used = {c: sorted(part.train[c] + part.test[c]) for c in cats}
    n_photos = sum(len(v) for v in used.values())
    bank_fn = lambda: build_bank(root / "images", used, progress=False)  # noqa: E731
    # The floor decodes and resizes each photo once on one core: BLAS threads limited to 1,
    # since OpenBLAS's default pool only adds contention to these small per-photo matmuls.
    with blas_threads(1):
        bank, _ = timed(bank_fn, max(1, repeats - 1))
    bank_default, _ = timed(bank_fn, 1)
    paths = [root / "images" / f for c in cats for f in used[c]]
    decode_only, _ = timed(lambda: [load_photo(p) for p in paths], 1)

    sub = images["train"][:10_000], masks["train"][:10_000]
    pil_img_us, pil_mask_us = pil_encode_us(*sub, repeats=1)
    total = enc["seconds"] + pq_floor["seconds"] + bank["seconds"]
    floor = {
        "seconds": total,
        "cpu_seconds": enc["cpu_seconds"] + pq_floor["cpu_seconds"] + bank["cpu_seconds"],
        "images": n,
        "photos": n_photos,
        "encode_pngenc": enc,
        "encode_us_per_example": 1e6 * enc["seconds"] / n,
        "encode_identical_to_build": same,
        "parquet_write": pq_floor,
        "texture_bank": bank,
        "texture_bank_default_blas_threads": bank_default,
        "photo_decode_only": decode_only,
        "pil_encode_us_image": pil_img_us,
        "pil_encode_us_mask": pil_mask_us,
        "png_bytes_image_mean": float(np.mean([len(b) for b in encoded["train"][0]])),
    }
    return floor, tables


# -- (c) reference ------------------------------------------------------------------


def measure_reference(tables: dict, digits: dict, dtd: Path, work: Path, n: int) -> dict:
    """The reference on the first rows of every split, in proportion to the split sizes."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from reference import build_reference

    from texmnist.dataset.features import features_for
    from texmnist.generate.config import named_config
    from texmnist.repo.arrays import decode_pngs

    cols = ["label", "texture", "texture_file", "aligned", "mnist_index", "image"]
    total = sum(t.num_rows for t in tables.values())
    heads = {s: t.slice(0, round(n * t.num_rows / total)).select(cols) for s, t in tables.items()}
    picked = [
        digits["train" if s == "train" else "test"][h.column("mnist_index").to_numpy()]
        for s, h in heads.items()
    ]
    head = pa.concat_tables(heads.values())
    rows = {c: head.column(c).to_pylist() for c in cols[:-1]}
    features = features_for(named_config("default"))
    out = work / "reference.parquet"
    args = (rows, np.concatenate(picked), dtd / "images", features, out)
    t, count = timed(lambda: build_reference(*args), 1)

    ref = decode_pngs(png_bytes(pq.read_table(out), "image")).astype(np.int16)
    ours = decode_pngs(png_bytes(head, "image")).astype(np.int16)
    diff = np.abs(ref - ours)
    t.update(
        examples=count,
        us_per_example=1e6 * t["seconds"] / count,
        max_abs_diff_vs_build=int(diff.max()),
        mean_abs_diff_vs_build=float(diff.mean()),
    )
    return t


# -- (d) load -----------------------------------------------------------------------


def measure_load(built: Path, work: Path, repeats: int) -> dict:
    import datasets

    from texmnist.repo.arrays import to_numpy

    datasets.disable_progress_bars()
    cache = work / "hf-cache"

    def load(columns=None) -> dict:
        ds = datasets.load_dataset(str(built), "default", split="test_random", cache_dir=cache)
        return to_numpy(ds, columns=columns)

    cold, arrays = timed(load, 1)  # converts the folder's Parquet to the Arrow cache
    warm, _ = timed(load, repeats)
    warm_img, _ = timed(lambda: load(["image", "label"]), repeats)
    parquet = next((built / "data").glob("test_random-*.parquet"))
    floor_all, check = timed(lambda: pil_decode_floor(parquet, ("image", "mask")), repeats)
    floor_img, _ = timed(lambda: pil_decode_floor(parquet, ("image",)), repeats)
    equal = all(np.array_equal(arrays[c], check[c]) for c in ("image", "mask"))
    return {
        "rows": len(arrays["image"]),
        "cold": cold,
        "warm": warm,
        "warm_image_label": warm_img,
        "floor_image_mask": floor_all,
        "floor_image": floor_img,
        "identical_to_pil": equal,
    }


def pil_decode_floor(parquet: Path, columns: tuple[str, ...]) -> dict:
    """Read PNG bytes with pyarrow and PIL-decode each into a preallocated array."""
    import pyarrow.parquet as pq
    from PIL import Image

    table = pq.read_table(parquet, columns=list(columns))
    out = {}
    for c in columns:
        blobs = png_bytes(table, c)
        first = np.asarray(Image.open(io.BytesIO(blobs[0])))
        arr = np.empty((len(blobs), *first.shape), dtype=first.dtype)
        for i, b in enumerate(blobs):
            arr[i] = np.asarray(Image.open(io.BytesIO(b)))
        out[c] = arr
    return out


# -- report -------------------------------------------------------------------------
