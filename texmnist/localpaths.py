"""Paths of the build machine: kept out of every file a folder publishes.

`public_command` records a build command with each path option's value replaced by the
role it plays (`--mnist-dir <MNIST>`); `find_local_paths` is the net behind it: `verify`
fails, and `push` refuses, when README.md or texmnist.json still holds anything that looks
like a local path (a folder made by an older texmnist, a hand edit, an option added later).
"""

from __future__ import annotations

import re
import shlex

# Build options whose values are the user's own paths, and the placeholder each becomes.
PATH_ROLES = {
    "--out": "<OUT>",
    "--mnist-dir": "<MNIST>",
    "--fashion-mnist-dir": "<FASHION_MNIST>",
    "--kmnist-dir": "<KMNIST>",
    "--dtd-dir": "<DTD>",
}

# A local path starts where no word, URL or longer path continues: not after a letter or
# digit (`and/or`, `MB/s`, `data/train-*.parquet`), ':' or '/' (`https://host/x`).
_START = r"(?<![\w.:/\\~%-])"
LOCAL_PATH = re.compile(
    _START
    + r"""(?:
        ~[\w.-]*[/\\]                 # ~/data, ~alice/data, ~\data
      | /(?:home|Users|root)\b        # a home directory, even alone
      | /[\w.-]+/[\w.-]               # /tmp/x, /work/data/mnist: two segments at least
      | [A-Za-z]:[\\/]                # C:\Users\bob, D:/data
      | \\\\[\w.-]+\\                 # \\server\share
      | file:/                        # file:///home/alice
    )""",
    re.VERBOSE,
)


def find_local_paths(text: str) -> list[str]:
    """The local-looking paths in `text`, each cut at the first space (at most 60 chars)."""
    found = []
    for match in LOCAL_PATH.finditer(text):
        rest = text[match.start() :].split(None, 1)[0]
        found.append(rest.strip("`'\"(),;|")[:60])
    return found


def strings_in(value) -> list[str]:
    """Every string (keys too) in a JSON value: texmnist.json is checked string by string,
    so a Windows path is seen with its real backslashes, not JSON's escaped ones."""
    if isinstance(value, str):
        return [value]
    if isinstance(value, dict):
        return [s for k, v in value.items() for s in (k, *strings_in(v))]
    if isinstance(value, list):
        return [s for v in value for s in strings_in(v)]
    return []


def public_command(command: str) -> str:
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
    return " ".join(shlex.quote(t) if not _is_role(t) else t for t in out)


def _is_role(token: str) -> bool:
    value = token.partition("=")[2] or token
    return value in PATH_ROLES.values()


def _path_option(token: str) -> str | None:
    """The path option `token` names, also as an argparse abbreviation (`--mnist`)."""
    if not token.startswith("--") or len(token) < 4:
        return None
    if token in PATH_ROLES:
        return token
    hits = [o for o in PATH_ROLES if o.startswith(token)]
    return hits[0] if len(hits) == 1 else None
