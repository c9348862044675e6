"""Recipe parameters (`TexturedMNISTConfig`) and the named configs that ship.

A config is a dataclass: variants differ by attributes, never by copied code.
Every parameter is validated here with a one-line `ConfigError` (a `ValueError`).
"""

from __future__ import annotations

import dataclasses
import math
import re
import typing
from collections.abc import Sequence
from dataclasses import dataclass

import datasets

from ..errors import ConfigError
from ..sources import DTD_CATEGORIES, check_partition
from .composite import POSITIONS, check_threshold
from .splits import SPLITS

# The author's mapping: digit d <-> the d-th alphabetically first DTD category
# (banded, blotchy, braided, bubbly, bumpy, chequered, cobwebbed, cracked,
# crosshatched, crystalline).
DEFAULT_CATEGORIES: tuple[str, ...] = DTD_CATEGORIES[:10]

COLORS = ("gray", "rgb")
SAMPLINGS = ("resize", "crop")
FOREGROUNDS = ("digit", "texture")
SOURCES = ("mnist", "fashion_mnist", "kmnist")

# The version of the generated *data*: bump it whenever the bytes of any config change for
# the same seed and inputs (tests/test_data_version.py fails until you do). It moves
# independently of the package version.
DATA_VERSION = "3.0.0"  # 3: boxes as four int32 columns (box_x0 ... crop_y1), not lists


@dataclass
class TexturedMNISTConfig(datasets.BuilderConfig):
    """Every recipe parameter of one Textured MNIST variant.

    Paths (`mnist_dir`, `dtd_dir`) say where the inputs are; everything else says
    what is built. Two configs with equal recipe parameters and equal inputs build
    bit-identical data.
    """

    # inputs (not part of the recipe)
    mnist_dir: str | None = None
    dtd_dir: str | None = None
    download: bool = True
    # the recipe
    seed: int = 0
    source: str = "mnist"
    categories: tuple[str, ...] = DEFAULT_CATEGORIES
    threshold: float = 0.1
    partition: int = 1
    correlation: float = 1.0
    canvas: int = 28
    scale: tuple[int, ...] = (28,)
    position: tuple[str, ...] = ("center",)
    color: str = "gray"
    texture_sampling: str = "resize"
    crop_size: int = 96
    foreground: str = "digit"
    validation_size: int = 0
    background_only: bool = False
    counterfactual_size: int = 0
    groups: bool = False
    # quick builds: take the first N digits of each MNIST split (None = all)
    max_train: int | None = None
    max_test: int | None = None
    # JPEG draft decoding is faster but moves 28x28 textures by up to 42 gray levels
    # (measured, see textures.py), so the exact full decode is the default.
    draft: bool = False

    def __post_init__(self) -> None:
        super().__post_init__()
        self.scale = _as_tuple(self.scale, "scale")
        self.position = _as_tuple(self.position, "position")
        self.categories = _as_tuple(self.categories, "categories")
        validate(self)

    # -- derived facts ---------------------------------------------------------
    @property
    def splits(self) -> tuple[str, ...]:
        """The config's splits, in the order of `splits.SPLITS`."""
        return tuple(s.name for s in SPLITS if s.enabled_by is None or getattr(self, s.enabled_by))

    @property
    def varies_placement(self) -> bool:
        return self.canvas != 28 or self.scale != (28,) or self.position != ("center",)

    def recipe(self) -> dict:
        """The parameters that decide the pixels, as plain JSON-able values."""
        skip = {"name", "version", "data_dir", "data_files", "description"}
        skip |= {"mnist_dir", "dtd_dir", "download"}
        out = {}
        for f in dataclasses.fields(self):
            if f.name in skip:
                continue
            value = getattr(self, f.name)
            out[f.name] = list(value) if isinstance(value, tuple) else value
        return out


def _as_tuple(value, name: str) -> tuple:
    if isinstance(value, str):
        if name == "scale":
            raise ConfigError(f"scale: expected an integer or a list of integers, got {value!r}")
        return (value,)
    if isinstance(value, int) and not isinstance(value, bool):
        return (value,)
    if isinstance(value, Sequence):
        return tuple(value)
    raise ConfigError(f"{name}: expected a value or a list, got {type(value).__name__}")


def _check_int(name: str, value, lo: int, hi: int | None = None) -> None:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ConfigError(f"{name}: expected an integer, got {value!r}")
    if value < lo or (hi is not None and value > hi):
        bound = f">= {lo}" if hi is None else f"in [{lo}, {hi}]"
        raise ConfigError(f"{name}: must be {bound}, got {value}")


def _check_float(name: str, value, lo: float, hi: float) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise ConfigError(f"{name}: expected a number, got {value!r}")
    if value < lo or value > hi:
        raise ConfigError(f"{name}: must be in [{lo}, {hi}], got {value}")


