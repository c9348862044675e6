"""The build command as texmnist.json records it and the card shows it: its options kept,
the user's local paths replaced by the role each plays (`--mnist-dir <MNIST>`)."""

from __future__ import annotations

import shlex

from ..generate.config import NAMED_CONFIGS, named_config, spelled

# Build options whose values are the user's own paths, and the placeholder each becomes.
PATH_ROLES = {
    "--out": "<OUT>",
    "--mnist-dir": "<MNIST>",
    "--fashion-mnist-dir": "<FASHION_MNIST>",
    "--kmnist-dir": "<KMNIST>",
    "--dtd-dir": "<DTD>",
}
# Recipe parameters the `build` command line can set (option, recipe key).
CLI_RECIPE_OPTIONS = [
    ("--seed", "seed"),
    ("--partition", "partition"),
    ("--max-train", "max_train"),
    ("--max-test", "max_test"),
    ("--validation-size", "validation_size"),
    ("--counterfactual-size", "counterfactual_size"),
]


def with_path_roles(command: str) -> str:
    """`command` with every path option's value replaced by its role (`--out <OUT>`).

    Options keep their place, and an argparse abbreviation (`--mnist /x`) counts as the
    option it abbreviates. A command that does not parse as shell words is dropped (""): a
    half-cleaned command could still carry a path.
    """
    try:
        tokens = shlex.split(command)
    except ValueError:
        return ""
    out, i = [], 0
    while i < len(tokens):
        option, eq, _ = tokens[i].partition("=")
        full = _path_option(option)
        if full and eq:
            out.append(f"{full}={PATH_ROLES[full]}")
        elif full:
            out += [full, PATH_ROLES[full]]
            i += 1  # the path itself
        else:
            out.append(tokens[i])
        i += 1
    return " ".join(t if _is_role(t) else shlex.quote(t) for t in out)


def public_command(command: str, name: str, recipe: dict) -> str:
    """The recorded build command with path roles; derived from the recipe when none was
    recorded (a build from Python) or it did not parse.

    Commands are recorded with roles already; a folder of an older texmnist kept the
    paths, and they are hidden here too.
    """
    return with_path_roles(command) or _derived_command(name, recipe)


def _is_role(token: str) -> bool:
    return (token.partition("=")[2] or token) in PATH_ROLES.values()


def _path_option(token: str) -> str | None:
    """The path option `token` names, also as an argparse abbreviation (`--mnist`)."""
    if not token.startswith("--") or len(token) < 4:
        return None
    if token in PATH_ROLES:
        return token
    hits = [o for o in PATH_ROLES if o.startswith(token)]
    return hits[0] if len(hits) == 1 else None


def _derived_command(name: str, recipe: dict) -> str:
    parts = ["texmnist", "build", "--out", PATH_ROLES["--out"]]
    if name in NAMED_CONFIGS:
        parts += [] if name == "default" else ["--config", name]
    else:  # a custom variant: `default` with every recipe difference as --set
        base = named_config("default").recipe()
        options = {key for _, key in CLI_RECIPE_OPTIONS}
        changed = [k for k, v in recipe.items() if k not in options and base.get(k) != v]
        parts += ["--config", "default"]
        parts += [f"--set {k}={spelled(recipe[k])}" for k in changed] + ["--name", name]
    parts += ["--mnist-dir", PATH_ROLES["--mnist-dir"], "--dtd-dir", PATH_ROLES["--dtd-dir"]]
    for option, key in CLI_RECIPE_OPTIONS:
        if recipe.get(key) not in (None, 0) or (key == "seed" and recipe.get(key) is not None):
            parts += [option, str(recipe[key])]
    return " ".join(parts)
