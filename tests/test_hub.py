"""The Hub end to end: `texmnist push` and `load_dataset("user/textured-mnist", ...)` through
the unmodified `huggingface_hub` and `datasets` clients, over HTTP, against the test double
in `hub_double.py` (127.0.0.1 only; no network).

The clients read HF_ENDPOINT, HF_HUB_OFFLINE and HF_HUB_DISABLE_XET once at import, and this
test session imported them offline (conftest.py). So every client call runs in a
subprocess with its own environment: the endpoint of the double, online, no Xet, a
private HF_HOME and a fake token, exactly what a user's shell would give it.

Also here: the Parquet layout (row groups of at most 100 rows, statistics, page index,
content-defined chunking) and `verify`'s row-group rule.
"""

from __future__ import annotations

import io
import json
import os
import secrets
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import datasets
import numpy as np
import pyarrow.parquet as pq
import pytest
from fakedata import make_fake_mnist
from hub_double import HubDouble
from PIL import Image

from texmnist.generate.config import named_config
from texmnist.repo.card import render_card
from texmnist.repo.folder import build
from texmnist.repo.meta import META_FILE, read_metadata
from texmnist.repo.verify import verify

REPO = "user/textured-mnist"
TOKEN = "hf_" + secrets.token_hex(16)
OUTPUTS: list[str] = []  # every stdout/stderr of a texmnist command run here


def _config(name: str, sources, **kw):
    mnist, dtd = sources
    return named_config(name, mnist_dir=str(mnist), dtd_dir=str(dtd), **kw)


@pytest.fixture(scope="module")
def hub():
    double = HubDouble().start()
    yield double
    double.stop()


@pytest.fixture(autouse=True)
def no_unknown_requests(request):
    """Fail the test that made a request the double does not implement."""
    if "hub" not in request.fixturenames:
        yield
        return
    double = request.getfixturevalue("hub")
    before = len(double.unknown)
    yield
    assert double.unknown[before:] == [], "requests the Hub double does not implement"


@pytest.fixture(scope="module")
def env(hub, tmp_path_factory) -> dict[str, str]:
    """The environment of a user's shell pointed at the double (see the module docstring)."""
    drop = {"HF_HUB_OFFLINE", "HF_DATASETS_OFFLINE", "HF_TOKEN", "HUGGING_FACE_HUB_TOKEN"}
    out = {k: v for k, v in os.environ.items() if k not in drop}
    out.update(
        HF_ENDPOINT=hub.url,
        HF_HUB_DISABLE_XET="1",
        HF_HOME=str(tmp_path_factory.mktemp("hf-home")),
        HF_TOKEN=TOKEN,
        NO_PROXY="127.0.0.1",
        no_proxy="127.0.0.1",
    )
    return out


