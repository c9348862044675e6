"""`texmnist push`: upload a verified dataset folder to the Hugging Face Hub.

Only the dataset leaves the machine: README.md (re-rendered with the real repo
id), texmnist.json, the Parquet files texmnist.json lists and `images/*.png`.
They are staged (hard links) in a temporary folder that holds nothing else, and
`upload_folder` is also given the matching `allow_patterns`, so a stray `.env`,
token or cache file in the folder is never sent. The same commit deletes the remote
Parquet files and previews that the push does not upload (`delete_patterns`), so a
rebuilt config leaves no stale shard behind.

The token comes from `HF_TOKEN` or the huggingface_hub login. It is never
printed or logged: every error is re-raised as one `PublishError` line with any
token redacted.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import re
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

from .. import __version__
from ..errors import ConfigError, PublishError
from ..sources.claims import claimed, clean_stale
from .card import render_card
from .localpaths import find_local_paths
from .meta import META_FILE, config_dir, outside_problem, read_metadata
from .verify import CARD_FILE, VerificationFailed, verify

REPO_ID = re.compile(r"^[A-Za-z0-9][\w.-]*/[A-Za-z0-9][\w.-]*$")
# Token shapes scrubbed even when the client does not hold them: user and organisation
# tokens, and whatever follows "Bearer" or an Authorization header (a server that echoes
# the request's headers).
TOKEN_LIKE = re.compile(r"\b(?:hf|api_org)_[A-Za-z0-9]{6,}")
HEADER_LIKE = re.compile(
    r"(?i)(\bbearer\s+|\bauthorization[\"']?\s*[:=]\s*[\"']?(?:bearer\s+)?)[^\s\"',;}]+"
)
DETAIL_CHARS = 300  # a server's error text, cut after redaction
TOKEN_ENV_VARS = ("HF_TOKEN", "HUGGING_FACE_HUB_TOKEN")
REDACTED = "<redacted>"
STAGING_PREFIX = "texmnist-push-"


@dataclasses.dataclass
class PushPlan:
    """What a push sends where; `dry_run` prints this and stops."""

    folder: Path
    repo_id: str
    revision: str | None
    private: bool
    create_pr: bool
    message: str
    files: list[tuple[str, int]]  # path in the repository, size in bytes
    allow_patterns: list[str]
    readme: str = dataclasses.field(repr=False, default="")

    @property
    def delete_patterns(self) -> list[str]:
        """Remote files to delete unless this push uploads them: stale shards and previews.

        A rebuild can drop a split or change the number of shards; the old files would stay
        on the Hub, listed by no card. README.md and texmnist.json are always replaced.
        """
        return [p for p in self.allow_patterns if p not in (CARD_FILE, META_FILE)]

    @property
    def total_bytes(self) -> int:
        return sum(size for _, size in self.files)

    def describe(self) -> list[str]:
        """The plan as lines for the terminal."""
        lines = [
            f"repository:   https://huggingface.co/datasets/{self.repo_id} (type dataset)",
            f"revision:     {self.revision or 'main'}",
            f"visibility:   {'private' if self.private else 'Hub default (public)'}"
            " when created; an existing repository keeps its own",
            f"pull request: {'yes' if self.create_pr else 'no'}",
            f"message:      {self.message}",
            f"files:        {len(self.files)}, {_human(self.total_bytes)}",
        ]
        if self.delete_patterns:
            lines.append(
                f"deletes:      remote files matching {', '.join(self.delete_patterns)} "
                "that this push does not upload"
            )
        width = max(len(f"{s:,}") for _, s in self.files)
        lines += [f"  {size:>{width},}  {path}" for path, size in self.files]
        return lines


@dataclasses.dataclass
class PushResult:
    plan: PushPlan
    commit_url: str | None = None
    pr_url: str | None = None


def _human(n: int) -> str:
    for unit in ("B", "kB", "MB", "GB"):
        if n < 1000 or unit == "GB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1000
    return f"{n} B"


# -- the plan ------------------------------------------------------------------------


def upload_paths(folder: Path, meta: dict) -> list[str]:
    """The repository paths to upload, relative to `folder`, in a stable order.

    Each must stay inside `folder`, symbolic links followed: a downloaded folder must not
    make a push read (and publish) or stage a file from anywhere else.
    """
    parquet = sorted(
        {f for c in meta["configs"].values() for s in c["splits"].values() for f in s["files"]}
    )
    images = sorted(p.relative_to(folder).as_posix() for p in (folder / "images").glob("*.png"))
    paths = [CARD_FILE, META_FILE, *parquet, *images]
    for path in paths:
        problem = outside_problem(folder, path)
        if problem:
            raise PublishError(f"{folder}: refusing to upload it: {problem}")
    return paths


def allow_patterns(meta: dict) -> list[str]:
    dirs = sorted({config_dir(name) for name in meta["configs"]})
    return [CARD_FILE, META_FILE, *[f"{d}/*.parquet" for d in dirs], "images/*.png"]


def check_args(repo_id: str, revision: str | None, create_pr: bool) -> None:
    if not REPO_ID.match(repo_id or "") or "--" in repo_id or ".." in repo_id:
        raise ConfigError(f"--repo: {repo_id!r} is not USER/NAME (letters, digits, - _ .)")
    if create_pr and revision:
        raise ConfigError(
            "--create-pr opens a pull request against main and takes no --revision; to add "
            "to an open pull request pass --revision refs/pr/N without --create-pr"
        )


def plan_push(
    folder: str | Path,
    repo_id: str,
    *,
    private: bool = False,
    revision: str | None = None,
    create_pr: bool = False,
    message: str | None = None,
    progress: bool = False,
) -> PushPlan:
    """Verify `folder` and list what a push would send (contacts nothing)."""
    check_args(repo_id, revision, create_pr)
    folder = Path(folder).absolute()
    problems = verify(folder, progress=progress)
    if problems:
        raise VerificationFailed(folder, problems)
    meta = read_metadata(folder)
    readme = render_card(folder, repo_id=repo_id)
    leaks = find_local_paths(readme)  # verify read the card on disk; this is the one sent
    if leaks:
        raise PublishError(f"{repo_id}: the card holds a path of the build machine ({leaks[0]!r})")
    files = []
    for path in upload_paths(folder, meta):
        size = len(readme.encode()) if path == CARD_FILE else (folder / path).stat().st_size
        files.append((path, size))
    configs = ", ".join(meta["configs"])
    return PushPlan(
        folder=folder,
        repo_id=repo_id,
        revision=revision,
        private=private,
        create_pr=create_pr,
        message=message or f"Upload Textured MNIST ({configs}) with texmnist {__version__}",
        files=files,
        allow_patterns=allow_patterns(meta),
        readme=readme,
    )


# -- secrets -----------------------------------------------------------------------


def _secrets(api) -> list[str]:
    """Every token this process could send: to be scrubbed from any message."""
    found = [os.environ.get(v) for v in TOKEN_ENV_VARS]
    found.append(getattr(api, "token", None) if api is not None else None)
    with contextlib.suppress(Exception):  # a broken login must not mask the real error
        from huggingface_hub import get_token

        found.append(get_token())
    with contextlib.suppress(Exception):  # every token `hf auth login` stored, not only the active
        from huggingface_hub import get_stored_tokens

        found.extend(get_stored_tokens().values())
    # Longest first, so a token containing another is scrubbed whole; ties in a fixed order.
    unique = {s for s in found if isinstance(s, str) and len(s) >= 4}
    return sorted(unique, key=lambda s: (-len(s), s))


def redact(text: str, secrets: list[str]) -> str:
    """`text` without any of `secrets` or anything token-shaped: always on the whole text, before
    any cut (a token cut in two would no longer match)."""
    for secret in secrets:
        text = text.replace(secret, REDACTED)
    text = HEADER_LIKE.sub(lambda m: m.group(1) + REDACTED, text)
    return TOKEN_LIKE.sub(REDACTED, text)


def _describe(e: BaseException, repo_id: str, secrets: list[str] = ()) -> str:
    """One line for a failed Hub call, with a hint for the usual causes."""
    status = getattr(getattr(e, "response", None), "status_code", None)
    detail = redact(" ".join(str(e).split()), list(secrets))[:DETAIL_CHARS] or type(e).__name__
    if status == 401:
        return f"{repo_id}: authentication failed (HTTP 401); set HF_TOKEN or run `hf auth login`"
    if status == 403:
        return (
            f"{repo_id}: permission denied (HTTP 403); the token needs write access to "
            f"{repo_id.split('/')[0]}"
        )
    if type(e).__name__ == "OfflineModeIsEnabled":
        return f"{repo_id}: cannot push with HF_HUB_OFFLINE set; unset it and retry"
    http = f" (HTTP {status})" if status else ""
    return f"{repo_id}: push failed{http}: {type(e).__name__}: {detail}"


# -- pushing -----------------------------------------------------------------------


@contextlib.contextmanager
def _staged(plan: PushPlan) -> Iterator[Path]:
    """A temporary folder holding exactly the files of the plan (README re-rendered)."""
    # A push killed with SIGKILL leaves its staging (copies where hard links fail): the next
    # push removes those nobody holds.
    clean_stale(Path(tempfile.gettempdir()), STAGING_PREFIX)
    with tempfile.TemporaryDirectory(prefix=STAGING_PREFIX) as tmp, claimed(Path(tmp)):
        root = Path(tmp)
        for path, _ in plan.files:
            target = root / path
            if outside_problem(root, path) or outside_problem(plan.folder, path):
                # upload_paths refused these already: staging never writes outside its folder
                raise PublishError(f"{plan.folder}: refusing to stage {path!r}")
            target.parent.mkdir(parents=True, exist_ok=True)
            if path == CARD_FILE:
                target.write_text(plan.readme)
                continue
            try:
                os.link(plan.folder / path, target)
            except OSError:
                shutil.copy2(plan.folder / path, target)
        yield root


def _needs_branch(revision: str | None) -> bool:
    return bool(revision) and revision != "main" and not revision.startswith("refs/")


def push(
    folder: str | Path,
    repo_id: str,
    *,
    private: bool = False,
    revision: str | None = None,
    create_pr: bool = False,
    message: str | None = None,
    dry_run: bool = False,
    api=None,
    progress: bool = False,
) -> PushResult:
    """Verify `folder` and upload it to the dataset repository `repo_id`.

    `api` is an `HfApi` (or a stand-in with its methods); by default one built
    from the login. With `dry_run` nothing is contacted: the plan is returned.
    `progress` shows verification's bar (the upload shows huggingface_hub's own).
    """
    plan = plan_push(
        folder, repo_id, private=private, revision=revision, create_pr=create_pr,
        message=message, progress=progress,
    )  # fmt: skip
    if dry_run:
        return PushResult(plan)
    secrets = _secrets(api)
    try:
        if api is None:
            api = _default_api(repo_id)
        return _upload(plan, api)
    except PublishError as e:
        raise PublishError(redact(str(e), secrets)) from None
    except Exception as e:  # every Hub, network or file failure becomes one clean line
        raise PublishError(redact(_describe(e, repo_id, secrets), secrets)) from None


def _default_api(repo_id: str):
    from huggingface_hub import HfApi, get_token

    if not get_token():
        raise PublishError(f"{repo_id}: no Hugging Face token; set HF_TOKEN or run `hf auth login`")
    return HfApi()


def _upload(plan: PushPlan, api) -> PushResult:
    api.create_repo(
        plan.repo_id, repo_type="dataset", exist_ok=True, private=True if plan.private else None
    )
    if _needs_branch(plan.revision):
        api.create_branch(plan.repo_id, branch=plan.revision, repo_type="dataset", exist_ok=True)
    with _staged(plan) as root:
        info = api.upload_folder(
            repo_id=plan.repo_id,
            folder_path=str(root),
            repo_type="dataset",
            revision=plan.revision,
            create_pr=plan.create_pr,
            commit_message=plan.message,
            allow_patterns=plan.allow_patterns,
            delete_patterns=plan.delete_patterns,
        )
    return PushResult(
        plan, getattr(info, "commit_url", None), getattr(info, "pr_url", None) or None
    )
