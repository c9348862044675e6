"""`texmnist verify`: is a dataset folder what the card says, and will the Hub take it?

Checks, each reported as one `Problem` line naming the file, config or split:
the card's YAML parses and lists every config and split of texmnist.json with
the right files, counts and features; split names are ones the Hub accepts; no
Python file lies anywhere in the folder (the Hub runs no dataset scripts);
Parquet shards and row groups are within the Hub's limits; image columns are
typed Image; the content matches the fingerprints in texmnist.json; and every
config x split loads with `datasets.load_dataset`, regular and streaming.
"""

from __future__ import annotations

from pathlib import Path

from tqdm.auto import tqdm

from ...errors import OutputError, PublishError
from ..meta import META_FILE, read_metadata
from . import card as card_checks
from . import files, loads
from .rules import (
    CARD_FILE,
    IMAGE_COLUMNS,
    MAX_FILE_BYTES,
    MAX_IMAGE_ROW_GROUP_ROWS,
    MAX_ROW_GROUP_BYTES,
    SPLIT_NAME,
    Problem,
)

__all__ = [
    "CARD_FILE",
    "IMAGE_COLUMNS",
    "MAX_FILE_BYTES",
    "MAX_IMAGE_ROW_GROUP_ROWS",
    "MAX_ROW_GROUP_BYTES",
    "SPLIT_NAME",
    "Problem",
    "VerificationFailed",
    "verify",
]


class VerificationFailed(PublishError):
    """The folder fails `verify`; `problems` lists why."""

    def __init__(self, folder: Path, problems: list[Problem]):
        self.problems = problems
        n = len(problems)
        super().__init__(
            f"{folder}: fails verification ({n} problem{'s' * (n != 1)}, first: {problems[0]}); "
            f"run `texmnist verify {folder}`"
        )


def verify(folder: str | Path, *, load: bool = True, progress: bool = False) -> list[Problem]:
    """Every problem found in the dataset folder `folder` (empty when it is sound).

    `load=False` skips the `load_dataset` round trips (the slowest part). `progress` shows
    one bar over the slow checks (each split's fingerprint, then its loads), naming each.
    """
    folder = Path(folder).absolute()
    if not folder.is_dir():
        return [Problem(str(folder), "not a folder")]
    problems = files.python_files(folder)
    try:
        meta = read_metadata(folder)
    except OutputError as e:
        return [*problems, Problem(str(folder / META_FILE), str(e).split(": ", 1)[-1])]
    if meta is None or not meta.get("configs"):
        where = str(folder / META_FILE)
        return [*problems, Problem(where, "missing or lists no config; not a texmnist folder")]
    splits = sum(len(c["splits"]) for c in meta["configs"].values())
    bar = tqdm(total=splits * (2 if load else 1), desc="Verifying", unit="check",
               disable=not progress, leave=False)  # fmt: skip
    with bar:
        problems += files.local_paths(folder, meta)
        problems += files.parquet_files(folder, meta)
        problems += files.fingerprints(folder, meta, bar)
        problems += files.previews(folder, meta)
        card, card_problems = card_checks.read_card(folder)
        problems += card_problems
        if card is not None:
            problems += card_checks.card_against_meta(folder, card, meta)
            if load and not card_problems:
                problems += loads.loads(folder, meta, bar)
    return problems
