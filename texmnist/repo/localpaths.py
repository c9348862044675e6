"""Paths of the build machine, found in text: none may reach a file a folder publishes.

`command.with_path_roles` records a build command with each path option's value replaced
by its role (`--mnist-dir <MNIST>`); `find_local_paths` is the net behind it: `verify`
fails, and `push` refuses, when README.md or texmnist.json still holds anything that looks
like a local path (a folder made by an older texmnist, a hand edit, an option added later).
"""

from __future__ import annotations

import re

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
