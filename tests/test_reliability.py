"""Reliability end to end through `texmnist build`: every bad input or parameter gives one
clear error line, a non-zero exit and no traceback, and leaves nothing behind; downloads
are verified; the parsers and the compositing core are fuzzed.

Reader errors are unit-tested in test_sources/test_fetch/test_textures; here each case goes
through the CLI, where datasets' own wrapping and the staging folder come into play.
"""

from __future__ import annotations

import dataclasses
import gzip
import hashlib
import io
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import datasets
import numpy as np
import pytest
from conftest import N_TEST, N_TRAIN, PER_CATEGORY
from datasets.exceptions import DatasetGenerationError
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp
from PIL import Image

from texmnist import cli
from texmnist import sources as sources_mod
from texmnist.dataset import features as features_mod
from texmnist.dataset import pool as pool_mod
from texmnist.errors import ConfigError, SourceError
from texmnist.generate.config import DEFAULT_CATEGORIES, TexturedMNISTConfig, named_config
from texmnist.generate.recipe import BACKGROUND_ONLY, PLAIN, TEXTURED, SplitPlan
from texmnist.generate.render import render
from texmnist.repo.meta import read_metadata
from texmnist.sources import DTD_CATEGORIES, MNIST, fallback_is_test, fetch
from texmnist.sources.fetch import Remote
from texmnist.sources.idx import write_idx
from texmnist.sources.photos import load_photo

# A tqdm bar line always shows its elapsed time as "[mm:ss".
PROGRESS = re.compile(r"\[\d+:\d\d")


# ------------------------------------------------------------------ helpers


@dataclasses.dataclass
class Run:
    rc: int
    out: str
    err: str

    @property
    def lines(self) -> list[str]:
        """stderr lines other than progress bars."""
        return [
            line
            for line in self.err.replace("\r", "\n").splitlines()
            if line.strip() and not PROGRESS.search(line)
        ]


def run_cli(capsys, *argv: str) -> Run:
    capsys.readouterr()  # drop anything printed before
    rc = cli.main([str(a) for a in argv])
    captured = capsys.readouterr()
    return Run(rc, captured.out, captured.err)


def build_args(out: Path, mnist: Path | None, dtd: Path, *extra: str) -> list[str]:
    args = ["build", "--out", str(out), "--dtd-dir", str(dtd), "--no-download"]
    if mnist is not None:
        args += ["--mnist-dir", str(mnist)]
    return [*args, *extra]


def leftovers(out: Path) -> list[str]:
    """Staging, backup and lock siblings of `out`: a run that exits leaves none."""
    prefix = f".{out.name}."
    return sorted(p.name for p in out.parent.iterdir() if p.name.startswith(prefix))


def one_error_line(run: Run, *needles: str) -> str:
    """The single `texmnist: error:` line, printed last, naming every needle."""
    assert run.rc == cli.EXIT_ERROR, run
    assert "Traceback" not in run.err
    assert len(run.lines) == 1, run.lines
    line = run.lines[0]
    assert line.startswith("texmnist: error: ")
    assert run.err.rstrip().endswith(line)
    for needle in needles:
        assert needle in line, (needle, line)
    return line


def failed_cleanly(run: Run, out: Path, *needles: str) -> str:
    line = one_error_line(run, *needles)
    assert not out.exists()
    assert leftovers(out) == []
    return line


def snapshot(folder: Path) -> dict[str, bytes]:
    return {
        str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()
    }


@pytest.fixture
def src(fake_sources, tmp_path) -> tuple[Path, Path]:
    """Private copies of the fake sources, free to spoil."""
    mnist, dtd = fake_sources
    return (
        Path(shutil.copytree(mnist, tmp_path / "mnist")),
        Path(shutil.copytree(dtd, tmp_path / "dtd")),
    )


def photos(dtd: Path, category: str) -> list[Path]:
    return sorted((dtd / "images" / category).glob("*.jpg"))


# ------------------------------------------------------- 1. bad source inputs
# Each spoiler damages the copies in place and returns what the error line must name.


def _truncated_gzip(mnist: Path, dtd: Path) -> list[str]:
    path = mnist / "train-images-idx3-ubyte.gz"
    path.write_bytes(path.read_bytes()[:500])
    return [f"{path}: truncated or corrupt gzip data"]


