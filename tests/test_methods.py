"""JTT, the background adversary and RRR: each method's defining step and the controls."""

from __future__ import annotations

import math

import numpy as np
import pytest

torch = pytest.importorskip("torch")

import torch.nn.functional as F  # noqa: E402
from test_evaluate import _synthetic, _texture  # noqa: E402  (the planted-shortcut data)
from torch import nn  # noqa: E402

from texmnist.evaluate import EvaluateError, build_model, evaluate_model, train_model  # noqa: E402
from texmnist.evaluate import jtt as jtt_mod  # noqa: E402
from texmnist.evaluate import loop as loop_mod  # noqa: E402
from texmnist.evaluate.adversary import Adversary, GradReverse, LabelHeads, dann_ramp  # noqa: E402
from texmnist.evaluate.data import deterministic, held_out_split  # noqa: E402
from texmnist.evaluate.jtt import jtt_repeats  # noqa: E402
from texmnist.evaluate.predict import predict  # noqa: E402
from texmnist.evaluate.rrr import rrr_penalty  # noqa: E402
from texmnist.evaluate.settings import TrainSettings  # noqa: E402

NEW_METHODS = ("jtt", "bg-adversarial", "rrr")


pytestmark = pytest.mark.usefixtures("one_torch_thread")


FAST = dict(batch_size=32, lr=5e-3, progress=False)


def _train(train, method: str, model: str = "mlp", epochs: int = 4, **kw):
    with deterministic(0):
        net = build_model(model, 1, 28)
    log = train_model(net, train, method=method, epochs=epochs, seed=0, **FAST, **kw)
    return net, log


def _shortcut_test():
    return {
        "test_correlated": _synthetic("correlated", 300, seed=1),
        "test_random": _synthetic("random", 300, seed=2),
    }


# -- JTT ------------------------------------------------------------------------------


def test_jtt_repeats_upweight_exactly_the_errors():
    errors = np.array([True, False, False, True, False])
    assert jtt_repeats(errors, 20).tolist() == [20, 1, 1, 20, 1]
    assert jtt_repeats(np.zeros(3, bool), 5).tolist() == [1, 1, 1]


def test_jtt_error_set_is_that_of_an_erm_model_trained_t_epochs():
    """The identification step: JTT's error count equals the misclassified training examples
    of an ERM model trained T epochs from the same weights on the same (held-in) examples."""
    train = _synthetic("correlated", 200, seed=5)
    train["texture"][::7] = (train["label"][::7] + 3) % 10  # some conflicting examples
    train["image"][::7] = _synthetic("random", 200, seed=6)["image"][::7]
    train["aligned"] = train["texture"] == train["label"]
    _, log = _train(train, "jtt", jtt_epochs_grid=(1,), jtt_upweight_grid=(5,))
    kept, held, _ = held_out_split(train, None, TrainSettings(seed=0))
    # The identification model: ERM, constant lr, one epoch on the same held-in examples.
    erm, _ = _train(kept, "erm", epochs=1, lr_schedule="constant", validation=held)
    wrong = predict(erm, kept["image"]) != kept["label"]
    assert log["jtt"]["errors"] == {"1": int(wrong.sum())}
    # Which of them conflict with their texture, of how many conflicting held-in examples.
    conflicting = ~kept["aligned"]
    assert log["jtt"]["train_conflicting"] == int(conflicting.sum()) > 0
    assert log["jtt"]["errors_conflicting"] == {"1": int((wrong & conflicting).sum())}
    assert 0 < int((wrong & conflicting).sum()) < int(wrong.sum())  # a count that could err
    assert log["selection_data"]["n"] == 20 and log["train_examples"] == 180
    assert (log["jtt"]["epochs_identification"], log["jtt"]["upweight"]) == (1, 5)


