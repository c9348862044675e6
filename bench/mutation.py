"""Mutation score of the core modules: how many small wrong changes the tests notice.

    python bench/mutation.py [--module NAME ...] [--sample N] [--workers 1] [--keep]

For each core module (MODULES below) this runs mutmut 3 (the `mutation` extra:
`pip install -e ".[test,mutation]"`) in a scratch copy of the project, `mutants/<module>/`,
whose [tool.mutmut] section restricts the mutation to that module's files and the tests to
the files that exercise it (mutmut then picks, for each mutant, the tests whose run touched
the mutated function). It prints per module the killed / survived / timeout / other counts
and the score (killed and timeouts over all mutants that ran), then every surviving mutant:
its file:line and diff.
Equivalent survivors (no behaviour change) are explained in bench/mutation_survivors.md.

`--sample N` runs a seeded random sample of N mutants per module (the same sample for the
same code), for a quick estimate: a full run takes hours on a small shared machine. Not
part of CI. Whoever adds a core module adds it to MODULES with the test files that
exercise it.
"""

from __future__ import annotations

import argparse
import ast
import json
import os
import random
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import tomllib

from texmnist.evaluate.metrics import wilson_interval  # the interval the reports use

REPO = Path(__file__).resolve().parents[1]
SCRATCH = REPO / "mutants"

# module: (files to mutate, as globs relative to the project root; test files that exercise them)
MODULES: dict[str, tuple[list[str], list[str]]] = {
    "composite": (
        ["texmnist/generate/composite.py", "texmnist/sources/resize.py"],
        ["tests/test_composite.py", "tests/test_composite_errors.py", "tests/test_textures.py"],
    ),
    "recipe": (
        ["texmnist/generate/recipe.py"],
        [
            "tests/test_draws.py",
            "tests/test_textures.py",
            "tests/test_configs.py",
            "tests/test_data_version.py",  # pins every named config's bytes
        ],
    ),
    "render": (
        ["texmnist/generate/render.py"],
        ["tests/test_render.py", "tests/test_reliability.py"],
    ),
    "pngenc": (["texmnist/generate/pngenc.py"], ["tests/test_pngenc.py"]),
    "arrays": (
        ["texmnist/repo/arrays.py"],
        ["tests/test_arrays.py", "tests/test_arrays_decode.py"],
    ),
    "metrics": (["texmnist/evaluate/metrics.py"], ["tests/test_metrics.py"]),
    "meta": (["texmnist/repo/meta.py"], ["tests/test_fingerprint.py", "tests/test_configs.py"]),
    "push": (["texmnist/repo/push.py"], ["tests/test_push_units.py", "tests/test_publish.py"]),
    "evaluate": (
        [
            "texmnist/evaluate/train.py",
            "texmnist/evaluate/saliency.py",
            "texmnist/evaluate/models.py",
            "texmnist/evaluate/levels.py",
        ],
        ["tests/test_evaluate.py", "tests/test_training_checks.py", "tests/test_methods.py"],
    ),
}

KILLED = {"killed"}
TIMEOUT = {"timeout"}
SURVIVED = {"survived", "no tests"}  # no test runs the mutated code: not caught


def scratch_project(name: str) -> Path:
    """A copy of the package, the tests and pyproject.toml whose [tool.mutmut] section is
    narrowed to one module (mutmut reads its configuration from the working directory)."""
    files, tests = MODULES[name]
    # Older trees (a "before" measurement) may lack some of today's files.
    files = [f for f in files if (REPO / f).exists()]
    tests = [t for t in tests if (REPO / t).exists()]
    work = SCRATCH / name
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    shutil.copytree(
        REPO / "texmnist", work / "texmnist", ignore=shutil.ignore_patterns("__pycache__")
    )
    shutil.copytree(REPO / "tests", work / "tests", ignore=shutil.ignore_patterns("__pycache__"))
    text = (REPO / "pyproject.toml").read_text()
    base = tomllib.loads(text)["tool"]["mutmut"]
    for top in base.get("also_copy", []):  # files the tests read beside the package
        if (REPO / top).is_file():
            shutil.copy2(REPO / top, work / top)
    section = dict(base, only_mutate=files, pytest_add_cli_args_test_selection=tests)
    head = text.split("[tool.mutmut]")[0]
    lines = [f"{key} = {json.dumps(value)}" for key, value in section.items()]
    (work / "pyproject.toml").write_text(head + "[tool.mutmut]\n" + "\n".join(lines) + "\n")
    return work


def mutmut(work: Path, *args: str, check: bool = True) -> str:
    # One thread per test process: the workers are the parallelism, and torch's thread
    # pool does not survive mutmut's fork.
    env = dict(os.environ, OMP_NUM_THREADS="1", MKL_NUM_THREADS="1")
    done = subprocess.run(
        [sys.executable, "-m", "mutmut", *args], cwd=work, env=env, capture_output=True, text=True
    )
    if check and done.returncode != 0:
        raise SystemExit(f"mutmut {' '.join(args)} failed in {work}:\n{done.stdout}\n{done.stderr}")
    return done.stdout


def statuses(work: Path) -> dict[str, str]:
    """mutant name -> status, from `mutmut results --all true` ("    name: status" lines)."""
    out = mutmut(work, "results", "--all", "true")
    found = {}
    for line in out.splitlines():
        match = re.match(r"\s*(\S+): (.+)$", line)
        if match:
            found[match.group(1)] = match.group(2).strip()
    return found