def _wrong_magic(mnist: Path, dtd: Path) -> list[str]:
    path = mnist / "t10k-images-idx3-ubyte.gz"
    write_idx(path, np.zeros(N_TEST, np.uint8), gz=True)  # a label file under an image name
    return [f"{path}: bad magic number 2049 (expected 2051"]


def _not_28x28(mnist: Path, dtd: Path) -> list[str]:
    path = mnist / "train-images-idx3-ubyte.gz"
    write_idx(path, np.zeros((N_TRAIN, 28, 27), np.uint8), gz=True)
    return [f"{path}: images are 28×27 pixels, expected 28×28"]


def _counts_disagree(mnist: Path, dtd: Path) -> list[str]:
    path = mnist / "train-labels-idx1-ubyte.gz"
    write_idx(path, np.zeros(N_TRAIN - 1, np.uint8), gz=True)
    images = mnist / "train-images-idx3-ubyte.gz"
    return [f"{images} holds {N_TRAIN} images but {path} holds {N_TRAIN - 1} labels"]


def _label_out_of_range(mnist: Path, dtd: Path) -> list[str]:
    path = mnist / "t10k-labels-idx1-ubyte.gz"
    labels = np.arange(N_TEST, dtype=np.uint8) % 10
    labels[3] = 10
    write_idx(path, labels, gz=True)
    return [f"{path}: label 10 at index 3 is out of range 0..9"]


def _empty_file(mnist: Path, dtd: Path) -> list[str]:
    path = mnist / "t10k-labels-idx1-ubyte.gz"
    path.write_bytes(b"")
    return [f"{path}: empty file"]


def _missing_file(mnist: Path, dtd: Path) -> list[str]:
    (mnist / "t10k-labels-idx1-ubyte.gz").unlink()
    return ["t10k-labels-idx1-ubyte[.gz] not found in", str(mnist), "--mnist-dir"]


def _idx_symlink_loop(mnist: Path, dtd: Path) -> list[str]:
    path = mnist / "train-labels-idx1-ubyte.gz"
    path.unlink()
    path.symlink_to(path.name)  # points at itself
    return [f"{path}: broken or looping symbolic link"]


def _missing_category(mnist: Path, dtd: Path) -> list[str]:
    folder = dtd / "images" / "crystalline"
    shutil.rmtree(folder)
    return [f"{folder}: DTD category 'crystalline' not found", "--dtd-dir"]


def _no_test_photos(mnist: Path, dtd: Path) -> list[str]:
    folder = dtd / "images" / "bumpy"
    for path in folder.iterdir():
        if fallback_is_test(path.name):
            path.unlink()
    return [f"{folder}: DTD category 'bumpy' has no test photos"]


def _partition_names_missing_photo(mnist: Path, dtd: Path) -> list[str]:
    labels = dtd / "labels"
    labels.mkdir()
    lists: dict[str, list[str]] = {"train1": [], "val1": [], "test1": []}
    for category in DEFAULT_CATEGORIES:
        for path in sorted((dtd / "images" / category).iterdir()):
            if path.suffix in (".jpg", ".png") and not path.name.startswith("."):
                lists["test1" if fallback_is_test(path.name) else "train1"].append(
                    f"{category}/{path.name}"
                )
    gone = lists["train1"][5]
    (dtd / "images" / gone).unlink()
    for name, entries in lists.items():
        (labels / f"{name}.txt").write_text("".join(e + "\n" for e in entries))
    return [f"{labels / 'train1.txt'}: entry '{gone}' names a photo that is not in"]


def _corrupt_jpeg(mnist: Path, dtd: Path) -> list[str]:
    path = photos(dtd, "cracked")[2]
    path.write_bytes(path.read_bytes()[:300])
    return [f"{path}: cannot decode image ("]


def _zero_byte_image(mnist: Path, dtd: Path) -> list[str]:
    path = photos(dtd, "banded")[4]
    path.write_bytes(b"")
    return [f"{path}: empty file (0 bytes)"]


