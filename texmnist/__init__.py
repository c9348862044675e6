"""texmnist: generate, publish and evaluate Textured MNIST.

Textured MNIST composites MNIST digits over DTD texture photos, with digit d
mapped to one texture category, to measure how much a classifier relies on the
background instead of the object.

The package is laid out by pipeline stage, each importing only the stages before it:
`sources` (digit and texture files) -> `generate` (config, recipe, rendering: pure
NumPy) -> `dataset` (the `datasets` builder) -> `repo` (the folder on disk and on the
Hub) -> `evaluate` (models, methods, metrics, reports); `cli` sits on top.
"""

from __future__ import annotations

import importlib
import importlib.abc
import importlib.util
import sys

__version__ = "0.1.0"

# Public names and the module that holds each; imported on first use so that
# `import texmnist.evaluate.metrics` does not pay for `datasets`.
_EXPORTS = {
    "TexturedMNIST": "dataset.builder",
    "features_for": "dataset.features",
    "NAMED_CONFIGS": "generate.config",
    "TexturedMNISTConfig": "generate.config",
    "named_config": "generate.config",
    "to_numpy": "repo.arrays",
    "torch_dataset": "repo.torchdata",
}

# Modules of texmnist 0.1's flat layout and where they live now. The old paths keep
# working (they are the same module objects), so scripts written against 0.1 run.
MOVED = {
    "arrays": "repo.arrays",
    "builder": "dataset.builder",
    "card": "repo.card",
    "composite": "generate.composite",
    "config": "generate.config",
    "fetch": "sources.fetch",
    "folder": "repo.folder",
    "meta": "repo.meta",
    "metrics": "evaluate.metrics",
    "pngenc": "generate.pngenc",
    "preview": "repo.preview",
    "provenance": "sources.provenance",
    "push": "repo.push",
    "recipe": "generate.recipe",
    "render": "generate.render",
    "splits": "generate.splits",
    "textures": "sources.photos",
    "verify": "repo.verify",
}


class _MovedModules(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    """Imports `texmnist.<old name>` as the module at its new place (one object, two names)."""

    def find_spec(self, fullname, path=None, target=None):
        package, _, name = fullname.partition(".")
        if package != __name__ or name not in MOVED:
            return None
        return importlib.util.spec_from_loader(fullname, self)

    def create_module(self, spec):
        module = importlib.import_module(f"{__name__}.{MOVED[spec.name.partition('.')[2]]}")
        spec.loader_state = module.__spec__  # importlib overwrites __spec__ with `spec`
        return module

    def exec_module(self, module) -> None:
        # Already executed under its new name; keep the spec that names that place.
        module.__spec__ = module.__spec__.loader_state


if not any(isinstance(f, _MovedModules) for f in sys.meta_path):
    sys.meta_path.append(_MovedModules())


def __getattr__(name: str):
    if name in MOVED:
        return importlib.import_module(f".{name}", __name__)
    if name not in _EXPORTS:
        raise AttributeError(f"module 'texmnist' has no attribute {name!r}")
    return getattr(importlib.import_module(f".{_EXPORTS[name]}", __name__), name)


def __dir__() -> list[str]:
    return sorted([*globals(), *_EXPORTS])


__all__ = ["__version__", *_EXPORTS]
