"""The build command as a card shows it: the user's local paths replaced by placeholders."""

from __future__ import annotations

import shlex

from ..generate.config import NAMED_CONFIGS, named_config, spelled

# Options whose values are the user's own paths: the card shows placeholders.
PATH_OPTIONS = {"--mnist-dir": "MNIST_DIR", "--dtd-dir": "DTD_DIR", "--out": "OUT_DIR"}
# Recipe parameters the `build` command line can set (option, recipe key).
CLI_RECIPE_OPTIONS = [
    ("--seed", "seed"),
    ("--partition", "partition"),
    ("--max-train", "max_train"),
    ("--max-test", "max_test"),
    ("--validation-size", "validation_size"),
    ("--counterfactual-size", "counterfactual_size"),
]


def public_command(command: str, name: str, recipe: dict) -> str:
    """The build command with the user's paths replaced by placeholders.

    Without a recorded command (a build from Python), one is derived from the recipe.
    """
    if not command.strip():
        return _derived_command(name, recipe)
    try:
        tokens = shlex.split(command)
    except ValueError:
        return _derived_command(name, recipe)
    out, i = [], 0
    while i < len(tokens):
        tok = tokens[i]
        option, eq, _ = tok.partition("=")
        full = _path_option(option)
        if full and eq:
            out.append(f"{full}={PATH_OPTIONS[full]}")
        elif full:
            out += [full, PATH_OPTIONS[full]]
            i += 1  # skip the path itself
        else:
            out.append(tok)
        i += 1
    return shlex.join(out).replace("'", "")


def _path_option(token: str) -> str | None:
    """The path option `token` names, also as an argparse abbreviation (`--mnist`)."""
    if not token.startswith("--") or len(token) < 4:
        return None
    hits = [o for o in PATH_OPTIONS if o.startswith(token)]
    return hits[0] if len(hits) == 1 else None


def _derived_command(name: str, recipe: dict) -> str:
    parts = ["texmnist", "build", "--out", "OUT_DIR"]
    if name in NAMED_CONFIGS:
        parts += [] if name == "default" else ["--config", name]
    else:  # a custom variant: `default` with every recipe difference as --set
        base = named_config("default").recipe()
        options = {key for _, key in CLI_RECIPE_OPTIONS}
        changed = [k for k, v in recipe.items() if k not in options and base.get(k) != v]
        parts += ["--config", "default"]
        parts += [f"--set {k}={spelled(recipe[k])}" for k in changed] + ["--name", name]
    parts += ["--mnist-dir", "MNIST_DIR", "--dtd-dir", "DTD_DIR"]
    for option, key in CLI_RECIPE_OPTIONS:
        if recipe.get(key) not in (None, 0) or (key == "seed" and recipe.get(key) is not None):
            parts += [option, str(recipe[key])]
    return " ".join(parts)