def texmnist(env: dict, *args: str) -> subprocess.CompletedProcess:
    result = subprocess.run(
        [sys.executable, "-m", "texmnist.cli", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
    )
    OUTPUTS.extend([result.stdout, result.stderr])
    return result


def python(env: dict, code: str) -> subprocess.CompletedProcess:
    result = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    return result


@pytest.fixture(scope="module")
def folder(fake_sources, tmp_path_factory) -> Path:
    """`default` (with the opt-in background-only split) and `rho-0.9`."""
    out = tmp_path_factory.mktemp("hub") / "repo"
    build(_config("default", fake_sources, background_only=True), out)
    build(_config("rho-0.9", fake_sources, validation_size=10), out)
    return out


@pytest.fixture(scope="module")
def rebuilt(folder, fake_sources, tmp_path_factory) -> Path:
    """`folder` after two rebuilds: default without its background-only split, rho-0.9 seed 1."""
    out = Path(shutil.copytree(folder, tmp_path_factory.mktemp("rebuilt") / "repo"))
    build(_config("default", fake_sources), out, overwrite=True)
    build(_config("rho-0.9", fake_sources, validation_size=10, seed=1), out, overwrite=True)
    return out


def _upload_paths(folder: Path) -> list[str]:
    meta = read_metadata(folder)
    splits = [s for c in meta["configs"].values() for s in c["splits"].values()]
    parquet = [f for s in splits for f in s["files"]]
    previews = [f"images/preview-{name}.png" for name in meta["configs"]]
    return sorted(["README.md", META_FILE, *parquet, *previews])


def _expected_remote(folder: Path, repo_id: str) -> dict[str, bytes]:
    """What the repository must hold after a push of `folder`: its files, the card re-rendered."""
    files = {p: (folder / p).read_bytes() for p in _upload_paths(folder)}
    files["README.md"] = render_card(folder, repo_id=repo_id).encode()
    return files


@pytest.fixture(scope="module")
def pushed(hub, folder, env) -> subprocess.CompletedProcess:
    result = texmnist(env, "push", str(folder), "--repo", REPO)
    assert result.returncode == 0, result.stderr[-3000:]
    return result


# -- Parquet layout ---------------------------------------------------------------------


@pytest.fixture(scope="module")
def single_default(tmp_path_factory, fake_sources) -> Path:
    """`default` from 250 fake training digits: more than two row groups of train."""
    root = tmp_path_factory.mktemp("single-default")
    mnist = make_fake_mnist(root / "mnist", n_train=250, n_test=40, seed=1)
    build(_config("default", (mnist, fake_sources[1])), root / "repo")
    return root / "repo"


def test_shards_have_row_groups_of_at_most_100_rows_with_statistics(single_default):
    folder = single_default
    meta = read_metadata(folder)
    assert meta["configs"]["default"]["splits"]["train"]["num_examples"] == 250
    for c in meta["configs"].values():
        for split, s in c["splits"].items():
            for rel in s["files"]:
                parquet = pq.ParquetFile(folder / rel)
                md = parquet.metadata
                sizes = [md.row_group(i).num_rows for i in range(md.num_row_groups)]
                n = parquet.metadata.num_rows
                # Hand-computed: full groups of 100, then the remainder.
                assert sizes == [100] * (n // 100) + ([n % 100] if n % 100 else []), split
                group = md.row_group(0)
                stats = {
                    group.column(j).path_in_schema: group.column(j).is_stats_set
                    for j in range(group.num_columns)
                }
                assert stats["label"] and stats["mnist_index"] and stats["texture_file"]
                assert not stats["image.bytes"] and not stats["mask.bytes"]
                assert all(group.column(j).has_offset_index for j in range(group.num_columns))
                assert b"content_defined_chunking" in md.metadata
                assert b"huggingface" in md.metadata


def test_train_is_a_one_group_head_shard_then_the_rest(single_default):
    train = read_metadata(single_default)["configs"]["default"]["splits"]["train"]
    assert train["files"] == [f"data/train-0000{i}-of-00002.parquet" for i in range(2)]
    groups = [
        [md.row_group(g).num_rows for g in range(md.num_row_groups)]
        for md in (pq.ParquetFile(single_default / f).metadata for f in train["files"])
    ]
    assert groups == [[100], [100, 50]]  # 250 rows: the head, then one shard of 150


def test_a_split_over_max_shard_rows_is_sharded_with_the_same_fingerprint(
    single_default, fake_sources, tmp_path, monkeypatch
):
    from texmnist.repo.folder import ShardLayout

    monkeypatch.setattr("texmnist.repo.folder.LAYOUT", ShardLayout(shard_rows=60))
    out = tmp_path / "repo"
    mnist = single_default.parent / "mnist"
    build(_config("default", (mnist, fake_sources[1])), out)
    train = read_metadata(out)["configs"]["default"]["splits"]["train"]
    # 250 rows: a 100-row head, then 150 at most 60 a shard: 3 contiguous shards of 50.
    assert train["files"] == [f"data/train-0000{i}-of-00004.parquet" for i in range(4)]
    groups = [
        [md.row_group(g).num_rows for g in range(md.num_row_groups)]
        for md in (pq.ParquetFile(out / f).metadata for f in train["files"])
    ]
    assert groups == [[100], [50], [50], [50]]
    before = read_metadata(single_default)["configs"]["default"]
    assert train["fingerprint"] == before["splits"]["train"]["fingerprint"]
    assert read_metadata(out)["configs"]["default"]["fingerprint"] == before["fingerprint"]
    assert verify(out) == []  # the card's globs take the four files; load_dataset reads them


def test_the_stock_stream_reads_only_the_head_shard_before_its_first_row(hub, single_default, env):
    """`load_dataset(..., streaming=True)` with every default pre-buffers the whole shard it
    opens: the first row must cost the 100-row head shard and nothing of the others."""
    repo = "user/head-shard"
    hub.seed(repo, single_default)
    start = len(hub.served)
    python(
        env,
        f"""
        import datasets
        stream = datasets.load_dataset({repo!r}, split="train", streaming=True)
        assert next(iter(stream))["image"].size == (28, 28)
        """,
    )
    parquet = [(p, n) for p, n in hub.served[start:] if p.endswith(".parquet")]
    head = single_default / "data" / "train-00000-of-00002.parquet"
    assert {p.rsplit("/", 1)[1] for p, _ in parquet} == {head.name}
    assert sum(n for _, n in parquet) <= 2 * head.stat().st_size  # footer, then the data


def test_verify_fails_a_folder_with_one_row_group_per_split(single_default, tmp_path):
    folder = Path(shutil.copytree(single_default, tmp_path / "repo"))
    path = folder / "data" / "train-00001-of-00002.parquet"  # 150 rows after the head
    table = pq.read_table(path)
    assert table.num_rows > 100
    pq.write_table(table, path, row_group_size=table.num_rows)  # the layout of texmnist <= 0.1
    problems = [str(p) for p in verify(folder, load=False)]
    # Same content, so the fingerprint still matches: the row-group rule is the only problem.
    assert problems == [f"{path}: row group 0 holds {table.num_rows:,} rows of images, over 100; "
                        "rebuild the config with this texmnist"]  # fmt: skip
    assert verify(single_default, load=False) == []


# -- push through the real client -----------------------------------------------------


def test_push_of_two_configs_lands_on_main(pushed, hub, folder):
    assert "pushed: user/textured-mnist" in pushed.stdout
    assert f"commit: {hub.url}/datasets/{REPO}/commit/" in pushed.stdout
    remote = hub.files(REPO)
    assert remote.pop(".gitattributes")  # the Hub's own first commit
    assert remote == _expected_remote(folder, REPO)
    blobs = hub.repos[("dataset", REPO)].resolve("main").files
    assert all(blobs[p].lfs for p in remote if p.endswith((".parquet", ".png")))
    assert not blobs["README.md"].lfs and not blobs[META_FILE].lfs
    calls = [path for _, path in hub.requests]
    for needed in ("/api/repos/create", f"/api/datasets/{REPO}/preupload/main",
                   f"/datasets/{REPO}.git/info/lfs/objects/batch",
                   f"/api/datasets/{REPO}/commit/main"):  # fmt: skip
        assert needed in calls


def _local_split(folder: Path, config: str, split: str) -> dict:
    """A split read straight from the local Parquet files, images decoded by PIL."""
    files = read_metadata(folder)["configs"][config]["splits"][split]["files"]
    table = datasets.table.concat_tables([pq.read_table(folder / f) for f in files])
    rows = table.to_pydict()
    return {
        "image": np.stack([np.asarray(Image.open(io.BytesIO(i["bytes"]))) for i in rows["image"]]),
        "label": np.array(rows["label"]),
        "mnist_index": np.array(rows["mnist_index"]),
    }


def test_load_dataset_by_repo_id_equals_the_folder(pushed, hub, folder, env, tmp_path):
    out = tmp_path / "loaded.npz"
    result = python(
        env,
        f"""
        import json, numpy as np, datasets
        ds = datasets.load_dataset({REPO!r}, split="test_random")
        stream = datasets.load_dataset({REPO!r}, "rho-0.9", split="train", streaming=True)
        rows = list(stream)
        np.savez({str(out)!r},
            regular_image=np.stack([np.asarray(r["image"]) for r in ds]),
            regular_label=np.array(ds["label"]), regular_index=np.array(ds["mnist_index"]),
            stream_image=np.stack([np.asarray(r["image"]) for r in rows]),
            stream_label=np.array([r["label"] for r in rows]),
            stream_index=np.array([r["mnist_index"] for r in rows]))
        names = {{k: ds.features[k].names for k in ("label", "texture")}}
        names["stream_texture"] = stream.features["texture"].names
        print(json.dumps(names))
        """,
    )
    got = np.load(out)
    names = json.loads(result.stdout.strip().splitlines()[-1])
    meta = read_metadata(folder)["configs"]
    texture_names = meta["default"]["features"]["texture"]["names"]
    assert names["texture"] == texture_names == names["stream_texture"]
    assert names["label"] == [str(d) for d in range(10)]
    for prefix, config, split in (("regular", "default", "test_random"),
                                  ("stream", "rho-0.9", "train")):  # fmt: skip
        want = _local_split(folder, config, split)
        assert len(got[f"{prefix}_label"]) == meta[config]["splits"][split]["num_examples"]
        assert np.array_equal(got[f"{prefix}_image"], want["image"])
        assert np.array_equal(got[f"{prefix}_label"], want["label"])
        assert np.array_equal(got[f"{prefix}_index"], want["mnist_index"])
    # Streaming read the rho-0.9 train shard from the double, by range or whole.
    assert any("/resolve/" in p and p.endswith("rho-0.9/train-00000-of-00001.parquet")
               for _, p in hub.requests)  # fmt: skip


def test_file_system_reads_ranges_and_paths_info(pushed, folder, env):
    """What the bench and the viewer rely on: exact byte ranges, and sizes from paths-info."""
    path = "data/test_random-00000-of-00001.parquet"
    local = (folder / path).read_bytes()
    result = python(
        env,
        f"""
        from huggingface_hub import HfFileSystem
        fs = HfFileSystem()
        name = "datasets/{REPO}/{path}"
        print(fs.info(name, refresh=True)["size"])
        with fs.open(name, block_size=1024, cache_type="none") as f:
            f.seek(1000)
            print(f.read(300).hex())
            f.seek(-8, 2)
            print(f.read().hex())
        """,
    )
    size, middle, tail = result.stdout.split()
    assert int(size) == len(local)
    assert bytes.fromhex(middle) == local[1000:1300]
    assert bytes.fromhex(tail) == local[-8:] and local.endswith(b"PAR1")


# -- evaluate, branches, pull requests, re-push ----------------------------------------


def test_evaluate_reads_the_repository(pushed, hub, folder, env, tmp_path):
    pytest.importorskip("torch")
    pytest.importorskip("matplotlib")
    start = len(hub.requests)
    out = tmp_path / "report"
    args = ["--config", "default", "--model", "mlp", "--epochs", "1", "--seeds", "0"]
    args += ["--saliency-examples", "0", "--batch-size", "32", "--no-progress", "--out", str(out)]
    fresh = {**env, "HF_HOME": str(tmp_path / "hf")}  # an empty cache: read from the Hub
    result = texmnist(fresh, "evaluate", REPO, *args)
    assert result.returncode == 0, result.stderr[-3000:]
    report = json.loads((out / "report.json").read_text())
    splits = read_metadata(folder)["configs"]["default"]["splits"]
    assert report["data"]["data"] == REPO
    assert report["data"]["splits"] == {k: v["num_examples"] for k, v in splits.items()}
    fetched = {p.rsplit("/", 1)[-1] for _, p in hub.requests[start:] if "/resolve/" in p}
    assert "train-00000-of-00001.parquet" in fetched


def test_push_to_a_branch_leaves_main_alone(pushed, hub, rebuilt, env):
    main = hub.files(REPO)
    result = texmnist(env, "push", str(rebuilt), "--repo", REPO, "--revision", "dev")
    assert result.returncode == 0, result.stderr[-3000:]
    assert hub.files(REPO) == main
    dev = hub.files(REPO, "dev")
    dev.pop(".gitattributes")
    assert dev == _expected_remote(rebuilt, REPO)
    assert "data/test_background_only-00000-of-00001.parquet" in main


def test_create_pr_opens_a_pull_request_against_main(pushed, hub, rebuilt, env):
    main = hub.files(REPO)
    before = {r for r in hub.refs(REPO) if r.startswith("refs/pr/")}
    result = texmnist(env, "push", str(rebuilt), "--repo", REPO, "--create-pr")
    assert result.returncode == 0, result.stderr[-3000:]
    (pr,) = {r for r in hub.refs(REPO) if r.startswith("refs/pr/")} - before
    number = pr.rsplit("/", 1)[-1]
    assert f"pull request: {hub.url}/datasets/{REPO}/discussions/{number}" in result.stdout
    assert hub.files(REPO) == main
    opened = hub.files(REPO, pr)
    opened.pop(".gitattributes")
    assert opened == _expected_remote(rebuilt, REPO)


def test_repush_after_a_rebuild_leaves_no_stale_shard(hub, folder, rebuilt, env):
    repo = "user/rebuilt-then-pushed"
    for source in (folder, rebuilt):
        result = texmnist(env, "push", str(source), "--repo", repo)
        assert result.returncode == 0, result.stderr[-3000:]
    remote = hub.files(repo)
    remote.pop(".gitattributes")
    assert remote == _expected_remote(rebuilt, repo)  # the dropped split's shard is gone
    stale = "data/test_background_only-00000-of-00001.parquet"
    assert stale in _expected_remote(folder, repo) and stale not in remote
    # Deletions and additions are one commit: initial commit, first push, re-push.
    store = hub.repos[("dataset", repo)]
    head = store.resolve("main")
    chain = [head]
    while chain[-1].parent is not None:
        chain.append(store.commits[chain[-1].parent])
    assert len(chain) == 3


def test_the_token_never_appears(hub, folder, env, tmp_path):
    repo = "user/token-check"
    copy = Path(shutil.copytree(folder, tmp_path / "repo"))
    runs = [
        texmnist(env, "push", str(copy), "--repo", repo),
        texmnist(env, "push", str(copy), "--repo", repo, "--dry-run"),
        # A failure inside the client: the pull request does not exist.
        texmnist(env, "push", str(copy), "--repo", repo, "--revision", "refs/pr/99"),
    ]
    assert [r.returncode for r in runs] == [0, 0, 2]
    last = runs[2].stderr.strip().splitlines()[-1]  # after verification's progress bar
    assert last.startswith("texmnist: error: user/token-check: push failed (HTTP 404)")
    assert f"Bearer {TOKEN}" in hub.authorizations  # the token was really used
    secret = TOKEN.encode()
    for text in OUTPUTS:  # every command of this module, this test's included
        assert TOKEN not in text and TOKEN[3:] not in text
    for path in copy.rglob("*"):
        assert not path.is_file() or secret not in path.read_bytes(), path
    for store in hub.repos.values():
        for commit in store.commits.values():
            for path, blob in commit.files.items():
                assert secret not in blob.data, path
    assert all(secret not in data for data in hub.lfs.values())
