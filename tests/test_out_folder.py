"""The output folder: a build replaces only what texmnist wrote, keeps every other file, folder
and symbolic link, follows an --out that is a link, leaves no lock or staging behind, and
turns write faults into one line."""

from __future__ import annotations

import errno
import fcntl
import os
import shutil
from pathlib import Path

import pytest
from test_reliability import build_args, leftovers, one_error_line, run_cli, snapshot

from texmnist.repo import folder as folder_mod
from texmnist.repo.meta import read_metadata


@pytest.fixture(scope="module")
def built(fake_sources, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("kept") / "repo"
    from texmnist.cli import main

    assert main(build_args(out, *fake_sources)) == 0
    return out


@pytest.fixture
def repo(built, tmp_path) -> Path:
    return Path(shutil.copytree(built, tmp_path / "repo", symlinks=True))


def _links(folder: Path) -> dict[str, str]:
    return {
        p.relative_to(folder).as_posix(): os.readlink(p)
        for p in sorted(folder.rglob("*"))
        if p.is_symlink()
    }


def test_overwrite_keeps_the_users_files_in_the_config_folder(repo, fake_sources, capsys):
    (repo / "data" / "notes.txt").write_text("mine\n")
    report = repo / "data" / "reports"  # what `evaluate --out DIR/data/reports` writes
    report.mkdir()
    (report / "report.json").write_text("{}\n")
    (repo / "images" / "mine.png").write_bytes(b"\x89PNG mine")
    (repo / "empty").mkdir()
    run = run_cli(capsys, *build_args(repo, *fake_sources, "--overwrite", "--seed", "5"))
    assert run.rc == 0, run.err
    assert (repo / "data" / "notes.txt").read_text() == "mine\n"
    assert (report / "report.json").read_text() == "{}\n"
    assert (repo / "images" / "mine.png").read_bytes() == b"\x89PNG mine"
    assert (repo / "empty").is_dir()
    assert read_metadata(repo)["configs"]["default"]["recipe"]["seed"] == 5
    assert leftovers(repo) == []


def test_adding_a_config_keeps_every_kind_of_symlink(repo, fake_sources, capsys):
    (repo / "notes.txt").write_text("mine\n")
    (repo / "notes-link.txt").symlink_to("notes.txt")
    (repo / "dangling").symlink_to("nowhere/at/all")
    (repo / "elsewhere").mkdir()
    (repo / "elsewhere" / "a.txt").write_text("a\n")
    (repo / "folder-link").symlink_to("elsewhere", target_is_directory=True)
    outside = repo.parent / "outside"
    outside.mkdir()
    (repo / "outside-link").symlink_to(outside, target_is_directory=True)
    before = _links(repo)
    run = run_cli(capsys, *build_args(repo, *fake_sources, "--config", "rgb",
                                      "--validation-size", "10"))  # fmt: skip
    assert run.rc == 0, run.err
    assert _links(repo) == before and len(before) == 4
    assert (repo / "notes-link.txt").read_text() == "mine\n"
    assert sorted(read_metadata(repo)["configs"]) == ["default", "rgb"]
    assert list(outside.iterdir()) == []  # nothing written through the link


def test_an_unlisted_parquet_file_in_a_rebuilt_config_folder_is_refused(repo, fake_sources, capsys):
    stray = repo / "data" / "train-00000-of-00002.parquet"
    stray.write_bytes(b"PAR1 mine")
    before = snapshot(repo)
    run = run_cli(capsys, *build_args(repo, *fake_sources, "--overwrite"))
    one_error_line(
        run,
        f"{stray}: not written by texmnist (not in texmnist.json), in the config folder this "
        "build rewrites; move it elsewhere",
    )
    assert snapshot(repo) == before and leftovers(repo) == []


@pytest.mark.parametrize("name", ["data", "images"])
def test_a_written_folder_that_is_a_symlink_is_refused(repo, fake_sources, capsys, name):
    # inside the folder (one outside is refused as soon as texmnist.json is read)
    real = repo / "v1" / name
    real.parent.mkdir()
    shutil.move(repo / name, real)
    (repo / name).symlink_to(real, target_is_directory=True)
    before = snapshot(real)
    run = run_cli(capsys, *build_args(repo, *fake_sources, "--overwrite"))
    one_error_line(
        run,
        f"{repo / name}: a symbolic link where the build writes {name}/; replace it by a folder "
        "or choose another --out",
    )
    assert snapshot(real) == before and leftovers(repo) == []


def test_an_out_that_is_a_symlink_is_followed(repo, fake_sources, capsys):
    link = repo.parent / "link"
    link.symlink_to(repo, target_is_directory=True)
    run = run_cli(capsys, *build_args(link, *fake_sources, "--overwrite", "--seed", "9"))
    assert run.rc == 0, run.err
    assert link.is_symlink() and os.readlink(link) == str(repo)
    assert read_metadata(repo)["configs"]["default"]["recipe"]["seed"] == 9
    assert sorted(p.name for p in repo.parent.iterdir()) == ["link", "repo"]


def test_a_dangling_out_link_is_followed_to_a_new_folder(tmp_path, fake_sources, capsys):
    link = tmp_path / "link"
    link.symlink_to(tmp_path / "target")
    run = run_cli(capsys, *build_args(link, *fake_sources))
    assert run.rc == 0, run.err
    assert link.is_symlink() and (tmp_path / "target" / "texmnist.json").is_file()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["link", "target"]


def test_no_lock_file_after_success_refusal_or_failure(repo, fake_sources, tmp_path, capsys):
    assert run_cli(capsys, *build_args(repo, *fake_sources, "--overwrite")).rc == 0
    assert leftovers(repo) == []
    assert run_cli(capsys, *build_args(repo, *fake_sources)).rc != 0  # already built
    assert leftovers(repo) == []
    bad = tmp_path / "no-mnist"
    bad.mkdir()
    assert run_cli(capsys, *build_args(repo, bad, fake_sources[1], "--overwrite")).rc != 0
    assert leftovers(repo) == []


def test_a_lock_left_by_a_kill_is_taken_and_removed(repo, fake_sources, capsys):
    (repo.parent / f".{repo.name}.lock").write_text("")  # what kill -9 leaves
    assert run_cli(capsys, *build_args(repo, *fake_sources, "--overwrite")).rc == 0
    assert leftovers(repo) == []


def test_a_held_lock_still_refuses(repo, fake_sources, capsys):
    lock = repo.parent / f".{repo.name}.lock"
    with open(lock, "w") as held:
        fcntl.flock(held, fcntl.LOCK_EX)
        run = run_cli(capsys, *build_args(repo, *fake_sources, "--overwrite"))
        one_error_line(run, f"{repo}: another texmnist build is writing this folder")
        assert lock.exists()  # the holder's, untouched


def test_stale_staging_of_another_folder_is_cleaned_unless_held(tmp_path, fake_sources, capsys):
    stale = tmp_path / ".old.texmnist-tmp-0badf00d"
    (stale / "repo").mkdir(parents=True)
    busy = tmp_path / ".busy.texmnist-tmp-feedf00d"
    busy.mkdir()
    with open(tmp_path / ".busy.lock", "w") as held:
        fcntl.flock(held, fcntl.LOCK_EX)
        assert run_cli(capsys, *build_args(tmp_path / "new", *fake_sources)).rc == 0
    assert not stale.exists() and busy.exists()


@pytest.mark.parametrize(
    "fault, problem",
    [
        (errno.ENOSPC, "No space left on device"),
        (errno.EROFS, "Read-only file system"),
        (errno.EDQUOT, "Disk quota exceeded"),
    ],
)
def test_a_write_fault_is_one_line_and_keeps_the_old_folder(
    repo, fake_sources, capsys, monkeypatch, fault, problem
):
    before = snapshot(repo)
    real = folder_mod.export_split

    def failing(ds, folder, split):
        real(ds, folder, split)
        raise OSError(fault, os.strerror(fault), str(folder / f"{split}-00000-of-00001.parquet"))

    monkeypatch.setattr(folder_mod, "export_split", failing)
    run = run_cli(capsys, *build_args(repo, *fake_sources, "--overwrite"))
    one_error_line(run, f"{repo}: cannot write the dataset ({problem})")
    assert snapshot(repo) == before and leftovers(repo) == []


def test_out_below_an_existing_file_is_one_line(tmp_path, fake_sources, capsys):
    (tmp_path / "file.txt").write_text("mine\n")
    out = tmp_path / "file.txt" / "sub" / "repo"
    run = run_cli(capsys, *build_args(out, *fake_sources))
    one_error_line(
        run,
        f"{out}: cannot create its parent folder ({tmp_path / 'file.txt'} is a file, not a folder)",
    )
    assert (tmp_path / "file.txt").read_text() == "mine\n"


def test_a_parent_we_cannot_write_is_one_line(tmp_path, fake_sources, capsys, monkeypatch):
    """Read-only, simulated (tests run as root, where permissions block nothing)."""
    out = tmp_path / "ro" / "repo"
    out.parent.mkdir()
    real_open = os.open

    def read_only(path, flags, *args, **kwargs):
        if str(path).startswith(str(out.parent)) and flags & os.O_CREAT:
            raise PermissionError(errno.EACCES, "Permission denied", str(path))
        return real_open(path, flags, *args, **kwargs)

    monkeypatch.setattr(os, "open", read_only)
    run = run_cli(capsys, *build_args(out, *fake_sources))
    one_error_line(run, f"{out}: cannot write beside it in {out.parent} (Permission denied)")
    assert list(out.parent.iterdir()) == []
