"""Every split of Textured MNIST, declared once.

One row per split says how its examples are made: which digits (`digits`), which partition
of the DTD photos (`pool`), which background category each digit gets (`background`), how the
pixels are assembled (`kind`) and which configs carry it (`enabled_by`, a recipe parameter
that switches it on). `recipe` draws plans from this table, `config` lists a config's splits
from it, and the card documents them with `doc`. Adding a split is one row here plus, when
its rule is new, that rule in `recipe`.

Pure data: importing this module imports neither NumPy nor `datasets`.
"""

from __future__ import annotations

from dataclasses import dataclass

NUM_CLASSES = 10
NONE_TEXTURE = 10  # texture id of "no background" (the ClassLabel name "none")

# How an example's pixels are assembled.
TEXTURED = "textured"  # digit over a texture
PLAIN = "plain"  # the digit alone, no background
BACKGROUND_ONLY = "background_only"  # the texture alone

# Which digits a split holds, by source split.
TRAIN_DIGITS = "train"  # the training digits left after validation is held out
VALIDATION_DIGITS = "validation"  # `validation_size` training digits, drawn once
TEST_DIGITS = "test"  # every test digit, in order (the test splits are paired)
TEST_DIGITS_PER_CATEGORY = "test x categories"  # the first N test digits, each ten times

# Which background category each digit gets.
RHO = "rho"  # its own class's with probability `correlation`, else one of the other nine
OWN = "own"  # its own class's
OTHER = "other"  # one of the other nine, uniformly
EVERY = "every"  # each of the ten, one row each (the counterfactual factorial)
NO_CATEGORY = "none"  # no background


@dataclass(frozen=True)
class SplitSpec:
    name: str
    kind: str
    digits: str
    pool: str  # "train" or "test": the DTD photo partition the backgrounds come from
    background: str
    enabled_by: str | None  # recipe parameter that adds the split when truthy; None: always
    doc: str

    @property
    def source_split(self) -> str:
        """The digit source split ("train" or "test") that `mnist_index` points into."""
        return "test" if self.digits in (TEST_DIGITS, TEST_DIGITS_PER_CATEGORY) else "train"


SPLITS: tuple[SplitSpec, ...] = (
    SplitSpec(
        "train", TEXTURED, TRAIN_DIGITS, "train", RHO, None,
        "training digits on their class's texture (with probability ρ)",
    ),
    SplitSpec(
        "validation", TEXTURED, VALIDATION_DIGITS, "train", RHO, "validation_size",
        "held-out training digits, same rule as `train`",
    ),
    SplitSpec(
        "test_correlated", TEXTURED, TEST_DIGITS, "test", OWN, None,
        "test digits on their class's texture (always)",
    ),
    SplitSpec(
        "test_random", TEXTURED, TEST_DIGITS, "test", OTHER, None,
        "the same test digits on a texture of one of the other nine classes",
    ),
    SplitSpec(
        "test_no_background", PLAIN, TEST_DIGITS, "test", NO_CATEGORY, None,
        "the same test digits with no background (the MNIST originals)",
    ),
    SplitSpec(
        "test_background_only", BACKGROUND_ONLY, TEST_DIGITS, "test", OWN, "background_only",
        "texture photos alone, labelled with the digit mapped to them",
    ),
    SplitSpec(
        "test_counterfactual", TEXTURED, TEST_DIGITS_PER_CATEGORY, "test", EVERY,
        "counterfactual_size",
        "the first N test digits, each on a test photo of every one of the ten categories "
        "(ten rows per digit, same placement)",
    ),
)  # fmt: skip

SPLIT_SPECS: dict[str, SplitSpec] = {s.name: s for s in SPLITS}


def split_spec(name: str) -> SplitSpec:
    if name not in SPLIT_SPECS:
        raise KeyError(f"unknown split {name!r}; texmnist splits: {', '.join(SPLIT_SPECS)}")
    return SPLIT_SPECS[name]
