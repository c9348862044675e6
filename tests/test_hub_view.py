"""The folder as the Hub shows it: data_files globs, the default config, no local path.

- Each split's `data_files` entry is one glob that `datasets` resolves to exactly the shards
  texmnist.json lists (never a shard of another split whose name shares a prefix); the
  Hub's "Use this dataset" snippets keep a glob whole (they keep only the first file of a
  list), and `verify` fails a pattern that resolves to anything else.
- Every folder has exactly one default config: `default` when built, else the first config
  built, kept when later builds add configs; `load_dataset(folder)` needs no config name.
- No file a folder publishes holds a path of the build machine: the recorded command names
  each path option's role, and `verify` and `push` refuse a README.md or texmnist.json
  that still holds one.
"""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

import datasets
import pytest
import yaml
from datasets.data_files import resolve_pattern

from texmnist.cli import main as cli_main
from texmnist.errors import PublishError
from texmnist.generate.config import named_config
from texmnist.repo.card import render_card, write_card
from texmnist.repo.folder import build, build_many
from texmnist.repo.localpaths import find_local_paths, strings_in
from texmnist.repo.meta import META_FILE, read_metadata, split_pattern, write_metadata
from texmnist.repo.push import push
from texmnist.repo.verify import verify


def _config(name: str, sources, **kw):
    mnist, dtd = sources
    kw = {"validation_size": 10, **kw} if name != "default" else kw  # 80 fake training digits
    return named_config(name, mnist_dir=str(mnist), dtd_dir=str(dtd), **kw)


def _yaml(folder: Path) -> dict:
    return yaml.safe_load((folder / "README.md").read_text().split("---\n")[1])


def _resolved(folder: Path, pattern: str) -> list[str]:
    """What `load_dataset(folder)` reads for `pattern`, relative to the folder, in order."""
    files = resolve_pattern(pattern, base_path=str(folder))
    return [Path(f).relative_to(folder).as_posix() for f in files]


@pytest.fixture(scope="module")
def sharded(fake_sources, tmp_path_factory) -> Path:
    """`rgb` then `sizes`, with shards of at most 30 rows: several shards per split."""
    out = tmp_path_factory.mktemp("globs") / "repo"
    mp = pytest.MonkeyPatch()
    mp.setattr("texmnist.repo.folder.LAYOUT", _small_layout())
    try:
        build_many([_config("rgb", fake_sources), _config("sizes", fake_sources)], out)
    finally:
        mp.undo()
    return out


def _small_layout():
    from texmnist.repo.folder import ShardLayout

    return ShardLayout(head_rows=10, shard_rows=30, row_group_rows=10)


# -- data_files --------------------------------------------------------------------------


def test_each_split_is_one_glob_resolving_to_exactly_its_shards(sharded):
    meta = read_metadata(sharded)
    entries = {c["config_name"]: c for c in _yaml(sharded)["configs"]}
    multi = 0
    for name, c in meta["configs"].items():
        listed = {d["split"]: d["path"] for d in entries[name]["data_files"]}
        assert set(listed) == set(c["splits"])
        for split, s in c["splits"].items():
            assert listed[split] == split_pattern(name, split)  # a string: one pattern
            assert _resolved(sharded, listed[split]) == s["files"]  # the same files, in order
            multi += len(s["files"]) > 2
    assert multi >= 4  # head shard plus several others: the glob has something to cover
    assert verify(sharded) == []


def test_a_pattern_never_takes_a_split_that_shares_its_prefix(sharded, tmp_path):
    folder = Path(shutil.copytree(sharded, tmp_path / "repo"))
    files = read_metadata(folder)["configs"]["rgb"]["splits"]["test_random"]["files"]
    for rel in files:  # the same shards again as splits `test_random_x` and `test_randomx`
        for other in ("test_random_x", "test_randomx"):
            shutil.copy(folder / rel, folder / rel.replace("test_random", other))
    assert len(list((folder / "rgb").glob("test_random*"))) == 3 * len(files)
    assert _resolved(folder, split_pattern("rgb", "test_random")) == files


def test_verify_fails_a_pattern_that_resolves_to_other_files(sharded, tmp_path):
    folder = Path(shutil.copytree(sharded, tmp_path / "repo"))
    path = folder / "README.md"
    text = path.read_text()
    old = "path: rgb/train-*.parquet"
    assert old in text
    path.write_text(text.replace(old, "path: rgb/train-00000-*.parquet"))
    problems = [str(p) for p in verify(folder, load=False)]
    files = read_metadata(folder)["configs"]["rgb"]["splits"]["train"]["files"]
    assert problems == [
        f"{path}: config 'rgb' split 'train': data_files 'rgb/train-00000-*.parquet' "
        f"resolves to ['{files[0]}'], not the {len(files)} files built ({', '.join(files)})"
    ]


# -- the default config -------------------------------------------------------------------


def test_without_default_the_first_config_built_is_the_default(sharded):
    entries = _yaml(sharded)["configs"]
    assert [c["config_name"] for c in entries] == ["rgb", "sizes"]
    assert [c["config_name"] for c in entries if c.get("default")] == ["rgb"]
    assert datasets.get_dataset_default_config_name(str(sharded)) == "rgb"
    ds = datasets.load_dataset(str(sharded), split="test_random")  # no config name
    rgb = read_metadata(sharded)["configs"]["rgb"]["splits"]["test_random"]
    assert len(ds) == rgb["num_examples"]
    body = render_card(sharded, repo_id="someone/tm").split("\n---\n", 1)[1]
    assert "The default configuration is `rgb`" in body


