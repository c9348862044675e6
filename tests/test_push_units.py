"""push's parts on their own, no build needed: the plan's text, the staged folder holding
exactly the plan's files, redaction of every token, the Hub calls and the error lines."""

from __future__ import annotations

import os
from pathlib import Path
from types import SimpleNamespace

import pytest

import texmnist.repo.push as push_mod
from texmnist.errors import ConfigError
from texmnist.repo.push import (
    REDACTED,
    PushPlan,
    _describe,
    _human,
    _needs_branch,
    _secrets,
    _staged,
    _upload,
    allow_patterns,
    check_args,
    redact,
    upload_paths,
)

META = {
    "configs": {
        "rgb": {"splits": {"train": {"files": ["rgb/train-0.parquet"]}}},
        "default": {
            "splits": {
                "train": {"files": ["data/train-1.parquet", "data/train-0.parquet"]},
                "test": {"files": ["data/test-0.parquet"]},
            }
        },
    }
}


@pytest.mark.parametrize(
    ("n", "text"),
    [(0, "0 B"), (999, "999 B"), (1000, "1.0 kB"), (123_456, "123.5 kB"),
     (999_949_999, "999.9 MB"), (5_000_000_000, "5.0 GB"), (7_000_000_000_000, "7000.0 GB")],
)  # fmt: skip
def test_human_sizes_by_hand(n, text):
    assert _human(n) == text


def test_upload_paths_and_allow_patterns(tmp_path):
    (tmp_path / "images").mkdir()
    for name in ("b.png", "a.png", "c.jpg"):
        (tmp_path / "images" / name).write_bytes(b"x")
    assert upload_paths(tmp_path, META) == [
        "README.md",
        "texmnist.json",
        "data/test-0.parquet",
        "data/train-0.parquet",
        "data/train-1.parquet",
        "rgb/train-0.parquet",
        "images/a.png",
        "images/b.png",
    ]
    assert allow_patterns(META) == [
        "README.md",
        "texmnist.json",
        "data/*.parquet",
        "rgb/*.parquet",
        "images/*.png",
    ]


@pytest.mark.parametrize(
    "repo", ["", "name", "me/", "/x", "-me/x", "me/x/y", "me/a--b", "me/a..b", "me/a b"]
)
def test_bad_repo_ids(repo):
    with pytest.raises(ConfigError) as e:
        check_args(repo, None, False)
    assert str(e.value) == f"--repo: {repo!r} is not USER/NAME (letters, digits, - _ .)"


def test_good_repo_ids_and_pr_revision_clash():
    for repo in ("me/x", "Me.2/tex_mnist-v1", "a/b"):
        check_args(repo, "dev", False)
    with pytest.raises(ConfigError, match="^--create-pr opens a pull request against main"):
        check_args("me/x", "dev", True)
    check_args("me/x", None, True)


def test_needs_branch():
    assert [_needs_branch(r) for r in (None, "", "main", "refs/pr/3", "dev")] == [
        False,
        False,
        False,
        False,
        True,
    ]


# -- secrets -------------------------------------------------------------------------


def test_redact_longest_secret_first_and_anything_token_like():
    secrets = ["abcdefgh-long", "abcd"]
    text = "x abcdefgh-long y abcd z hf_AbC123xyz w hf_short"
    assert redact(text, secrets) == f"x {REDACTED} y {REDACTED} z {REDACTED} w hf_short"


def test_secrets_from_the_environment_and_the_api(monkeypatch):
    monkeypatch.setenv("HF_TOKEN", "tok-env-1")
    monkeypatch.setenv("HUGGING_FACE_HUB_TOKEN", "tok-env-longer-2")
    import huggingface_hub

    monkeypatch.setattr(huggingface_hub, "get_token", lambda: "tok-login-longest-3")
    found = _secrets(SimpleNamespace(token="tok-api-4"))
    assert found == ["tok-login-longest-3", "tok-env-longer-2", "tok-api-4", "tok-env-1"]
    monkeypatch.delenv("HF_TOKEN")
    monkeypatch.setenv("HUGGING_FACE_HUB_TOKEN", "abc")  # too short to be a token
    monkeypatch.setattr(huggingface_hub, "get_token", lambda: None)
    assert _secrets(None) == []


def _error(status: int | None, text: str = "boom", name: str = "HTTPError"):
    kind = type(name, (Exception,), {})
    e = kind(text)
    e.response = SimpleNamespace(status_code=status)
    return e


