"""Interrupted and concurrent builds, in real processes: SIGINT, SIGTERM or kill -9 in the
middle of `texmnist build` leaves the previous folder byte-identical (or nothing), the next
build cleans up, and two builds into one folder cannot corrupt it."""

from __future__ import annotations

import fcntl
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import datasets
import numpy as np
import pyarrow.parquet as pq
import pytest
from fakedata import fake_digits

from texmnist import cli
from texmnist.repo.meta import read_metadata, table_fingerprint
from texmnist.sources.idx import write_idx

N_BIG_TRAIN, N_BIG_TEST = 20_000, 2_000  # a couple of seconds of generation
PROGRESS = re.compile(r"\[\d+:\d\d")  # a tqdm bar shows its elapsed time as "[mm:ss"


def snapshot(folder: Path) -> dict[str, bytes]:
    return {
        str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()
    }


def leftovers(out: Path) -> list[str]:
    """Staging or backup siblings of `out` (the lock file may stay)."""
    return sorted(
        p.name
        for p in out.parent.iterdir()
        if p.name.startswith(f".{out.name}.") and p.name != f".{out.name}.lock"
    )


@pytest.fixture(scope="module")
def big(fake_sources, tmp_path_factory) -> tuple[Path, Path]:
    """(mnist, dtd) with 20,000 + 2,000 digits (fake digits tiled: quick to write)."""
    folder = tmp_path_factory.mktemp("big-mnist")
    for split, n, seed in (("train", N_BIG_TRAIN, 0), ("t10k", N_BIG_TEST, 1)):
        images, labels = fake_digits(500, seed)
        reps = n // 500
        write_idx(folder / f"{split}-images-idx3-ubyte.gz", np.tile(images, (reps, 1, 1)), gz=True)
        write_idx(folder / f"{split}-labels-idx1-ubyte.gz", np.tile(labels, reps), gz=True)
    return folder, fake_sources[1]


def build_args(out: Path, sources: tuple[Path, Path], *extra: str) -> list[str]:
    mnist, dtd = sources
    return [
        "build",
        "--out",
        str(out),
        "--mnist-dir",
        str(mnist),
        "--dtd-dir",
        str(dtd),
        "--no-download",
        *extra,
    ]


@pytest.fixture(scope="module")
def clean(big, tmp_path_factory) -> tuple[Path, str]:
    """An uncontended, uninterrupted build of the big sources, and its fingerprint."""
    out = tmp_path_factory.mktemp("clean") / "repo"
    assert cli.main(build_args(out, big)) == 0
    return out, read_metadata(out)["configs"]["default"]["fingerprint"]


class Build:
    """`python -m texmnist.cli build ...` in its own process, stderr to a file."""

    def __init__(self, tmp_path: Path, out: Path, sources, *extra: str, name: str = "build"):
        self.out = out
        self.log = tmp_path / f"{name}.stderr"
        with open(self.log, "w") as err:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "texmnist.cli", *build_args(out, sources, *extra)],
                stdout=subprocess.PIPE,
                stderr=err,
                text=True,
                cwd=tmp_path,
                # A shell that starts the tests in the background (`pytest &`, nohup) leaves
                # SIGINT ignored, and an ignored signal stays ignored across exec: the build
                # gets the default disposition back, as from a terminal.
                preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
            )

    def wait_for_staging(self, inside: str, timeout: float = 120) -> None:
        """Block until the staging folder holds `inside` (the build is mid-way)."""
        deadline = time.monotonic() + timeout
        pattern = f".{self.out.name}.texmnist-tmp-*/{inside}"
        while time.monotonic() < deadline:
            if list(self.out.parent.glob(pattern)):
                return
            if self.proc.poll() is not None:
                pytest.fail(f"build ended before {inside} appeared:\n{self.log.read_text()}")
            time.sleep(0.005)
        pytest.fail(f"no {pattern} after {timeout} s")

    def finish(self, timeout: float = 120) -> tuple[int, str, list[str]]:
        """(exit code, stdout, stderr lines that are not progress bars)."""
        stdout, _ = self.proc.communicate(timeout=timeout)
        text = self.log.read_text().replace("\r", "\n")
        lines = [line for line in text.splitlines() if line.strip() and not PROGRESS.search(line)]
        return self.proc.returncode, stdout, lines

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()


