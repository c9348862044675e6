"""A report folder: the learning curve and the selection in report.json, the flag on a model
that did not learn the object, and singular counts in report.md."""

from __future__ import annotations

import copy
import json

import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("matplotlib")

from texmnist.evaluate.markdown import (  # noqa: E402
    chosen_values,
    object_flag,
    plural,
    report_markdown,
    training_lines,
)
from texmnist.evaluate.report import REPORT_FILES, run_report  # noqa: E402
from texmnist.generate.config import named_config  # noqa: E402
from texmnist.repo.folder import build  # noqa: E402

pytestmark = pytest.mark.usefixtures("one_torch_thread")
QUICK = dict(model="mlp", epochs=1, seeds=(0,), saliency_examples=4, progress=False)


@pytest.fixture(scope="module")
def report(fake_sources, tmp_path_factory):
    mnist, dtd = fake_sources
    root = tmp_path_factory.mktemp("report")
    build(named_config("default", mnist_dir=str(mnist), dtd_dir=str(dtd)), root / "repo")
    run_report(root / "repo", "default", root / "out", **QUICK)
    return root / "out"


def test_report_json_records_the_curve_and_the_selection(report):
    assert all((report / name).is_file() for name in REPORT_FILES)
    data = json.loads((report / "report.json").read_text())
    log = data["runs"][0]["train_log"]
    assert [p["epoch"] for p in log["curve"]] == [1] and log["chosen_epoch"] == 1
    assert set(log["curve"][0]) == {"epoch", "train_loss", "lr", "val_acc", "val_worst_group"}
    # default has no validation split: 10% of the 80 fake training digits select.
    assert data["selection"] == {
        "criterion": "accuracy",
        "data": {"source": "held-out 10% of train", "share": 0.1, "n": 8},
        "chosen_epochs": [1],
        "epochs_run": [1],
        "chosen_hyperparameters": [None],
    }
    assert log["train_examples"] == 72 and data["wall_seconds"] > 0
    assert data["hyperparameters"]["max_epochs"] == 1
    assert data["flags"]["object"] == object_flag(data["summary"])


def test_chosen_values_name_the_grid_point_or_dfrs_c():
    assert chosen_values({"grid_choice": "groupdro_eta=0.1, weight_decay=0.001"}) == (
        "groupdro_eta=0.1, weight_decay=0.001"
    )
    assert chosen_values({"dfr": {"c": 0.30000000000000004}}) == "C=0.3"
    assert chosen_values({"chosen_epoch": 3}) is None  # ERM: only the epoch is chosen


def test_report_md_lists_dfrs_c_and_its_validation_scores(report):
    data = json.loads((report / "report.json").read_text())
    data["runs"][0]["train_log"]["dfr"] = {
        "c": 0.7, "c_scores_worst_group_acc": {"1.0": 0.5, "0.7": 0.75},
    }  # fmt: skip
    text = "\n".join(training_lines(data))
    assert "Hyper-parameters chosen on validation: seed 0: C=0.7 (validation C=1 50.0%, " in text
    assert "C=0.7 75.0%)." in text
    assert "Hyper-parameters chosen" not in "\n".join(training_lines(json.loads(
        (report / "report.json").read_text())))  # fmt: skip


def test_report_md_lists_each_grid_points_worst_group_and_its_tie_break(report):
    """Two RRR points tied at 0% on the worst group: the accuracy that broke the tie is
    printed beside each; a log from before the tie-break (no accuracy) prints the score."""
    data = json.loads((report / "report.json").read_text())
    data["runs"][0]["train_log"].update(grid_choice="rrr_weight=10", grid={
        "rrr_weight=1": {"score": 0.0, "accuracy": 0.9, "chosen_epoch": 2},
        "rrr_weight=10": {"score": 0.0, "accuracy": 0.925, "chosen_epoch": 5},
    })  # fmt: skip
    text = "\n".join(training_lines(data))
    assert (
        "seed 0: rrr_weight=10 (validation rrr_weight=1 0.0% (accuracy 90.0%), "
        "rrr_weight=10 0.0% (accuracy 92.5%))." in text
    )
    del data["runs"][0]["train_log"]["grid"]["rrr_weight=1"]["accuracy"]
    assert "(validation rrr_weight=1 0.0%, rrr_weight=10" in "\n".join(training_lines(data))


def test_report_md_lists_jtts_error_sets_and_their_conflicting_examples(report):
    data = json.loads((report / "report.json").read_text())
    assert "JTT's error sets" not in "\n".join(training_lines(data))
    jtt = {"errors": {"1": 3293, "2": 2102}, "errors_conflicting": {"1": 1204, "2": 987},
           "train_conflicting": 5500}  # fmt: skip
    data["runs"][0]["train_log"]["jtt"] = jtt
    text = "\n".join(training_lines(data))
    assert "after T epochs; 5,500 training examples conflict with their texture): " in text
    assert "seed 0: T=1 3,293 (1,204 conflicting), T=2 2,102 (987 conflicting)." in text
    del jtt["errors_conflicting"]  # a log from before the count: no line, no error
    assert "JTT's error sets" not in "\n".join(training_lines(data))