def _check_choice(name: str, value, choices: Sequence[str]) -> None:
    if value not in choices:
        raise ConfigError(f"{name}: must be one of {', '.join(choices)}; got {value!r}")


def validate(config: TexturedMNISTConfig) -> None:
    """Raise a one-line `ConfigError` for the first invalid parameter."""
    _check_int("seed", config.seed, 0, 2**63 - 1)
    _check_choice("source", config.source, SOURCES)
    cats = config.categories
    if len(cats) != 10:
        raise ConfigError(f"categories: expected 10 DTD category names, got {len(cats)}")
    unknown = [c for c in cats if c not in DTD_CATEGORIES]
    if unknown:
        raise ConfigError(
            f"categories: unknown DTD category {unknown[0]!r} (DTD has 47 categories)"
        )
    dup = sorted({c for c in cats if cats.count(c) > 1})
    if dup:
        raise ConfigError(f"categories: duplicate category {dup[0]!r}; each digit needs its own")
    check_threshold(config.threshold)
    check_partition(config.partition)
    _check_float("correlation", config.correlation, 0.0, 1.0)
    _check_int("canvas", config.canvas, 8, 1024)
    if not config.scale:
        raise ConfigError("scale: give at least one digit size in px")
    for s in config.scale:
        _check_int("scale", s, 4, config.canvas)
    if len(set(config.scale)) != len(config.scale):
        raise ConfigError(f"scale: duplicate sizes in {list(config.scale)}")
    if not config.position:
        raise ConfigError("position: give at least one of center, corner, random")
    for p in config.position:
        _check_choice("position", p, POSITIONS)
    _check_choice("color", config.color, COLORS)
    _check_choice("texture_sampling", config.texture_sampling, SAMPLINGS)
    _check_int("crop_size", config.crop_size, 4, 4096)
    _check_choice("foreground", config.foreground, FOREGROUNDS)
    _check_int("validation_size", config.validation_size, 0)
    _check_int("counterfactual_size", config.counterfactual_size, 0)
    for name in ("background_only", "groups", "draft", "download"):
        if not isinstance(getattr(config, name), bool):
            raise ConfigError(f"{name}: expected true or false, got {getattr(config, name)!r}")
    for name in ("max_train", "max_test"):
        if getattr(config, name) is not None:
            _check_int(name, getattr(config, name), 1)
    if config.max_train is not None and config.validation_size >= config.max_train:
        raise ConfigError(
            f"validation_size: {config.validation_size} leaves no training digits "
            f"(max_train={config.max_train})"
        )
    if config.groups:
        if "random" in config.position:
            raise ConfigError("position: the groups design takes center and/or corner, not random")


# The named configs. Each is a set of overrides of the defaults above; the
# docstring-like description travels into the card's parameter table.
NAMED_CONFIGS: dict[str, dict] = {
    "default": dict(
        description="The author's recipe: gray 28x28, whole texture photo resized, rho = 1.",
    ),
    "rho-0.99": dict(
        correlation=0.99,
        description="Train/validation texture matches the digit's category 99% of the time.",
    ),
    "rho-0.9": dict(
        correlation=0.9,
        description="Train/validation texture matches the digit's category 90% of the time.",
    ),
    "uncorrelated": dict(
        correlation=0.1,
        description="Control: rho = 0.1, the train texture is uniform over all ten categories.",
    ),
    "rgb": dict(
        color="rgb",
        description="Textures keep their colour; gray digit strokes composited over them.",
    ),
    "crop": dict(
        texture_sampling="crop",
        description="Backgrounds are random square crops of the photo, resized to 28x28.",
    ),
    "foreground-texture": dict(
        foreground="texture",
        description="The digit's strokes are filled with its category's texture on black.",
    ),
    "fashion": dict(
        source="fashion_mnist",
        description="Fashion-MNIST items instead of digits, same textures and rules.",
    ),
    "sizes": dict(
        canvas=56,
        scale=(14, 21, 28),
        position=("center", "corner"),
        correlation=0.9,
        description=(
            "Size and position without confounds: 56x56 canvas, digit scale 14/21/28 x "
            "position center/corner drawn uniformly in every split; rho = 0.9."
        ),
    ),
    "groups": dict(
        canvas=56,
        scale=(14, 21, 28),
        position=("center", "corner"),
        groups=True,
        description=(
            "Hard-Spurious-ImageNet analogue: 56x56 canvas, digit scale x position x "
            "background groups; long-tailed train, balanced tests."
        ),
    ),
}

# Every named config but `default` carries the extra splits; `default` stays the
# author's four splits and takes them as an opt-in.
EXTRA_SPLITS = dict(validation_size=5000, background_only=True, counterfactual_size=2000)


