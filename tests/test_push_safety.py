"""A dataset folder is input from anyone: `push` never reads or writes outside it (paths from
texmnist.json, symbolic links), and no piece of a token reaches a message."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path
from types import SimpleNamespace

import pytest

import texmnist.repo.push as push_mod
from texmnist.cli import main
from texmnist.errors import OutputError, PublishError
from texmnist.generate.config import named_config
from texmnist.repo.folder import build
from texmnist.repo.meta import META_FILE, read_metadata
from texmnist.repo.push import REDACTED, push, redact

SHARD = "data/train-00000-of-00001.parquet"


@pytest.fixture(scope="module")
def built(fake_sources, tmp_path_factory) -> Path:
    mnist, dtd = fake_sources
    out = tmp_path_factory.mktemp("safety") / "repo"
    build(named_config("default", mnist_dir=str(mnist), dtd_dir=str(dtd)), out)
    return out


@pytest.fixture
def planted(built, tmp_path) -> Path:
    return Path(shutil.copytree(built, tmp_path / "repo", symlinks=True))


class RecordingApi:
    token = None

    def __init__(self):
        self.staged: list[str] = []

    def create_repo(self, repo_id, **kw):
        pass

    def upload_folder(self, folder_path, **kw):
        root = Path(folder_path)
        self.staged = sorted(p.relative_to(root).as_posix() for p in root.rglob("*"))
        return SimpleNamespace(commit_url="https://c", pr_url="")


def _retarget(folder: Path, entry: str) -> None:
    """List `entry` instead of the train shard, in texmnist.json and in the card."""
    meta = json.loads((folder / META_FILE).read_text())
    meta["configs"]["default"]["splits"]["train"]["files"] = [entry]
    (folder / META_FILE).write_text(json.dumps(meta))
    card = folder / "README.md"
    card.write_text(card.read_text().replace(SHARD, entry))


def _run(capsys, *argv) -> tuple[int, list[str]]:
    capsys.readouterr()
    rc = main([str(a) for a in argv])
    return rc, capsys.readouterr().err.strip().splitlines()


def test_a_listed_path_with_dotdot_is_refused_and_nothing_is_written(planted, capsys):
    victim = planted.parent / "elsewhere" / "train.parquet"
    victim.parent.mkdir()
    victim.write_bytes(b"the user's own file")
    shutil.copy(planted / SHARD, planted.parent / "elsewhere" / "copy.parquet")
    _retarget(planted, "../elsewhere/train.parquet")
    line = (
        f"{planted / META_FILE}: configs.default.splits.train.files: '../elsewhere/train.parquet' "
        "is not a relative path inside the folder; rebuild the folder with texmnist build"
    )
    with pytest.raises(OutputError) as info:
        read_metadata(planted)
    assert str(info.value) == line
    rc, err = _run(capsys, "push", planted, "--repo", "me/x", "--dry-run")
    assert rc != 0 and err[0] == line
    assert err[-1].startswith("texmnist: error: ") and "elsewhere" in err[-1]
    api = RecordingApi()
    with pytest.raises(PublishError):
        push(planted, "me/x", api=api)
    assert api.staged == []
    assert victim.read_bytes() == b"the user's own file"
    assert sorted(p.name for p in victim.parent.iterdir()) == ["copy.parquet", "train.parquet"]


@pytest.mark.parametrize("entry", ["/etc/passwd", "data/../../x.parquet", "C:/x.parquet", ""])
def test_other_paths_that_leave_the_folder_are_refused(planted, entry):
    _retarget(planted, entry)
    with pytest.raises(OutputError, match="configs.default.splits.train.files: "):
        read_metadata(planted)


def test_a_shard_that_is_a_symlink_out_of_the_folder_is_refused(planted):
    outside = planted.parent / "outside.parquet"
    shutil.move(planted / SHARD, outside)
    os.symlink(outside, planted / SHARD)
    with pytest.raises(OutputError) as info:
        read_metadata(planted)
    assert str(info.value) == (
        f"{planted / META_FILE}: configs.default.splits.train.files: '{SHARD}' leads outside "
        "the folder (through a symbolic link); rebuild the folder with texmnist build"
    )


def test_a_config_folder_that_is_a_symlink_out_of_the_folder_is_refused(planted):
    outside = planted.parent / "data-elsewhere"
    shutil.move(planted / "data", outside)
    os.symlink(outside, planted / "data")
    with pytest.raises(OutputError, match="leads outside the folder"):
        read_metadata(planted)


def test_a_preview_symlinked_out_of_the_folder_is_not_uploaded(planted):
    secret = planted.parent / "secret.png"
    secret.write_bytes(b"\x89PNG not for the Hub")
    os.symlink(secret, planted / "images" / "extra.png")
    meta = read_metadata(planted)
    with pytest.raises(PublishError) as info:
        push_mod.upload_paths(planted, meta)
    assert str(info.value) == (
        f"{planted}: refusing to upload it: 'images/extra.png' leads outside the folder "
        "(through a symbolic link)"
    )


def test_a_symlink_inside_the_folder_is_fine(planted):
    (planted / "images" / "alias.png").symlink_to("preview-default.png")
    paths = push_mod.upload_paths(planted, read_metadata(planted))
    assert "images/alias.png" in paths and SHARD in paths


# -- redaction --------------------------------------------------------------------------


def _failing_push(tmp_path, monkeypatch, text: str, token: str) -> str:
    for var in push_mod.TOKEN_ENV_VARS:
        monkeypatch.delenv(var, raising=False)
    import huggingface_hub

    monkeypatch.setattr(huggingface_hub, "get_token", lambda: None)
    plan = push_mod.PushPlan(
        folder=tmp_path, repo_id="me/x", revision=None, private=False, create_pr=False,
        message="m", files=[], allow_patterns=[],
    )  # fmt: skip
    monkeypatch.setattr(push_mod, "plan_push", lambda *a, **k: plan)

    class Echoing:
        def create_repo(self, repo_id, **kw):
            error = RuntimeError(text)
            error.response = SimpleNamespace(status_code=500)
            raise error

    api = Echoing()
    api.token = token
    with pytest.raises(PublishError) as info:
        push(tmp_path, "me/x", api=api)
    return str(info.value)


def _pieces(token: str, n: int = 6) -> list[str]:
    return [token[i : i + n] for i in range(len(token) - n + 1)]


@pytest.mark.parametrize("at", [250, 270, 290, 299])
def test_a_token_cut_by_the_length_limit_leaks_no_piece(tmp_path, monkeypatch, at):
    """The server echoes the Authorization header in a 500; the cut falls inside the token."""
    token = "api_org_SecretOrgTokenValue0123456789"
    prefix = "x" * (at - len("Authorization: Bearer "))
    text = f"{prefix}Authorization: Bearer {token} and more"
    message = _failing_push(tmp_path, monkeypatch, text, token)
    assert not [p for p in _pieces(token) if p in message], message
    assert message.startswith("me/x: push failed (HTTP 500): RuntimeError: xxx")


@pytest.mark.parametrize(
    "token",
    ["hf_AbCdEf0123456789", "api_org_Z9y8X7w6V5", "not-shaped$like%anything~42", "k3y"],
)
def test_every_secret_the_client_holds_is_scrubbed_whatever_its_shape(tmp_path, monkeypatch, token):
    text = f"rejected {token}; header was Authorization: Bearer {token}"
    message = _failing_push(tmp_path, monkeypatch, text, token)
    if len(token) >= 4:
        assert token not in message
    assert message.count(REDACTED) >= 1
    assert "Bearer " + REDACTED in message


def test_header_shaped_values_are_scrubbed_even_when_unknown():
    text = '{"headers": {"authorization": "Bearer someone-elses-token"}} Bearer abc.def.ghi'
    assert redact(text, []) == (
        '{"headers": {"authorization": "Bearer <redacted>"}} Bearer <redacted>'
    )


def test_staging_left_by_a_killed_push_is_removed_by_the_next(tmp_path, monkeypatch):
    monkeypatch.setattr(push_mod.tempfile, "tempdir", str(tmp_path))
    stale = tmp_path / f"{push_mod.STAGING_PREFIX}dead"
    (stale / "data").mkdir(parents=True)
    (stale / "data" / "train.parquet").write_bytes(b"copy")
    held = tmp_path / f"{push_mod.STAGING_PREFIX}live"
    held.mkdir()
    other = tmp_path / "someone-elses"
    other.mkdir()
    folder = tmp_path / "repo"
    folder.mkdir()
    plan = push_mod.PushPlan(
        folder=folder, repo_id="me/x", revision=None, private=False, create_pr=False,
        message="m", files=[("README.md", 7)], allow_patterns=[], readme="# card\n",
    )  # fmt: skip
    fd = os.open(held, os.O_RDONLY)
    try:
        import fcntl

        fcntl.flock(fd, fcntl.LOCK_EX)
        with push_mod._staged(plan) as root:
            assert (root / "README.md").read_text() == "# card\n"
    finally:
        os.close(fd)
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([held.name, "repo", other.name])
