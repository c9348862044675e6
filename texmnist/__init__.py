"""texmnist: generate, publish and evaluate Textured MNIST.

Textured MNIST composites MNIST digits over DTD texture photos, with digit d
mapped to one texture category, to measure how much a classifier relies on the
background instead of the object.
"""

from __future__ import annotations

__version__ = "0.1.0"

from .builder import TexturedMNIST, features_for  # noqa: E402
from .config import NAMED_CONFIGS, TexturedMNISTConfig, named_config  # noqa: E402

__all__ = [
    "NAMED_CONFIGS",
    "TexturedMNIST",
    "TexturedMNISTConfig",
    "__version__",
    "features_for",
    "named_config",
]