def _text_named_jpg(mnist: Path, dtd: Path) -> list[str]:
    path = dtd / "images" / "blotchy" / "blotchy_9999.jpg"
    path.write_text("<html>404 not found</html>\n")
    return [f"{path}: not an image file Pillow can identify"]


def _photo_symlink_loop(mnist: Path, dtd: Path) -> list[str]:
    path = dtd / "images" / "braided" / "braided_9999.jpg"
    path.symlink_to(path.name)
    return [f"{path}: broken or looping symbolic link"]


BAD_SOURCES: dict[str, Callable[[Path, Path], list[str]]] = {
    "truncated-gzip": _truncated_gzip,
    "wrong-magic": _wrong_magic,
    "not-28x28": _not_28x28,
    "counts-disagree": _counts_disagree,
    "label-out-of-range": _label_out_of_range,
    "empty-file": _empty_file,
    "missing-mnist-file": _missing_file,
    "idx-symlink-loop": _idx_symlink_loop,
    "missing-category": _missing_category,
    "no-test-photos": _no_test_photos,
    "partition-names-missing-photo": _partition_names_missing_photo,
    "corrupt-jpeg": _corrupt_jpeg,
    "zero-byte-image": _zero_byte_image,
    "text-named-jpg": _text_named_jpg,
    "photo-symlink-loop": _photo_symlink_loop,
}


def in_process(monkeypatch) -> None:
    """Builds render in this process (one worker), so that spies and stand-ins see every row."""
    monkeypatch.setattr(pool_mod, "usable_cores", lambda: 1)


@pytest.fixture
def no_generation(monkeypatch) -> list[int]:
    """Records every batch of rows rendered (none may be on a bad source)."""
    rendered: list[int] = []
    original = features_mod.render
    in_process(monkeypatch)

    def spy(plan, *args, **kwargs):
        rendered.append(len(plan))
        return original(plan, *args, **kwargs)

    monkeypatch.setattr(features_mod, "render", spy)
    return rendered


@pytest.mark.parametrize("spoil", BAD_SOURCES.values(), ids=BAD_SOURCES.keys())
def test_bad_source_fails_with_one_line_and_leaves_nothing(
    spoil, src, tmp_path, capsys, no_generation
):
    needles = spoil(*src)
    out = tmp_path / "repo"
    run = run_cli(capsys, *build_args(out, *src))
    failed_cleanly(run, out, *needles)
    # Every source is read (and every photo decoded) before any split is written.
    assert no_generation == []


def test_debug_shows_the_traceback(src, tmp_path, capsys):
    _corrupt_jpeg(*src)
    out = tmp_path / "repo"
    with pytest.raises(SourceError, match="cannot decode image"):
        cli.main(["--debug", *build_args(out, *src)])
    assert not out.exists() and leftovers(out) == []


def test_exit_code_and_stderr_of_a_real_process(src, tmp_path):
    """Outside pytest: the exit status, and a traceback only with --debug."""
    needles = _wrong_magic(*src)
    out = tmp_path / "repo"
    cmd = [sys.executable, "-m", "texmnist.cli"]
    plain = subprocess.run([*cmd, *build_args(out, *src)], capture_output=True, text=True)
    debug = subprocess.run(
        [*cmd, "--debug", *build_args(out, *src)], capture_output=True, text=True
    )
    failed_cleanly(Run(plain.returncode, plain.stdout, plain.stderr), out, *needles)
    assert plain.stdout == ""
    assert debug.returncode != 0
    assert "Traceback (most recent call last)" in debug.stderr
    assert f"texmnist.errors.SourceError: {needles[0]}" in debug.stderr
    assert not out.exists() and leftovers(out) == []


def _wrapped(how: str) -> BaseException:
    """A SourceError behind datasets' DatasetGenerationError, linked as `how`."""
    try:
        raise SourceError("/data/x.jpg: cannot decode image (simulated)")
    except SourceError as inner:
        outer = DatasetGenerationError("An error occurred while generating the dataset")
        if how == "cause":
            outer.__cause__ = inner
        else:
            outer.__context__ = inner
        return outer


