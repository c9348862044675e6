"""Publishing: multi-config folders, the card, `verify` and `push` (all offline).

`push` is tested at the `HfApi` boundary with a recording stand-in that applies
`allow_patterns` the way `upload_folder` does, so the uploaded file list is the
one the Hub would receive.
"""

from __future__ import annotations

import io
import logging
import re
import shutil
from pathlib import Path
from types import SimpleNamespace

import datasets
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from huggingface_hub import DatasetCard
from huggingface_hub.utils import filter_repo_objects
from PIL import Image

import texmnist.repo.preview
import texmnist.repo.push
import texmnist.repo.verify
import texmnist.repo.verify.files
from texmnist.cli import main
from texmnist.errors import ConfigError, OutputError, PublishError
from texmnist.generate.config import named_config
from texmnist.repo import card as cardmod
from texmnist.repo.folder import build
from texmnist.repo.meta import META_FILE, read_metadata
from texmnist.repo.push import push
from texmnist.repo.verify import VerificationFailed, verify

TOKEN = "hf_plantedSECRET123"
RGB_SPLITS = [
    "train",
    "validation",
    "test_correlated",
    "test_random",
    "test_no_background",
    "test_background_only",
    "test_counterfactual",
]


def _config(name: str, sources, **kw):
    mnist, dtd = sources
    extra = {"validation_size": 10} if name != "default" else {}
    return named_config(name, mnist_dir=str(mnist), dtd_dir=str(dtd), **extra, **kw)


