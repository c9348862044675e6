"""Custom variants: `build --config BASE --set KEY=VALUE --name NAME`, and the Python route."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from conftest import N_TEST, N_TRAIN
from PIL import Image

from texmnist.cli import main
from texmnist.dataset.builder import TexturedMNIST
from texmnist.errors import ConfigError
from texmnist.generate.config import TexturedMNISTConfig, custom_config, parse_settings
from texmnist.generate.recipe import BOX_COLUMNS
from texmnist.repo.folder import build, builder_for
from texmnist.repo.meta import read_metadata
from texmnist.repo.verify import verify

VARIANT = ["--config", "default", "--set", "canvas=56,scale=18", "--set", "position=corner"]


def _build_argv(out: Path, sources, *extra: str) -> list[str]:
    mnist, dtd = sources
    return ["build", "--out", str(out), "--mnist-dir", str(mnist), "--dtd-dir", str(dtd),
            "--no-download", *extra]  # fmt: skip


@pytest.fixture(scope="module")
def variant(fake_sources, tmp_path_factory) -> Path:
    """A folder holding `default` and the custom variant `corner18`."""
    out = tmp_path_factory.mktemp("variant") / "repo"
    assert main(_build_argv(out, fake_sources)) == 0
    assert main(_build_argv(out, fake_sources, *VARIANT, "--name", "corner18")) == 0
    return out


# -- parsing --set ---------------------------------------------------------------


def test_set_values_are_typed_by_the_parameter():
    settings = parse_settings(
        ["canvas=56", "scale=14,28", "position=corner", "correlation=0.95", "groups=true",
         "max_train=none", "categories=" + ",".join(["dotted"] * 10)]
    )  # fmt: skip
    assert settings == {
        "canvas": 56,
        "scale": (14, 28),
        "position": ("corner",),
        "correlation": 0.95,
        "groups": True,
        "max_train": None,
        "categories": ("dotted",) * 10,
    }


def test_several_settings_in_one_item_and_lists_inside_it():
    assert parse_settings(["canvas=56,scale=14,21,28,position=center,corner"]) == {
        "canvas": 56,
        "scale": (14, 21, 28),
        "position": ("center", "corner"),
    }


@pytest.mark.parametrize(
    ("items", "message"),
    [
        (["canvs=56"], "--set: unknown parameter 'canvs'; valid parameters: seed, source, "),
        (["mnist_dir=x"], "--set: unknown parameter 'mnist_dir'; valid parameters: "),
        (["canvas"], "--set: expected KEY=VALUE, got 'canvas'"),
        (["canvas=56", "canvas=28"], "--set: canvas given twice"),
    ],
)
def test_bad_set_items(items, message):
    with pytest.raises(ConfigError) as info:
        parse_settings(items)
    assert str(info.value).startswith(message)
    assert "\n" not in str(info.value)


@pytest.mark.parametrize(
    ("item", "message"),
    [
        ("canvas=big", "canvas: expected an integer, got 'big'"),
        ("canvas=2000", "canvas: must be in [8, 1024], got 2000"),
        ("scale=14,x", "scale: expected an integer, got 'x'"),
        ("correlation=1.5", "correlation: must be in [0.0, 1.0], got 1.5"),
        ("groups=maybe", "groups: expected true or false, got 'maybe'"),
        ("position=left", "position: must be one of center, corner, random; got 'left'"),
    ],
)
def test_bad_values_get_the_validators_message(item, message):
    with pytest.raises(ConfigError) as info:
        custom_config("default", parse_settings([item]), "x")
    assert str(info.value) == message


def test_name_is_required_when_a_set_changes_the_named_config():
    with pytest.raises(ConfigError, match=r"^--name: required: --set canvas changes"):
        custom_config("rgb", {"canvas": 56})
    # Parameters the build options always varied keep the name; a no-op --set too.
    assert custom_config("rgb", {"seed": 3, "color": "rgb"}).name == "rgb"


@pytest.mark.parametrize("name", ["rgb", "Default", "groups"])
def test_a_name_that_shadows_a_named_config_is_refused(name):
    with pytest.raises(ConfigError, match=rf"^--name {name}: shadows the named config"):
        custom_config("default", {"canvas": 56}, name)


@pytest.mark.parametrize("name", ["a/b", "-x", "x" * 65, "data", "images", "all", "new variant"])
def test_names_that_cannot_be_a_hub_config_folder(name):
    with pytest.raises(ConfigError, match=r"^config name "):
        custom_config("default", {"canvas": 56}, name)


def test_cli_error_lines(tmp_path, fake_sources, capsys):
    out = tmp_path / "repo"
    cases = [
        (["--set", "colour=rgb", "--name", "v"], "texmnist: error: --set: unknown parameter"),
        (["--set", "canvas=7", "--name", "v"], "texmnist: error: canvas: must be in [8, 1024]"),
        (["--set", "canvas=56", "--name", "rgb"], "texmnist: error: --name rgb: shadows"),
        (["--config", "default,rgb", "--set", "canvas=56"], "texmnist: error: --set/--name:"),
    ]
    for extra, start in cases:
        assert main(_build_argv(out, fake_sources, *extra)) == 2
        err = capsys.readouterr().err
        assert err.startswith(start) and err.count("\n") == 1, err
    assert not out.exists()


# -- the variant travels like a named config ---------------------------------------


def test_recipe_is_recorded_in_texmnist_json(variant):
    entry = read_metadata(variant)["configs"]["corner18"]
    recipe = entry["recipe"]
    assert (recipe["canvas"], recipe["scale"], recipe["position"]) == (56, [18], ["corner"])
    assert recipe["color"] == "gray" and recipe["correlation"] == 1.0
    assert (
        entry["description"] == "Custom variant of `default`: canvas=56, scale=18, position=corner."
    )
    assert entry["splits"]["train"]["num_examples"] == N_TRAIN
    assert entry["splits"]["test_random"]["num_examples"] == N_TEST


def test_images_are_the_variant(variant):
    entry = read_metadata(variant)["configs"]["corner18"]
    table = pq.read_table(variant / entry["splits"]["test_no_background"]["files"][0])
    row = table.slice(0, 1).to_pylist()[0]
    image = Image.open(io.BytesIO(row["image"]["bytes"]))
    assert image.size == (56, 56)
    x0, y0, x1, y1 = (row[c] for c in BOX_COLUMNS)
    assert (x1 - x0, y1 - y0) == (18, 18) and row["scale"] == 18
    # corner: the box touches one of the four corners of the canvas
    assert x0 in (0, 56 - 18) and y0 in (0, 56 - 18)


def test_card_shows_the_difference_from_default(variant):
    card = (variant / "README.md").read_text()
    section = card.split("### Configuration `corner18`", 1)[1].split("Parquet files in", 1)[0]
    rows = [line for line in section.splitlines() if line.startswith("| `")]
    assert rows == [
        "| `canvas` | `56` | image side, px |",
        "| `scale` | `18` | digit side(s), px |",
        "| `position` | `corner` | digit placement(s) |",
    ]
    assert "as in the named config `default`" in section
    assert "--set canvas=56,scale=18 --set position=corner --name corner18" in card


def test_verify_preview_and_push_dry_run_work_on_it(variant, tmp_path, capsys):
    assert verify(variant) == []
    png = tmp_path / "corner18.png"
    assert main(["preview", str(variant), "--config", "corner18", "--out", str(png)]) == 0
    assert Image.open(png).size[0] > 0
    assert main(["push", str(variant), "--repo", "someone/tm", "--dry-run"]) == 0
    plan = capsys.readouterr().out
    assert "corner18/train-00000-of-00001.parquet" in plan
    assert "images/preview-corner18.png" in plan


def test_rebuilding_with_the_same_set_values_gives_the_same_fingerprint(
    variant, tmp_path, fake_sources
):
    again = tmp_path / "again"
    argv = ["--config", "default", "--set", "position=corner,scale=18", "--set", "canvas=56"]
    assert main(_build_argv(again, fake_sources, *argv, "--name", "corner18")) == 0
    first = read_metadata(variant)["configs"]["corner18"]["fingerprint"]
    assert read_metadata(again)["configs"]["corner18"]["fingerprint"] == first
    assert first != read_metadata(variant)["configs"]["default"]["fingerprint"]


def test_evaluate_works_on_it(variant, tmp_path, capsys):
    pytest.importorskip("torch")
    pytest.importorskip("matplotlib")
    out = tmp_path / "report"
    argv = ["evaluate", str(variant), "--config", "corner18", "--model", "mlp", "--epochs", "1",
            "--seeds", "0", "--out", str(out), "--saliency-examples", "0",
            "--no-progress"]  # fmt: skip
    assert main(argv) == 0
    report = json.loads((out / "report.json").read_text())
    assert report["data"]["config"] == "corner18"
    assert report["data"]["recipe"]["canvas"] == 56


# -- Python -------------------------------------------------------------------------


def test_python_custom_config_builds_and_the_builder_accepts_it(tmp_path, fake_sources):
    mnist, dtd = fake_sources
    config = TexturedMNISTConfig(
        name="sizes", canvas=56, scale=(14, 28), mnist_dir=str(mnist), dtd_dir=str(dtd)
    )
    builder = TexturedMNIST(cache_dir=str(tmp_path / "cache"), config=config)
    assert (builder.config.name, builder.config.canvas, builder.config.scale) == (
        "sizes",
        56,
        (14, 28),
    )
    assert builder_for(config, tmp_path / "cache2").config.scale == (14, 28)
    result = build(config, tmp_path / "repo")
    assert result.config == "sizes"
    assert read_metadata(tmp_path / "repo")["configs"]["sizes"]["recipe"]["scale"] == [14, 28]


def test_a_custom_copy_of_default_has_defaults_data(tmp_path, fake_sources):
    """Under another name the same recipe gives the same rows: the name is not data."""
    mnist, dtd = fake_sources
    named = build(TexturedMNISTConfig(mnist_dir=str(mnist), dtd_dir=str(dtd)), tmp_path / "a")
    copy = build(
        TexturedMNISTConfig(name="copy", mnist_dir=str(mnist), dtd_dir=str(dtd)), tmp_path / "b"
    )
    assert copy.fingerprint == named.fingerprint


# -- failures leave nothing -------------------------------------------------------------


@pytest.mark.parametrize(
    ("data", "extra", "message"),
    [
        (None, ["--config", "nope"], "config 'nope' is not built there"),
        (None, ["--epochs", "0"], "--epochs: must be >= 1"),
        (None, ["--model", "vit"], "--model: unknown model 'vit'"),
        ("does-not-exist", [], "does-not-exist: no such folder, and not a Hub dataset id"),
    ],
)
def test_a_failed_evaluate_leaves_no_report_folder(variant, tmp_path, capsys, data, extra, message):
    pytest.importorskip("torch")
    pytest.importorskip("matplotlib")
    out = tmp_path / "reports" / "run"
    argv = ["evaluate", data or str(variant), "--out", str(out), "--seeds", "0", "--epochs", "1",
            "--model", "mlp", "--saliency-examples", "0", "--no-progress", *extra]  # fmt: skip
    assert main(argv) == 2
    assert message in capsys.readouterr().err
    assert list(tmp_path.iterdir()) == []  # not even reports/


def test_a_failed_evaluate_keeps_a_folder_that_was_there(variant, tmp_path, capsys):
    pytest.importorskip("torch")
    pytest.importorskip("matplotlib")
    (tmp_path / "mine.txt").write_text("keep")
    argv = ["evaluate", str(variant), "--out", str(tmp_path), "--config", "nope", "--seeds", "0"]
    assert main(argv) == 2
    assert [p.name for p in tmp_path.iterdir()] == ["mine.txt"]


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ("nowhere", "nowhere: no such folder, and not a Hub dataset id (USER/NAME) either"),
        ("a/b/c", "a/b/c: no such folder, and not a Hub dataset id (USER/NAME) either"),
    ],
)
def test_data_that_is_neither_a_folder_nor_a_repo_id(data, message):
    from texmnist.repo.arrays import DataError, split_names

    with pytest.raises(DataError) as info:
        split_names(data, "default")
    assert str(info.value) == message


def test_data_naming_a_file(tmp_path):
    from texmnist.repo.arrays import DataError, load_split

    path = tmp_path / "file.parquet"
    path.write_bytes(b"")
    with pytest.raises(DataError, match="file.parquet: is a file, not a folder"):
        load_split(path, "default", "train")


# -- quick start ------------------------------------------------------------------------


def test_readme_opens_with_the_two_commands_and_ci_runs_the_second():
    root = Path(__file__).resolve().parents[1]
    readme = (root / "README.md").read_text()
    first_block = readme.split("```bash\n", 1)[1].split("```", 1)[0]
    assert first_block.splitlines() == [
        "pip install -e . && texmnist build --out textured-mnist",
        'pip install -e ".[test]" && python -m pytest -q',
    ]
    ci = (root / ".ci" / "run").read_text().splitlines()
    assert first_block.splitlines()[1] in ci
