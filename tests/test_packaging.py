"""What installing and testing the project costs a new user: the extras, CI's torch, and the
temporary files of a test run."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import tomllib

ROOT = Path(__file__).resolve().parents[1]
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())


def _names(specs: list[str]) -> set[str]:
    return {re.split(r"[<>=!~\[;\s]", s, maxsplit=1)[0].lower() for s in specs}


def test_the_test_extra_pulls_no_mutation_testing():
    extras = PYPROJECT["project"]["optional-dependencies"]
    assert "mutmut" not in _names(extras["test"])
    assert "mutmut" in _names(extras["mutation"])
    # and the benchmark says how to get it
    assert 'pip install -e ".[test,mutation]"' in (ROOT / "bench" / "mutation.py").read_text()


def test_ci_installs_only_a_cpu_torch():
    script = (ROOT / ".ci" / "run").read_text()
    pins = re.findall(r"torch==[\w.+]+", script)
    assert pins and all(p.endswith("+cpu") for p in pins), pins
    assert "download.pytorch.org/whl/cpu" in script
    assert "torch.version.cuda is None" in script  # and CI checks what it got


def test_every_runtime_dependency_has_a_floor_the_floors_script_reads():
    for spec in PYPROJECT["project"]["dependencies"]:
        assert re.fullmatch(r"[A-Za-z0-9_.\-]+>=[\w.]+", spec), spec
    assert (ROOT / ".ci" / "floors").is_file()


def test_a_test_run_leaves_no_hugging_face_home_behind(tmp_path):
    env = {**os.environ, "TMPDIR": str(tmp_path)}
    node = "tests/test_fingerprint.py::test_config_dir"
    run = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", node],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert run.returncode == 0, run.stdout + run.stderr
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith("texmnist-test-hf-")] == []
