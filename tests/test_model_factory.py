"""`--model package.module:factory`: a model defined here trains under every method; each
kind of bad spec is one line before any training."""

from __future__ import annotations

import json

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from test_evaluate import _synthetic  # noqa: E402  (the planted-shortcut data)
from torch import nn  # noqa: E402

from texmnist.evaluate import EvaluateError, evaluate_model, train_model  # noqa: E402
from texmnist.evaluate.factory import build, parameter_count, resolve  # noqa: E402
from texmnist.evaluate.train import METHODS, deterministic  # noqa: E402

pytestmark = pytest.mark.usefixtures("one_torch_thread")

SPEC = f"{__name__}:tiny"


class Tiny(nn.Module):
    """A 3x3 conv, BatchNorm (whose running statistics the shape check must not move),
    global pooling and a classifier named neither head, fc nor classifier."""

    def __init__(self, in_channels: int, num_classes: int):
        super().__init__()
        self.conv = nn.Conv2d(in_channels, 8, 3, padding=1)
        self.norm = nn.BatchNorm2d(8)
        self.out = nn.Linear(8, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.out(torch.relu(self.norm(self.conv(x))).mean((2, 3)))


def tiny(in_channels: int, size: int, num_classes: int) -> nn.Module:
    return Tiny(in_channels, num_classes)


class Factories:
    """Dotted factory names resolve too (`module:Factories.wide`)."""

    @staticmethod
    def wide(in_channels: int, size: int, num_classes: int) -> nn.Module:
        return nn.Sequential(nn.Flatten(), nn.Linear(in_channels * size * size, num_classes))


def not_a_module(in_channels: int, size: int, num_classes: int):
    return "a string"


def wrong_classes(in_channels: int, size: int, num_classes: int) -> nn.Module:
    return nn.Sequential(nn.Flatten(), nn.Linear(in_channels * size * size, num_classes + 1))


def wrong_input(in_channels: int, size: int, num_classes: int) -> nn.Module:
    return nn.Sequential(nn.Flatten(), nn.Linear(size, num_classes))  # ignores the channels


def two_arguments(in_channels: int, size: int) -> nn.Module:
    return tiny(in_channels, size, 10)


NOT_CALLABLE = 3


def test_factory_builds_the_module_and_counts_its_parameters():
    with deterministic(0):
        a = build(SPEC, 1, 28)
    with deterministic(0):
        b = build(SPEC, 1, 28)
    assert isinstance(a, Tiny) and a.training
    # Same seed, same weights; the shape check left BatchNorm's statistics untouched.
    assert all(
        torch.equal(x, y)
        for x, y in zip(a.state_dict().values(), b.state_dict().values(), strict=True)
    )
    assert int(a.norm.num_batches_tracked) == 0 and torch.equal(a.norm.running_mean, torch.zeros(8))
    assert parameter_count(a) == (1 * 8 * 9 + 8) + 2 * 8 + (8 * 10 + 10)
    wide = build(f"{__name__}:Factories.wide", 3, 28)
    assert parameter_count(wide) == 3 * 28 * 28 * 10 + 10


@pytest.mark.parametrize("method", METHODS)
def test_custom_model_trains_under_every_method(method):
    train = _synthetic("correlated", 200, seed=0)
    validation = _synthetic("random", 100, seed=3)
    with deterministic(0):
        net = build(SPEC, 1, 28)
    before = [p.detach().clone() for p in net.parameters()]
    log = train_model(
        net, train, validation=validation, method=method, epochs=1, seed=0, batch_size=32,
        lr=5e-3, progress=False,
    )  # fmt: skip
    assert np.isfinite(log["epoch_loss"]).all()
    assert any(not torch.equal(b, p) for b, p in zip(before, net.parameters(), strict=True))
    result = evaluate_model(net, {"test_correlated": _synthetic("correlated", 100, seed=1)})
    assert 0.0 <= result["acc_test_correlated"]["value"] <= 1.0


BAD_SPECS = {
    "tiny": "is neither one of mlp, cnn, resnet, cnn-global nor package.module:factory",
    ":tiny": "is neither one of",
    f"{__name__}:": "is neither one of",
    "no_such_module_xyz:tiny": "module 'no_such_module_xyz' not found",
    f"{__name__}:missing": f"{__name__!r} has no 'missing'",
    f"{__name__}:NOT_CALLABLE": "is a int, not a callable",
    f"{__name__}:not_a_module": "returned a str, not a torch.nn.Module",
    f"{__name__}:two_arguments": "(1, 28, 10) raised",
    f"{__name__}:wrong_classes": "to [2, 11], expected [2, 10] logits",
    f"{__name__}:wrong_input": "fails on a batch [2, 1, 28, 28]",
}


@pytest.mark.parametrize("spec", BAD_SPECS)
def test_bad_specs_are_one_line(spec):
    with pytest.raises(EvaluateError) as e:
        build(spec, 1, 28)
    message = str(e.value)
    assert message.startswith("--model: ") and "\n" not in message
    assert BAD_SPECS[spec] in message


def test_resolve_reports_an_import_that_fails_inside_the_module(tmp_path, monkeypatch):
    (tmp_path / "broken_models_xyz.py").write_text("import no_such_dependency_xyz\n")
    (tmp_path / "raising_models_xyz.py").write_text("raise RuntimeError('no GPU here')\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    with pytest.raises(EvaluateError, match="importing 'broken_models_xyz' failed: No module"):
        resolve("broken_models_xyz:net")
    with pytest.raises(EvaluateError, match="importing 'raising_models_xyz' failed: no GPU here"):
        resolve("raising_models_xyz:net")


def test_evaluate_cli_trains_the_factory_and_reports_it(fake_sources, tmp_path, capsys):
    from texmnist.cli import main
    from texmnist.generate.config import named_config
    from texmnist.repo.folder import build as build_folder

    mnist, dtd = fake_sources
    repo = tmp_path / "repo"
    build_folder(named_config("default", mnist_dir=str(mnist), dtd_dir=str(dtd)), repo,
                 write_card=False)  # fmt: skip
    common = ["--epochs", "1", "--seeds", "0", "--saliency-examples", "0", "--no-progress"]
    out = tmp_path / "report"
    assert main(["evaluate", str(repo), "--model", SPEC, "--out", str(out), *common]) == 0
    report = json.loads((out / "report.json").read_text())
    assert report["settings"]["model"] == SPEC
    assert report["settings"]["parameters"] == parameter_count(tiny(1, 28, 10))
    text = (out / "report.md").read_text()
    assert SPEC in text and f"{parameter_count(tiny(1, 28, 10)):,} parameters" in text
    capsys.readouterr()
    for spec, expected in (
        ("tiny", "unknown model 'tiny'; choose one of mlp, cnn, resnet, cnn-global, or give"),
        ("no_such_module_xyz:tiny", "module 'no_such_module_xyz' not found"),
        (f"{__name__}:wrong_classes", "expected [2, 10] logits"),
    ):
        bad = tmp_path / "bad" / "report"
        assert main(["evaluate", str(repo), "--model", spec, "--out", str(bad), *common]) == 2
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and expected in err, err
        assert not (tmp_path / "bad").exists()  # nothing half-written
