"""Where the data comes from and on what terms: one record per source, defined once.

Each digit source and DTD carries its title, homepage, licence (the Hub's licence id where
one exists), the sentence the card's Licence section says of it, and one BibTeX entry.
The builder's `DatasetInfo`, the card (YAML `license`/`license_name`/`source_datasets`,
its Licence and Citation sections) and `texmnist.json` are all rendered from these
records, for exactly the sources a folder's configs use.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import asdict, dataclass


@dataclass(frozen=True)
class Provenance:
    key: str  # the source's name in configs (`source`), or "dtd"
    title: str
    homepage: str
    license_id: str | None  # Hub / SPDX-style licence id; None when there is no open licence
    license_name: str  # for people
    license_url: str
    terms: str  # what the card's Licence section says of this source
    bibtex: str

    def as_dict(self) -> dict:
        return asdict(self)


MNIST = Provenance(
    key="mnist",
    title="MNIST",
    homepage="http://yann.lecun.com/exdb/mnist/",
    license_id="cc-by-sa-3.0",
    license_name="Creative Commons Attribution-Share Alike 3.0",
    license_url="https://creativecommons.org/licenses/by-sa/3.0/",
    terms=(
        "The digits come from MNIST (Yann LeCun, Corinna Cortes and Christopher J.C. Burges), "
        "made available under the Creative Commons Attribution-Share Alike 3.0 licence."
    ),
    bibtex="""@article{lecun1998gradient,
  title   = {Gradient-based learning applied to document recognition},
  author  = {LeCun, Yann and Bottou, L{\\'e}on and Bengio, Yoshua and Haffner, Patrick},
  journal = {Proceedings of the IEEE},
  volume  = {86},
  number  = {11},
  pages   = {2278--2324},
  year    = {1998}
}""",
)

FASHION_MNIST = Provenance(
    key="fashion_mnist",
    title="Fashion-MNIST",
    homepage="https://github.com/zalandoresearch/fashion-mnist",
    license_id="mit",
    license_name="MIT",
    license_url="https://github.com/zalandoresearch/fashion-mnist/blob/master/LICENSE",
    terms=(
        "The clothing images come from Fashion-MNIST (Han Xiao, Kashif Rasul and Roland "
        "Vollgraf, Zalando Research), distributed under the MIT licence."
    ),
    bibtex="""@article{xiao2017fashion,
  title   = {Fashion-{MNIST}: a Novel Image Dataset for Benchmarking Machine Learning
             Algorithms},
  author  = {Xiao, Han and Rasul, Kashif and Vollgraf, Roland},
  journal = {arXiv preprint arXiv:1708.07747},
  year    = {2017}
}""",
)

KMNIST = Provenance(
    key="kmnist",
    title="KMNIST",
    homepage="https://github.com/rois-codh/kmnist",
    license_id="cc-by-sa-4.0",
    license_name="Creative Commons Attribution-Share Alike 4.0",
    license_url="https://creativecommons.org/licenses/by-sa/4.0/",
    terms=(
        "The characters come from KMNIST ('KMNIST Dataset' created by CODH, adapted from the "
        "'Kuzushiji Dataset' created by NIJL and others), distributed under the Creative "
        "Commons Attribution-Share Alike 4.0 licence."
    ),
    bibtex="""@article{clanuwat2018deep,
  title   = {Deep Learning for Classical {J}apanese Literature},
  author  = {Clanuwat, Tarin and Bober-Irizar, Mikel and Kitamoto, Asanobu and Lamb, Alex
             and Yamamoto, Kazuaki and Ha, David},
  journal = {arXiv preprint arXiv:1812.01718},
  year    = {2018}
}""",
)

DTD = Provenance(
    key="dtd",
    title="Describable Textures Dataset (DTD)",
    homepage="https://www.robots.ox.ac.uk/~vgg/data/dtd/",
    license_id=None,
    license_name="DTD research-only terms",
    license_url="https://www.robots.ox.ac.uk/~vgg/data/dtd/",
    terms=(
        "The textures come from the Describable Textures Dataset (Cimpoi et al., 2014), whose "
        "authors make it available to the computer-vision community for research purposes; "
        "DTD has no formal open licence and the copyright of its photos stays with their "
        "Flickr owners."
    ),
    bibtex="""@inproceedings{cimpoi14describing,
  title     = {Describing Textures in the Wild},
  author    = {Cimpoi, Mircea and Maji, Subhransu and Kokkinos, Iasonas and Mohamed, Sammy
               and Vedaldi, Andrea},
  booktitle = {Proceedings of the IEEE Conference on Computer Vision and Pattern Recognition
               (CVPR)},
  year      = {2014}
}""",
)

DIGIT_PROVENANCE: dict[str, Provenance] = {p.key: p for p in (MNIST, FASHION_MNIST, KMNIST)}

DEFAULT_REPO_ID = "user/textured-mnist"

# The dataset's own entry: one key, one text, in the card and in `DatasetInfo`.
DATASET_BIBTEX = """@misc{texturedmnist,
  title        = {Textured {MNIST}: a controlled benchmark of background reliance},
  author       = {{texmnist developers}},
  year         = {2026},
  howpublished = {\\url{https://huggingface.co/datasets/%(repo_id)s}},
  note         = {Data version %(data_version)s, generated with texmnist}
}"""


def sources_of(digit_sources: Iterable[str]) -> list[Provenance]:
    """The records of the given digit sources (in first-seen order), then DTD."""
    return [DIGIT_PROVENANCE[k] for k in dict.fromkeys(digit_sources)] + [DTD]


def dataset_bibtex(data_version: str, repo_id: str = DEFAULT_REPO_ID) -> str:
    return DATASET_BIBTEX % {"repo_id": repo_id, "data_version": data_version}


def citations(records: Iterable[Provenance], data_version: str, repo_id: str) -> str:
    """Every BibTeX entry to cite: the dataset itself, then each source."""
    return "\n\n".join([dataset_bibtex(data_version, repo_id), *(p.bibtex for p in records)])


def license_name(records: Iterable[Provenance]) -> str:
    """The card's `license_name`: the sources' licence ids joined, e.g. `mit-and-dtd-...`."""
    parts = [p.license_id or "dtd-research-only" for p in records]
    return "-and-".join(dict.fromkeys(parts))


def license_summary(records: Iterable[Provenance]) -> str:
    """One line for `DatasetInfo.license`: every source's licence."""
    return "other: " + "; ".join(f"{p.license_name} ({p.title})" for p in records)


def license_text(records: Iterable[Provenance]) -> str:
    """The card's Licence section body."""
    records = list(records)
    names = " and ".join(f"[{p.license_name}]({p.license_url})" for p in records)
    return (
        " ".join(p.terms for p in records)
        + f" This dataset therefore carries the terms of each of its sources: {names}. "
        "Use it for research."
    )