def test_jtt_identification_leaves_the_model_untouched_and_counts_conflicts():
    train = _synthetic("correlated", 100, seed=5)
    with deterministic(0):
        net = build_model("mlp", 1, 28)
    before = [p.detach().clone() for p in net.parameters()]
    s = TrainSettings(method="jtt", jtt_epochs_grid=(1, 2), **FAST)
    errors = jtt_mod.identify_errors(net, train, s, torch.device("cpu"))
    assert sorted(errors) == [1, 2] and all(e.shape == (100,) for e in errors.values())
    assert all(torch.equal(a, b) for a, b in zip(before, net.parameters(), strict=True))
    assert jtt_mod.error_composition(errors, train) == {}  # no `aligned` field: no count
    errors = {1: np.arange(100) % 4 == 0}  # 25 errors
    train["aligned"] = np.arange(100) % 10 != 0  # 10 conflicting, 5 of them errors
    assert jtt_mod.error_composition(errors, train) == {
        "train_conflicting": 10, "errors_conflicting": {"1": 5},
    }  # fmt: skip


def test_jtt_retrains_on_the_upweighted_list(monkeypatch):
    """The second stage trains on the error set repeated `upweight` times, not on plain ERM."""
    seen = []
    real_fit = loop_mod.fit

    def spy(model, data, s, device, **kw):
        seen.append(kw.get("repeats"))
        return real_fit(model, data, s, device, **kw)

    monkeypatch.setattr(jtt_mod, "fit", spy)  # the identification run
    monkeypatch.setattr(loop_mod, "fit", spy)  # the final runs, one per grid point
    train = _synthetic("correlated", 200, seed=5)
    train["image"][::7] = _synthetic("random", 200, seed=6)["image"][::7]
    _, log = _train(train, "jtt", jtt_epochs_grid=(1,), jtt_upweight_grid=(5,))
    identify, retrain = seen
    errors = log["jtt"]["errors"]["1"]
    assert identify is None and errors > 0
    assert len(retrain) == log["train_examples"]
    assert int(retrain.sum()) == log["train_examples"] + 4 * errors
    assert sorted(set(retrain.tolist())) == [1, 5]


def test_jtt_picks_the_best_grid_point_on_worst_group_accuracy():
    train = _synthetic("correlated", 200, seed=5)
    _, log = _train(train, "jtt", jtt_epochs_grid=(1, 2), jtt_upweight_grid=(2, 4), epochs=1)
    # Ranked by worst group, then accuracy; ties on both go to the first point.
    ranks = {name: (p["score"], p["accuracy"]) for name, p in log["grid"].items()}
    assert set(ranks) == {"T=1,up=2", "T=1,up=4", "T=2,up=2", "T=2,up=4"}
    chosen = f"T={log['jtt']['epochs_identification']},up={log['jtt']['upweight']}"
    assert log["grid_choice"] == chosen and log["selection_score"] == ranks[chosen][0]
    assert ranks[chosen] == max(ranks.values())
    assert next(k for k, v in ranks.items() if v == max(ranks.values())) == chosen


def test_jtt_grid_must_hold_positive_integers():
    with pytest.raises(EvaluateError, match="jtt_upweight_grid"):
        TrainSettings(method="jtt", jtt_upweight_grid=(0,))


# -- gradient reversal ----------------------------------------------------------------


def test_gradient_reversal_flips_and_scales_the_gradient():
    x = torch.tensor([1.0, -2.0, 3.0], requires_grad=True)
    w = torch.tensor([0.5, 4.0, -1.0])
    y = GradReverse.apply(x, 0.25)
    assert torch.equal(y, x)  # identity forward
    (w * y).sum().backward()
    assert torch.equal(x.grad, torch.tensor([-0.125, -1.0, 0.25]))  # -0.25 * w


def test_dann_ramp():
    assert dann_ramp(0.0) == 0.0
    assert dann_ramp(1.0) == pytest.approx(0.9999092042625951)  # 2 / (1 + e^-10) - 1
    assert dann_ramp(0.5) == pytest.approx(2 / (1 + math.exp(-5)) - 1)