@pytest.mark.parametrize("how", ["cause", "context"])
def test_error_wrapped_by_datasets_is_unwrapped(how, src, tmp_path, capsys, monkeypatch):
    """datasets wraps what fails while a split is generated in DatasetGenerationError;
    the CLI prints our one line (and the staging folder still goes)."""

    def fail(*args, **kwargs):
        raise _wrapped(how)

    monkeypatch.setattr(features_mod, "render", fail)
    in_process(monkeypatch)
    out = tmp_path / "repo"
    run = run_cli(capsys, *build_args(out, *src))
    failed_cleanly(run, out, "texmnist: error: /data/x.jpg: cannot decode image (simulated)")


def test_source_error_raised_while_generating(src, tmp_path, capsys, monkeypatch):
    def fail(*args, **kwargs):
        raise SourceError("/data/y.jpg: cannot decode image (simulated)")

    monkeypatch.setattr(features_mod, "render", fail)
    in_process(monkeypatch)
    out = tmp_path / "repo"
    run = run_cli(capsys, *build_args(out, *src))
    failed_cleanly(run, out, "texmnist: error: /data/y.jpg: cannot decode image (simulated)")


def test_unexpected_error_is_not_hidden(src, tmp_path, capsys, monkeypatch):
    """A bug is not a user error: it propagates (traceback), and still leaves nothing."""

    def fail(*args, **kwargs):
        raise ZeroDivisionError("a bug")

    monkeypatch.setattr(features_mod, "render", fail)
    in_process(monkeypatch)
    out = tmp_path / "repo"
    with pytest.raises(Exception) as info:
        cli.main(build_args(out, *src))
    assert cli._texmnist_error(info.value) is None
    assert not out.exists() and leftovers(out) == []


def test_unreadable_idx_file(src, tmp_path, capsys, monkeypatch):
    """Permission denied, simulated (tests run as root, where chmod 000 blocks nothing)."""
    mnist, dtd = src
    target = mnist / "t10k-images-idx3-ubyte.gz"

    def guarded(path, *args, **kwargs):
        if Path(path) == target:
            raise PermissionError(13, "Permission denied", str(path))
        return open(path, *args, **kwargs)

    # the IDX reader's own `open` (a module global shadows the builtin)
    monkeypatch.setattr("texmnist.sources.idx.open", guarded, raising=False)
    out = tmp_path / "repo"
    run = run_cli(capsys, *build_args(out, mnist, dtd))
    failed_cleanly(run, out, f"{target}: cannot read (Permission denied)")


def test_unreadable_photo(src, tmp_path, capsys, monkeypatch):
    mnist, dtd = src
    target = photos(dtd, "bubbly")[1]
    open_image = Image.open

    def guarded(fp, *args, **kwargs):
        if Path(fp) == target:
            raise PermissionError(13, "Permission denied", str(fp))
        return open_image(fp, *args, **kwargs)

    monkeypatch.setattr(Image, "open", guarded)
    out = tmp_path / "repo"
    run = run_cli(capsys, *build_args(out, mnist, dtd))
    failed_cleanly(run, out, f"{target}: cannot read (Permission denied)")


@pytest.mark.skipif(
    hasattr(os, "geteuid") and os.geteuid() == 0,
    reason="running as root: chmod 000 does not block reads (see the simulated tests above)",
)
def test_unreadable_photo_for_real(src, tmp_path, capsys):
    mnist, dtd = src
    target = photos(dtd, "bubbly")[1]
    target.chmod(0)
    try:
        out = tmp_path / "repo"
        run = run_cli(capsys, *build_args(out, mnist, dtd))
        failed_cleanly(run, out, f"{target}: cannot read (Permission denied)")
    finally:
        target.chmod(0o644)


