"""The baseline matrix: every config x method, one report each, one table and one figure.

``run_matrix`` writes, under its output folder R:

- ``R/<config>/<method>/``: that cell's report folder (see :mod:`.report`);
- ``R/matrix.json``: per cell its status (``done``/``failed``), settings, data fingerprint,
  summary (or one-line error) and CPU time; rewritten after every cell, so an interrupted
  run keeps its finished cells;
- ``R/matrix.md``: one table, rows config x method, each metric as mean [95% interval over
  seeds], under a header stating the model, epochs, seeds, hardware and texmnist version;
- ``R/matrix.png``: worst-group accuracy and BG-Gap per config, methods as colours.

A cell whose settings and data fingerprint equal those recorded in ``R/matrix.json`` (and
whose report is there) is reused, not retrained.
"""

from __future__ import annotations

import json
import math
import os
import platform
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from .. import __version__
from ..errors import ConfigError
from . import metrics
from .errors import EvaluateError, require
from .load import available_configs, load_config
from .output import jsonable, make_dir, report_dir
from .plots import pyplot
from .report import run_report
from .settings import METHODS, TrainSettings

MATRIX_FILES = ("matrix.json", "matrix.md", "matrix.png")
# (summary key, column title): the table's columns, in order.
COLUMNS = (
    ("acc_test_correlated", "correlated"),
    ("acc_test_random", "random"),
    ("acc_no_background", "no background"),
    ("bg_gap", "BG-Gap"),
    ("bg_follow", "bg_follow"),
    ("acc_wg", "worst group"),
)
PANELS = (("acc_wg", "worst-group accuracy (%)"), ("bg_gap", "BG-Gap (points)"))


def resolve(names: Sequence[str] | str, known: Sequence[str], option: str) -> list[str]:
    """`all` -> every known name; else the names, each checked, duplicates dropped."""
    if isinstance(names, str):
        names = [n.strip() for n in names.split(",") if n.strip()]
    if not names:
        raise ConfigError(f"{option}: give at least one name, or all")
    if list(names) == ["all"]:
        return list(known)
    unknown = [n for n in names if n not in known]
    if unknown:
        raise ConfigError(
            f"{option}: unknown {', '.join(map(repr, unknown))}; choose from "
            f"{', '.join(known)} or all"
        )
    return list(dict.fromkeys(names))


def hardware() -> dict[str, Any]:
    """The CPU model and torch's threads, and the CUDA device if there is one."""
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass  # not Linux: platform's answer stands
    cuda = torch.cuda.get_device_name(0) if torch.cuda.is_available() else None
    return {
        "cpu": cpu,
        "cpu_count": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "cuda": cuda,
    }