def named_config(name: str, **overrides) -> TexturedMNISTConfig:
    """The named config `name` with `overrides` applied (validated)."""
    if name not in NAMED_CONFIGS:
        raise ConfigError(f"unknown config {name!r}; choose one of {', '.join(NAMED_CONFIGS)}")
    params = {} if name == "default" else dict(EXTRA_SPLITS)
    params.update(NAMED_CONFIGS[name])
    params.update({k: v for k, v in overrides.items() if v is not None})
    return TexturedMNISTConfig(name=name, **params)


# -- custom variants ----------------------------------------------------------------

# Parameters that the `build` options (--seed, --partition, --max-train, ...) have always
# varied under a named config's own name: they change the draw or the size, not the variant.
NAME_KEEPING = ("seed", "partition", "max_train", "max_test", "validation_size", "background_only")
# A config name becomes a folder of the repository and a `config_name` on the Hub.
CONFIG_NAME = re.compile(r"^[A-Za-z0-9](?:[A-Za-z0-9._-]{0,62}[A-Za-z0-9])?$")
RESERVED_NAMES = ("data", "images", "reports", "all")  # folders of the repository; `--config all`


def recipe_keys() -> tuple[str, ...]:
    """The parameters `--set` may change: every recipe parameter."""
    return tuple(TexturedMNISTConfig().recipe())


def _typed(key: str, text: str):
    """`text` as the type of parameter `key`; left as text when it does not parse.

    What does not parse goes to the validator as it is, so a bad value gets the
    validator's own message ("canvas: expected an integer, got 'big'").
    """
    hint = typing.get_type_hints(TexturedMNISTConfig)[key]
    optional = type(None) in typing.get_args(hint)
    if optional:
        hint = next(t for t in typing.get_args(hint) if t is not type(None))
        if text.lower() == "none":
            return None
    if typing.get_origin(hint) is tuple:
        item = typing.get_args(hint)[0]
        return tuple(_scalar(item, t.strip()) for t in text.split(","))
    return _scalar(hint, text)


def _scalar(kind: type, text: str):
    if kind is bool:
        return {"true": True, "false": False}.get(text.lower(), text)
    if kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            return text
    return text


def parse_settings(items: Sequence[str]) -> dict:
    """`--set KEY=VALUE` items as typed recipe values.

    Lists are comma-separated (`scale=14,28`); several settings may share one item
    (`canvas=56,scale=14,28`): a comma-separated piece without `=` continues the
    previous value.
    """
    pairs: list[list[str]] = []
    for item in items:
        for piece in item.split(","):
            if "=" in piece:
                key, _, value = piece.partition("=")
                pairs.append([key.strip(), value])
            elif pairs:
                pairs[-1][1] += "," + piece
            else:
                raise ConfigError(f"--set: expected KEY=VALUE, got {item!r}")
    keys = recipe_keys()
    settings: dict = {}
    for key, value in pairs:
        if key not in keys:
            raise ConfigError(
                f"--set: unknown parameter {key!r}; valid parameters: {', '.join(keys)}"
            )
        if key in settings:
            raise ConfigError(f"--set: {key} given twice")
        settings[key] = _typed(key, value.strip())
    return settings


def check_name(name: str) -> None:
    """Refuse a config name that cannot be a repository folder and a Hub config name."""
    if not isinstance(name, str) or not CONFIG_NAME.match(name):
        raise ConfigError(
            f"config name {name!r}: use 1-64 letters, digits, '.', '_' or '-', "
            "starting and ending with a letter or digit"
        )
    if name.lower() in RESERVED_NAMES:
        raise ConfigError(
            f"config name {name!r}: reserved (a folder of the repository); choose another"
        )


def custom_config(
    base: str, settings: dict, name: str | None = None, **overrides
) -> TexturedMNISTConfig:
    """The named config `base` with recipe `settings` applied, as the variant `name`.

    A variant that changes more than NAME_KEEPING needs its own `name`, and that name
    may not shadow a named config (a folder's `rgb` is always the named `rgb`).
    """
    config = named_config(base, **overrides)
    if name is not None:
        if name.lower() in {n.lower() for n in NAMED_CONFIGS}:
            raise ConfigError(
                f"--name {name}: shadows the named config {name!r}; choose another name"
            )
        check_name(name)
    custom = dataclasses.replace(config, **settings)
    changed = [k for k in recipe_keys() if getattr(custom, k) != getattr(config, k)]
    if name is None:
        renaming = [k for k in changed if k not in NAME_KEEPING]
        if renaming:
            raise ConfigError(
                f"--name: required: --set {renaming[0]} changes the named config {base!r}; "
                "give the variant its own name (--name NAME)"
            )
        return custom
    diff = ", ".join(f"{k}={spelled(getattr(custom, k))}" for k in changed) or "no change"
    return dataclasses.replace(
        custom, name=name, description=f"Custom variant of `{base}`: {diff}."
    )


def spelled(value) -> str:
    """A recipe value as `--set` spells it (lists comma-separated, no spaces)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (tuple, list)):
        return ",".join(str(v) for v in value)
    return str(value)
