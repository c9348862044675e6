"""`texmnist evaluate`: training, controls with known answers, saliency, reports, the CLI."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("matplotlib")

from texmnist.cli import main  # noqa: E402
from texmnist.errors import ConfigError  # noqa: E402
from texmnist.evaluate import (  # noqa: E402
    EvaluateError,
    MissingDependencyError,
    build_model,
    evaluate_model,
    require,
    train_model,
)
from texmnist.evaluate.data import deterministic  # noqa: E402
from texmnist.evaluate.report import run_report  # noqa: E402
from texmnist.evaluate.saliency import (  # noqa: E402
    background_share,
    saliency_metrics,
    topk_iou,
)
from texmnist.evaluate.sweep import run_sweep  # noqa: E402
from texmnist.generate.config import named_config  # noqa: E402
from texmnist.repo.arrays import load_arrays  # noqa: E402
from texmnist.repo.folder import build  # noqa: E402

SPLITS = ("train", "test_correlated", "test_random", "test_no_background")


@pytest.fixture(scope="module")
def repo(fake_sources, tmp_path_factory):
    mnist, dtd = fake_sources
    out = tmp_path_factory.mktemp("evaluate") / "repo"
    build(named_config("default", mnist_dir=str(mnist), dtd_dir=str(dtd)), out, write_card=False)
    return out


@pytest.fixture(scope="module")
def data(repo):
    return {s: load_arrays(repo, "default", s) for s in SPLITS}


def _trained(data, seed: int, method: str = "erm", model: str = "cnn"):
    with deterministic(seed):
        net = build_model(model, 1, 28)
    train_model(net, data["train"], method=method, epochs=1, seed=seed, progress=False)
    return net


def _values(result: dict) -> dict:
    return {k: v["value"] for k, v in result.items() if isinstance(v, dict) and "value" in v}


# -- end to end, determinism ---------------------------------------------------------


def test_train_and_evaluate_end_to_end(data):
    result = evaluate_model(_trained(data, 0), data)
    for key in ("acc_test_correlated", "acc_test_random", "bg_gap", "bg_follow", "acc_wg"):
        assert key in result
    assert result["acc_test_random"]["n"] == len(data["test_random"]["label"])
    assert result["bg_gap"]["paired"] is True


def test_same_seed_same_weights_and_metrics(data):
    a, b = _trained(data, 3), _trained(data, 3)
    for (name, pa), (_, pb) in zip(a.state_dict().items(), b.state_dict().items(), strict=True):
        assert torch.equal(pa, pb), name
    assert _values(evaluate_model(a, data)) == _values(evaluate_model(b, data))
    c = _trained(data, 4)
    assert not torch.equal(a.head.weight, c.head.weight)


@pytest.mark.parametrize("method", ["balanced", "groupdro", "dfr"])
def test_mitigation_methods_run(data, method):
    net = _trained(data, 0, method=method, model="mlp")
    assert "acc_test_random" in evaluate_model(net, data)


@pytest.mark.parametrize("model", ["mlp", "cnn", "resnet", "cnn-global"])
@pytest.mark.parametrize("channels,size", [(1, 28), (3, 56)])
def test_models_take_any_channels_and_canvas(model, channels, size):
    logits = build_model(model, channels, size)(torch.zeros(2, channels, size, size))
    assert logits.shape == (2, 10)


def _blob_logits(name: str, placements: list[tuple[int, int, int]]) -> list[torch.Tensor]:
    """Logits of one model (seed 0, eval mode) for the same 14 px blob at (row, col) on an
    otherwise empty canvas of each size; the last entry: an empty canvas."""
    blob = torch.rand(14, 14, generator=torch.Generator().manual_seed(0))
    torch.manual_seed(0)
    net = build_model(name, 1, 112).eval()
    images = []
    for size, r, c in placements:
        x = torch.zeros(1, 1, size, size)
        x[..., r : r + 14, c : c + 14] = blob
        images.append(x)
    with torch.no_grad():
        return [net(x) for x in images] + [net(torch.zeros(1, 1, 112, 112))]


def test_global_cnn_finds_a_small_digit_wherever_it_sits_however_large_the_canvas():
    # Moved by a multiple of the total stride (8), a receptive field (~39 px) from the border:
    # a global pool sees the same responses, the `cnn`'s fixed 7x7 pooling grid does not.
    # On a canvas 4x the area: the global *max* still does, where the ResNet's global average
    # dilutes the blob's units among the empty canvas's. Why the `sizes` sweeps use cnn-global.
    for name, moved, wider in (("cnn-global", True, True), ("cnn", False, None),
                               ("resnet", None, False)):  # fmt: skip
        here, there, big, empty = _blob_logits(name, [(112, 32, 32), (112, 56, 48), (224, 32, 32)])
        assert not torch.allclose(here, empty, atol=1e-4), name  # the blob changes the logits
        if moved is not None:
            assert torch.allclose(here, there, atol=1e-5) is moved, name
        if wider is not None:
            assert torch.allclose(here, big, atol=1e-5) is wider, name


def test_unknown_method_and_model_are_one_line_errors():
    with pytest.raises(EvaluateError, match="--method"):
        train_model(build_model("mlp", 1, 28), {}, method="nope")
    with pytest.raises(EvaluateError, match="--model"):
        build_model("vgg", 1, 28)


# -- controls with known answers -----------------------------------------------------


def _texture(k: int, size: int = 28) -> np.ndarray:
    """Class k's texture: full-contrast stripes, k // 2 + 1 px wide, vertical for odd k,
    horizontal for even k, on a class-specific gray level."""
    y, x = np.mgrid[:size, :size]
    stripes = ((x if k % 2 else y) // (k // 2 + 1)) % 2
    return (10 * k + 150 * stripes).astype(np.uint8)


def _glyph(k: int, size: int = 28) -> np.ndarray:
    """Digit stand-in for class k: a bright bar at a class-specific row and column band."""
    mask = np.zeros((size, size), dtype=bool)
    mask[4 + 2 * k : 6 + 2 * k, 6:22] = True
    mask[6:22, 4 + 2 * k : 6 + 2 * k] = True
    return mask


def _synthetic(kind: str, n: int, seed: int, faint: bool = False) -> dict[str, np.ndarray]:
    """n examples: `shortcut` (texture = label, glyph of a random class), `plain` (glyph
    only), `correlated` or `random` (glyph = label over its own or another class's texture)."""
    rng = np.random.default_rng(seed)
    label = np.arange(n) % 10
    texture = label.copy()
    glyph = label.copy()
    if kind == "random":
        texture = (label + rng.integers(1, 10, size=n)) % 10
    if kind == "shortcut":
        glyph = rng.integers(0, 10, size=n)
    images = np.zeros((n, 28, 28), dtype=np.uint8)
    masks = np.zeros((n, 28, 28), dtype=bool)
    for i in range(n):
        if kind != "plain":
            tex = _texture(int(texture[i]))
            images[i] = tex // 8 if faint else tex
        masks[i] = _glyph(int(glyph[i]))
        images[i][masks[i]] = 255
    if kind == "plain":
        texture = np.full(n, 10)
    return {
        "image": images,
        "mask": masks,
        "label": label,
        "texture": texture,
        "mnist_index": np.arange(n),
    }


def test_planted_background_shortcut_is_followed():
    """Trained where only the texture carries the label, the model reads test_random's
    background, not the digit."""
    train = _synthetic("shortcut", 400, seed=0)
    test = {
        "test_correlated": _synthetic("correlated", 300, seed=1),
        "test_random": _synthetic("random", 300, seed=2),
    }
    with deterministic(0):
        net = build_model("cnn", 1, 28)
    train_model(net, train, epochs=4, seed=0, batch_size=32, lr=5e-3, progress=False)
    result = evaluate_model(net, test)
    assert result["bg_follow"]["value"] > 0.9
    assert result["acc_test_random"]["value"] < 0.1
    assert result["bg_gap"]["ci"][0] > 0.5


def test_digit_only_model_has_no_background_gap():
    """Trained on plain digits, agreeing and conflicting backgrounds score alike."""
    train = _synthetic("plain", 400, seed=0)
    test = {
        "test_correlated": _synthetic("correlated", 300, seed=1, faint=True),
        "test_random": _synthetic("random", 300, seed=1, faint=True),
    }
    with deterministic(0):
        net = build_model("cnn", 1, 28)
    train_model(net, train, epochs=4, seed=0, batch_size=32, lr=5e-3, progress=False)
    gap = evaluate_model(net, test)["bg_gap"]
    assert gap["ci"][0] <= 0 <= gap["ci"][1]


# -- saliency -------------------------------------------------------------------------


def test_planted_saliency_on_the_mask_scores_iou_one():
    rng = np.random.default_rng(0)
    mask = np.zeros((3, 28, 28), dtype=bool)
    mask[:, 8:20, 10:14] = True
    saliency = np.where(mask, 1.0 + rng.random(mask.shape), 0.01 * rng.random(mask.shape))
    assert np.allclose(topk_iou(saliency, mask), 1.0)
    off = np.where(mask, 0.0, 1.0)
    assert np.allclose(topk_iou(off, mask), 0.0)
    assert np.allclose(background_share(np.where(mask, 1.0, 0.0), mask), 0.0)
    assert np.allclose(background_share(off, mask), 1.0)
    assert np.isnan(topk_iou(saliency, np.zeros_like(mask))).all()


def test_saliency_metrics_for_cnn_and_mlp(data):
    cnn = saliency_metrics(_trained(data, 0), data, max_examples=8)
    assert {"grad_bg_test_random", "grad_iou_test_random", "cam_iou_test_random"} <= set(cnn)
    assert 0 <= cnn["grad_bg_test_random"]["value"] <= 1
    mlp = saliency_metrics(_trained(data, 0, model="mlp"), data, max_examples=8)
    assert "cam_bg_test_random" not in mlp and "grad_bg_test_random" in mlp


# -- reports and the CLI ---------------------------------------------------------------


def test_cli_evaluate_writes_the_four_files(repo, tmp_path, capsys):
    out = tmp_path / "report"
    argv = ["evaluate", str(repo), "--epochs", "1", "--seeds", "0,1", "--out", str(out)]
    assert main([*argv, "--saliency-examples", "8", "--no-progress", "--model", "mlp"]) == 0
    for name in ("report.json", "report.md", "accuracy.png", "saliency.png"):
        assert (out / name).stat().st_size > 0, name
    report = json.loads((out / "report.json").read_text())
    assert report["data"]["fingerprint"]
    assert report["settings"]["seeds"] == [0, 1]
    assert {"torch", "numpy", "datasets", "texmnist"} <= set(report["versions"])
    assert report["summary"]["bg_gap"]["n_seeds"] == 2
    assert "| bg_gap |" in (out / "report.md").read_text()


def test_cli_evaluate_errors_are_one_line(repo, tmp_path, capsys):
    out = str(tmp_path / "r")
    assert main(["evaluate", str(repo), "--out", out, "--method", "nope"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("texmnist: error: --method") and "\n" not in err
    assert main(["evaluate", str(repo), "--out", out, "--config", "groups"]) == 2
    assert "groups" in capsys.readouterr().err


def test_missing_dependency_names_the_extra():
    with pytest.raises(MissingDependencyError, match=r"textured-mnist\[eval\]"):
        require("surely_not_an_installed_module")


@pytest.fixture(scope="module")
def sizes_repo(fake_sources, tmp_path_factory):
    mnist, dtd = fake_sources
    repo = tmp_path_factory.mktemp("sizes") / "repo"
    config = named_config(
        "sizes", mnist_dir=str(mnist), dtd_dir=str(dtd), validation_size=20, counterfactual_size=5
    )
    build(config, repo)  # the card declares the config for load_dataset
    return repo


SWEEP_KWARGS = dict(model="mlp", epochs=1, seeds=(0, 1), saliency_examples=0, progress=False)


def test_scale_sweep_per_level_trains_one_model_per_level(sizes_repo, tmp_path, capsys):
    result = run_sweep(sizes_repo, "scale", tmp_path / "sweep", **SWEEP_KWARGS)
    assert "Loading sizes" not in capsys.readouterr().err  # progress=False hides every bar
    assert [p["x"] for p in result["points"]] == [14, 21, 28]
    assert result["design"] == "per-level"
    train_scales = load_arrays(sizes_repo, "sizes", "train")["scale"]
    for point in result["points"]:
        assert point["design"] == "per-level"
        for metric in ("bg_gap", "bg_flip", "acc_no_background"):
            assert point[metric]["n_seeds"] == 2 and len(point[metric]["ci"]) == 2
        assert point["interpretable"] == (point["acc_no_background"]["mean"] >= 0.5)
        report = json.loads(
            (tmp_path / "sweep" / f"scale-{point['x']}" / "report.json").read_text()
        )
        # the level's model saw only that level's training rows
        assert report["data"]["splits"]["train"] == int((train_scales == point["x"]).sum())
    saved = json.loads((tmp_path / "sweep" / "sweep.json").read_text())
    assert [p["name"] for p in saved["points"]] == ["scale=14", "scale=21", "scale=28"]
    text = (tmp_path / "sweep" / "sweep.md").read_text()
    assert "| 14 | scale=14 |" in text and "95% t-interval" in text
    assert (tmp_path / "sweep" / "sweep.png").is_file()


def test_position_sweep_pooled_reads_per_level_keys_of_one_model(sizes_repo, tmp_path):
    result = run_sweep(sizes_repo, "position", tmp_path / "p", design="pooled", **SWEEP_KWARGS)
    assert [p["x"] for p in result["points"]] == ["center", "corner"]
    report = json.loads((tmp_path / "p" / "pooled" / "report.json").read_text())
    for point in result["points"]:
        key = f"bg_gap_position_{point['x']}"
        assert point["bg_gap"]["mean"] == report["summary"][key]["mean"]
        assert point["design"] == "pooled"
    assert not (tmp_path / "p" / "position-center").exists()


def test_sweep_point_flags_a_model_that_did_not_learn_the_object():
    from texmnist.evaluate.sweep import _point

    def entry(mean):
        return {"mean": mean, "ci": [mean - 0.1, mean + 0.1], "n_seeds": 3, "values": [mean]}

    low = _point(14, "scale=14", {"bg_gap": entry(0.3), "acc_no_background": entry(0.49)}, "x")
    high = _point(28, "scale=28", {"bg_gap": entry(0.1), "acc_no_background": entry(0.5)}, "x")
    assert low["interpretable"] is False and high["interpretable"] is True
    assert low["bg_flip"] is None


def test_sweep_needs_the_sizes_config(repo, tmp_path):
    with pytest.raises(ConfigError, match="no 'sizes' config"):
        run_sweep(repo, "scale", tmp_path / "s", **SWEEP_KWARGS)
    assert not (tmp_path / "s").exists()


def test_dfr_uses_the_validation_split(fake_sources, tmp_path):
    mnist, dtd = fake_sources
    repo = tmp_path / "repo"
    config = named_config("groups", mnist_dir=str(mnist), dtd_dir=str(dtd), validation_size=20)
    build(config, repo)  # the card declares the config for load_dataset
    kwargs = {**SWEEP_KWARGS, "seeds": (0,), "method": "dfr"}
    report = run_report(repo, "groups", tmp_path / "dfr", **kwargs)
    assert report["runs"][0]["train_log"]["selection_data"]["source"] == "validation"
    assert report["selection"]["data"] == {"source": "validation", "n": 20}
    assert "bg_gap_scale_14" in report["summary"]  # groups: per-scale keys from group names


def test_core_modules_do_not_import_torch():
    code = (
        "import sys, texmnist.cli, texmnist.repo.arrays, texmnist.evaluate.metrics;"
        "import texmnist.evaluate;"
        "assert 'torch' not in sys.modules, 'torch imported'"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_report_carries_counterfactual_metrics_and_heatmap(sizes_repo, tmp_path):
    report = run_report(sizes_repo, "sizes", tmp_path / "r", **SWEEP_KWARGS)
    summary = report["summary"]
    for key in ("bg_flip", "cf_flip", "cf_consistent", "cf_attraction", "cf_acc_bg_0"):
        assert summary[key]["n_seeds"] == 2 and summary[key]["ci_kind"] == "t over seeds"
    matrix = report["runs"][0]["cf_attraction"]["matrix"]
    assert len(matrix) == 10 and all(matrix[i][i] is None for i in range(10))
    text = (tmp_path / "r" / "report.md").read_text()
    assert "## Counterfactual backgrounds" in text and "| cf_attraction |" in text
    assert "## Per digit scale (px)" in text and "| bg_gap_scale_14 |" in text
    assert (tmp_path / "r" / "attraction.png").stat().st_size > 1000