@pytest.fixture
def builds():
    started: list[Build] = []
    yield started
    for b in started:  # never leave a build of ours running
        b.stop()


def assert_loads(out: Path, fingerprint: str) -> None:
    """Valid folder: loads with datasets, and its Parquet content has `fingerprint`."""
    meta = read_metadata(out)["configs"]["default"]
    assert meta["fingerprint"] == fingerprint
    for split, info in meta["splits"].items():
        table = pq.read_table([str(out / f) for f in info["files"]])
        assert table_fingerprint(table) == info["fingerprint"], split
    train = datasets.load_dataset(str(out), "default", split="train")
    assert len(train) == meta["splits"]["train"]["num_examples"]


@pytest.mark.parametrize(
    ("sig", "code", "word"),
    [
        (signal.SIGINT, cli.EXIT_INTERRUPTED, "interrupted"),
        (signal.SIGTERM, cli.EXIT_TERMINATED, "terminated"),
    ],
    ids=["SIGINT", "SIGTERM"],
)
def test_signal_during_first_build_leaves_nothing(
    sig, code, word, big, fake_sources, tmp_path, builds, capsys
):
    out = tmp_path / "repo"
    b = Build(tmp_path, out, big)
    builds.append(b)
    b.wait_for_staging("arrow.incomplete/*.arrow")  # rows are being generated
    b.proc.send_signal(sig)
    rc, stdout, lines = b.finish()
    assert rc == code
    assert lines == [f"texmnist: {word}; nothing was written"]
    assert stdout == ""
    assert not out.exists() and leftovers(out) == []
    # The next build goes through.
    assert cli.main(build_args(out, fake_sources)) == 0
    assert read_metadata(out)["configs"]["default"]["splits"]["train"]["num_examples"] == 80


@pytest.mark.parametrize(
    ("sig", "code"),
    [(signal.SIGINT, cli.EXIT_INTERRUPTED), (signal.SIGTERM, cli.EXIT_TERMINATED)],
    ids=["SIGINT", "SIGTERM"],
)
def test_signal_during_rebuild_keeps_the_previous_folder(sig, code, clean, tmp_path, builds, big):
    out = Path(shutil.copytree(clean[0], tmp_path / "repo"))
    before = snapshot(out)
    b = Build(tmp_path, out, big, "--overwrite", "--seed", "1")
    builds.append(b)
    b.wait_for_staging("arrow.incomplete/*.arrow")
    b.proc.send_signal(sig)
    rc, _, lines = b.finish()
    assert rc == code
    assert len(lines) == 1 and "nothing was written" in lines[0]
    assert snapshot(out) == before
    assert leftovers(out) == []


@pytest.mark.parametrize("stage", ["arrow.incomplete/*.arrow", "repo/data/*.parquet"])
def test_kill_9_keeps_the_previous_folder_and_next_build_recovers(
    stage, clean, big, fake_sources, tmp_path, builds, capsys
):
    """kill -9 runs no cleanup at all: the stale staging stays until the next build."""
    out = Path(shutil.copytree(clean[0], tmp_path / "repo"))
    before = snapshot(out)
    b = Build(tmp_path, out, big, "--overwrite", "--seed", "1")
    builds.append(b)
    b.wait_for_staging(stage)
    b.proc.send_signal(signal.SIGKILL)
    rc, _, _ = b.finish()
    assert rc == -signal.SIGKILL
    assert snapshot(out) == before
    assert leftovers(out), "kill -9 should have left the staging folder"
    assert cli.main(build_args(out, fake_sources, "--overwrite")) == 0
    assert leftovers(out) == []
    assert read_metadata(out)["configs"]["default"]["splits"]["train"]["num_examples"] == 80


