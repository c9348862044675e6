"""The baseline matrix: every config x method, one report each, one table and one figure.

``run_matrix`` writes, under its output folder R:

- ``R/<config>/<method>/``: that cell's report folder (see :mod:`.report`);
- ``R/matrix.json``: per cell its status (``done``/``failed``), settings, data fingerprint,
  summary (or one-line error) and CPU time; rewritten after every cell, so an interrupted
  run keeps its finished cells;
- ``R/matrix.md``: one table, rows config x method, each metric as mean [95% interval over
  seeds], under a header stating the model, epochs, seeds, hardware and texmnist version;
- ``R/matrix.png``: worst-group accuracy and BG-Gap per config, methods as colours.

- ``R/<config>/<method>/cell.json``: the cell's record (as in matrix.json), written last.

A cell whose settings and data fingerprint equal those recorded in its ``cell.json`` (or in
``R/matrix.json``) and whose report is there is reused, not retrained. ``shard="K/N"``
trains every N-th cell only, so that N processes (a SLURM array, a Kubernetes indexed job,
background processes) share one output folder; a last call without it writes R/matrix.*.
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
from .errors import require
from .load import available_configs, load_config
from .load import fingerprint as data_fingerprint
from .markdown import plural
from .output import jsonable, make_dir, report_dir, write_json, write_text
from .plots import pyplot, save
from .report import run_report
from .settings import DEFAULT_PATIENCE, METHODS, TrainSettings, check_run_options

MATRIX_FILES = ("matrix.json", "matrix.md", "matrix.png")
CELL_FILE = "cell.json"  # in each cell's folder, written last: the cell is finished
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


def parse_shard(shard: str | tuple[int, int] | None) -> tuple[int, int] | None:
    """``"K/N"`` (1 <= K <= N) as ``(K, N)``; None stays None (every cell)."""
    if shard is None or isinstance(shard, tuple):
        parts = shard
    else:
        try:
            parts = tuple(int(x) for x in str(shard).split("/"))
        except ValueError:
            parts = ()
    if parts is not None and (len(parts) != 2 or not 1 <= parts[0] <= parts[1]):
        raise ConfigError(f"--shard: expected K/N with 1 <= K <= N, got {shard!r}")
    return parts


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
    patience: int | None = DEFAULT_PATIENCE,
    lr_schedule: str = "cosine",
    max_train: int | None = None,
    device: str | None = None,
    cache_dir: str | Path | None = None,
    saliency_examples: int = 1000,
    progress: bool = True,
    shard: str | tuple[int, int] | None = None,
) -> dict[str, Any]:
    """Train every config x method cell (reusing matching finished ones); write R/matrix.*.

    With ``shard="K/N"`` only every N-th cell from the K-th (config-major order) is trained
    and no matrix file is written: N shards can run at once into the same `out` (each cell
    has its own folder, every file is replaced atomically, ``cell.json`` last), and a final
    call without `shard` reuses their finished cells and writes the matrix files.
    """
    require("matplotlib")
    check_run_options(
        seeds, lr=lr, weight_decay=weight_decay, epochs=epochs, batch_size=batch_size,
        max_train=max_train, saliency_examples=saliency_examples,
    )  # fmt: skip
    part = parse_shard(shard)
    configs = resolve(configs, available_configs(data), "--configs")
    methods = resolve(methods, METHODS, "--methods")
    out = report_dir(out)
    run_args = dict(
        model=model, epochs=epochs, seeds=list(seeds), batch_size=batch_size, lr=lr,
        weight_decay=weight_decay, patience=patience, lr_schedule=lr_schedule,
        max_train=max_train, saliency_examples=saliency_examples,
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
    order = [(c, m) for c in configs for m in methods]
    mine = set(order if part is None else order[part[0] - 1 :: part[1]])
    for config in configs:
        loaded = None
        fingerprint = data_fingerprint(data, config)
        for method in methods:
            if (config, method) not in mine:
                continue
            key, folder = f"{config}/{method}", out / config / method
            settings = {
                **run_args,
                "method": method,
                "hyperparameters": TrainSettings(
                    method=method, epochs=epochs, batch_size=batch_size, lr=lr,
                    weight_decay=weight_decay, patience=patience, lr_schedule=lr_schedule,
                ).hyperparameters(),
            }  # fmt: skip
            settings = jsonable(settings)
            old = _read_cell(folder) or previous.get(key)
            if _reusable(old, settings, fingerprint, folder):
                cells[key] = {**old, "reused": True}
                continue
            start, wall = time.process_time(), time.perf_counter()
            try:
                loaded = loaded or load_config(
                    data, config, cache_dir=cache_dir, max_train=max_train, progress=progress
                )
                report = run_report(
                    data, config, folder, method=method, device=device, cache_dir=cache_dir,
                    progress=progress, loaded=loaded, resume=True, **run_args,
                )  # fmt: skip
                cells[key] = {"status": "done", "summary": report["summary"],
                              "selection": report["selection"]}  # fmt: skip
                # Move the start back by the seeds an interrupted earlier call trained, so
                # that the cell's wall time counts them, as report.json's does.
                wall -= sum(r["wall_seconds"] for r in report["runs"] if r.get("resumed"))
            except Exception as e:  # one failing cell must not stop the others
                cells[key] = {"status": "failed", "error": _one_line(e)}
            cells[key].update(
                config=config, method=method, settings=settings, fingerprint=fingerprint,
                cpu_seconds=time.process_time() - start,
                wall_seconds=time.perf_counter() - wall, reused=False,
            )  # fmt: skip
            make_dir(folder)
            write_json(folder / CELL_FILE, cells[key])  # last: the cell's "finished" mark
            if part is None:
                _write_json(out / "matrix.json", matrix)
    if part is not None:
        return {**matrix, "shard": list(part)}
    _write_json(out / "matrix.json", matrix)
    write_text(out / "matrix.md", matrix_markdown(matrix))
    plot_matrix(matrix, out / "matrix.png")
    return matrix


def _read_cell(folder: Path) -> dict[str, Any] | None:
    """The record a run (or a shard) left in a cell's folder; None if absent or unreadable."""
    try:
        cell = json.loads((folder / CELL_FILE).read_text())
    except (OSError, ValueError):
        return None
    return cell if isinstance(cell, dict) else None


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
    """Write JSON whole or not at all, creating the matrix folder once there is a result."""
    make_dir(path.parent)
    write_json(path, obj)


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
        f"Model `{s['model']}`, at most {plural(s['epochs'], 'epoch')} (the best on validation "
        f"kept, early stopping patience {s.get('patience')}), batch {s['batch_size']}, AdamW lr "
        f"{s['lr']} ({s.get('lr_schedule', 'constant')}), seeds {', '.join(map(str, s['seeds']))}"
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
        "| config | method | " + " | ".join(title for _, title in COLUMNS)
        + " | epochs kept | chosen on validation | wall (min) |",
        "| --- | --- |" + " --- |" * (len(COLUMNS) + 3),
    ]  # fmt: skip
    for config in matrix["configs"]:
        for method in matrix["methods"]:
            cell = cells.get(f"{config}/{method}")
            if cell is None:
                continue
            if cell["status"] != "done":
                error = cell["error"].replace("|", "\\|")
                lines.append(f"| `{config}` | {method} | failed: {error} |" + " |" * 8)
                continue
            summary = cell["summary"]
            values = [
                metrics.mean_ci_text(summary[k]) if isinstance(summary.get(k), Mapping) else "–"
                for k, _ in COLUMNS
            ]
            sel = cell.get("selection") or {}
            kept = ", ".join(map(str, sel.get("chosen_epochs", []))) or "–"
            tuned = "; ".join(dict.fromkeys(c for c in sel.get("chosen_hyperparameters", []) if c))
            wall = cell.get("wall_seconds")
            values += [kept, tuned or "–", f"{wall / 60:.1f}" if wall is not None else "–"]
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
    save(fig, path)
