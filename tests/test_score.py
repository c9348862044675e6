"""`texmnist.evaluate.score`: predictions files made anywhere, their refusals, and the
equality of their metrics with `evaluate`'s on the same predictions (no torch needed)."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pyarrow as pa
import pyarrow.csv as pcsv
import pyarrow.parquet as pq
import pytest

from texmnist.errors import TexmnistError
from texmnist.evaluate import EvaluateError, metrics
from texmnist.evaluate.predictions import PredictionsError
from texmnist.evaluate.scoring import score, score_runs
from texmnist.generate.config import named_config
from texmnist.repo.arrays import DataError, load_arrays
from texmnist.repo.folder import build

SPLITS = ("test_correlated", "test_random", "test_no_background", "test_counterfactual")
META = ["label", "texture", "mnist_index", "aligned"]


def _preds(score_data, seed: int) -> dict[str, np.ndarray]:
    """Labels with about a third of them replaced at random: every metric is non-trivial."""
    rng = np.random.default_rng(seed)
    out = {}
    for split, arrays in score_data.items():
        label = arrays["label"]
        out[split] = np.where(rng.random(label.size) < 0.3, rng.integers(0, 10, label.size), label)
    return out


def _table(preds_by_seed: dict, *, shuffle: bool = True, seeds: bool = True) -> pa.Table:
    columns = {"split": [], "index": [], "prediction": [], "seed": []}
    for seed, preds in preds_by_seed.items():
        for split, p in preds.items():
            columns["split"] += [split] * p.size
            columns["index"] += list(range(p.size))
            columns["prediction"] += p.tolist()
            columns["seed"] += [seed] * p.size
    if not seeds:
        del columns["seed"]
    table = pa.table(columns)
    if shuffle:  # the file's row order must not matter
        table = table.take(np.random.default_rng(9).permutation(table.num_rows))
    return table


def _write(table: pa.Table, path) -> str:
    (pcsv.write_csv if str(path).endswith(".csv") else pq.write_table)(table, path)
    return str(path)


@pytest.mark.parametrize("suffix", [".csv", ".parquet"])
def test_score_equals_evaluate_per_seed(score_repo, score_data, tmp_path, suffix):
    by_seed = {0: _preds(score_data, 0), 1: _preds(score_data, 1)}
    path = _write(_table(by_seed), tmp_path / f"p{suffix}")
    runs, info = score_runs(path, score_repo)
    assert set(runs) == {0, 1}
    for seed, preds in by_seed.items():
        assert runs[seed] == metrics.evaluate(preds, score_data)
    assert runs[0] != runs[1]
    assert "cf_attraction" in runs[0] and "bg_gap" in runs[0]
    assert info["predictions"]["seeds"] == [0, 1]
    assert info["absent_splits"] == ["train"]
    assert (
        info["fingerprint"]
        == json.loads((score_repo / "texmnist.json").read_text())["configs"]["default"][
            "fingerprint"
        ]
    )


def test_score_one_run_with_arrays_and_probabilities(score_data):
    preds = _preds(score_data, 3)
    table = _table({0: preds}, seeds=False)
    onehot = np.eye(10)[np.asarray(table.column("prediction"))]
    probs = 0.9 * onehot + 0.01  # rows sum to 1, the prediction is the argmax
    table = table.drop_columns(["prediction"])
    for c in range(10):
        table = table.append_column(f"prob_{c}", pa.array(probs[:, c]))
    assert score(table, score_data) == metrics.evaluate(preds, score_data)


def test_score_mnist_index_key_and_subset_of_splits(score_repo, score_data):
    preds = _preds(score_data, 4)
    keep = ("test_correlated", "test_random")
    table = pa.table(
        {
            "split": [s for s in keep for _ in score_data[s]["label"]],
            "mnist_index": np.concatenate([score_data[s]["mnist_index"] for s in keep]),
            "prediction": np.concatenate([preds[s] for s in keep]),
        }
    )
    runs, info = score_runs(table, score_repo)
    assert runs[None] == metrics.evaluate({s: preds[s] for s in keep}, score_data)
    assert sorted(info["absent_splits"]) == ["test_counterfactual", "test_no_background", "train"]


def test_score_refuses_several_seeds(score_data):
    with pytest.raises(PredictionsError, match="2 seeds"):
        score(_table({0: _preds(score_data, 0), 1: _preds(score_data, 1)}), score_data)


def _refusal(score_repo, score_data, tmp_path, edit, suffix=".csv") -> str:
    """The one-line message of scoring a good file after `edit(table) -> table`."""
    table = _table({0: _preds(score_data, 0)}, shuffle=False, seeds=False)
    path = _write(edit(table), tmp_path / f"bad{suffix}")
    with pytest.raises(EvaluateError) as e:
        score(path, score_repo)
    message = str(e.value)
    assert "\n" not in message and message.startswith(str(tmp_path / "bad"))
    return message


def _set(table: pa.Table, name: str, values) -> pa.Table:
    i = table.column_names.index(name)
    return table.set_column(i, name, pa.array(values))


def _rows(table: pa.Table, keep) -> pa.Table:
    return table.take(np.asarray(keep))


REFUSALS = {
    "missing rows": (lambda t: _rows(t, range(1, t.num_rows)), "misses 1 of its"),
    "repeated row": (lambda t: pa.concat_tables([t, _rows(t, [5])]), "appears twice"),
    "unknown split": (
        lambda t: _set(t, "split", ["test_nope"] + t.column("split").to_pylist()[1:]),
        "unknown split 'test_nope'",
    ),
    "label out of range": (
        lambda t: _set(t, "prediction", [10] + t.column("prediction").to_pylist()[1:]),
        "'prediction' must be in 0..9, found 10 at row 1",
    ),
    "negative index": (
        lambda t: _set(t, "index", [-1] + t.column("index").to_pylist()[1:]),
        "'index' must be >= 0, found -1 at row 1",
    ),
    "index beyond the split": (
        lambda t: _set(t, "index", [10**6] + t.column("index").to_pylist()[1:]),
        "index 1000000 at row 1 is outside split",
    ),
    "non-integer prediction": (
        lambda t: _set(t, "prediction", [1.5] + t.column("prediction").to_pylist()[1:]),
        "'prediction' must hold integers, found 1.5 at row 1",
    ),
    "NaN prediction": (
        lambda t: _set(t, "prediction", [float("nan")] + t.column("prediction").to_pylist()[1:]),
        "'prediction' is empty at row 1",  # CSV writes NaN as an empty cell
    ),
    "text prediction": (
        lambda t: _set(t, "prediction", ["cat"] + [str(x) for x in t.column("prediction")][1:]),
        "'prediction' must hold integers, not string",
    ),
    "empty split cell": (
        lambda t: _set(t, "split", [None] + t.column("split").to_pylist()[1:]),
        "'split' is empty at row 1",
    ),
    "unknown column": (
        lambda t: t.rename_columns(["split", "index", "predicton"]),
        "unknown column 'predicton'",
    ),
    "no split column": (lambda t: t.rename_columns(["splits", "index", "prediction"]), "'splits'"),
    "no key column": (lambda t: t.drop_columns(["index"]), "no 'index' (or 'mnist_index') column"),
    "no prediction": (lambda t: t.drop_columns(["prediction"]), "no 'prediction' column"),
    "partial logits": (
        lambda t: t.append_column("logit_0", pa.array(np.zeros(t.num_rows))),
        "has logit_ columns but not 'logit_1'",
    ),
    "no rows": (lambda t: t.slice(0, 0), "no rows"),
}


@pytest.mark.parametrize("case", REFUSALS)
def test_score_refusals(score_repo, score_data, tmp_path, case):
    edit, expected = REFUSALS[case]
    assert expected in _refusal(score_repo, score_data, tmp_path, edit)


def test_score_refuses_nan_in_parquet_and_bad_scores(score_repo, score_data, tmp_path):
    nan = lambda t: _set(t, "prediction", [np.nan] + t.column("prediction").to_pylist()[1:])  # noqa: E731
    assert "found nan at row 1" in _refusal(score_repo, score_data, tmp_path, nan, ".parquet")

    def logits(t, first=None, both=False):
        scores = np.eye(10)[np.asarray(t.column("prediction"))]
        if first is not None:
            scores[0] = first
        for c in range(10):
            t = t.append_column(f"logit_{c}", pa.array(scores[:, c]))
        return t.append_column("prob_0", pa.array(scores[:, 0])) if both else t

    wrong = np.zeros(10)
    wrong[(int(score_data["test_correlated"]["label"][0]) + 1) % 10] = 5.0
    msg = _refusal(score_repo, score_data, tmp_path, lambda t: logits(t, first=wrong), ".parquet")
    assert "at row 1 is not the largest score" in msg
    inf = np.full(10, np.inf)
    assert "must hold a finite number" in _refusal(
        score_repo, score_data, tmp_path, lambda t: logits(t, first=inf), ".parquet"
    )
    assert "both logit_ and prob_" in _refusal(
        score_repo, score_data, tmp_path, lambda t: logits(t, both=True), ".parquet"
    )


def test_score_refuses_files_data_and_keys(score_repo, score_data, tmp_path):
    good = _write(_table({0: _preds(score_data, 0)}, seeds=False), tmp_path / "good.csv")
    with pytest.raises(PredictionsError, match=r"expected a \.csv or \.parquet"):
        score(str(tmp_path / "p.json"), score_repo)
    with pytest.raises(PredictionsError, match="no such file"):
        score(str(tmp_path / "absent.csv"), score_repo)
    (tmp_path / "junk.parquet").write_bytes(b"not parquet")
    with pytest.raises(PredictionsError, match="not a readable Parquet file"):
        score(str(tmp_path / "junk.parquet"), score_repo)
    with pytest.raises(TexmnistError, match="config 'nope' is not built there") as e:
        score(good, score_repo, config="nope")
    assert "\n" not in str(e.value)
    # test_counterfactual holds each digit ten times: mnist_index cannot place its rows.
    cf = score_data["test_counterfactual"]
    table = pa.table(
        {
            "split": ["test_counterfactual"] * cf["label"].size,
            "mnist_index": cf["mnist_index"],
            "prediction": cf["label"],
        }
    )
    with pytest.raises(PredictionsError, match="mnist_index is not unique in split"):
        score(table, score_repo)
    # With both keys, index places the rows and mnist_index must agree with the data.
    t = _table({0: _preds(score_data, 0)}, shuffle=False, seeds=False)
    mi = np.concatenate([score_data[s]["mnist_index"] for s in SPLITS])
    with pytest.raises(PredictionsError, match="mnist_index at row 2 is not that of split"):
        score(t.append_column("mnist_index", pa.array(np.r_[mi[0], mi[0], mi[2:]])), score_repo)
    # A seed that misses a split another seed has.
    uneven = _table(
        {0: _preds(score_data, 0), 1: {"test_random": _preds(score_data, 1)["test_random"]}}
    )
    with pytest.raises(PredictionsError, match="seed 1 has no rows of split"):
        score_runs(uneven, score_repo)


def test_score_refuses_edited_data(score_repo, score_data, tmp_path):
    """A split changed after the build fails its texmnist.json fingerprint before scoring."""
    copy = tmp_path / "repo"
    shutil.copytree(score_repo, copy)
    meta = json.loads((copy / "texmnist.json").read_text())
    shard = copy / meta["configs"]["default"]["splits"]["test_random"]["files"][0]
    table = pq.read_table(shard)
    labels = np.asarray(table.column("label")).copy()
    labels[0] = (labels[0] + 1) % 10
    pq.write_table(
        table.set_column(table.column_names.index("label"), "label", pa.array(labels)), shard
    )
    path = _write(_table({0: _preds(score_data, 0)}, seeds=False), tmp_path / "p.csv")
    with pytest.raises(DataError, match="do not match their fingerprint in texmnist.json"):
        score(path, copy)


def test_score_gives_the_per_level_metrics_of_a_trained_report(fake_sources, tmp_path):
    """On `sizes`, `score` reads scale and position from the metadata alone (one image for
    the canvas) and returns the same per-level keys as the harness, which has the images."""
    from texmnist.evaluate.levels import level_metrics

    mnist, dtd = fake_sources
    repo = tmp_path / "sizes"
    config = named_config("sizes", mnist_dir=str(mnist), dtd_dir=str(dtd), validation_size=8,
                          counterfactual_size=8)  # fmt: skip
    build(config, repo, write_card=False)
    splits = ("test_correlated", "test_random", "test_no_background")
    full = {s: load_arrays(repo, "sizes", s) for s in splits}  # images and all, as trained
    preds = _preds({s: {"label": full[s]["label"]} for s in splits}, 7)
    table = _table({0: preds}, seeds=False)
    runs, _ = score_runs(table, repo, config="sizes")
    expected = level_metrics(preds, full)
    got = {k: v for k, v in runs[None].items() if "_scale_" in k or "_position_" in k}
    assert got == expected
    assert {"bg_gap_scale_14", "bg_gap_scale_28", "bg_gap_position_corner"} <= set(got)
    assert got["acc_no_background_scale_14"] != got["acc_no_background_scale_28"]