def test_report_md_prints_rrrs_term_in_its_learning_curve(report):
    data = json.loads((report / "report.json").read_text())
    plain = "\n".join(training_lines(data))
    assert "RRR term" not in plain
    data["runs"][0]["train_log"]["curve"][0]["train_rrr_penalty"] = 18.377
    text = "\n".join(training_lines(data))
    assert "| validation worst group | lr | RRR term (before λ) |" in text
    assert text.splitlines()[-1].startswith("| 1 * |")
    assert text.splitlines()[-1].endswith(" | 18.4 |")


def test_report_md_says_one_seed_and_one_epoch(report):
    text = (report / "report.md").read_text()
    assert "1 seed (0); at most 1 epoch;" in text and "1 torch thread;" in text
    assert "1 seeds" not in text and "1 epochs" not in text
    assert "## Training and selection" in text and "| 1 * |" in text


def _variant(report_dir, acc_no_background: float, gap_ci: list[float]) -> dict:
    data = json.loads((report_dir / "report.json").read_text())
    data = copy.deepcopy(data)
    data["summary"]["acc_no_background"]["mean"] = acc_no_background
    data["summary"]["bg_gap"].update(mean=0.3, ci=gap_ci)
    data["flags"]["object"] = object_flag(data["summary"])
    return data


def test_a_model_that_did_not_learn_the_object_is_flagged(report):
    """acc_no_background 23% < 50%: flagged, and never read as using the background even
    when its BG-Gap interval excludes 0."""
    flagged = _variant(report, 0.23, [0.2, 0.4])
    assert flagged["flags"]["object"] == {
        "learned": False, "rule": "not learned when acc_no_background < 50%",
        "acc_no_background": 0.23,
    }  # fmt: skip
    text = report_markdown(flagged)
    assert "**Not interpretable: the model did not learn the object**" in text
    assert "(accuracy without background 23.0%; rule: not learned when" in text
    assert "the model uses the background" not in text
    assert "not interpretable, since the model did not learn the object" in text


def test_a_model_that_learned_the_object_is_read_normally(report):
    learned = _variant(report, 0.9, [0.2, 0.4])
    assert learned["flags"]["object"]["learned"] is True
    text = report_markdown(learned)
    assert "Not interpretable" not in text
    assert "its interval excludes 0: the model uses the background" in text
    exactly_half = _variant(report, 0.5, [-0.1, 0.1])
    assert exactly_half["flags"]["object"]["learned"] is True  # the rule is strictly under 50%
    assert "no reliance on the background is detectable" in report_markdown(exactly_half)


def test_no_background_split_means_unknown_not_flagged():
    assert object_flag({})["learned"] is None
    assert plural(1, "seed") == "1 seed" and plural(3, "seed") == "3 seeds"
    assert plural(0, "epoch") == "0 epochs"


def test_resume_returns_a_finished_report_and_retrains_a_changed_one(report, monkeypatch):
    import texmnist.evaluate.report as reportmod

    repo = report.parent / "repo"
    before = (report / "report.json").read_text()

    def refuse(*args, **kwargs):
        raise AssertionError("a finished report was retrained")

    monkeypatch.setattr(reportmod, "run_seed", refuse)
    again = run_report(repo, "default", report, resume=True, **QUICK)
    assert again == json.loads(before) and (report / "report.json").read_text() == before
    with pytest.raises(AssertionError, match="retrained"):  # another setting: trains
        run_report(repo, "default", report, resume=True, **{**QUICK, "epochs": 2})
    with pytest.raises(AssertionError, match="retrained"):  # no resume: trains
        run_report(repo, "default", report, **QUICK)


def test_an_interrupted_report_resumes_from_its_next_seed(report, tmp_path, monkeypatch):
    """Seed 0 finishes, seed 1 is interrupted: with --resume the next run trains seed 1
    only, and the report holds seed 0's result as the first run computed it."""
    import texmnist.evaluate.report as reportmod

    repo, out = report.parent / "repo", tmp_path / "out"
    real, trained = reportmod.run_seed, []

    def interrupted(data, model_name, settings, **kwargs):
        if settings.seed == 1:
            raise KeyboardInterrupt
        trained.append(settings.seed)
        return real(data, model_name, settings, **kwargs)

    monkeypatch.setattr(reportmod, "run_seed", interrupted)
    kwargs = {**QUICK, "seeds": (0, 1), "resume": True}
    with pytest.raises(KeyboardInterrupt):
        run_report(repo, "default", out, **kwargs)
    assert not (out / "report.json").exists()
    assert {p.name for p in (out / ".partial").iterdir()} == {"seed-0.json", "seed-0.pt"}
    saved = json.loads((out / ".partial" / "seed-0.json").read_text())["result"]

    def counting(data, model_name, settings, **kwargs):
        trained.append(settings.seed)
        return real(data, model_name, settings, **kwargs)

    monkeypatch.setattr(reportmod, "run_seed", counting)
    result = run_report(repo, "default", out, **kwargs)
    assert trained == [0, 1]  # seed 0 once, in the first run
    first = result["runs"][0]
    assert first["resumed"] is True and first["seed"] == 0
    assert first["acc_test_random"] == saved["acc_test_random"]
    assert [r["seed"] for r in result["runs"]] == [0, 1] and "resumed" not in result["runs"][1]
    assert result["wall_seconds"] >= first["wall_seconds"] > 0
    assert not (out / ".partial").exists() and (out / "saliency.png").is_file()
