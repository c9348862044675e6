"""The errors of training and evaluation, and the check for their optional dependencies."""

from __future__ import annotations

import importlib

from ..errors import TexmnistError

INSTALL_HINT = 'pip install "textured-mnist[eval]"'


class EvaluateError(TexmnistError):
    """Training or evaluation cannot run as asked (bad option, missing dependency, ...)."""


class MissingDependencyError(EvaluateError, ImportError):
    """torch or matplotlib is not installed."""


def require(module: str) -> None:
    """Import `module` or raise MissingDependencyError naming the install command."""
    try:
        importlib.import_module(module)
    except ImportError as e:
        raise MissingDependencyError(
            f"{module} is not installed; evaluation needs it: {INSTALL_HINT}"
        ) from e
