"""The training harness against answers known another way: GroupDRO's weights on a
hand-made two-group problem, input-gradient saliency against finite differences, DFR's
head against an independently solved L1 logistic regression, and the small helpers."""

from __future__ import annotations

import math

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from torch import nn  # noqa: E402

import texmnist.evaluate.loop as loop_mod  # noqa: E402
from texmnist.evaluate import EvaluateError, build_model  # noqa: E402
from texmnist.evaluate.data import (  # noqa: E402
    deterministic,
    group_ids,
    held_out_split,
    image_tensor,
    subset,
    worst_group_acc,
)
from texmnist.evaluate.dfr import balanced_index, refit_last_layer  # noqa: E402
from texmnist.evaluate.groups import group_dro_loss  # noqa: E402
from texmnist.evaluate.models import cam_layer, last_linear  # noqa: E402
from texmnist.evaluate.predict import predict  # noqa: E402
from texmnist.evaluate.saliency import input_gradients, saliency_maps  # noqa: E402
from texmnist.evaluate.settings import TrainSettings  # noqa: E402
from texmnist.evaluate.train import train_model  # noqa: E402
from texmnist.generate.splits import NONE_TEXTURE  # noqa: E402

# -- GroupDRO ----------------------------------------------------------------------------


def test_group_dro_step_by_hand():
    """Group 0 has mean loss 1, group 1 mean loss 3, group 2 is absent from the batch."""
    per_example = torch.tensor([0.5, 1.5, 3.0], dtype=torch.float64, requires_grad=True)
    groups = torch.tensor([0, 0, 1])
    q = torch.tensor([0.25, 0.25, 0.5], dtype=torch.float64)
    loss, q_new = group_dro_loss(per_example, groups, q, eta=0.5)
    raw = np.array([0.25 * math.exp(0.5 * 1.0), 0.25 * math.exp(0.5 * 3.0), 0.5])
    expected_q = raw / raw.sum()
    assert np.allclose(q_new.numpy(), expected_q, rtol=1e-12)
    assert q_new[1] > q[1] and q_new[0] < q[0]  # towards the worst group
    assert loss.item() == pytest.approx(expected_q[0] * 1.0 + expected_q[1] * 3.0, rel=1e-12)
    loss.backward()  # each example weighs q of its group over the group's batch count
    expected_grad = [expected_q[0] / 2, expected_q[0] / 2, expected_q[1]]
    assert np.allclose(per_example.grad.numpy(), expected_grad, rtol=1e-12)


def _two_groups(n_major: int = 40, n_minor: int = 8):
    """4x4 images: the majority's label follows pixel 0; the minority's is the opposite, so
    no linear model fits both and the minority stays the high-loss group."""
    rng = np.random.default_rng(0)
    n = n_major + n_minor
    label = rng.integers(0, 2, n)
    images = rng.integers(0, 40, (n, 4, 4)).astype(np.uint8)
    cue = np.where(np.arange(n) < n_major, label, 1 - label)
    images[:, 0, 0] = np.where(cue == 1, 255, 0)
    group = np.array(["major"] * n_major + ["minor"] * n_minor, dtype=object)
    return {"image": images, "label": label.astype(np.int64), "group": group}


def _linear(d: int = 16, k: int = 2) -> nn.Module:
    with deterministic(0):
        return nn.Sequential(nn.Flatten(), nn.Linear(d, k))


def test_group_dro_training_moves_weight_to_the_worst_group(monkeypatch):
    seen = []

    def spy(per_example, groups, q, eta):
        loss, q_new = group_dro_loss(per_example, groups, q, eta)
        seen.append(q_new.detach().clone())
        return loss, q_new

    monkeypatch.setattr(loop_mod, "group_dro_loss", spy)
    data = _two_groups()
    log = train_model(_linear(), data, method="groupdro", epochs=5, batch_size=8, lr=0.05,
                      groupdro_eta_grid=(0.5,), weight_decay=1e-3, patience=None,
                      validation=data, progress=False)  # fmt: skip
    assert log["tuned"] == {"groupdro_eta": 0.5, "weight_decay": 1e-3}
    assert len(seen) == 5 * 6  # every batch of every epoch took the GroupDRO step
    names = group_ids(data)[1]
    minor = names.index("minor")
    assert seen[0][minor] > 0.5  # one step already favours the worse group
    assert seen[-1][minor] > seen[0][minor] > 0.5
    assert all(abs(float(q.sum()) - 1) < 1e-6 for q in seen)


def test_other_methods_do_not_take_the_group_dro_step(monkeypatch):
    def refuse(*args):
        raise AssertionError("GroupDRO step outside groupdro")

    monkeypatch.setattr(loop_mod, "group_dro_loss", refuse)
    for method in ("erm", "balanced"):
        log = train_model(_linear(), _two_groups(), method=method, epochs=1, progress=False)
        assert len(log["epoch_loss"]) == 1 and log["train_examples"] == 48 - 5
        assert log["selection_data"] == {"source": "held-out 10% of train", "share": 0.1, "n": 5}


