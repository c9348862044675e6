"""The card's "Baseline results": evaluation reports found in the folder, as tables."""

from __future__ import annotations

import re
from pathlib import Path

from ..errors import OutputError

REPORT_FILE = "report.md"
REPORTS_DIR = "reports"
MATRIX_FILE = "matrix.md"  # `texmnist evaluate --configs ... --methods ... --out DIR/reports`
EFFECTS_FILE = "effects.md"  # `python bench/effects.py OUT --write DIR/reports/effects.md`


def report_paths(folder: Path, configs: list[str]) -> list[tuple[str | None, Path]]:
    """Evaluation reports in the folder: DIR/report.md, DIR/reports/<config>/report.md."""
    found: list[tuple[str | None, Path]] = []
    if (folder / REPORT_FILE).is_file():
        found.append((None, folder / REPORT_FILE))
    for name in configs:
        path = folder / REPORTS_DIR / name / REPORT_FILE
        if path.is_file():
            found.append((name, path))
    return found


def _report_tables(text: str) -> list[str]:
    """The Markdown tables of a report (consecutive lines starting with '|')."""
    tables, current = [], []
    for line in [*text.splitlines(), ""]:
        if line.lstrip().startswith("|"):
            current.append(line.strip())
        elif current:
            if len(current) >= 3 and re.fullmatch(r"\|[\s:|-]+\|", current[1]):
                tables.append("\n".join(current))
            current = []
    return tables


def _report_heading(text: str, name: str | None) -> str:
    """The report's title and settings lines (model, method, seeds, epochs, hyper-parameters)."""
    lines = text.splitlines()
    title = lines[0].lstrip("# ").strip() if lines and lines[0].startswith("#") else ""
    title = ": ".join(t for t in (f"`{name}`" if name else "", title) if t) or "Evaluation"
    settings = [ln for ln in lines if ln.startswith(("Seeds", "Hyper-parameters"))]
    return "\n".join([f"### {title}", "", *settings]).rstrip()


def _read_report(path: Path) -> str:
    try:
        return path.read_text()
    except (OSError, UnicodeDecodeError) as e:
        raise OutputError(f"{path}: unreadable evaluation report ({e})") from e


def _reports_section(folder: Path, name: str, default_heading: str) -> str:
    """DIR/reports/<name> below its own heading (its first line when that is a title)."""
    path = folder / REPORTS_DIR / name
    if not path.is_file():
        return ""
    text = _read_report(path).strip()
    title, _, body = text.partition("\n") if text.startswith("#") else ("", "", text)
    heading = title.lstrip("# ").strip() or default_heading
    return f"### {heading}\n\n{body.strip()}"


def baselines(folder: Path, configs: list[str]) -> str:
    """Measured effects, the method matrix and the reports' tables when there are any."""
    parts = []
    found = [
        _reports_section(folder, EFFECTS_FILE, "Measured effects"),
        _reports_section(folder, MATRIX_FILE, "Every method on every config"),
    ]
    found = [f for f in found if f]
    for name, path in report_paths(folder, configs):
        text = _read_report(path)
        tables = _report_tables(text)
        if tables:
            parts.append("\n\n".join([_report_heading(text, name), *tables]))
    if not parts and not found:
        return ""
    intro = (
        "Measured with `texmnist evaluate`, in percent: the mean over seeds with its 95% "
        "Student-t interval (with one seed, that run's own interval)."
    )
    sections = found + ([intro, *parts] if parts else [])
    return "## Baseline results\n\n" + "\n\n".join(sections)