def run_matrix(
    data: str | Path,
    out: str | Path,
    *,
    configs: Sequence[str] | str = "all",
    methods: Sequence[str] | str = "all",
    seeds: Sequence[int] = (0, 1, 2),
    model: str = "cnn",
    epochs: int = 2,
    batch_size: int = 128,
    lr: float = 1e-3,
    weight_decay: float | None = None,
    max_train: int | None = None,
    device: str | None = None,
    cache_dir: str | Path | None = None,
    saliency_examples: int = 1000,
    progress: bool = True,
) -> dict[str, Any]:
    """Train every config x method cell (reusing matching finished ones); write R/matrix.*."""
    require("matplotlib")
    if not seeds:
        raise EvaluateError("--seeds: give at least one seed")
    configs = resolve(configs, available_configs(data), "--configs")
    methods = resolve(methods, METHODS, "--methods")
    out = report_dir(out)
    run_args = dict(
        model=model, epochs=epochs, seeds=list(seeds), batch_size=batch_size, lr=lr,
        weight_decay=weight_decay, max_train=max_train, saliency_examples=saliency_examples,
    )  # fmt: skip
    previous = _previous_cells(out / "matrix.json")
    cells: dict[str, dict[str, Any]] = {}
    matrix = {
        "data": str(data),
        "configs": configs,
        "methods": methods,
        "settings": run_args,
        "hardware": hardware(),
        "versions": {"texmnist": __version__, "torch": torch.__version__},
        "cells": cells,
    }
    for config in configs:
        loaded = None
        fingerprint = _fingerprint(data, config)
        for method in methods:
            key = f"{config}/{method}"
            settings = {
                **run_args,
                "method": method,
                "hyperparameters": TrainSettings(
                    method=method, epochs=epochs, batch_size=batch_size, lr=lr,
                    weight_decay=weight_decay,
                ).hyperparameters(),
            }  # fmt: skip
            settings = jsonable(settings)
            old = previous.get(key)
            if _reusable(old, settings, fingerprint, out / config / method):
                cells[key] = {**old, "reused": True}
                continue
            start = time.process_time()
            try:
                loaded = loaded or load_config(
                    data, config, cache_dir=cache_dir, max_train=max_train
                )
                report = run_report(
                    data, config, out / config / method, method=method, device=device,
                    cache_dir=cache_dir, progress=progress, loaded=loaded, **run_args,
                )  # fmt: skip
                cells[key] = {"status": "done", "summary": report["summary"]}
            except Exception as e:  # one failing cell must not stop the others
                cells[key] = {"status": "failed", "error": _one_line(e)}
            cells[key].update(
                config=config, method=method, settings=settings, fingerprint=fingerprint,
                cpu_seconds=time.process_time() - start, reused=False,
            )  # fmt: skip
            _write_json(out / "matrix.json", matrix)
    _write_json(out / "matrix.json", matrix)
    (out / "matrix.md").write_text(matrix_markdown(matrix))
    plot_matrix(matrix, out / "matrix.png")
    return matrix


def _fingerprint(data: str | Path, config: str) -> str | None:
    """The config's data fingerprint from the folder's texmnist.json (None: unknown)."""
    folder = Path(data)
    if not folder.is_dir():
        return None
    from ..repo.meta import read_metadata

    meta = read_metadata(folder)
    entry = (meta or {}).get("configs", {}).get(config) or {}
    return entry.get("fingerprint")


def _previous_cells(path: Path) -> dict[str, dict[str, Any]]:
    """The cells of an earlier run's matrix.json; none if it is absent or unreadable."""
    try:
        return dict(json.loads(path.read_text()).get("cells", {}))
    except (OSError, ValueError, AttributeError):
        return {}


def _reusable(old: Mapping | None, settings: Mapping, fingerprint: str | None, folder: Path):
    """A finished cell with the same settings, a known and equal fingerprint, its report."""
    return (
        old is not None
        and old.get("status") == "done"
        and fingerprint is not None
        and old.get("fingerprint") == fingerprint
        and old.get("settings") == settings
        and (folder / "report.json").is_file()
    )


def _one_line(error: BaseException) -> str:
    text = str(error).strip().splitlines()
    return f"{type(error).__name__}: {text[0]}" if text else type(error).__name__


def _write_json(path: Path, obj: Any) -> None:
    """Write JSON whole or not at all (a temporary file renamed over the old one)."""
    make_dir(path.parent)  # the matrix folder exists once there is a result to record
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(jsonable(obj), indent=2) + "\n")
    os.replace(tmp, path)


# -- the table ------------------------------------------------------------------------


