"""What the Hub and its dataset viewer accept, and the one-line `Problem` that reports a breach."""

from __future__ import annotations

import dataclasses
import re

SPLIT_NAME = re.compile(r"^\w+(\.\w+)*$")
MAX_FILE_BYTES = 500 * 10**6  # the Hub's limit per Parquet shard
MAX_ROW_GROUP_BYTES = 100 * 10**6  # uncompressed, for the dataset viewer
# Rows per row group in files with image columns: the viewer pages 100 rows and reads whole
# row groups, and streaming yields nothing before the first group is fetched.
MAX_IMAGE_ROW_GROUP_ROWS = 100
IMAGE_COLUMNS = ("image", "mask")
CARD_FILE = "README.md"


@dataclasses.dataclass(frozen=True)
class Problem:
    """One thing wrong with a folder: where (a file, or config/split) and what."""

    where: str
    message: str

    def __str__(self) -> str:
        return f"{self.where}: {self.message}"