def _snapshot(folder: Path) -> dict[str, bytes]:
    return {
        p.relative_to(folder).as_posix(): p.read_bytes()
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


def _command(out: Path, sources, name: str) -> str:
    mnist, dtd = sources
    return f"texmnist build --out {out} --config {name} --mnist-dir {mnist} --dtd-dir={dtd}"


@pytest.fixture(scope="module")
def two(fake_sources, tmp_path_factory):
    """A folder with `default`, then `rgb` added; plus the bytes before the addition."""
    out = tmp_path_factory.mktemp("publish") / "repo"
    build(_config("default", fake_sources), out, command=_command(out, fake_sources, "default"))
    before = _snapshot(out)
    build(_config("rgb", fake_sources), out, command=_command(out, fake_sources, "rgb"))
    return SimpleNamespace(out=out, before=before, sources=fake_sources)


@pytest.fixture(scope="module")
def single(fake_sources, tmp_path_factory):
    """A folder with `default` only: the template for the planted problems."""
    out = tmp_path_factory.mktemp("single") / "repo"
    build(_config("default", fake_sources), out)
    return out


@pytest.fixture
def planted(single, tmp_path) -> Path:
    """A private copy of `single` to plant a problem in."""
    return Path(shutil.copytree(single, tmp_path / "repo"))


@pytest.fixture
def copy_two(two, tmp_path) -> Path:
    return Path(shutil.copytree(two.out, tmp_path / "repo"))


def _about(problems, *needles: str) -> list[str]:
    lines = [str(p) for p in problems]
    return [line for line in lines if all(n in line for n in needles)]


def _edit_readme(folder: Path, old: str, new: str, count: int = 1) -> None:
    path = folder / "README.md"
    text = path.read_text()
    assert old in text
    path.write_text(text.replace(old, new, count))


# -- several configs in one folder --------------------------------------------------


@pytest.mark.parametrize("name", ["default", "rgb"])
def test_round_trip_every_split_regular_and_streaming(two, name):
    meta = read_metadata(two.out)["configs"][name]
    assert list(meta["splits"]) == (RGB_SPLITS if name == "rgb" else [
        "train", "test_correlated", "test_random", "test_no_background"
    ])  # fmt: skip
    for split, s in meta["splits"].items():
        ds = datasets.load_dataset(str(two.out), name, split=split)
        assert len(ds) == s["num_examples"] > 0
        stream = datasets.load_dataset(str(two.out), name, split=split, streaming=True)
        first = next(iter(stream))
        assert stream.features == ds.features
        assert first["mnist_index"] == ds[0]["mnist_index"]
        assert np.array_equal(np.asarray(first["image"]), np.asarray(ds[0]["image"]))
    mode = datasets.load_dataset(str(two.out), name, split="test_random")[0]["image"].mode
    assert mode == ("RGB" if name == "rgb" else "L")


def test_adding_a_config_keeps_the_other_byte_identical(two):
    after = _snapshot(two.out)
    kept = [k for k in two.before if k.startswith("data/") or k == "images/preview-default.png"]
    assert len(kept) == 5
    assert all(after[k] == two.before[k] for k in kept)
    assert any(k.startswith("rgb/") for k in after) and set(read_metadata(two.out)["configs"]) == {
        "default",
        "rgb",
    }


def test_card_yaml_lists_both_configs_with_exact_sizes(two):
    card = DatasetCard((two.out / "README.md").read_text())
    meta = read_metadata(two.out)["configs"]
    configs = {c["config_name"]: c for c in card.data.configs}
    assert configs["default"]["default"] is True and "default" not in configs["rgb"]
    assert [d["split"] for d in configs["rgb"]["data_files"]] == RGB_SPLITS
    assert configs["rgb"]["data_files"][0]["path"] == "rgb/train-*.parquet"
    infos = {i["config_name"]: i for i in card.data.dataset_info}
    for name in ("default", "rgb"):
        got = {s["name"]: (s["num_examples"], s["num_bytes"]) for s in infos[name]["splits"]}
        want = {k: (v["num_examples"], v["num_bytes"]) for k, v in meta[name]["splits"].items()}
        assert got == want
        label = next(f for f in infos[name]["features"] if f["name"] == "label")
        assert label["dtype"]["class_label"]["names"]["9"] == "9"


def test_rebuilding_without_overwrite_fails_and_changes_nothing(two, capsys):
    before = _snapshot(two.out)
    with pytest.raises(OutputError, match=r"'rgb' is already built there; pass --overwrite"):
        build(_config("rgb", two.sources), two.out)
    mnist, dtd = two.sources
    argv = ["build", "--out", str(two.out), "--mnist-dir", str(mnist), "--dtd-dir", str(dtd)]
    assert main([*argv, "--no-download"]) == 2
    err = capsys.readouterr().err
    assert "--overwrite" in err and err.count("\n") == 1
    assert _snapshot(two.out) == before


def test_overwrite_replaces_only_that_config(two, copy_two):
    before = _snapshot(copy_two)
    old = read_metadata(copy_two)["configs"]["rgb"]["fingerprint"]
    result = build(_config("rgb", two.sources, seed=1), copy_two, overwrite=True)
    after = _snapshot(copy_two)
    assert result.fingerprint != old
    assert {k: v for k, v in after.items() if k.startswith("data/")} == {
        k: v for k, v in before.items() if k.startswith("data/")
    }
    assert any(after[k] != before[k] for k in before if k.startswith("rgb/"))
    meta = read_metadata(copy_two)["configs"]
    assert set(meta) == {"default", "rgb"} and meta["rgb"]["recipe"]["seed"] == 1
    assert verify(copy_two, load=False) == []


def test_a_failed_addition_leaves_the_folder_as_it_was(single, tmp_path, fake_sources, monkeypatch):
    # README.md, texmnist.json and previews are rewritten while staging: they must be
    # copies, not hard links into the live folder.
    folder = Path(shutil.copytree(single, tmp_path / "repo"))
    before = _snapshot(folder)

    def boom(*args, **kwargs):
        raise RuntimeError("preview failed")

    monkeypatch.setattr(texmnist.repo.preview, "write_preview", boom)
    with pytest.raises(RuntimeError, match="preview failed"):
        build(_config("rgb", fake_sources), folder)
    assert _snapshot(folder) == before


# -- the card ---------------------------------------------------------------------------


def test_card_header_licence_tags_and_sizes(two):
    data = DatasetCard((two.out / "README.md").read_text()).data
    assert data.license == "other" and data.license_name == "cc-by-sa-3.0-and-dtd-research-only"
    assert data.license_link.startswith("https://")
    assert data.task_categories == ["image-classification"]
    assert set(data.tags) >= {"spurious-correlations", "robustness", "distribution-shift"}
    assert data.size_categories == ["n<1K"] and data.pretty_name == "Textured MNIST"
    assert data.source_datasets == ["extended|mnist", "extended|dtd"]


def test_card_body_is_complete_and_leaks_no_local_path(two):
    text = cardmod.render_card(two.out, repo_id="someone/tm")
    body = text.split("\n---\n", 1)[1]
    mnist, dtd = two.sources
    for secret in (str(mnist), str(dtd), str(two.out), str(Path.home())):
        assert secret not in text
    assert "--mnist-dir <MNIST>" in body and "--dtd-dir=<DTD>" in body
    assert "--out <OUT>" in body
    assert not re.search(r"\$[A-Za-z_{]", body), "an unfilled template field"
    assert 'load_dataset("someone/tm", "rgb", split="train")' in body
    assert "user/textured-mnist" not in body
    for image in ("images/preview-default.png", "images/preview-rgb.png"):
        assert f"]({image})" in body and (two.out / image).is_file()
    assert "| `test_background_only` |" in body and "| `crystalline` |" in body
    rgb = body.split("### Configuration `rgb`", 1)[1].split("\n## ", 1)[0]
    assert "| `color` | `rgb` |" in rgb and "| `seed` |" not in rgb  # only what differs
    assert "| `seed` | `0` |" in body.split("### Configuration `default`", 1)[1]
    for key in ("lecun1998gradient", "cimpoi14describing", "texturedmnist"):
        assert f"{{{key}," in body
    assert "Baseline results" not in body  # no report: no section, no placeholder


def test_template_is_the_repository_file():
    root = Path(__file__).resolve().parents[1]
    assert cardmod.template_text() == (root / "dataset_card.md").read_text()


@pytest.mark.parametrize(
    "command, expected",
    [
        (
            "texmnist build --out /home/al/o --mnist-dir /home/al/m --dtd-dir /home/al/d",
            "texmnist build --out <OUT> --mnist-dir <MNIST> --dtd-dir <DTD>",
        ),
        (
            "texmnist build --out=/x --mnist /home/al/m",
            "texmnist build --out=<OUT> --mnist-dir <MNIST>",
        ),
        (
            "texmnist build --seed 3 --dtd-dir '/home/a b/d'",
            "texmnist build --seed 3 --dtd-dir <DTD>",
        ),
    ],
)
def test_public_command_replaces_paths(command, expected):
    assert cardmod.public_command(command, "default", {}) == expected


def test_public_command_without_a_recorded_command_is_derived():
    got = cardmod.public_command("", "rgb", {"seed": 0, "validation_size": 10, "max_train": None})
    assert got.startswith("texmnist build --out <OUT> --config rgb --mnist-dir <MNIST>")
    assert got.endswith("--seed 0 --validation-size 10")


REPORT = """# Evaluation of cnn

Some words.

| metric | mean [95% CI] (%) | std (%) | seeds |
| --- | --- | --- | --- |
| acc_test_random | 61.0 [58.5, 63.5] | 1.0 | 3 |

trailing note
"""


def test_card_takes_baselines_from_an_evaluation_report(copy_two):
    (copy_two / "report.md").write_text(REPORT)
    (copy_two / "reports" / "rgb").mkdir(parents=True)
    (copy_two / "reports" / "rgb" / "report.md").write_text(REPORT.replace("61.0", "42.0"))
    body = cardmod.render_card(copy_two).split("\n---\n", 1)[1]
    section = body.split("## Baseline results", 1)[1].split("\n## ", 1)[0]
    assert "| acc_test_random | 61.0 [58.5, 63.5] |" in section
    assert "95% Student-t interval" in section
    assert "### Evaluation of cnn\n" in section
    assert "### `rgb`: Evaluation of cnn" in section
    assert "| acc_test_random | 42.0 [58.5, 63.5] |" in section
    assert "Some words" not in section and "trailing note" not in section


# -- verify -----------------------------------------------------------------------------


def test_verify_passes_a_sound_folder(two, capsys):
    assert verify(two.out) == []
    assert main(["verify", str(two.out)]) == 0
    assert "ok:" in capsys.readouterr().out


def test_verify_catches_a_bad_split_name(planted):
    _edit_readme(planted, "- split: test_random\n", "- split: test-random\n")
    problems = verify(planted)
    assert _about(problems, "README.md", "'test-random' is not ^\\w+(\\.\\w+)*$")


def test_verify_catches_a_python_file(planted, capsys):
    (planted / "data" / "loader.py").write_text("print('hi')\n")
    problems = verify(planted)
    assert _about(problems, str(planted / "data" / "loader.py"), "Python file")
    assert main(["verify", str(planted)]) == 1
    out = capsys.readouterr()
    assert "loader.py: a Python file" in out.out and "1 problem" in out.err


def test_verify_catches_a_wrong_count_in_the_yaml(planted):
    _edit_readme(planted, "num_examples: 40\n", "num_examples: 41\n")
    problems = verify(planted)
    assert _about(problems, "README.md", "'test_correlated'", "num_examples 41 in the card")


def test_verify_catches_a_split_missing_from_the_yaml(planted):
    card = DatasetCard((planted / "README.md").read_text())
    entry = card.data.configs[0]
    entry["data_files"] = [d for d in entry["data_files"] if d["split"] != "test_no_background"]
    card.save(planted / "README.md")
    problems = verify(planted)
    assert _about(problems, "'test_no_background' is missing from `configs` data_files")


def test_verify_catches_an_image_column_not_typed_image(planted):
    text = (planted / "README.md").read_text()
    new = text.replace("- name: mask\n    dtype: image", "- name: mask\n    dtype: binary")
    assert new != text
    (planted / "README.md").write_text(new)
    problems = verify(planted)
    assert _about(problems, "README.md", "image column 'mask' is typed Value, not Image")


def test_verify_catches_an_oversize_shard(planted, monkeypatch):
    monkeypatch.setattr(texmnist.repo.verify.files, "MAX_FILE_BYTES", 10_000)
    problems = verify(planted, load=False)
    train = str(planted / "data" / "train-00000-of-00001.parquet")
    assert _about(problems, train, "over the Hub's 10,000 per shard")


def test_verify_catches_an_oversize_row_group(planted, monkeypatch):
    monkeypatch.setattr(texmnist.repo.verify.files, "MAX_ROW_GROUP_BYTES", 1_000)
    assert _about(verify(planted, load=False), "row group 0 is", "uncompressed, over 1,000")


def test_verify_catches_broken_yaml(planted):
    _edit_readme(planted, "configs:\n", "configs: [\n")
    problems = verify(planted)
    assert _about(problems, str(planted / "README.md"), "YAML header does not parse")


def test_verify_catches_a_tampered_parquet_file(planted):
    path = planted / "data" / "test_random-00000-of-00001.parquet"
    table = pq.read_table(path)
    labels = table.column("label").to_numpy().copy()
    labels[0] = (labels[0] + 1) % 10
    table = table.set_column(table.schema.get_field_index("label"), "label", pa.array(labels))
    pq.write_table(table, path)
    problems = verify(planted)
    assert _about(problems, str(path), "does not match the fingerprint", "'test_random'")
    assert len(problems) == 1  # counts, features and loading are still fine


def test_verify_catches_one_edited_image(planted):
    """One pixel of one image changed and re-encoded as a valid PNG: only the content
    fingerprint can tell."""
    path = planted / "data" / "test_random-00000-of-00001.parquet"
    table = pq.read_table(path)
    images = table.column("image").combine_chunks()
    blobs = images.field("bytes").to_pylist()
    pixels = np.asarray(Image.open(io.BytesIO(blobs[5]))).copy()
    pixels[0, 0] ^= 1
    buf = io.BytesIO()
    Image.fromarray(pixels).save(buf, format="PNG")
    assert buf.getvalue() != blobs[5]
    blobs[5] = buf.getvalue()
    edited = pa.StructArray.from_arrays(
        [pa.array(blobs, type=pa.binary()), images.field("path")], fields=list(images.type)
    )
    index = table.schema.get_field_index("image")
    pq.write_table(table.set_column(index, table.schema.field(index), edited), path)
    problems = verify(planted, load=False)
    assert _about(problems, str(path), "does not match the fingerprint", "'test_random'")
    assert len(problems) == 1


def test_verify_catches_a_stray_parquet_file(planted):
    shutil.copy(planted / "data" / "train-00000-of-00001.parquet", planted / "data" / "x.parquet")
    assert _about(verify(planted, load=False), "x.parquet", "listed by no config")


def test_verify_a_folder_texmnist_did_not_make(tmp_path):
    (tmp_path / "README.md").write_text("# hi\n")
    assert _about(verify(tmp_path), META_FILE, "not a texmnist folder")


# -- push -------------------------------------------------------------------------------


class RecordingApi:
    """Stands in for `HfApi`: records calls; upload_folder filters like the real one."""

    def __init__(self, fail: Exception | None = None):
        self.calls: list[tuple[str, tuple, dict]] = []
        self.fail = fail
        self.uploaded: list[str] = []
        self.readme = ""

    def create_repo(self, *args, **kwargs):
        self.calls.append(("create_repo", args, kwargs))
        if self.fail is not None:
            raise self.fail
        return f"https://huggingface.co/datasets/{args[0]}"

    def create_branch(self, *args, **kwargs):
        self.calls.append(("create_branch", args, kwargs))

    def upload_folder(self, **kwargs):
        self.calls.append(("upload_folder", (), kwargs))
        root = Path(kwargs["folder_path"])
        files = [p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file()]
        self.uploaded = sorted(
            filter_repo_objects(
                files,
                allow_patterns=kwargs.get("allow_patterns"),
                ignore_patterns=kwargs.get("ignore_patterns"),
            )
        )
        self.readme = (root / "README.md").read_text()
        return SimpleNamespace(commit_url="https://hf.co/c/1", pr_url=None)

    def names(self) -> list[str]:
        return [c[0] for c in self.calls]


def _expected_upload(folder: Path) -> list[str]:
    meta = read_metadata(folder)
    parquet = [
        f for c in meta["configs"].values() for s in c["splits"].values() for f in s["files"]
    ]
    previews = ["images/preview-default.png", "images/preview-rgb.png"]
    return sorted(["README.md", META_FILE, *parquet, *previews])


def test_push_uploads_exactly_the_dataset_and_no_decoy(copy_two):
    for decoy in (".env", "secret.txt", ".cache/token", "data/notes.txt", "images/sub/a.png"):
        (copy_two / decoy).parent.mkdir(parents=True, exist_ok=True)
        (copy_two / decoy).write_text(f"HF_TOKEN={TOKEN}\n")
    api = RecordingApi()
    result = push(copy_two, "someone/textured-mnist", api=api)
    assert api.names() == ["create_repo", "upload_folder"]
    _, args, kwargs = api.calls[0]
    assert args == ("someone/textured-mnist",)
    assert kwargs == {"repo_type": "dataset", "exist_ok": True, "private": None}
    upload = api.calls[1][2]
    assert upload["repo_type"] == "dataset" and upload["repo_id"] == "someone/textured-mnist"
    assert upload["revision"] is None and upload["create_pr"] is False
    assert "default, rgb" in upload["commit_message"]
    assert api.uploaded == _expected_upload(copy_two)
    # card+json, default, rgb (7 splits; test_counterfactual, over 100 rows, in a head shard
    # and one more), previews
    assert len(api.uploaded) == 2 + 4 + 8 + 2
    assert 'load_dataset("someone/textured-mnist"' in api.readme
    assert "user/textured-mnist" not in api.readme and TOKEN not in api.readme
    assert result.commit_url == "https://hf.co/c/1"
    assert sorted(p for p, _ in result.plan.files) == api.uploaded


def test_push_private_revision_and_message(copy_two):
    api = RecordingApi()
    push(copy_two, "me/tm", private=True, revision="v1", message="first", api=api)
    assert api.names() == ["create_repo", "create_branch", "upload_folder"]
    assert api.calls[0][2]["private"] is True
    assert api.calls[1][1] == ("me/tm",)
    assert api.calls[1][2] == {"branch": "v1", "repo_type": "dataset", "exist_ok": True}
    upload = api.calls[2][2]
    assert upload["revision"] == "v1" and upload["commit_message"] == "first"


def test_push_create_pr(copy_two):
    api = RecordingApi()
    push(copy_two, "me/tm", create_pr=True, api=api)
    assert api.names() == ["create_repo", "upload_folder"]
    assert api.calls[1][2]["create_pr"] is True and api.calls[1][2]["revision"] is None
    with pytest.raises(ConfigError, match="--create-pr"):
        push(copy_two, "me/tm", create_pr=True, revision="dev", api=RecordingApi())


def test_push_to_an_open_pull_request_makes_no_branch(copy_two):
    api = RecordingApi()
    push(copy_two, "me/tm", revision="refs/pr/3", api=api)
    assert api.names() == ["create_repo", "upload_folder"]
    assert api.calls[1][2]["revision"] == "refs/pr/3"


@pytest.mark.parametrize("repo", ["noslash", "a/b/c", "me/", "-x/y", "me/bad name"])
def test_push_rejects_a_bad_repo_id(two, repo):
    api = RecordingApi()
    with pytest.raises(ConfigError, match="--repo"):
        push(two.out, repo, api=api)
    assert api.calls == []


def test_dry_run_contacts_nothing_and_lists_every_file(two, monkeypatch, capsys):
    def no_network(*args, **kwargs):
        raise AssertionError("dry run built an HfApi")

    monkeypatch.setattr("huggingface_hub.HfApi", no_network)
    monkeypatch.setattr(texmnist.repo.push, "_default_api", no_network)
    api = RecordingApi()
    result = push(two.out, "me/tm", dry_run=True, api=api)
    assert api.calls == [] and result.commit_url is None
    assert main(["push", str(two.out), "--repo", "me/tm", "--dry-run"]) == 0
    out = capsys.readouterr().out
    assert "dry run, nothing sent: me/tm" in out and "revision:     main" in out
    for path in _expected_upload(two.out):
        size = (two.out / path).stat().st_size
        assert path in out and (path == "README.md" or f"{size:,}  {path}" in out)


def test_push_refuses_a_folder_that_fails_verify(planted, capsys):
    (planted / "setup.py").write_text("")
    api = RecordingApi()
    with pytest.raises(VerificationFailed, match="fails verification"):
        push(planted, "me/tm", api=api)
    assert api.calls == []
    assert main(["push", str(planted), "--repo", "me/tm"]) == 2
    err = capsys.readouterr().err
    assert "setup.py: a Python file" in err and "texmnist: error:" in err


def test_the_token_never_appears(copy_two, monkeypatch, capsys, caplog):
    monkeypatch.setenv("HF_TOKEN", TOKEN)
    error = RuntimeError(f"401 Unauthorized: header 'Authorization: Bearer {TOKEN}' refused")
    api = RecordingApi(fail=error)
    monkeypatch.setattr(texmnist.repo.push, "_default_api", lambda repo_id: api)
    caplog.set_level(logging.DEBUG)
    assert main(["push", str(copy_two), "--repo", "me/tm"]) == 2
    out, err = capsys.readouterr()
    assert api.names() == ["create_repo"]
    assert TOKEN not in err
    err = err.rsplit("\r", 1)[-1]  # after verification's progress bar
    assert (
        err.startswith("texmnist: error: me/tm: push failed: RuntimeError") and "<redacted>" in err
    )
    assert err.count("\n") == 1
    for text in (out, err, caplog.text, (copy_two / "README.md").read_text()):
        assert TOKEN not in text and "plantedSECRET" not in text
    with pytest.raises(PublishError) as info:
        push(copy_two, "me/tm", api=api)
    assert TOKEN not in str(info.value) and info.value.__suppress_context__


def test_a_permission_error_is_one_clear_line(copy_two):
    error = RuntimeError("403 Forbidden")
    error.response = SimpleNamespace(status_code=403)
    with pytest.raises(PublishError, match=r"^me/tm: permission denied \(HTTP 403\)"):
        push(copy_two, "me/tm", api=RecordingApi(fail=error))


def test_push_without_a_token_says_how_to_log_in(copy_two, monkeypatch, capsys):
    monkeypatch.delenv("HF_TOKEN", raising=False)
    monkeypatch.setattr("huggingface_hub.get_token", lambda: None)
    assert main(["push", str(copy_two), "--repo", "me/tm"]) == 2
    assert "no Hugging Face token; set HF_TOKEN" in capsys.readouterr().err


def test_derived_command_of_a_custom_variant_sets_its_differences():
    recipe = named_config("default", canvas=56, scale=(14, 28), correlation=0.95).recipe()
    got = cardmod.public_command("", "small", recipe)
    assert got.startswith("texmnist build --out <OUT> --config default ")
    for piece in ("--set canvas=56", "--set scale=14,28", "--set correlation=0.95", "--name small"):
        assert piece in got
    assert "--set seed" not in got and "--seed 0" in got


def test_card_takes_measured_effects_and_the_matrix_from_reports(copy_two):
    reports = copy_two / "reports"
    reports.mkdir()
    (reports / "effects.md").write_text(
        "# Measured effects\n\n| a | b |\n| --- | --- |\n| 1 | 2 |\n"
    )
    (reports / "matrix.md").write_text("# The matrix\n\n| m | v |\n| --- | --- |\n| erm | 3 |\n")
    body = cardmod.render_card(copy_two).split("\n---\n", 1)[1]
    section = body.split("## Baseline results", 1)[1].split("\n## ", 1)[0]
    assert section.index("### Measured effects") < section.index("### The matrix")
    assert "| 1 | 2 |" in section and "| erm | 3 |" in section