def test_non_image_files_are_ignored(src, tmp_path, capsys):
    mnist, dtd = src
    folder = dtd / "images" / "bumpy"
    (folder / "notes.txt").write_text("my notes\n")
    (folder / "bumpy_0001.jpg.txt").write_text("caption\n")
    (folder / "index.html").write_text("<html></html>\n")
    (folder / "._bumpy_0002.jpg").write_bytes(b"\x00\x05\x16\x07AppleDouble")
    (folder / ".hidden.jpg").write_bytes(b"not a photo")
    (folder / "Thumbs.db").write_bytes(b"\xd0\xcf\x11\xe0")
    (folder / "sub.jpg").mkdir()  # a folder with a photo's name
    (dtd / "images" / "README").write_text("about the photos\n")
    out = tmp_path / "repo"
    run = run_cli(capsys, *build_args(out, mnist, dtd))
    assert run.rc == 0, run.err
    assert run.lines == [], run.lines
    files = set(datasets.load_dataset(str(out), "default", split="train")["texture_file"])
    assert files and all(f.endswith((".jpg", ".png")) for f in files)
    assert not any(Path(f).name.startswith(".") or "sub.jpg" in f for f in files)


def test_extreme_and_tiny_photos_build(src, tmp_path, capsys, no_generation):
    mnist, dtd = src
    folder = dtd / "images" / "banded"
    rng = np.random.default_rng(0)
    shapes = {"banded_8001.jpg": (1, 500), "banded_8002.png": (500, 1), "banded_8003.jpg": (3, 3)}
    for name, shape in shapes.items():
        Image.fromarray(rng.integers(0, 256, size=(*shape, 3), dtype=np.uint8)).save(folder / name)
    out = tmp_path / "repo"
    run = run_cli(capsys, *build_args(out, mnist, dtd))
    assert run.rc == 0, run.err
    counts = read_metadata(out)["configs"]["default"]["num_textures"]
    # Every photo, odd shapes included, was decoded into the bank and used.
    assert counts["train"] + counts["test"] == 10 * PER_CATEGORY + len(shapes)
    assert sum(no_generation) == N_TRAIN + 3 * N_TEST  # the spy sees every rendered row


# ------------------------------------------------------- 2. bad parameters


@pytest.fixture(scope="module")
def existing(fake_sources, tmp_path_factory) -> Path:
    """A built repository folder, the thing a bad command must not touch."""
    mnist, dtd = fake_sources
    out = tmp_path_factory.mktemp("existing") / "repo"
    assert cli.main(build_args(out, mnist, dtd)) == 0
    return out


@pytest.fixture
def victim(existing, tmp_path) -> tuple[Path, dict[str, bytes]]:
    out = Path(shutil.copytree(existing, tmp_path / "repo"))
    return out, snapshot(out)


BAD_PARAMETERS = {
    "negative-seed": (["--seed", "-1"], "seed: must be in [0, 9223372036854775807], got -1"),
    "num-proc-0": (["--num-proc", "0"], "--num-proc: must be >= 1"),
    "max-train-0": (["--max-train", "0"], "max_train: must be >= 1, got 0"),
    "partition-11": (
        ["--partition", "11"],
        "partition: must be an integer 1..10 (DTD has ten), got 11",
    ),
    "validation-over-max-train": (
        ["--max-train", "10", "--validation-size", "10"],
        "validation_size: 10 leaves no training digits (max_train=10)",
    ),
    "validation-over-train": (
        ["--validation-size", str(N_TRAIN)],
        f"validation_size: {N_TRAIN} leaves no training examples ({N_TRAIN} training digits)",
    ),
    "unknown-config": (["--config", "rho-0.5"], "unknown config 'rho-0.5'; choose one of"),
}


@pytest.mark.parametrize(("extra", "needle"), BAD_PARAMETERS.values(), ids=BAD_PARAMETERS.keys())
def test_bad_parameter_overwrites_nothing(extra, needle, fake_sources, victim, capsys):
    out, before = victim
    # --overwrite: the most destructive form of the command must still touch nothing.
    run = run_cli(capsys, *build_args(out, *fake_sources, "--overwrite", *extra))
    one_error_line(run, needle)
    assert snapshot(out) == before
    assert leftovers(out) == []


@pytest.mark.parametrize(
    ("extra", "needle"),
    [
        (["--seed", "abc"], "argument --seed: invalid int value: 'abc'"),
        (["--num-proc", "1.5"], "argument --num-proc: invalid int value: '1.5'"),
        (["--partition", ""], "argument --partition: invalid int value: ''"),
    ],
)
def test_wrongly_typed_option_overwrites_nothing(extra, needle, fake_sources, victim, capsys):
    out, before = victim
    with pytest.raises(SystemExit) as info:
        cli.main(build_args(out, *fake_sources, "--overwrite", *extra))
    assert info.value.code == 2
    err = capsys.readouterr().err
    assert err.splitlines() == [f"texmnist build: error: {needle} (see texmnist build --help)"]
    assert snapshot(out) == before and leftovers(out) == []