def test_balanced_sampling_draws_groups_equally(monkeypatch):
    """Group-balanced batches: the 8-example minority is drawn as often as the majority."""
    drawn = []
    real = torch.multinomial

    def spy(weights, n, replacement, generator):
        out = real(weights, n, replacement=replacement, generator=generator)
        drawn.append(out)
        return out

    monkeypatch.setattr(loop_mod.torch, "multinomial", spy)
    data = _two_groups()
    train_model(_linear(), data, method="balanced", epochs=40, patience=None, validation=data,
                progress=False)  # fmt: skip
    minor = (torch.cat(drawn) >= 40).double().mean().item()
    n = 40 * 48
    assert abs(minor - 0.5) <= 5 * math.sqrt(0.25 / n)


# -- saliency ----------------------------------------------------------------------------


def test_input_gradients_equal_finite_differences():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Flatten(), nn.Linear(2 * 3 * 3, 4), nn.Tanh(), nn.Linear(4, 3))
    model = model.double()
    x = torch.rand(2, 2, 3, 3, dtype=torch.float64)
    target = torch.tensor([2, 0])
    got = input_gradients(model, x, target)
    eps = 1e-6
    estimate = torch.zeros(2, 2, 3, 3, dtype=torch.float64)
    with torch.no_grad():
        for idx in np.ndindex(2, 3, 3):
            step = torch.zeros_like(x)
            step[(slice(None), *idx)] = eps
            plus = model(x + step).gather(1, target[:, None])[:, 0]
            minus = model(x - step).gather(1, target[:, None])[:, 0]
            estimate[(slice(None), *idx)] = (plus - minus) / (2 * eps)
    expected = estimate.abs().amax(1)  # max over channels
    assert got.shape == (2, 3, 3)
    assert torch.allclose(got, expected, atol=1e-8)


def test_gradient_saliency_of_a_linear_model_is_its_weights():
    """For logits W x + b the input gradient of class c is row c of W, whatever the image."""
    model = _linear(16, 3)
    weight = last_linear(model).weight.detach().numpy()
    rng = np.random.default_rng(1)
    images = rng.integers(0, 256, (5, 4, 4)).astype(np.uint8)
    maps = saliency_maps(model, images, device="cpu")
    pred = (images.reshape(5, -1) / 255.0) @ weight.T + last_linear(model).bias.detach().numpy()
    assert np.array_equal(maps["pred"], pred.argmax(1))
    expected = np.abs(weight[pred.argmax(1)]).reshape(5, 4, 4)
    assert np.allclose(maps["grad"], expected, atol=1e-6)
    assert "cam" not in maps  # no conv layer


# -- DFR ---------------------------------------------------------------------------------


def _ista(z: np.ndarray, y: np.ndarray, c: float, k: int, iterations: int = 20000):
    """min ||W||_1 + C sum CE(z W^T + b, y), by plain proximal gradient in NumPy."""
    n, d = z.shape
    onehot = np.eye(k)[y]
    w, b = np.zeros((k, d)), np.zeros(k)
    step = 1.0 / (np.linalg.norm(np.c_[z, np.ones(n)], 2) ** 2 / n)
    lam = 1.0 / (c * n)
    for _ in range(iterations):
        logits = z @ w.T + b
        p = np.exp(logits - logits.max(1, keepdims=True))
        p /= p.sum(1, keepdims=True)
        g = (p - onehot) / n
        w = w - step * (g.T @ z)
        w = np.sign(w) * np.maximum(np.abs(w) - step * lam, 0)
        b = b - step * g.sum(0)
    return w, b


