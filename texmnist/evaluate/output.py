"""Report folders: checked up front, created only once there is something to write, files
replaced atomically (a reader or a concurrent writer sees the old file or the new one,
never a part), strict JSON, and the versions every report records."""

from __future__ import annotations

import contextlib
import json
import math
import os
import platform
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

from .. import __version__
from ..errors import OutputError


def versions() -> dict[str, str]:
    import datasets

    torch = sys.modules.get("torch")  # `score` runs without it: recorded when in use
    return {
        "texmnist": __version__,
        **({"torch": torch.__version__} if torch is not None else {}),
        "numpy": np.__version__,
        "datasets": datasets.__version__,
        "python": platform.python_version(),
    }


def report_dir(out: str | Path) -> Path:
    """`out` checked up front; `make_dir` creates it once there are results to write."""
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise OutputError(f"{out}: --out names a file, not a folder")
    return out


def make_dir(out: Path) -> None:
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise OutputError(f"{out}: cannot create the report folder ({e.strerror})") from e


def jsonable(x: Any) -> Any:
    if isinstance(x, dict):
        return {str(k): jsonable(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [jsonable(v) for v in x]
    if isinstance(x, np.generic):
        return x.item()
    if isinstance(x, float) and math.isnan(x):
        return None  # strict JSON has no NaN
    return x


@contextlib.contextmanager
def replacing(path: Path) -> Iterator[Path]:
    """A temporary path beside `path` (same suffix) to write; renamed onto `path` when the
    block ends without error, removed otherwise. The rename is atomic within a folder."""
    tmp = path.with_name(f".{path.stem}.{os.getpid()}-{threading.get_ident()}.tmp{path.suffix}")
    try:
        yield tmp
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def write_text(path: Path, text: str) -> None:
    """Write `text` to `path` atomically."""
    with replacing(path) as tmp:
        tmp.write_text(text)


def write_json(path: Path, data: Any) -> None:
    """Strict JSON (NaN as null) written atomically."""
    write_text(path, json.dumps(jsonable(data), indent=2) + "\n")
