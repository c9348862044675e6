"""Licences and citations travel with the data: per source, from one record each."""

from __future__ import annotations

import pytest
from conftest import N_TEST
from fakedata import make_fake_mnist
from huggingface_hub import DatasetCard

from texmnist.dataset.builder import TexturedMNIST
from texmnist.generate.config import DATA_VERSION, named_config
from texmnist.repo.card import render_card
from texmnist.repo.folder import build
from texmnist.repo.meta import read_metadata
from texmnist.sources import provenance


@pytest.fixture(scope="module")
def digit_dirs(fake_sources, tmp_path_factory):
    root = tmp_path_factory.mktemp("digits")
    return {
        "mnist": fake_sources[0],
        "fashion_mnist": make_fake_mnist(root / "f", 40, N_TEST, source="fashion_mnist"),
        "kmnist": make_fake_mnist(root / "k", 40, N_TEST, source="kmnist"),
    }


def _folder(tmp_path, digit_dirs, dtd, builds):
    out = tmp_path / "repo"
    for config, source in builds:
        cfg = named_config(
            config, source=source, mnist_dir=str(digit_dirs[source]), dtd_dir=str(dtd),
            validation_size=5, counterfactual_size=3,
        )  # fmt: skip
        build(cfg, out)
    return out


def _sections(text: str) -> tuple[str, str]:
    body = text.split("\n---\n", 1)[1]
    licence = body.split("## Licence\n", 1)[1].split("\n## ", 1)[0]
    citation = body.split("## Citation\n", 1)[1]
    return licence, citation


CASES = {
    "fashion-only": ([("fashion", "fashion_mnist")], ["fashion_mnist"]),
    "kmnist-only": ([("rho-0.9", "kmnist")], ["kmnist"]),
    "mixed": ([("rho-0.9", "mnist"), ("fashion", "fashion_mnist")], ["mnist", "fashion_mnist"]),
}
MARKS = {  # what the card must say of each source (licence, citation key)
    "mnist": ("Creative Commons Attribution-Share Alike 3.0", "lecun1998gradient", "Yann LeCun"),
    "fashion_mnist": ("MIT", "xiao2017fashion", "Fashion-MNIST"),
    "kmnist": ("Creative Commons Attribution-Share Alike 4.0", "clanuwat2018deep", "KMNIST"),
}
LICENSE_NAMES = {
    "fashion-only": "mit-and-dtd-research-only",
    "kmnist-only": "cc-by-sa-4.0-and-dtd-research-only",
    "mixed": "cc-by-sa-3.0-and-mit-and-dtd-research-only",
}


@pytest.mark.parametrize("case", list(CASES))
def test_card_states_exactly_the_sources_used(case, tmp_path, digit_dirs, fake_sources):
    builds, used = CASES[case]
    out = _folder(tmp_path, digit_dirs, fake_sources[1], builds)
    text = render_card(out, repo_id="someone/tm")
    data = DatasetCard(text).data
    assert data.license == "other" and data.license_name == LICENSE_NAMES[case]
    assert data.source_datasets == [f"extended|{s}" for s in used] + ["extended|dtd"]
    licence, citation = _sections(text)
    for source, (licence_name, key, title) in MARKS.items():
        if source in used:
            assert licence_name in licence and title in licence and key in citation
        else:  # a source the folder does not use is neither licensed nor cited
            assert key not in citation
            assert title not in licence
    assert "research purposes" in licence and "cimpoi14describing" in citation
    assert citation.count("@misc{texturedmnist,") == 1 and "someone/tm" in citation
    if "mnist" not in used:
        assert "LeCun" not in licence + citation
    meta = read_metadata(out)
    for (config, source), _ in zip(builds, used, strict=True):
        keys = [p["key"] for p in meta["configs"][config]["provenance"]]
        assert keys == [source, "dtd"]
        assert meta["configs"][config]["data_version"] == DATA_VERSION


@pytest.mark.parametrize("source", ["mnist", "fashion_mnist", "kmnist"])
def test_builder_info_names_its_own_source(source, tmp_path):
    info = TexturedMNIST(cache_dir=str(tmp_path), config_name="rho-0.9", source=source)._info()
    record = provenance.DIGIT_PROVENANCE[source]
    assert record.license_name in info.license and "DTD" in info.license
    assert record.bibtex in info.citation and provenance.DTD.bibtex in info.citation
    others = [p for k, p in provenance.DIGIT_PROVENANCE.items() if k != source]
    assert not any(p.bibtex in info.citation or p.license_name in info.license for p in others)
    assert info.citation.count("@misc{texturedmnist,") == 1


def test_data_version_is_the_builders_version():
    assert str(TexturedMNIST.VERSION) == DATA_VERSION
