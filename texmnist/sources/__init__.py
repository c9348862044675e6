"""Source data: MNIST-style IDX digit files and DTD texture photos.

Everything about *where* the sources live (mirrors, checksums, folder layouts, partitions)
is here, by concern: `idx` reads the IDX format, `digits` knows the digit sources and
loads them, `dtd` finds, lists and partitions the texture photos. Reading pixels out of
the photos is `texmnist.sources.photos`; licences and citations are `texmnist.sources.provenance`.
"""

from texmnist.sources.digits import (
    DIGIT_SOURCES,
    FASHION_MNIST,
    KMNIST,
    MNIST,
    ROLES,
    Digits,
    DigitSource,
    digit_source,
    find_digit_files,
    load_digits,
)
from texmnist.sources.dtd import (
    DTD_ARCHIVE,
    DTD_CATEGORIES,
    FALLBACK_RULE,
    IMAGE_SUFFIXES,
    Partition,
    check_partition,
    fallback_is_test,
    list_textures,
    locate_dtd,
    partition_textures,
    resolve_dtd,
)
from texmnist.sources.idx import IDX_IMAGES_MAGIC, IDX_LABELS_MAGIC, read_idx

__all__ = [
    "DIGIT_SOURCES",
    "DTD_ARCHIVE",
    "DTD_CATEGORIES",
    "FALLBACK_RULE",
    "FASHION_MNIST",
    "IDX_IMAGES_MAGIC",
    "IDX_LABELS_MAGIC",
    "IMAGE_SUFFIXES",
    "KMNIST",
    "MNIST",
    "ROLES",
    "DigitSource",
    "Digits",
    "Partition",
    "check_partition",
    "digit_source",
    "fallback_is_test",
    "find_digit_files",
    "list_textures",
    "load_digits",
    "locate_dtd",
    "partition_textures",
    "read_idx",
    "resolve_dtd",
]