def test_the_default_stays_when_configs_are_added_or_rebuilt(fake_sources, tmp_path):
    out = tmp_path / "repo"
    build(_config("rho-0.9", fake_sources), out)
    build(_config("rgb", fake_sources), out)
    build(_config("rho-0.9", fake_sources, seed=1), out, overwrite=True)
    defaults = [c["config_name"] for c in _yaml(out)["configs"] if c.get("default")]
    assert defaults == ["rho-0.9"] and list(read_metadata(out)["configs"]) == ["rho-0.9", "rgb"]
    build(_config("default", fake_sources), out)  # `default` itself takes over
    defaults = [c["config_name"] for c in _yaml(out)["configs"] if c.get("default")]
    assert defaults == ["default"]
    assert verify(out, load=False) == []


def test_verify_fails_a_card_with_no_or_two_defaults(sharded, tmp_path):
    folder = Path(shutil.copytree(sharded, tmp_path / "repo"))
    path = folder / "README.md"
    text = path.read_text()
    assert text.count("default: true") == 1
    path.write_text(text.replace("  default: true\n", ""))
    assert [str(p) for p in verify(folder, load=False)] == [
        f"{path}: no config has `default: true`; the default config is 'rgb'"
    ]


# -- no local path ------------------------------------------------------------------------

HOMES = ["home/alice", "Users/bob", "root"]


@pytest.mark.parametrize("home", HOMES)
def test_no_file_a_cli_build_writes_holds_a_local_path(fake_sources, tmp_path, home):
    """Sources and --out under folders named like real home directories."""
    base = tmp_path / home
    mnist = shutil.copytree(fake_sources[0], base / "data" / "mnist")
    dtd = shutil.copytree(fake_sources[1], base / "data" / "dtd")
    out = base / "textured-mnist"
    args = ["build", "--out", str(out), "--config", "rho-0.9", "--mnist-dir", str(mnist),
            f"--dtd-dir={dtd}", "--validation-size", "10"]  # fmt: skip
    assert cli_main(args) == 0
    meta = read_metadata(out)
    command = meta["configs"]["rho-0.9"]["command"]
    assert command == (
        "texmnist build --out <OUT> --config rho-0.9 --mnist-dir <MNIST> --dtd-dir=<DTD> "
        "--validation-size 10"
    )
    for path in (out / "README.md", out / META_FILE):
        text = path.read_text()
        assert str(tmp_path) not in text and home not in text, path
        assert find_local_paths(text) == [], path
    assert [p for s in strings_in(meta) for p in find_local_paths(s)] == []
    assert verify(out, load=False) == []


@pytest.mark.parametrize(
    "leak", ["/home/alice/mnist", "/Users/bob/dtd", "C:\\Users\\carol\\m", "~/data/mnist"]
)
def test_verify_and_push_refuse_a_local_path_in_the_metadata(sharded, tmp_path, leak):
    folder = Path(shutil.copytree(sharded, tmp_path / "repo"))
    meta = read_metadata(folder)
    meta["configs"]["rgb"]["command"] = f"texmnist build --out x --mnist-dir {leak}"
    write_metadata(folder, meta)
    write_card(folder)
    problems = [str(p) for p in verify(folder, load=False)]
    assert problems == [
        f"{folder / META_FILE}: holds a path of the build machine ({leak!r}); "
        "rebuild with this texmnist, or remove it"
    ]
    with pytest.raises(PublishError, match="path of the build machine"):
        push(folder, "someone/tm", dry_run=True)


def test_verify_refuses_a_local_path_in_the_card(sharded, tmp_path):
    folder = Path(shutil.copytree(sharded, tmp_path / "repo"))
    path = folder / "README.md"
    path.write_text(path.read_text() + "\nBuilt from /Users/bob/Downloads/dtd.\n")
    assert [str(p) for p in verify(folder, load=False)] == [
        f"{path}: holds a path of the build machine ('/Users/bob/Downloads/dtd.'); "
        "rebuild with this texmnist, or remove it"
    ]


def test_texmnist_json_identifies_sources_by_name_and_checksum(sharded, fake_sources):
    meta = json.loads((sharded / META_FILE).read_text())
    images = fake_sources[1] / "images"
    h = hashlib.sha256()  # the photos' sum, by hand: every photo of the ten categories
    photos = [p for p in images.rglob("[!.]*") if p.suffix in (".jpg", ".png")]  # no ._x.jpg
    assert len(photos) == 10 * 12
    for path in sorted(photos, key=lambda p: p.relative_to(images).as_posix()):
        h.update(path.relative_to(images).as_posix().encode() + b"\0")
        h.update(hashlib.sha256(path.read_bytes()).digest())
    for c in meta["configs"].values():
        assert [p["key"] for p in c["provenance"]] == ["mnist", "dtd"]
        digits, photos = c["inputs"]
        assert (digits["name"], digits["train"], digits["test"]) == ("mnist", 80, 40)
        assert photos["name"] == "dtd" and photos["sha256"] == h.hexdigest()
        assert not any(find_local_paths(s) for s in strings_in(c))
    rgb, sizes = (meta["configs"][n]["inputs"] for n in ("rgb", "sizes"))
    assert rgb == sizes  # the same sources, whatever the recipe