@pytest.mark.parametrize(
    ("categories", "needle"),
    [
        (("velvet", *DEFAULT_CATEGORIES[1:]), "categories: unknown DTD category 'velvet'"),
        (("banded", *DEFAULT_CATEGORIES[:9]), "categories: duplicate category 'banded'"),
        (DTD_CATEGORIES[:11], "categories: expected 10 DTD category names, got 11"),
        ("banded", "categories: expected 10 DTD category names, got 1"),
    ],
)
def test_bad_categories_in_the_python_api(categories, needle):
    with pytest.raises(ConfigError) as info:
        named_config("default", categories=categories)
    assert str(info.value).startswith(needle)
    assert "\n" not in str(info.value)


@pytest.mark.parametrize(
    ("kwargs", "needle"),
    [
        ({"seed": "1"}, "seed: expected an integer, got '1'"),
        ({"threshold": "0.1"}, "threshold: expected a number, got '0.1'"),
        ({"threshold": float("nan")}, "threshold: expected a number, got nan"),
        ({"correlation": 1.5}, "correlation: must be in [0.0, 1.0], got 1.5"),
        ({"max_test": 2.0}, "max_test: expected an integer, got 2.0"),
    ],
)
def test_wrongly_typed_parameters_in_the_python_api(kwargs, needle):
    with pytest.raises(ConfigError) as info:
        TexturedMNISTConfig(name="default", **kwargs)
    assert str(info.value) == needle


def test_out_names_a_file(fake_sources, tmp_path, capsys):
    out = tmp_path / "notes.txt"
    out.write_text("precious\n")
    run = run_cli(capsys, *build_args(out, *fake_sources, "--overwrite"))
    one_error_line(run, f"{out}: --out names a file, not a folder")
    assert out.read_text() == "precious\n"
    assert leftovers(out) == []


def test_foreign_non_empty_folder(fake_sources, tmp_path, capsys):
    out = tmp_path / "thesis"
    (out / "chapters").mkdir(parents=True)
    (out / "chapters" / "one.tex").write_text("\\chapter{One}\n")
    (out / "README.md").write_text("# my thesis\n")
    before = snapshot(out)
    run = run_cli(capsys, *build_args(out, *fake_sources, "--overwrite"))
    one_error_line(run, f"{out}: folder is not empty and was not made by texmnist")
    assert snapshot(out) == before and leftovers(out) == []


def test_rebuild_without_overwrite(fake_sources, victim, capsys):
    out, before = victim
    run = run_cli(capsys, *build_args(out, *fake_sources, "--seed", "5"))
    one_error_line(
        run, f"{out}: config 'default' is already built there; pass --overwrite to rebuild it"
    )
    assert snapshot(out) == before and leftovers(out) == []


def test_kill_between_the_two_renames_is_repaired(fake_sources, victim, capsys):
    """A build killed between `out -> backup` and `staging -> out` leaves no `out`;
    the next command puts the previous folder back and drops the stale staging."""
    out, before = victim
    out.rename(out.parent / f".{out.name}.texmnist-old-0badf00d")
    stale = out.parent / f".{out.name}.texmnist-tmp-deadbeef"
    (stale / "repo" / "data").mkdir(parents=True)
    (stale / "repo" / "data" / "train-00000-of-00001.parquet").write_bytes(b"half")
    run = run_cli(capsys, *build_args(out, *fake_sources))
    one_error_line(run, "already built there")
    assert snapshot(out) == before and leftovers(out) == []


# ------------------------------------------------------------- 5. downloads