def matrix_markdown(matrix: Mapping[str, Any]) -> str:
    s, hw = matrix["settings"], matrix["hardware"]
    cells = matrix["cells"]
    cpu = sum(c.get("cpu_seconds", 0.0) for c in cells.values() if not c.get("reused"))
    threads = f"{hw['torch_threads']} torch threads of {hw['cpu_count']} CPUs"
    prints = {c["config"]: c["fingerprint"] for c in cells.values() if c.get("fingerprint")}
    lines = [
        "# Baselines: every method on every config",
        "",
        f"Model `{s['model']}`, {s['epochs']} epochs, batch {s['batch_size']}, AdamW lr "
        f"{s['lr']}, seeds {', '.join(map(str, s['seeds']))}"
        + (f", first {s['max_train']:,} training examples" if s.get("max_train") else "")
        + f"; texmnist {matrix['versions']['texmnist']}, torch {matrix['versions']['torch']}.",
        f"Hardware: {hw['cpu']} ({threads}); CUDA: {hw['cuda'] or 'none'}."
        + (f" CPU time of the cells trained in this run: {cpu / 60:.1f} min." if cpu else ""),
        "Data fingerprints: "
        + (", ".join(f"`{c}` `{f[:16]}…`" for c, f in prints.items()) or "unknown")
        + ".",
        "",
        "Values in percent: mean over seeds [95% Student-t interval of the mean over seeds; "
        "one seed: that run's own interval]. BG-Gap = correlated − random accuracy; bg_follow "
        "= share of `test_random` predictions equal to the background's digit; worst group = "
        "the lowest accuracy over label × texture (or `group`) groups. Per-method "
        "hyper-parameters are in each cell's `report.json`.",
        "",
        "| config | method | " + " | ".join(title for _, title in COLUMNS) + " |",
        "| --- | --- |" + " --- |" * len(COLUMNS),
    ]  # fmt: skip
    for config in matrix["configs"]:
        for method in matrix["methods"]:
            cell = cells.get(f"{config}/{method}")
            if cell is None:
                continue
            if cell["status"] != "done":
                error = cell["error"].replace("|", "\\|")
                lines.append(f"| `{config}` | {method} | failed: {error} |" + " |" * 5)
                continue
            summary = cell["summary"]
            values = [
                metrics.mean_ci_text(summary[k]) if isinstance(summary.get(k), Mapping) else "–"
                for k, _ in COLUMNS
            ]
            lines.append(f"| `{config}` | {method} | " + " | ".join(values) + " |")
    return "\n".join(lines) + "\n"


# -- the figure -----------------------------------------------------------------------


def plot_matrix(matrix: Mapping[str, Any], path: Path) -> None:
    """Per panel (worst group, BG-Gap): configs on x, one dot per method with its interval."""
    plt = pyplot()
    configs, methods = matrix["configs"], matrix["methods"]
    colours = plt.get_cmap("tab10")
    fig, axes = plt.subplots(1, len(PANELS), figsize=(4.2 * len(PANELS) + 1.6, 3.8))
    width = 0.8 / max(len(methods), 1)
    for ax, (key, ylabel) in zip(axes, PANELS, strict=True):
        for m, method in enumerate(methods):
            x = np.arange(len(configs)) - 0.4 + width * (m + 0.5)
            mean, lo, hi = (np.full(len(configs), math.nan) for _ in range(3))
            for c, config in enumerate(configs):
                entry = matrix["cells"].get(f"{config}/{method}", {}).get("summary", {}).get(key)
                if isinstance(entry, Mapping):
                    mean[c] = 100 * entry["mean"]
                    ci = entry.get("ci") or (entry["mean"], entry["mean"])
                    lo[c], hi[c] = 100 * ci[0], 100 * ci[1]
            ax.errorbar(
                x, mean, yerr=[mean - lo, hi - mean], fmt="o", ms=5, capsize=3,
                color=colours(m % 10), label=method,
            )  # fmt: skip
        ax.set_xticks(range(len(configs)), configs)
        ax.set_ylabel(ylabel)
        ax.axhline(0 if key == "bg_gap" else 10, color="gray", lw=0.8, ls="--")
        if key != "bg_gap":
            ax.set_ylim(0, 100)
        ax.grid(axis="y", alpha=0.3)
    axes[0].set_title("worst group (higher is better; dashed: chance)", fontsize=9)
    axes[1].set_title("BG-Gap (0 = no background reliance)", fontsize=9)
    axes[-1].legend(loc="center left", bbox_to_anchor=(1.02, 0.5), fontsize=8, frameon=False)
    s = matrix["settings"]
    fig.suptitle(
        f"{s['model']}, {s['epochs']} epochs, {len(s['seeds'])} seeds; "
        "dots: mean, whiskers: 95% interval over seeds",
        fontsize=9,
    )
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
