"""texmnist.json with a key missing or of the wrong type: one line naming the file and the key,
from every command that reads it (not a KeyError traceback)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from texmnist.cli import main
from texmnist.errors import OutputError
from texmnist.generate.config import named_config
from texmnist.repo.folder import build
from texmnist.repo.meta import META_FILE, read_metadata


@pytest.fixture(scope="module")
def built(fake_sources, tmp_path_factory) -> Path:
    mnist, dtd = fake_sources
    out = tmp_path_factory.mktemp("shape") / "repo"
    build(named_config("default", mnist_dir=str(mnist), dtd_dir=str(dtd)), out)
    return out


CASES = [
    (("splits",), "configs.default has no 'splits'"),
    (("features",), "configs.default has no 'features'"),
    (("recipe",), "configs.default has no 'recipe'"),
    (("splits", "train", "files"), "configs.default.splits.train has no 'files'"),
    (("splits", "train", "num_examples"), "configs.default.splits.train has no 'num_examples'"),
    (("splits", "test_random", "num_bytes"),
     "configs.default.splits.test_random has no 'num_bytes'"),
    (("splits", "train", "fingerprint"), "configs.default.splits.train has no 'fingerprint'"),
]  # fmt: skip


def _edit(folder: Path, keys: tuple[str, ...], value=None, *, delete: bool = True) -> None:
    meta = json.loads((folder / META_FILE).read_text())
    entry = meta["configs"]["default"]
    for key in keys[:-1]:
        entry = entry[key]
    if delete:
        del entry[keys[-1]]
    else:
        entry[keys[-1]] = value
    (folder / META_FILE).write_text(json.dumps(meta))


@pytest.mark.parametrize("keys, problem", CASES)
def test_a_missing_key_is_one_line_from_every_command(built, tmp_path, capsys, keys, problem):
    folder = Path(shutil.copytree(built, tmp_path / "repo"))
    _edit(folder, keys)
    line = f"{folder / META_FILE}: {problem}; rebuild the folder with texmnist build"
    with pytest.raises(OutputError) as info:
        read_metadata(folder)
    assert str(info.value) == line
    commands = [
        ["verify", folder],
        ["preview", folder, "--out", tmp_path / "grid.png"],
        ["push", folder, "--repo", "me/x", "--dry-run"],
        ["build", "--out", folder, "--config", "rgb", "--no-download"],
    ]
    for argv in commands:
        capsys.readouterr()
        rc = main([str(a) for a in argv])
        captured = capsys.readouterr()  # verify lists its problems on stdout
        err = [x for x in (captured.out + captured.err).splitlines() if x.strip()]
        assert rc != 0, argv
        assert err and "Traceback" not in "\n".join(err), (argv, err)
        assert any(problem in x for x in err), (argv, err)
    assert not (tmp_path / "grid.png").exists()


@pytest.mark.parametrize(
    "keys, value, problem",
    [
        (("splits", "train", "num_examples"), -3, "splits.train.num_examples is not a count: -3"),
        (("splits", "train", "num_examples"), "8", 'splits.train.num_examples is not a count: "8"'),
        (("splits", "train", "files"), "data/x.parquet", "splits.train.files is not a list"),
        (("splits",), {}, "configs.default.splits lists no split"),
        (("splits", "train"), [], "configs.default.splits.train is not an object"),
        (("splits", "train", "num_bytes"), True, "splits.train.num_bytes is not a count: true"),
    ],
)  # fmt: skip
def test_a_wrongly_typed_value_is_one_line(built, tmp_path, keys, value, problem):
    folder = Path(shutil.copytree(built, tmp_path / "repo"))
    _edit(folder, keys, value, delete=False)
    with pytest.raises(OutputError) as info:
        read_metadata(folder)
    assert problem in str(info.value) and "\n" not in str(info.value)
