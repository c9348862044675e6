"""texmnist: generate, publish and evaluate Textured MNIST.

Textured MNIST composites MNIST digits over DTD texture photos, with digit d
mapped to one texture category, to measure how much a classifier relies on the
background instead of the object.
"""

from __future__ import annotations

import importlib

__version__ = "0.1.0"

# Public names and the module that holds each; imported on first use so that
# `import texmnist.metrics` does not pay for `datasets`.
_EXPORTS = {
    "TexturedMNIST": "builder",
    "features_for": "builder",
    "NAMED_CONFIGS": "config",
    "TexturedMNISTConfig": "config",
    "named_config": "config",
    "to_numpy": "arrays",
    "torch_dataset": "torchdata",
}


def __getattr__(name: str):
    if name not in _EXPORTS:
        raise AttributeError(f"module 'texmnist' has no attribute {name!r}")
    return getattr(importlib.import_module(f".{_EXPORTS[name]}", __name__), name)


def __dir__() -> list[str]:
    return sorted([*globals(), *_EXPORTS])


__all__ = ["__version__", *_EXPORTS]