def _mirrors(tmp_path: Path, good: Path, bad_first: bool, good_second: bool) -> dict[str, Remote]:
    """file:// mirrors of `good`'s four files: a corrupted copy, then the file or a cut copy."""
    files = {}
    for role in sources_mod.ROLES:
        name = MNIST.files[role].filename
        data = (good / name).read_bytes()
        corrupt = bytes([data[0] ^ 0xFF]) + data[1:]  # same size, wrong sha256
        one = tmp_path / "mirror1" / name
        two = tmp_path / "mirror2" / name
        one.parent.mkdir(exist_ok=True)
        two.parent.mkdir(exist_ok=True)
        one.write_bytes(corrupt if bad_first else data)
        two.write_bytes(data if good_second else data[: len(data) // 2])
        sha = hashlib.sha256(data).hexdigest()
        files[role] = Remote(name, (one.as_uri(), two.as_uri()), sha, len(data))
    return files


@pytest.fixture
def mirrored(monkeypatch, tmp_path, fake_sources, online):
    """Point MNIST's mirrors and the download cache into tmp_path."""
    cache = tmp_path / "cache"
    monkeypatch.setattr(fetch, "default_cache_dir", lambda: cache)

    def use(bad_first: bool, good_second: bool) -> Path:
        files = _mirrors(tmp_path, fake_sources[0], bad_first, good_second)
        source = dataclasses.replace(MNIST, files=files)
        monkeypatch.setitem(sources_mod.DIGIT_SOURCES, "mnist", source)
        return cache / "mnist"

    return use


def test_download_every_mirror_bad(mirrored, fake_sources, tmp_path, capsys):
    cache = mirrored(bad_first=True, good_second=False)
    out = tmp_path / "repo"
    args = ["build", "--out", str(out), "--dtd-dir", str(fake_sources[1])]
    run = run_cli(capsys, *args)
    name = "train-images-idx3-ubyte.gz"
    size = len((fake_sources[0] / name).read_bytes())
    failed_cleanly(
        run,
        out,
        f"could not download {name}: {(tmp_path / 'mirror1' / name).as_uri()}: sha256 mismatch",
        f"{(tmp_path / 'mirror2' / name).as_uri()}: got {size // 2} bytes, expected {size}",
        "or pass --mnist-dir FOLDER holding the four IDX files",
    )
    assert not cache.exists() or list(cache.iterdir()) == []  # no partial file kept


def test_download_falls_back_to_the_next_mirror(mirrored, fake_sources, tmp_path, capsys):
    cache = mirrored(bad_first=True, good_second=True)
    out = tmp_path / "repo"
    run = run_cli(capsys, "build", "--out", out, "--dtd-dir", fake_sources[1])
    assert run.rc == 0, run.err
    assert sorted(p.name for p in cache.iterdir()) == sorted(
        MNIST.files[r].filename for r in sources_mod.ROLES
    )
    for p in cache.iterdir():
        assert p.read_bytes() == (fake_sources[0] / p.name).read_bytes()


def test_partial_file_in_the_cache_is_never_used(mirrored, fake_sources, tmp_path, capsys):
    cache = mirrored(bad_first=False, good_second=True)
    cache.mkdir(parents=True)
    for role in sources_mod.ROLES:
        good = fake_sources[0] / MNIST.files[role].filename
        shutil.copy(good, cache / good.name)
    name = "t10k-images-idx3-ubyte.gz"
    partial = (fake_sources[0] / name).read_bytes()[:1000]
    (cache / name).write_bytes(partial)
    out = tmp_path / "repo"
    args = ["build", "--out", out, "--dtd-dir", fake_sources[1]]
    run = run_cli(capsys, *args, "--no-download")
    failed_cleanly(run, out, f"file {name} not in the cache {cache}", "--mnist-dir")
    assert (cache / name).read_bytes() == partial  # kept, not trusted
    run = run_cli(capsys, *args)  # downloads replace it with the verified file
    assert run.rc == 0, run.err
    assert (cache / name).read_bytes() == (fake_sources[0] / name).read_bytes()


# ---------------------------------------------------------------- 4. fuzzing

digits_and_textures = st.integers(1, 4).flatmap(
    lambda n: st.tuples(
        hnp.arrays(np.uint8, (n, 28, 28), elements=st.integers(0, 255)),
        hnp.arrays(np.uint8, (n, 28, 28), elements=st.integers(0, 255)),
    )
)


def _plan(kind: str, n: int) -> SplitPlan:
    rows = np.arange(n)
    return SplitPlan(
        name="fuzz",
        kind=kind,
        source_split="test",
        mnist_index=rows.astype(np.int32),
        label=rows % 10,
        texture=rows % 10,
        photo=rows.astype(np.int32),
        aligned=np.ones(n, bool),
        scale=np.full(n, 28, np.int32),
        box=np.tile(np.array([0, 0, 28, 28], np.int32), (n, 1)),
    )


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    digits_and_textures,
    st.floats(0.0, 1.0, exclude_max=True),
    st.sampled_from(["digit", "texture"]),
)
def test_render_invariants_for_any_threshold(pair, threshold, foreground):
    digits, textures = pair
    config = TexturedMNISTConfig(name="fuzz", threshold=threshold, foreground=foreground)
    images, masks = render(_plan(TEXTURED, len(digits)), digits, lambda p: textures, config)
    expected_mask = digits.astype(np.float64) / 255 > threshold
    assert np.array_equal(masks, expected_mask)
    if foreground == "digit":
        assert np.array_equal(images[masks], digits[masks])
        assert np.array_equal(images[~masks], textures[~masks])
    else:
        assert np.array_equal(images[masks], textures[masks])
        assert not images[~masks].any()
    # A higher threshold only ever shrinks the foreground.
    higher = TexturedMNISTConfig(name="fuzz", threshold=min(threshold + 0.25, 0.999))
    _, fewer = render(_plan(TEXTURED, len(digits)), digits, lambda p: textures, higher)
    assert not (fewer & ~masks).any()
    plain, plain_masks = render(_plan(PLAIN, len(digits)), digits, lambda p: textures, config)
    assert np.array_equal(plain, digits) and np.array_equal(plain_masks, masks)
    only, empty = render(_plan(BACKGROUND_ONLY, len(digits)), digits, lambda p: textures, config)
    assert np.array_equal(only, textures) and not empty.any()


def _seed_photos() -> dict[str, bytes]:
    rng = np.random.default_rng(0)
    pixels = rng.integers(0, 256, size=(24, 20, 3), dtype=np.uint8)
    out = {}
    for fmt, mode in (("JPEG", "RGB"), ("PNG", "RGB"), ("PNG", "P"), ("JPEG", "L")):
        buffer = io.BytesIO()
        Image.fromarray(pixels).convert(mode).save(buffer, format=fmt)
        out[f"{fmt}-{mode}"] = buffer.getvalue()
    return out


SEED_PHOTOS = _seed_photos()


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.sampled_from(sorted(SEED_PHOTOS)),
    st.lists(st.tuples(st.integers(0, 10**6), st.integers(0, 255)), max_size=6),
    st.one_of(st.none(), st.integers(0, 10**6)),
    st.sampled_from(["L", "RGB"]),
)
def test_fuzz_photo_decoder(tmp_path_factory, kind, flips, cut, mode):
    """Damaged photo bytes decode to pixels or raise SourceError naming the file, nothing else."""
    data = bytearray(SEED_PHOTOS[kind])
    for pos, value in flips:
        data[pos % len(data)] = value
    if cut is not None:
        data = data[: cut % (len(data) + 1)]
    path = tmp_path_factory.mktemp("fuzz") / "photo.jpg"
    path.write_bytes(bytes(data))
    try:
        pixels = load_photo(path, mode=mode)
    except SourceError as e:
        assert str(e).startswith(f"{path}: ") and "\n" not in str(e)
        return
    assert pixels.dtype == np.uint8 and pixels.ndim == (2 if mode == "L" else 3)
    assert pixels.size > 0


@settings(max_examples=100, deadline=None)
@given(st.binary(max_size=200))
def test_fuzz_gzip_wrapped_idx(tmp_path_factory, payload):
    """Any gzip payload (the way MNIST ships) either reads or raises SourceError."""
    path = tmp_path_factory.mktemp("fuzz") / "file.gz"
    path.write_bytes(gzip.compress(payload, mtime=0))
    try:
        array = sources_mod.read_idx(path)
    except SourceError as e:
        assert str(e).startswith(f"{path.absolute()}: ") and "\n" not in str(e)
        return
    assert array.dtype == np.uint8