class _Features(nn.Module):
    """The identity 'network' whose last linear layer's input is the given 2-D features."""

    def __init__(self) -> None:
        super().__init__()
        self.head = nn.Linear(2, 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(x)


def test_conditional_adversary_gradient_by_hand():
    """Features f = (1, 2) of one example with label 0 and texture 1. Label 0's head: hidden
    = relu(I f) = (1, 2), texture logits (h0, h1, 0, ..., 0) = (1, 2, 0 x 9). The CE's
    gradient on the logits is p - e_1, on f it is (p0, p1 - 1) with p0 = e / Z, p1 = e^2 / Z,
    Z = e + e^2 + 9; the features receive it reversed, times lambda * ramp(1). Label 1's
    head plays no part, and the same features under label 1 get that head's gradient."""
    model = _Features()
    data = {"texture": np.array([1, 1]), "label": np.array([0, 1])}
    settings = TrainSettings(method="bg-adversarial", adversary_weight=0.5, adversary_hidden=2)
    adversary = Adversary(model, data, settings, torch.device("cpu"))
    heads = adversary.head
    with torch.no_grad():
        for p in heads.parameters():
            p.zero_()
        heads.w1[0] = torch.eye(2)
        heads.w2[0, 0, 0] = heads.w2[0, 1, 1] = 1.0
        heads.w1[1] = torch.tensor([[3.0, -1.0], [0.5, 2.0]])  # label 1: something else
        heads.w2[1] = torch.arange(22.0).reshape(2, 11) / 10

    def features_grad(example: int) -> torch.Tensor:
        f = torch.tensor([[1.0, 2.0]], requires_grad=True)
        with adversary.capture():
            model(f)
        adversary.loss(torch.tensor([example]), progress=1.0).backward()
        return f.grad[0]

    e = math.e
    z = e + e * e + 9
    scale = 0.5 * dann_ramp(1.0)
    expected = -scale * torch.tensor([e / z, e * e / z - 1])
    assert torch.allclose(features_grad(0), expected, atol=1e-6)
    with torch.no_grad():
        heads.w2[1] *= -3  # another label's head changes nothing for label 0
    assert torch.allclose(features_grad(0), expected, atol=1e-6)
    assert not torch.allclose(features_grad(1), expected, atol=1e-3)


def test_adversary_leaves_features_alone_when_the_label_explains_the_texture():
    """Texture = label: once the heads have fit, they predict the texture from their biases
    and the features receive (next to) no gradient, whatever the features are."""
    torch.manual_seed(0)
    labels = torch.arange(40) % 10
    features = torch.randn(40, 8)
    heads = LabelHeads(8, 16, 10, 11)
    opt = torch.optim.Adam(heads.parameters(), lr=0.05)
    for _ in range(300):
        opt.zero_grad()
        F.cross_entropy(heads(features, labels), labels).backward()
        opt.step()
    f = features.clone().requires_grad_(True)
    loss = F.cross_entropy(heads(f, labels), labels)
    loss.backward()
    assert loss.item() < 1e-3 and f.grad.abs().max().item() < 1e-4


def test_adversary_needs_a_texture_column():
    train = _synthetic("plain", 20, seed=0)
    del train["texture"]
    with pytest.raises(EvaluateError, match="texture"):
        _train(train, "bg-adversarial", epochs=1)


# -- RRR ----------------------------------------------------------------------------------


def test_rrr_penalty_of_a_linear_model_matches_the_closed_form():
    """For logits z = W x + b, d sum_k log p_k / dx = sum_k W_k - K sum_j p_j W_j."""
    rng = np.random.default_rng(0)
    n, k, h, w = 2, 3, 2, 2
    weight = rng.normal(size=(k, h * w))
    bias = rng.normal(size=k)
    x = rng.random((n, 1, h, w))
    background = np.array([[[[1, 0], [0, 1]]], [[[0, 0], [1, 1]]]], dtype=float)
    z = x.reshape(n, -1) @ weight.T + bias
    p = np.exp(z - z.max(1, keepdims=True))
    p /= p.sum(1, keepdims=True)
    grad = weight.sum(0)[None, :] - k * p @ weight  # [n, h*w]
    expected = ((background.reshape(n, -1) * grad) ** 2).sum(1).mean()

    xt = torch.tensor(x, requires_grad=True)
    logits = xt.flatten(1) @ torch.tensor(weight).T + torch.tensor(bias)
    got = rrr_penalty(logits, xt, torch.tensor(background))
    assert float(got.detach()) == pytest.approx(expected, rel=1e-12)
    got.backward()  # double backprop: the penalty is differentiable
    assert xt.grad is not None and torch.isfinite(xt.grad).all()


def test_rrr_needs_a_mask_column():
    train = _synthetic("plain", 20, seed=0)
    del train["mask"]
    with pytest.raises(EvaluateError, match="mask"):
        _train(train, "rrr", epochs=1)


# -- controls ---------------------------------------------------------------------------


def test_jtt_still_follows_a_planted_shortcut():
    """When only the texture carries the label, reweighting errors cannot find the digit."""
    net, _ = _train(_synthetic("shortcut", 400, seed=0), "jtt", jtt_upweight_grid=(5,))
    result = evaluate_model(net, _shortcut_test())
    assert result["bg_follow"]["value"] > 0.9
    assert result["bg_gap"]["ci"][0] > 0.5


def _shortcut_at(rho: float, n: int, seed: int) -> dict[str, np.ndarray]:
    """`shortcut` data (the glyph is of a random class) whose texture is the label's with
    probability `rho`, another class's otherwise: only the texture carries the label."""
    data = _synthetic("shortcut", n, seed=seed)
    rng = np.random.default_rng(seed + 100)
    for i in np.flatnonzero(rng.random(n) >= rho):
        data["texture"][i] = (data["label"][i] + rng.integers(1, 10)) % 10
        data["image"][i] = _texture(int(data["texture"][i]))
        data["image"][i][data["mask"][i]] = 255
    return data


@pytest.mark.parametrize(
    "method,rho,weights",
    [("bg-adversarial", 0.9, dict(adversary_weight_grid=(10.0,))),
     ("rrr", 1.0, dict(rrr_weight_grid=(1e4,)))],
)  # fmt: skip
def test_strong_weight_stops_a_planted_shortcut(method, rho, weights):
    """Where only the texture carries the label ERM follows it; a strong adversary or RRR
    penalty forbids exactly that, so the model no longer predicts the background's digit.
    The conditional adversary needs rho < 1: at rho = 1 the label explains the texture."""
    train, test = _shortcut_at(rho, 400, seed=0), _shortcut_test()
    erm, _ = _train(train, "erm")
    assert evaluate_model(erm, test)["bg_follow"]["value"] > 0.9
    net, log = _train(train, method, **weights)
    assert log["tuned"] == {f"{method.split('-')[-1].replace('adversarial', 'adversary')}"
                            "_weight": next(iter(weights.values()))[0]}  # fmt: skip
    assert evaluate_model(net, test)["bg_follow"]["value"] < 0.3


def test_conditional_adversary_keeps_the_label_at_rho_1():
    """At rho = 1 (texture = label, digit learnable) the old unconditional adversary removed
    the label with the texture; the conditional one predicts the texture from the label
    alone, so a strong weight leaves the model accurate."""
    train = _synthetic("correlated", 400, seed=0)
    net, _ = _train(train, "bg-adversarial", adversary_weight_grid=(1.0,))
    result = evaluate_model(net, _shortcut_test())
    assert result["acc_test_correlated"]["value"] > 0.9


@pytest.mark.parametrize("method", NEW_METHODS)
def test_digit_only_model_has_no_background_gap(method):
    train = _synthetic("plain", 400, seed=0)
    test = {
        "test_correlated": _synthetic("correlated", 300, seed=1, faint=True),
        "test_random": _synthetic("random", 300, seed=1, faint=True),
    }
    net, _ = _train(train, method, jtt_upweight_grid=(5,))
    result = evaluate_model(net, test)
    assert result["acc_test_correlated"]["value"] > 0.9  # it did learn the digits
    gap = result["bg_gap"]
    assert gap["ci"][0] <= 0 <= gap["ci"][1]


@pytest.mark.parametrize("method", NEW_METHODS)
def test_same_seed_same_weights(method):
    train = _synthetic("correlated", 120, seed=3)
    kw = dict(model="cnn", epochs=1, jtt_epochs_grid=(1,), jtt_upweight_grid=(5,))
    a, _ = _train(train, method, **kw)
    b, _ = _train(train, method, **kw)
    for (name, pa), (_, pb) in zip(a.state_dict().items(), b.state_dict().items(), strict=True):
        assert torch.equal(pa, pb), name