# `mutmut show NAME` is one process per mutant; this is its code, for all names at once.
_DIFFS = """
import json, sys
from mutmut.__main__ import find_mutant
from mutmut.mutation.diff_apply import get_diff_for_mutant
names = json.load(sys.stdin)
print(json.dumps({n: get_diff_for_mutant(n, path=find_mutant(n).path) for n in names}))
"""


def diffs(work: Path, names: list[str]) -> dict[str, str]:
    if not names:
        return {}
    done = subprocess.run(
        [sys.executable, "-c", _DIFFS], cwd=work, input=json.dumps(names),
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    return json.loads(done.stdout)


def location(mutant: str, diff: str) -> str:
    """file:line of a mutant: mutmut's diff counts lines from the mutated function's `def`,
    so add the line where that function starts in the original file."""
    module, _, function = mutant.partition("__mutmut_")[0].rpartition(".")
    path = Path(*module.split("."))
    path = (
        path.with_suffix(".py")
        if (REPO / path.with_suffix(".py")).exists()
        else path / "__init__.py"
    )
    # mutmut names a function "x_" + name and a method "x\u01c1Class\u01c1method"
    names = function[1:].split("\u01c1")[1:] if "\u01c1" in function else [function[2:]]
    start = 1
    nodes = ast.parse((REPO / path).read_text()).body
    for name in names:
        node = next((n for n in nodes if getattr(n, "name", None) == name), None)
        if node is None:
            break
        start, nodes = node.lineno, getattr(node, "body", [])
    hunk = re.search(r"^@@ -(\d+)", diff, re.M)
    if not hunk:
        return f"{path}:{start}"
    first = int(hunk.group(1))
    body = [x for x in diff[hunk.end() :].splitlines()[1:] if not x.startswith("+")]
    offset = next((i for i, line in enumerate(body) if line.startswith("-")), 0)
    return f"{path}:{start + first - 1 + offset}"


def run_module(name: str, workers: int, keep: bool, sample: int | None) -> dict:
    work = scratch_project(name)
    began = time.monotonic()
    run = ["run", "--max-children", str(workers)]
    if sample is None:
        mutmut(work, *run)
        found = statuses(work)
        total = len(found)
    else:
        # mutmut makes every mutant and its test map (saved) before it filters by name and
        # stops at an empty selection: a first run for no mutant lists them all (in the
        # .meta files it writes); the second runs a seeded sample.
        first = mutmut(work, *run, "no mutant has this name", check=False)
        names = sorted(
            name
            for meta in (work / "mutants").rglob("*.py.meta")
            for name in json.loads(meta.read_text())["exit_code_by_key"]
        )
        if not names:
            raise SystemExit(f"mutmut made no mutants in {work}:\n{first}")
        total = len(names)
        chosen = set(random.Random(0).sample(names, min(sample, len(names))))
        mutmut(work, *run, *sorted(chosen))
        found = {k: v for k, v in statuses(work).items() if k in chosen}
    seconds = time.monotonic() - began
    counts = {
        "killed": sum(s in KILLED for s in found.values()),
        "survived": sum(s in SURVIVED for s in found.values()),
        "timeout": sum(s in TIMEOUT for s in found.values()),
    }
    counts["other"] = len(found) - sum(counts.values())
    ran = counts["killed"] + counts["survived"] + counts["timeout"]
    score = (counts["killed"] + counts["timeout"]) / ran if ran else float("nan")
    survived = sorted(m for m, status in found.items() if status in SURVIVED)
    survivors = [(m, location(m, diff), diff) for m, diff in diffs(work, survived).items()]
    others = sorted(f"{m}: {s}" for m, s in found.items() if s not in KILLED | SURVIVED | TIMEOUT)
    if not keep:
        shutil.rmtree(work, ignore_errors=True)
    return dict(
        counts, score=score, seconds=seconds, total=total, survivors=survivors, others=others
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--module", action="append", choices=sorted(MODULES), help="repeatable")
    parser.add_argument("--workers", type=int, default=1, help="mutmut --max-children")
    parser.add_argument("--keep", action="store_true", help="keep mutants/<module>/ afterwards")
    parser.add_argument(
        "--sample", type=int, help="run a seeded random sample of N mutants per module"
    )
    args = parser.parse_args()
    names = args.module or list(MODULES)
    results = {}
    for name in names:
        results[name] = r = run_module(name, args.workers, args.keep, args.sample)
        ran = r["killed"] + r["survived"] + r["timeout"] + r["other"]
        print(
            f"{name}: killed {r['killed']}, survived {r['survived']}, timeout {r['timeout']}, "
            f"other {r['other']}, score {r['score']:.1%} ({r['seconds']:.0f} s; "
            f"{ran} of {r['total']} mutants)",
            flush=True,
        )
        for mutant, where, diff in r["survivors"]:
            print(f"\n== survived {name} {mutant} at {where}\n{diff.rstrip()}", flush=True)
        for line in r["others"]:
            print(f"\n== not run {name} {line}", flush=True)
    head = f"{'module':<10} {'mutants':>8} {'ran':>5} {'killed':>7} {'survived':>9} {'timeout':>8}"
    print(f"\n{head} {'other':>6} {'score':>7}  95% interval (Wilson; exact if all ran)")
    for name, r in results.items():
        ran = r["killed"] + r["survived"] + r["timeout"]
        low, high = wilson_interval(r["killed"] + r["timeout"], ran)
        print(
            f"{name:<10} {r['total']:>8} {ran:>5} {r['killed']:>7} {r['survived']:>9} "
            f"{r['timeout']:>8} {r['other']:>6} {r['score']:>7.1%}  {low:.0%}-{high:.0%}"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