def test_error_lines_name_the_cause():
    assert _describe(_error(401), "me/x") == (
        "me/x: authentication failed (HTTP 401); set HF_TOKEN or run `hf auth login`"
    )
    assert _describe(_error(403), "me/x") == (
        "me/x: permission denied (HTTP 403); the token needs write access to me"
    )
    assert _describe(_error(None, name="OfflineModeIsEnabled"), "me/x") == (
        "me/x: cannot push with HF_HUB_OFFLINE set; unset it and retry"
    )
    assert (
        _describe(_error(500, "a\n  b"), "me/x") == "me/x: push failed (HTTP 500): HTTPError: a b"
    )
    assert _describe(_error(None, ""), "me/x") == "me/x: push failed: HTTPError: HTTPError"
    assert _describe(RuntimeError("x" * 400), "me/x") == "me/x: push failed: RuntimeError: " + (
        "x" * 300
    )


# -- staging and uploading --------------------------------------------------------------


def _plan(folder: Path, **kw) -> PushPlan:
    (folder / "data").mkdir(parents=True)
    (folder / "data" / "train-0.parquet").write_bytes(b"PAR1")
    (folder / "texmnist.json").write_text("{}")
    (folder / ".env").write_text("HF_TOKEN=secret")
    fields = dict(
        folder=folder, repo_id="me/x", revision=None, private=False, create_pr=False,
        message="msg", files=[("README.md", 7), ("texmnist.json", 2),
                              ("data/train-0.parquet", 4)],
        allow_patterns=["README.md"], readme="# card\n",
    )  # fmt: skip
    return PushPlan(**{**fields, **kw})


def test_staged_folder_holds_exactly_the_plan(tmp_path):
    plan = _plan(tmp_path / "repo")
    with _staged(plan) as root:
        found = sorted(p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file())
        assert found == ["README.md", "data/train-0.parquet", "texmnist.json"]
        assert (root / "README.md").read_text() == "# card\n"
        assert (root / "data" / "train-0.parquet").read_bytes() == b"PAR1"
        kept = root
    assert not kept.exists()  # removed afterwards


def test_staging_copies_when_hard_links_fail(tmp_path, monkeypatch):
    def no_link(src, dst):
        raise OSError("cross-device link")

    monkeypatch.setattr(os, "link", no_link)
    with _staged(_plan(tmp_path / "repo")) as root:
        assert (root / "texmnist.json").read_text() == "{}"


def test_plan_description_by_hand(tmp_path):
    plan = _plan(tmp_path / "repo", revision="dev", private=True, create_pr=True)
    assert plan.total_bytes == 13
    assert plan.describe() == [
        "repository:   https://huggingface.co/datasets/me/x (type dataset)",
        "revision:     dev",
        "visibility:   private when created; an existing repository keeps its own",
        "pull request: yes",
        "message:      msg",
        "files:        3, 13 B",
        "  7  README.md",
        "  2  texmnist.json",
        "  4  data/train-0.parquet",
    ]
    public = _plan(tmp_path / "other", files=[("big.parquet", 12_345)])
    lines = public.describe()
    assert lines[1] == "revision:     main" and lines[3] == "pull request: no"
    assert lines[2].startswith("visibility:   Hub default (public) when created")
    assert lines[-1] == "  12,345  big.parquet"
    patterns = ["README.md", "texmnist.json", "data/*.parquet", "images/*.png"]
    deleting = _plan(tmp_path / "third", allow_patterns=patterns)
    assert deleting.delete_patterns == ["data/*.parquet", "images/*.png"]
    assert deleting.describe()[6] == (
        "deletes:      remote files matching data/*.parquet, images/*.png that this push "
        "does not upload"
    )


class FakeApi:
    def __init__(self):
        self.calls = []

    def create_repo(self, repo_id, **kw):
        self.calls.append(("create_repo", repo_id, kw))

    def create_branch(self, repo_id, **kw):
        self.calls.append(("create_branch", repo_id, kw))

    def upload_folder(self, **kw):
        self.calls.append(("upload_folder", sorted(os.listdir(kw["folder_path"])), kw))
        return SimpleNamespace(commit_url="https://c", pr_url="")


