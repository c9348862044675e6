"""The README reads as prose: no sentence says the same thing twice (a garbled merge once
left "deterministic on CPU (CUDA when available) and deterministically on CPU (CUDA when
available)" in "Evaluate")."""

from __future__ import annotations

import re
from pathlib import Path

README = Path(__file__).resolve().parents[1] / "README.md"


def _sentences(text: str) -> list[str]:
    text = re.sub(r"```.*?```", "", text, flags=re.S)  # code blocks
    prose = [line for line in text.splitlines() if not line.lstrip().startswith(("|", "#"))]
    paragraphs = re.split(r"\n\s*\n", "\n".join(prose))
    return [" ".join(s.split()) for p in paragraphs for s in re.split(r"(?<=[.!?])\s+", p)]


def test_no_sentence_repeats_a_parenthetical_remark():
    for sentence in _sentences(README.read_text()):
        remarks = re.findall(r"\([^()]{3,}\)", sentence)
        assert len(remarks) == len(set(remarks)), sentence


def test_the_check_catches_the_old_garble():
    garbled = (
        "Each run is deterministic on CPU (CUDA when available) and deterministically on CPU "
        "(CUDA when available), and writes `report.json`."
    )
    (sentence,) = _sentences(garbled)
    remarks = re.findall(r"\([^()]{3,}\)", sentence)
    assert len(remarks) != len(set(remarks))
