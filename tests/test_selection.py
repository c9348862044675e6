"""Checkpoint selection, early stopping, the lr schedule and the hyper-parameter grids, on
hand-made cases whose answers are worked out in the comments."""

from __future__ import annotations

import math

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from torch import nn  # noqa: E402

from texmnist.evaluate import loop as loop_mod  # noqa: E402
from texmnist.evaluate.data import deterministic  # noqa: E402
from texmnist.evaluate.errors import EvaluateError  # noqa: E402
from texmnist.evaluate.loop import best_of, fit, selection_key, set_lr  # noqa: E402
from texmnist.evaluate.predict import Scorer  # noqa: E402
from texmnist.evaluate.rrr import rrr_penalty  # noqa: E402
from texmnist.evaluate.settings import SELECTION, TrainSettings  # noqa: E402
from texmnist.evaluate.train import train_model  # noqa: E402

pytestmark = pytest.mark.usefixtures("one_torch_thread")
CPU = torch.device("cpu")


def _data(n: int = 8) -> dict[str, np.ndarray]:
    """n 2x2 images, two groups; the label is pixel (0, 0) being bright."""
    rng = np.random.default_rng(0)
    label = np.arange(n) % 2
    images = rng.integers(0, 30, (n, 2, 2)).astype(np.uint8)
    images[:, 0, 0] = np.where(label == 1, 250, 0)
    return {"image": images, "label": label, "group": np.array(["a", "b", "b", "a"] * (n // 4))}


def _linear() -> nn.Module:
    with deterministic(0):
        return nn.Sequential(nn.Flatten(), nn.Linear(4, 2))


class _Scripted:
    """A scorer that returns the next scripted (accuracy, worst group) each epoch."""

    def __init__(self, acc, worst=None):
        self.acc, self.worst, self.calls = list(acc), list(worst or acc), 0

    def __call__(self, model):
        i, self.calls = self.calls, self.calls + 1
        return {"accuracy": self.acc[i], "worst-group accuracy": self.worst[i]}


def _fit_recording(settings, scorer, epochs):
    """fit() with each epoch's weights recorded, to compare with the weights kept."""
    model, states = _linear(), {}

    def record(epoch):
        states[epoch] = {k: v.clone() for k, v in model.state_dict().items()}

    result = fit(model, _data(), settings, CPU, scorer=scorer, epochs=epochs,
                 on_epoch_end=record)  # fmt: skip
    return model, states, result


def _same(model, state) -> bool:
    return all(torch.equal(v, state[k]) for k, v in model.state_dict().items())


def test_the_best_epoch_is_kept_and_patience_stops_the_run():
    """Scores 0.5, 0.9, 0.7, 0.6, ...: epoch 2 is best; with patience 2 the run stops after
    epoch 4 (two epochs without a better score) and holds epoch 2's weights."""
    s = TrainSettings(batch_size=4, lr=0.1, patience=2, progress=False)
    model, states, result = _fit_recording(s, _Scripted([0.5, 0.9, 0.7, 0.6, 0.95, 0.99]), 6)
    assert result["chosen_epoch"] == 2 and result["selection_score"] == 0.9
    assert result["epochs_run"] == 4 and result["stopped_early"] is True
    assert [p["epoch"] for p in result["curve"]] == [1, 2, 3, 4]
    assert [p["val_acc"] for p in result["curve"]] == [0.5, 0.9, 0.7, 0.6]
    assert _same(model, states[2]) and not _same(model, states[4])
    assert result["epoch_loss"] == [p["train_loss"] for p in result["curve"]]
    assert all(p["train_loss"] > 0 for p in result["curve"])


def test_ties_keep_the_later_epoch_and_do_not_reset_patience():
    """0.5, 0.8, 0.8, 0.6, 0.7: epochs 2 and 3 tie, the later (3) is kept; patience 3
    counts from epoch 2, the last strict improvement, so the run stops after epoch 5."""
    s = TrainSettings(batch_size=4, lr=0.1, patience=3, progress=False)
    model, states, result = _fit_recording(s, _Scripted([0.5, 0.8, 0.8, 0.6, 0.7, 0.9]), 6)
    assert result["chosen_epoch"] == 3 and result["epochs_run"] == 5
    assert _same(model, states[3])


def test_a_tied_worst_group_is_broken_by_accuracy_and_resets_patience():
    """Worst group 0 at every epoch (RRR at rho 0.9), accuracy 0.5, 0.7, 0.6, 0.8, 0.8, 0.75:
    epoch 4 ranks first (0, 0.8), epoch 5 ties it on both numbers and, the later, is kept.
    Each rise of accuracy (epochs 2 and 4) is an improvement, so patience 2 counts from
    epoch 4 and the run stops after epoch 6, not after epoch 3 as with the worst group
    alone. ERM ranks by accuracy alone on the same scores and keeps epoch 5 too."""
    acc = [0.5, 0.7, 0.6, 0.8, 0.8, 0.75, 0.9]
    s = TrainSettings(method="balanced", batch_size=4, lr=0.1, patience=2, progress=False)
    model, states, result = _fit_recording(s, _Scripted(acc, [0.0] * 7), 7)
    assert result["chosen_epoch"] == 5 and result["epochs_run"] == 6
    assert result["selection_score"] == 0.0 and result["selection_accuracy"] == 0.8
    assert _same(model, states[5])
    erm = TrainSettings(batch_size=4, lr=0.1, patience=2, progress=False)
    _, _, result = _fit_recording(erm, _Scripted(acc, [0.0] * 7), 7)
    assert (result["chosen_epoch"], result["epochs_run"]) == (5, 6)
    # The worst group still comes first: 0.2 at 60% accuracy beats 0.1 at 90%.
    s = TrainSettings(method="groupdro", batch_size=4, lr=0.1, patience=None, progress=False)
    _, _, result = _fit_recording(s, _Scripted([0.6, 0.9, 0.95], [0.2, 0.1, 0.2]), 3)
    assert result["chosen_epoch"] == 3 and result["selection_accuracy"] == 0.95
    _, _, result = _fit_recording(s, _Scripted([0.6, 0.9, 0.55], [0.2, 0.1, 0.2]), 3)
    assert result["chosen_epoch"] == 1 and result["selection_accuracy"] == 0.6


def test_selection_key_ranks_by_the_criterion_then_accuracy():
    scores = {"accuracy": 0.9, "worst-group accuracy": 0.25}
    assert selection_key(scores, TrainSettings(method="rrr")) == (0.25, 0.9)
    assert selection_key(scores, TrainSettings(method="erm")) == (0.9, 0.9)
    with pytest.raises(EvaluateError, match="jtt: selection by worst-group accuracy needs"):
        selection_key({"accuracy": 0.9, "worst-group accuracy": None}, TrainSettings(method="jtt"))


def test_the_recorded_rule_names_the_tie_break_only_where_it_applies():
    """ERM's text is unchanged (its cells stay reusable); the group methods' text changes,
    so a cell trained before the tie-break is not reused under it."""
    erm, rrr = TrainSettings(method="erm"), TrainSettings(method="rrr")
    assert erm.hyperparameters()["selection"] == "the epoch with the best validation accuracy"
    assert rrr.hyperparameters()["selection"] == (
        "the epoch with the best validation worst-group accuracy (ties: average accuracy)"
    )
    assert rrr.hyperparameters()["tuning"].endswith("(ties: average accuracy) wins")


def test_no_patience_runs_every_epoch_and_no_scorer_keeps_the_last():
    s = TrainSettings(batch_size=4, lr=0.1, patience=None, progress=False)
    _, _, result = _fit_recording(s, _Scripted([0.9, 0.1, 0.1, 0.1]), 4)
    assert result["epochs_run"] == 4 and result["chosen_epoch"] == 1
    model, states, result = _fit_recording(s, None, 3)
    assert result["chosen_epoch"] == 3 and result["selection_score"] is None
    assert "val_acc" not in result["curve"][0] and _same(model, states[3])


@pytest.mark.parametrize(("method", "chosen"), [("erm", 1), ("balanced", 2), ("groupdro", 2)])
def test_each_method_selects_by_its_own_criterion(method, chosen):
    """Accuracy falls (0.9, 0.8, 0.7) while the worst group peaks at epoch 2 (0.1, 0.3,
    0.2): ERM keeps epoch 1, the group methods epoch 2."""
    s = TrainSettings(method=method, batch_size=4, lr=0.1, patience=None, progress=False)
    _, _, result = _fit_recording(s, _Scripted([0.9, 0.8, 0.7], [0.1, 0.3, 0.2]), 3)
    assert result["chosen_epoch"] == chosen
    assert SELECTION["erm"] == "accuracy" and SELECTION["groupdro"] == "worst-group accuracy"


def test_cosine_schedule_by_hand():
    """8 examples in batches of 4 over 2 epochs: 4 steps. Epoch 1's last step runs at
    progress 1/4, epoch 2's at 3/4: lr * (1 + cos(pi/4)) / 2 and lr * (1 + cos(3 pi/4)) / 2."""
    s = TrainSettings(batch_size=4, lr=0.2, patience=None, progress=False)
    _, _, result = _fit_recording(s, None, 2)
    expected = [0.1 * (1 + math.cos(math.pi / 4)), 0.1 * (1 + math.cos(3 * math.pi / 4))]
    assert [p["lr"] for p in result["curve"]] == pytest.approx(expected, rel=1e-12)
    opt = torch.optim.SGD(_linear().parameters(), lr=1.0)
    for progress, lr in ((0.0, 0.2), (0.5, 0.1), (1.0, 0.0)):
        set_lr(opt, s, progress)
        assert opt.param_groups[0]["lr"] == pytest.approx(lr, abs=1e-15)
    set_lr(opt, TrainSettings(lr=0.2, lr_schedule="constant"), 0.7)
    assert opt.param_groups[0]["lr"] == 0.2


def test_scorer_accuracy_and_worst_group_by_hand():
    """A model predicting 1 everywhere on labels 0, 1, 0, 1, ...: accuracy 4/8, and groups
    a (examples 0, 3, 4, 7) and b (1, 2, 5, 6) each hold two 1s: 0.5 each. Then group b is
    example 1 alone, relabelled 0: worst group 0, accuracy 3/8."""
    data = _data()
    model = nn.Sequential(nn.Flatten(), nn.Linear(4, 2))
    with torch.no_grad():
        model[1].weight.zero_()
        model[1].bias.copy_(torch.tensor([0.0, 1.0]))
    scores = Scorer(data, CPU)(model)
    assert scores == {"accuracy": 0.5, "worst-group accuracy": 0.5}
    data["group"] = np.array(["a", "b", "a", "a", "a", "a", "a", "a"])  # b: one example, label 1
    data["label"][1] = 0
    scores = Scorer(data, CPU)(model)
    assert scores["worst-group accuracy"] == 0.0 and scores["accuracy"] == 3 / 8


@pytest.mark.parametrize(
    ("scores", "winner"),
    [
        # 0.4, 0.7, 0.7 at equal accuracy: the second wins (ties on both: the first point).
        ({"p1": (0.4, 0.9), "p2": (0.7, 0.9), "p3": (0.7, 0.9)}, "p2"),
        # 0.7, 0.7 tie on the worst group: the third's accuracy (0.95 > 0.9) breaks it.
        ({"p1": (0.4, 0.99), "p2": (0.7, 0.9), "p3": (0.7, 0.95)}, "p3"),
        # A tie at 0 (RRR at rho 0.9): the most accurate point, not the first.
        ({"p1": (0.0, 0.8), "p2": (0.0, 0.93), "p3": (0.0, 0.91)}, "p2"),
    ],
)
def test_best_of_trains_each_point_from_the_same_weights(monkeypatch, scores, winner):
    """The winning point is the best worst group, then the best accuracy; the model ends
    with the weights that point trained; every point starts from the initial ones."""
    model = _linear()
    initial = {k: v.clone() for k, v in model.state_dict().items()}

    def fake_fit(net, train, settings, device, *, scorer, **kw):
        assert _same(net, initial)
        score, accuracy = scores[f"p{settings.seed}"]
        with torch.no_grad():
            net[1].bias.fill_(settings.seed)
        return {"selection_score": score, "selection_accuracy": accuracy, "chosen_epoch": 1}

    monkeypatch.setattr(loop_mod, "fit", fake_fit)
    points = [(f"p{i}", TrainSettings(seed=i), {}) for i in (1, 2, 3)]
    best, results = best_of(model, _data(), None, CPU, points)
    assert best == winner and list(results) == ["p1", "p2", "p3"]
    assert torch.equal(model[1].bias, torch.full((2,), float(winner[1])))


def test_rrrs_curve_records_the_mean_right_reasons_term():
    """With an lr far below float32's step the weights stay put, so the epoch's recorded term
    is the example-weighted mean of the term on its two batches of 4, worked out here."""
    data = _data(8)
    data["mask"] = np.zeros((8, 2, 2), dtype=bool)
    data["mask"][:, 0, 0] = True
    s = TrainSettings(method="rrr", batch_size=4, lr=1e-30, weight_decay=0.0, rrr_weight=0.5,
                      patience=None, progress=False)  # fmt: skip
    model = _linear()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    result = fit(model, data, s, CPU, epochs=1)
    assert _same(model, before)
    gen = torch.Generator().manual_seed(s.seed)
    order = torch.randperm(8, generator=gen)
    x = torch.from_numpy(data["image"]).float().unsqueeze(1) / 255
    background = (~torch.from_numpy(data["mask"])).unsqueeze(1).float()
    terms = []
    for idx in (order[:4], order[4:]):
        xb = x[idx].clone().requires_grad_(True)
        terms.append(float(rrr_penalty(model(xb), xb, background[idx]).detach()))
    assert result["curve"][0]["train_rrr_penalty"] == pytest.approx(sum(terms) / 2, rel=1e-6)
    assert min(terms) > 0  # the gradient on the three background pixels is not zero
    _, _, erm = _fit_recording(TrainSettings(batch_size=4, lr=0.1, progress=False), None, 1)
    assert "train_rrr_penalty" not in erm["curve"][0]


def test_train_model_reports_the_grid_and_the_chosen_values():
    """RRR's grid (0.001, 0.01, 0.1): every point trained, the chosen one is the better
    validation score, and the log carries the curve and the chosen epoch of that point."""
    data = _data(16)
    data["mask"] = np.zeros((16, 2, 2), dtype=bool)
    data["mask"][:, 0, 0] = True
    data["texture"] = data["label"].copy()
    log = train_model(_linear(), data, method="rrr", epochs=2, batch_size=4, lr=0.1,
                      validation=data, progress=False)  # fmt: skip
    assert set(log["grid"]) == {"rrr_weight=0.001", "rrr_weight=0.01", "rrr_weight=0.1"}
    grid = log["grid"]
    best = max(grid, key=lambda k: (grid[k]["score"], grid[k]["accuracy"], -list(grid).index(k)))
    assert log["grid_choice"] == best and log["tuned"] == {"rrr_weight": float(best[11:])}
    assert log["selection_score"] == grid[best]["score"]
    assert log["selection_accuracy"] == grid[best]["accuracy"]
    assert log["chosen_epoch"] == log["grid"][best]["chosen_epoch"]
    assert log["selection"] == "worst-group accuracy"
    assert log["selection_data"] == {"source": "validation", "n": 16}
    assert len(log["curve"]) == log["epochs_run"] <= 2
