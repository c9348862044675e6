"""report.md: the tables of a report and a reading generated from its numbers."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from . import metrics
from .levels import LEVEL_METRICS

MIN_OBJECT_ACCURACY = 0.5  # acc_no_background below this: the model did not learn the object
OBJECT_RULE = f"acc_no_background < {100 * MIN_OBJECT_ACCURACY:.0f}%"


def _pct(x: float) -> str:
    return "n/a" if x is None or math.isnan(x) else f"{100 * x:.1f}%"


def plural(n: int, word: str) -> str:
    """``"1 seed"``, ``"3 seeds"``."""
    return f"{n} {word}" if n == 1 else f"{n} {word}s"


def object_flag(summary: Mapping[str, Any]) -> dict[str, Any]:
    """Whether the model learned the object: ``learned`` is False when the mean accuracy
    without background is under :data:`MIN_OBJECT_ACCURACY` (then no reading of its
    background reliance holds), None when the data has no ``test_no_background``."""
    entry = summary.get("acc_no_background")
    value = entry["mean"] if entry else None
    learned = None if value is None else bool(value >= MIN_OBJECT_ACCURACY)
    return {"learned": learned, "rule": f"not learned when {OBJECT_RULE}",
            "acc_no_background": value}  # fmt: skip


def chosen_values(log: Mapping[str, Any]) -> str | None:
    """What validation chose in one run besides the epoch: the tuned grid's point, else DFR's
    C (chosen in its own step, on the scoring half's worst group); None: nothing tuned."""
    if log.get("grid_choice"):
        return log["grid_choice"]
    dfr = log.get("dfr")
    return f"C={dfr['c']:g}" if dfr else None


def _validation_scores(log: Mapping[str, Any]) -> str:
    """Each grid point's validation score, or each C's worst group for DFR."""
    if "grid" in log:
        # The accuracy breaks ties of the worst group (logs before the tie-break lack it).
        return ", ".join(
            f"{name} {_pct(point['score'])}"
            + (f" (accuracy {_pct(point['accuracy'])})" if "accuracy" in point else "")
            for name, point in log["grid"].items()
        )
    by_c = log.get("dfr", {}).get("c_scores_worst_group_acc", {})
    scores = {f"C={float(c):g}": score for c, score in by_c.items()}
    return ", ".join(f"{name} {_pct(score)}" for name, score in scores.items())


def _jtt_errors(seeds: list[int], logs: list[Mapping[str, Any]]) -> str:
    """JTT's error set per T, and how many of its examples conflict with their texture."""
    per_seed = [
        f"seed {seed}: "
        + ", ".join(
            f"T={t} {n:,} ({log['errors_conflicting'][t]:,} conflicting)"
            for t, n in log["errors"].items()
        )
        for seed, log in zip(seeds, logs, strict=True)
    ]
    return (
        "JTT's error sets (training examples the identification model gets wrong after T "
        f"epochs; {logs[0]['train_conflicting']:,} training examples conflict with their "
        "texture): " + "; ".join(per_seed) + "."
    )


def training_lines(report: Mapping[str, Any]) -> list[str]:
    """How the runs trained and what validation chose: epochs, values, the first curve."""
    s, sel = report["settings"], report["selection"]
    runs = [r["train_log"] for r in report["runs"]]
    chosen = ", ".join(str(log["chosen_epoch"]) for log in runs)
    ran = ", ".join(str(log["epochs_run"]) for log in runs)
    patience = s.get("patience")
    stop = (
        f"stopping after {plural(patience, 'epoch')} without a better score"
        if patience
        else ("no early stopping")
    )
    lines = [
        "## Training and selection",
        "",
        f"At most {plural(s['epochs'], 'epoch')}, {s['lr_schedule']} learning rate, {stop}. "
        f"Selection data: {sel['data']['source']} ({sel['data']['n']:,} examples); the kept "
        f"epoch is the best by validation {sel['criterion']}. Epochs run per seed: {ran}; "
        f"chosen: {chosen}.",
    ]  # fmt: skip
    if any(chosen_values(log) for log in runs):
        values = [
            f"seed {seed}: {chosen_values(log)} (validation {_validation_scores(log)})"
            for seed, log in zip(s["seeds"], runs, strict=True)
        ]
        lines += ["", "Hyper-parameters chosen on validation: " + "; ".join(values) + "."]
    if all("errors_conflicting" in log.get("jtt", {}) for log in runs):
        lines += ["", _jtt_errors(s["seeds"], [log["jtt"] for log in runs])]
    curve = runs[0]["curve"]
    rrr = "train_rrr_penalty" in curve[0]  # the term to weigh lambda against the loss
    lines += [
        "",
        f"Learning curve of seed {s['seeds'][0]} (`curve.png` draws every seed; * = kept):",
        "",
        "| epoch | train loss | validation accuracy | validation worst group | lr |"
        + (" RRR term (before λ) |" if rrr else ""),
        "| --- | --- | --- | --- | --- |" + (" --- |" if rrr else ""),
    ]
    for point in curve:
        mark = " *" if point["epoch"] == runs[0]["chosen_epoch"] else ""
        lines.append(
            f"| {point['epoch']}{mark} | {point['train_loss']:.4f} | "
            f"{_pct(point.get('val_acc'))} | {_pct(point.get('val_worst_group'))} | "
            f"{point['lr']:.2g} |" + (f" {point['train_rrr_penalty']:.3g} |" if rrr else "")
        )
    return lines + [""]


def _header(report: Mapping[str, Any]) -> list[str]:
    """Title, data and how the predictions came about: trained here, or a file's."""
    s, d = report["settings"], report["data"]
    data = (
        f"Data `{d['data']}` config `{d['config']}`"
        + (f", fingerprint `{d['fingerprint'][:16]}…`" if d.get("fingerprint") else "")
        + ". Splits: " + ", ".join(f"{k} {v:,}" for k, v in d["splits"].items()) + "."
    )  # fmt: skip
    if "predictions" in report:  # `texmnist score`: predictions made anywhere
        p = report["predictions"]
        runs = f"seeds {', '.join(map(str, p['seeds']))}" if p["seeds"] else "one run"
        scores = f"; {p['scores']} scores given" if p["scores"] else ""
        return [
            f"# Textured MNIST score: `{d['config']}`, predictions `{p['file']}`",
            "",
            data + " Not in the file: " + (", ".join(d["absent_splits"]) or "none") + ".",
            f"Predictions `{p['file']}` (sha256 `{p['sha256'][:16]}…`): {p['rows']:,} rows, "
            f"{runs}, rows placed by `{p['key']}`{scores}.",
            "",
        ]
    hp = report["hyperparameters"]
    size = f"; {s['parameters']:,} parameters" if "parameters" in s else ""
    return [
        f"# Textured MNIST evaluation: `{d['config']}`, {s['model']} / {s['method']}",
        "",
        data,
        f"{plural(len(s['seeds']), 'seed')} ({', '.join(map(str, s['seeds']))}); at most "
        f"{plural(s['epochs'], 'epoch')}; device {s['device']}, "
        f"{plural(s['torch_threads'], 'torch thread')}{size}.",
        "",
        *_flag_lines(report),
        "Hyper-parameters: " + ", ".join(f"{k}={v}" for k, v in hp.items()) + ".",
        "",
    ]


def report_markdown(report: Mapping[str, Any]) -> str:
    s, summary = report["settings"], report["summary"]
    lines = [
        *_header(report),
        "## Metrics (mean [95% t-interval over seeds]; one seed: its own interval)",
        "",
        metrics.format_table(summary),
        *(training_lines(report) if "selection" in report else []),
    ]  # fmt: skip
    for kind, title in (("scale", "digit scale (px)"), ("position", "digit position")):
        keys = level_keys(summary, kind)
        if keys:
            lines += [f"## Per {title}", "", metrics.format_table(summary, keys)]
    if "cf_attraction" in summary:
        cf_keys = [f"cf_acc_bg_{c}" for c in range(metrics.NUM_CLASSES)]
        lines += [
            "## Counterfactual backgrounds (`test_counterfactual`)",
            "",
            "Every digit on a photo of each of the ten categories. `cf_flip`: share of the nine "
            "foreign backgrounds that change the digit's prediction; `cf_consistent`: share of "
            "digits predicted alike on all ten; `cf_attraction`: mean over label ≠ category of "
            "P(prediction = the category's digit). `attraction.png` draws the matrix; "
            f"most attractive category (first seed): {_most_attractive(report)}. "
            "Accuracy per background category:",
            "",
            metrics.format_table(summary, [k for k in cf_keys if k in summary]),
        ]
    sal_keys = [f"{kind}_{m}_{split}" for kind in ("grad", "cam") for m in ("bg", "iou")
                for split in metrics.SALIENCY_SPLITS]  # fmt: skip
    sal_keys = [k for k in sal_keys if k in summary]
    if sal_keys:
        lines += [
            f"## Saliency vs. the digit mask (first {s['saliency_examples']} examples per split)",
            "",
            "`grad` = input-gradient saliency, `cam` = Grad-CAM; `bg` = share of saliency mass "
            "on the background, `iou` = IoU of the top-k salient pixels (k = mask area) with "
            "the mask. Intervals as above (t over seeds; one seed: normal over examples).",
            "",
            metrics.format_table(summary, sal_keys),
        ]
    lines += ["## Reading", "", reading(report), ""]
    return "\n".join(lines)


def _flag_lines(report: Mapping[str, Any]) -> list[str]:
    flag = object_flag(report["summary"])
    if flag["learned"] is not False:
        return []
    return [
        f"**Not interpretable: the model did not learn the object** (accuracy without "
        f"background {_pct(flag['acc_no_background'])}; rule: {flag['rule']}). Its BG-Gap and "
        "background metrics say nothing about how much a digit classifier relies on the "
        "background.",
        "",
    ]


def _most_attractive(report: Mapping[str, Any]) -> int:
    return report["runs"][0]["cf_attraction"]["most_attractive"]


def level_keys(summary: Mapping[str, Any], kind: str) -> list[str]:
    """The summary's per-level keys of one kind (`bg_gap_scale_14`, ...), levels in order."""
    found = {}
    for key in summary:
        for name in LEVEL_METRICS:
            prefix = f"{name}_{kind}_"
            if key.startswith(prefix):
                level = key[len(prefix) :]
                found[(int(level) if level.isdigit() else level, LEVEL_METRICS.index(name))] = key
    return [found[k] for k in sorted(found)]  # one kind: its levels are all ints or all names


def reading(report: Mapping[str, Any]) -> str:
    """A one-paragraph interpretation generated from the numbers."""
    summary, s = report["summary"], report["settings"]

    def mean(key: str) -> float:
        return summary[key]["mean"] if key in summary else math.nan

    who = f"The {s['model']} trained with {s['method']}" if "method" in s else "The model"
    parts = [
        f"{who} scores {_pct(mean('acc_test_correlated'))} "
        f"when the background agrees with the digit and {_pct(mean('acc_test_random'))} when it "
        f"conflicts."
    ]
    learned = object_flag(summary)["learned"]
    if learned is False:
        parts.insert(
            0,
            f"The model did not learn the object (accuracy without background "
            f"{_pct(mean('acc_no_background'))}, under {100 * MIN_OBJECT_ACCURACY:.0f}%), so "
            "none of the figures below say how much a digit classifier relies on the background.",
        )
    if "bg_gap" in summary:
        gap = summary["bg_gap"]
        lo, hi = gap["ci"] or (math.nan, math.nan)
        covers = lo <= 0 <= hi
        if learned is False:
            verdict = "not interpretable, since the model did not learn the object"
        elif covers:
            verdict = "its interval covers 0, so no reliance on the background is detectable"
        else:
            verdict = "its interval excludes 0: the model uses the background"
        parts.append(
            f"The BG-Gap is {100 * gap['mean']:.1f} points (95% CI [{100 * lo:.1f}, "
            f"{100 * hi:.1f}], {gap['ci_kind']}); {verdict}."
        )
    if "bg_flip" in summary:
        parts.append(
            f"Of the digits it gets right on their own background, {_pct(mean('bg_flip'))} "
            f"turn wrong on a foreign one."
        )
    if "cf_attraction" in summary:
        parts.append(
            f"Across all ten backgrounds, {_pct(mean('cf_flip'))} of foreign backgrounds change "
            f"a digit's prediction, {_pct(mean('cf_consistent'))} of digits are predicted alike "
            f"on all ten, and a foreign background pulls the prediction to its own digit "
            f"{_pct(mean('cf_attraction'))} of the time."
        )
    if "bg_follow" in summary:
        parts.append(
            f"On conflicting examples it predicts the background's digit "
            f"{_pct(mean('bg_follow'))} of the time (uniform guessing: 10%)."
        )
    if "acc_no_background" in summary:
        parts.append(f"Without background it scores {_pct(mean('acc_no_background'))}")
        if "acc_background_only" in summary:
            parts[-1] += f", and from the texture alone {_pct(mean('acc_background_only'))}"
        parts[-1] += "."
    if "grad_bg_test_random" in summary:
        parts.append(
            f"{_pct(mean('grad_bg_test_random'))} of the input-gradient mass lies on the "
            f"background in test_random (top-k IoU with the digit "
            f"{mean('grad_iou_test_random'):.2f})."
        )
    if "acc_wg" in summary:
        parts.append(f"Worst-group accuracy is {_pct(mean('acc_wg'))}.")
    return " ".join(parts)