def test_dfr_head_reproduces_the_logistic_regression():
    """Held-out groups of equal size (so every balanced subset is all of it) and one C: the
    refit head must be the L1 logistic regression on the standardised embeddings."""
    rng = np.random.default_rng(3)
    n = 24
    label = np.tile([0, 1, 2], 8)
    images = rng.integers(0, 256, (n, 2, 3)).astype(np.uint8)
    images[:, 0, 0] = np.clip(images[:, 0, 0] // 3 + 80 * label, 0, 255)
    held = {"image": images, "label": label, "group": np.array(["a", "b"] * 12, dtype=object)}
    model = _linear(6, 3)
    settings = TrainSettings(method="dfr", dfr_c_grid=(0.5,), dfr_num_retrains=2,
                             dfr_iterations=3000)  # fmt: skip
    info = refit_last_layer(model, held, settings, torch.device("cpu"))
    assert info["c"] == 0.5 and info["groups"] == 2 and info["balanced_per_group"] == 12
    x = images.reshape(n, -1) / 255.0
    mean, std = x.mean(0), x.std(0, ddof=1)
    w, b = _ista((x - mean) / std, label, 0.5, 3)
    expected = ((x - mean) / std) @ w.T + b
    with torch.no_grad():
        got = model(torch.from_numpy(images).float()[:, None] / 255).double().numpy()
    assert np.allclose(got, expected, atol=2e-3)
    assert np.array_equal(predict(model, images, device="cpu"), expected.argmax(1))
    assert info["nonzero_weights"] == int((np.abs(w) > 1e-6).sum())


def test_dfr_breaks_a_tied_worst_group_by_accuracy(monkeypatch):
    """Groups of one or two held-out examples can make every C score the same worst group
    (0 at rho = 0.9): C is then chosen by accuracy on the scoring half, not by grid order."""
    import texmnist.evaluate.dfr as dfr

    rng = np.random.default_rng(5)
    n = 60
    label = np.tile([0, 1, 2], n // 3)
    images = rng.integers(0, 40, (n, 2, 3)).astype(np.uint8)
    images[:, 0, 0] = 60 + 80 * label  # one clean feature: a weak penalty reads it
    held = {"image": images, "label": label, "group": np.array(["a", "b"] * (n // 2), object)}
    monkeypatch.setattr(dfr, "worst_group_acc", lambda *a: 0.0)  # every C ties
    settings = TrainSettings(method="dfr", dfr_c_grid=(1e-4, 10.0), dfr_num_retrains=1,
                             dfr_iterations=300)  # fmt: skip
    info = refit_last_layer(_linear(6, 3), held, settings, torch.device("cpu"))
    acc = info["c_scores_accuracy"]
    assert info["c_scores_worst_group_acc"] == {"0.0001": 0.0, "10.0": 0.0}
    assert acc["10.0"] > acc["0.0001"] and info["c"] == 10.0  # the grid's first lost the tie


def test_a_share_of_train_is_held_out_without_validation():
    data = {"image": np.zeros((10, 2, 2), np.uint8), "label": np.arange(10)}
    settings = TrainSettings(method="dfr", holdout=0.3, seed=4)
    kept, held, info = held_out_split(data, None, settings)
    assert info == {"source": "held-out 30% of train", "share": 0.3, "n": 3}
    assert len(held["label"]) == 3 and len(kept["label"]) == 7
    assert sorted([*kept["label"], *held["label"]]) == list(range(10))
    assert list(held["label"]) == sorted(held["label"])
    validation = {"image": np.zeros((4, 2, 2), np.uint8), "label": np.arange(4)}
    same, val, info = held_out_split(data, validation, settings)
    assert same is data and val is validation and info == {"source": "validation", "n": 4}
    empty = {"image": np.zeros((0, 2, 2), np.uint8), "label": np.zeros(0, int)}
    assert held_out_split(data, empty, settings)[2]["n"] == 3
    with pytest.raises(EvaluateError, match="holdout: 1 training examples leave none"):
        held_out_split(subset(data, np.arange(1)), None, settings)


def test_balanced_index_and_worst_group_accuracy_by_hand():
    groups = np.array([0, 0, 0, 1, 1, 2, 2, 2, 2])
    idx = balanced_index(groups, np.random.default_rng(0))
    assert np.bincount(groups[idx]).tolist() == [2, 2, 2]
    assert np.all(np.diff(idx) > 0)
    pred = np.array([1, 1, 0, 1, 0, 1, 1, 1, 1])
    labels = np.ones(9, int)
    # group 0: 2/3, group 1: 1/2, group 2: 4/4
    assert worst_group_acc(pred, labels, groups) == 0.5
    assert worst_group_acc(pred[:0], labels[:0], groups[:0]) == 0.0


# -- helpers -----------------------------------------------------------------------------


def test_group_ids_from_the_group_column_and_from_label_and_texture():
    ids, names = group_ids({"group": np.array(["b", "a", "b"], dtype=object), "label": [0, 1, 2]})
    assert ids.tolist() == [1, 0, 1] and names == ["a", "b"]
    arrays = {"label": np.array([3, 3, 0, 3]), "texture": np.array([3, NONE_TEXTURE, 7, 3])}
    ids, names = group_ids(arrays)
    assert names == ["y=0,t=7", "y=3,t=3", f"y=3,t={NONE_TEXTURE}"]
    assert ids.tolist() == [1, 2, 0, 1]
    with pytest.raises(EvaluateError, match="neither a 'group' nor a 'texture'"):
        group_ids({"label": np.array([1])})


def test_image_tensor_layout():
    gray = np.arange(2 * 3 * 4, dtype=np.uint8).reshape(2, 3, 4)
    t = image_tensor(gray)
    assert t.shape == (2, 1, 3, 4) and t.dtype == torch.uint8
    assert np.array_equal(t[:, 0].numpy(), gray)
    rgb = np.arange(2 * 3 * 4 * 3, dtype=np.uint8).reshape(2, 3, 4, 3)
    t = image_tensor(rgb)
    assert t.shape == (2, 3, 3, 4) and np.array_equal(t[1, 2].numpy(), rgb[1, :, :, 2])
    with pytest.raises(EvaluateError, match="expected uint8"):
        image_tensor(gray.astype(np.float32))


def test_settings_validation_and_hyperparameters():
    assert TrainSettings(method="groupdro").resolved_weight_decay == 1e-3
    assert TrainSettings(method="erm", weight_decay=0.5).resolved_weight_decay == 0.5
    hp = TrainSettings(method="groupdro").hyperparameters()
    assert hp["sampling"] == "group-balanced" and hp["groupdro_eta_grid"] == [0.01, 0.1]
    assert hp["weight_decay_grid"] == [1e-4, 1e-3] and hp["max_epochs"] == 2
    fixed = TrainSettings(method="groupdro", weight_decay=0.0)
    assert fixed.grid() == [{"groupdro_eta": 0.01, "weight_decay": 0.0},
                            {"groupdro_eta": 0.1, "weight_decay": 0.0}]  # fmt: skip
    assert TrainSettings(method="erm").grid() == [{}]
    assert [p["rrr_weight"] for p in TrainSettings(method="rrr").grid()] == [0.001, 0.01, 0.1]
    assert TrainSettings(method="dfr").hyperparameters()["sampling"] == "shuffle"
    assert TrainSettings(method="dfr").hyperparameters()["dfr_c_grid"][0] == 1.0
    for kwargs, needle in [({"method": "irm"}, "unknown method 'irm'"),
                           ({"epochs": 0}, "--epochs: must be >= 1"),
                           ({"batch_size": 0}, "--batch-size: must be >= 1"),
                           ({"holdout": 1.0}, "holdout: must be in"),
                           ({"patience": 0}, "--patience: must be >= 1"),
                           ({"lr_schedule": "step"}, "--lr-schedule: unknown 'step'"),
                           ({"rrr_weight_grid": ()}, "rrr_weight_grid: needs values")]:  # fmt: skip
        with pytest.raises(EvaluateError, match=needle):
            TrainSettings(**kwargs)


def test_models_layers():
    cnn = build_model("cnn", 3, 28)
    assert isinstance(cam_layer(cnn), nn.Module) and last_linear(cnn).out_features == 10
    mlp = build_model("mlp", 1, 12, num_classes=4)
    assert cam_layer(mlp) is None and last_linear(mlp).out_features == 4
    conv = nn.Sequential(nn.Conv2d(1, 2, 3), nn.Conv2d(2, 2, 3), nn.Flatten(), nn.Linear(8, 2))
    assert cam_layer(conv) is conv[1] and last_linear(conv) is conv[3]
    with pytest.raises(EvaluateError, match="no nn.Linear layer"):
        last_linear(nn.Sequential(nn.Conv2d(1, 1, 1)))
    with pytest.raises(EvaluateError, match="in_channels: expected 1 or 3, got 2"):
        build_model("cnn", 2, 28)


def test_every_method_records_every_hyperparameter():
    """A report's settings are complete: no hyperparameter is recorded as None or empty."""
    from texmnist.evaluate.train import METHODS

    for method in METHODS:
        hp = TrainSettings(method=method).hyperparameters()
        empty = [k for k, v in hp.items() if v is None or v == "" or v == ()]
        assert not empty, (method, empty)
    dfr = TrainSettings(method="dfr").hyperparameters()
    assert dfr["dfr_features"] == "standardised inputs of the last linear layer"


def test_saliency_metrics_pass_device_batch_and_examples_through(monkeypatch):
    """The caller's device, batch size and example cap reach the saliency maps."""
    import texmnist.evaluate.saliency as sal

    calls = []

    def fake_maps(model, images, *, batch_size, device):
        calls.append((len(images), batch_size, device))
        return {"grad": np.ones(images.shape[:3], np.float32)}

    monkeypatch.setattr(sal, "saliency_maps", fake_maps)
    mask = np.zeros((5, 4, 4), bool)
    mask[:, 1:3, 1:3] = True
    data = {"test_random": {"image": np.zeros((5, 4, 4), np.uint8), "mask": mask}}
    out = sal.saliency_metrics(
        None, data, splits=["test_random"], max_examples=3, batch_size=7, device="meta"
    )
    assert calls == [(3, 7, "meta")]
    assert out["grad_bg_test_random"]["value"] == pytest.approx(12 / 16)  # uniform map