def test_two_concurrent_builds_do_not_corrupt(big, clean, tmp_path, builds):
    out = tmp_path / "repo"
    both = [Build(tmp_path, out, big, "--overwrite", name=name) for name in ("first", "second")]
    builds.extend(both)
    results = [b.finish() for b in both]
    codes = sorted(rc for rc, _, _ in results)
    assert codes in ([0, 0], [0, cli.EXIT_ERROR]), results
    for rc, _, lines in results:
        if rc:  # the loser of the race is refused, with one line, and touches nothing
            assert lines == [
                f"texmnist: error: {out}: another texmnist build is writing this folder"
            ]
    assert leftovers(out) == []
    assert_loads(out, clean[1])


def test_a_held_lock_refuses_the_build(clean, fake_sources, tmp_path, capsys):
    """The lock itself, deterministically: held here, the CLI build is refused."""
    out = Path(shutil.copytree(clean[0], tmp_path / "repo"))
    before = snapshot(out)
    with open(tmp_path / ".repo.lock", "a+") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        rc = cli.main(build_args(out, fake_sources, "--overwrite"))
    err = capsys.readouterr().err
    assert rc == cli.EXIT_ERROR
    assert err == f"texmnist: error: {out}: another texmnist build is writing this folder\n"
    assert snapshot(out) == before and leftovers(out) == []


def test_sigterm_handler_is_restored_after_main(fake_sources, tmp_path):
    """main() installs its SIGTERM handler only while it runs (library callers keep theirs)."""
    before = signal.getsignal(signal.SIGTERM)
    assert cli.main(build_args(tmp_path / "repo", fake_sources)) == 0
    assert signal.getsignal(signal.SIGTERM) is before


def test_forked_workers_do_not_inherit_the_sigterm_handler():
    """Pool.terminate() stops workers with SIGTERM; a Python handler there could hang it."""
    with cli._sigterm_as_interrupt():
        assert signal.getsignal(signal.SIGTERM) is cli._on_sigterm
        read, write = os.pipe()
        pid = os.fork()
        if pid == 0:  # the child reports its handler and leaves at once
            os.write(write, b"1" if signal.getsignal(signal.SIGTERM) is signal.SIG_DFL else b"0")
            os._exit(0)
        os.waitpid(pid, 0)
        assert os.read(read, 1) == b"1"
        os.close(read)
        os.close(write)


@pytest.mark.parametrize(
    ("sig", "code", "word"),
    [
        (signal.SIGINT, cli.EXIT_INTERRUPTED, "interrupted"),
        (signal.SIGTERM, cli.EXIT_TERMINATED, "terminated"),
    ],
    ids=["SIGINT", "SIGTERM"],
)
def test_signal_with_worker_processes(sig, code, word, big, tmp_path, builds):
    """datasets' pool turns the interrupt into a TimeoutError while it cleans up; the CLI
    still reports the interrupt, in one line."""
    out = tmp_path / "repo"
    b = Build(tmp_path, out, big, "--num-proc", "2")
    builds.append(b)
    b.wait_for_staging("arrow.incomplete/*.arrow")
    b.proc.send_signal(sig)
    rc, _, lines = b.finish(timeout=60)
    assert rc == code
    assert lines == [f"texmnist: {word}; nothing was written"]
    assert not out.exists() and leftovers(out) == []


def test_parallel_build_finishes(big, clean, tmp_path, builds):
    """A --num-proc 2 build ends (workers stop at SIGTERM) and equals the serial build."""
    out = tmp_path / "repo"
    b = Build(tmp_path, out, big, "--num-proc", "2")
    builds.append(b)
    rc, stdout, lines = b.finish(timeout=120)
    assert rc == 0 and lines == [], lines
    assert f"fingerprint {clean[1]}" in stdout