@pytest.mark.parametrize("private", [True, False])
def test_upload_calls(tmp_path, private):
    api = FakeApi()
    plan = _plan(tmp_path / "repo", revision="dev", private=private)
    result = _upload(plan, api)
    assert result.commit_url == "https://c" and result.pr_url is None and result.plan is plan
    (c1, repo, kw1), (c2, _, kw2), (c3, listed, kw3) = api.calls
    assert (c1, repo, kw1) == (
        "create_repo",
        "me/x",
        {"repo_type": "dataset", "exist_ok": True, "private": True if private else None},
    )
    assert (c2, kw2) == (
        "create_branch",
        {"branch": "dev", "repo_type": "dataset", "exist_ok": True},
    )
    assert c3 == "upload_folder" and listed == ["README.md", "data", "texmnist.json"]
    del kw3["folder_path"]
    assert kw3 == {
        "repo_id": "me/x", "repo_type": "dataset", "revision": "dev", "create_pr": False,
        "commit_message": "msg", "allow_patterns": ["README.md"], "delete_patterns": [],
    }  # fmt: skip


def test_upload_to_main_makes_no_branch(tmp_path):
    api = FakeApi()
    _upload(_plan(tmp_path / "repo"), api)
    assert [c[0] for c in api.calls] == ["create_repo", "upload_folder"]


def test_no_token_is_a_one_line_error(monkeypatch):
    import huggingface_hub

    monkeypatch.setattr(huggingface_hub, "get_token", lambda: None)
    with pytest.raises(push_mod.PublishError) as e:
        push_mod._default_api("me/x")
    assert str(e.value) == "me/x: no Hugging Face token; set HF_TOKEN or run `hf auth login`"


def test_clash_message_in_full():
    with pytest.raises(ConfigError) as e:
        check_args("me/x", "dev", True)
    assert str(e.value) == (
        "--create-pr opens a pull request against main and takes no --revision; to add "
        "to an open pull request pass --revision refs/pr/N without --create-pr"
    )


def test_upload_returns_the_pull_request_url(tmp_path):
    class PrApi(FakeApi):
        def upload_folder(self, **kw):
            super().upload_folder(**kw)
            return SimpleNamespace(commit_url="https://c", pr_url="https://pr/1")

    result = _upload(_plan(tmp_path / "repo", create_pr=True), PrApi())
    assert (result.commit_url, result.pr_url) == ("https://c", "https://pr/1")


def test_plan_sizes_the_card_it_uploads_not_the_one_on_disk(tmp_path, monkeypatch):
    """README.md is re-rendered for the repository id: its planned size is the new card's."""
    folder = tmp_path / "repo"
    (folder / "data").mkdir(parents=True)
    (folder / "data" / "train-0.parquet").write_bytes(b"PAR1")
    (folder / "README.md").write_text("old card\n")
    monkeypatch.setattr(push_mod, "verify", lambda folder, **kw: [])
    monkeypatch.setattr(push_mod, "read_metadata", lambda folder: {"configs": {"default": {}}})
    monkeypatch.setattr(
        push_mod, "upload_paths", lambda f, m: ["README.md", "data/train-0.parquet"]
    )
    monkeypatch.setattr(push_mod, "render_card", lambda folder, repo_id: f"card of {repo_id} é\n")
    plan = push_mod.plan_push(folder, "me/x")
    assert plan.files == [
        ("README.md", len("card of me/x é\n".encode())),
        ("data/train-0.parquet", 4),
    ]


@pytest.mark.parametrize("raised", ["PublishError", "RuntimeError"])
def test_push_scrubs_the_api_token_from_every_failure(tmp_path, monkeypatch, raised):
    """The token of the `api` passed in (not only the environment's) never reaches a message."""
    token = "org-token-" + "q7" * 16  # not hf_-shaped: only the api's token names it
    for var in push_mod.TOKEN_ENV_VARS:
        monkeypatch.delenv(var, raising=False)
    import huggingface_hub

    monkeypatch.setattr(huggingface_hub, "get_token", lambda: None)
    monkeypatch.setattr(push_mod, "plan_push", lambda *a, **k: _plan(tmp_path / "repo"))
    error = push_mod.PublishError if raised == "PublishError" else RuntimeError

    class LeakyApi(FakeApi):
        def create_repo(self, repo_id, **kw):
            raise error(f"401 for token {token}")

    api = LeakyApi()
    api.token = token
    with pytest.raises(push_mod.PublishError) as e:
        push_mod.push(tmp_path / "repo", "me/x", api=api)
    assert token not in str(e.value) and REDACTED in str(e.value)
