"""The dataset card: README.md of a texmnist folder, from `dataset_card.md`.

The YAML header comes from `huggingface_hub.DatasetCardData` and `datasets`'
own YAML writers (so `load_dataset` reads exactly what it expects); the body is
the template with `$name` fields (`string.Template`: no Jinja2 needed for plain
substitution) filled from the folder's texmnist.json.
"""

from __future__ import annotations

import string
from importlib import resources
from pathlib import Path

import datasets
from datasets.info import DatasetInfosDict
from huggingface_hub import DatasetCard, DatasetCardData

from . import __version__
from .config import DEFAULT_CATEGORIES
from .folder import config_dir, read_meta

TAGS = [
    "spurious-correlations",
    "robustness",
    "distribution-shift",
    "synthetic",
    "mnist",
    "textures",
]
DEFAULT_REPO_ID = "user/textured-mnist"
REPORT_FILE = "report.md"

MNIST_BIBTEX = """@article{lecun1998gradient,
  title   = {Gradient-based learning applied to document recognition},
  author  = {LeCun, Yann and Bottou, L{\\'e}on and Bengio, Yoshua and Haffner, Patrick},
  journal = {Proceedings of the IEEE},
  volume  = {86},
  number  = {11},
  pages   = {2278--2324},
  year    = {1998}
}"""
DTD_BIBTEX = """@inproceedings{cimpoi14describing,
  title     = {Describing Textures in the Wild},
  author    = {Cimpoi, Mircea and Maji, Subhransu and Kokkinos, Iasonas and Mohamed, Sammy
               and Vedaldi, Andrea},
  booktitle = {Proceedings of the IEEE Conference on Computer Vision and Pattern Recognition
               (CVPR)},
  year      = {2014}
}"""
TEXMNIST_BIBTEX = """@misc{texturedmnist2026,
  title  = {Textured {MNIST}: a controlled benchmark of background reliance},
  author = {{texmnist developers}},
  year   = {2026},
  note   = {Generated with texmnist %s}
}"""


def template_text() -> str:
    """The card template: the repository's dataset_card.md (shipped in the package)."""
    return resources.files("texmnist").joinpath("dataset_card.md").read_text()


def _size_category(n: int) -> str:
    for limit, name in [(1_000, "n<1K"), (10_000, "1K<n<10K"), (100_000, "10K<n<100K")]:
        if n < limit:
            return name
    return "100K<n<1M" if n < 1_000_000 else "1M<n<10M"


def card_data(meta: dict) -> DatasetCardData:
    """The YAML header: licence, tags, `configs` and `dataset_info` for every config."""
    configs, infos = [], DatasetInfosDict()
    total = 0
    for name, cmeta in sorted(meta["configs"].items(), key=lambda kv: kv[0] != "default"):
        entry = {
            "config_name": name,
            "data_files": [{"split": s, "path": v["files"]} for s, v in cmeta["splits"].items()],
        }
        if name == "default":
            entry["default"] = True
        configs.append(entry)
        splits = datasets.SplitDict()
        for s, v in cmeta["splits"].items():
            splits.add(
                datasets.SplitInfo(s, num_bytes=v["num_bytes"], num_examples=v["num_examples"])
            )
            total += v["num_examples"]
        infos[name] = datasets.DatasetInfo(
            features=datasets.Features.from_dict(cmeta["features"]),
            splits=splits,
            dataset_size=sum(v["num_bytes"] for v in cmeta["splits"].values()),
        )
    data = DatasetCardData(
        pretty_name="Textured MNIST",
        license="other",
        license_name="cc-by-sa-3.0-and-dtd-research-only",
        license_link="https://www.robots.ox.ac.uk/~vgg/data/dtd/",
        task_categories=["image-classification"],
        tags=TAGS,
        size_categories=[_size_category(total)],
        source_datasets=["extended|mnist", "extended|dtd"],
        annotations_creators=["machine-generated"],
        language_creators=["found"],
        configs=configs,
    )
    infos.to_dataset_card_data(data)
    return data


def _table(header: list[str], rows: list[list]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + " --- |" * len(header)]
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


def _mapping_table(meta: dict) -> str:
    cats = meta["configs"].get("default", next(iter(meta["configs"].values())))["recipe"]
    cats = cats.get("categories", list(DEFAULT_CATEGORIES))
    return _table(["digit", "DTD category"], [[d, f"`{c}`"] for d, c in enumerate(cats)])


def _configs_table(meta: dict) -> str:
    rows = []
    for name, c in meta["configs"].items():
        n = sum(v["num_examples"] for v in c["splits"].values())
        rows.append([f"`{name}`", c.get("description", ""), f"{n:,}"])
    return _table(["config", "what it changes", "examples"], rows)


def _config_section(name: str, c: dict) -> str:
    recipe = c["recipe"]
    params = _table(
        ["parameter", "value"],
        [[f"`{k}`", f"`{v}`"] for k, v in recipe.items() if v is not None],
    )
    splits = _table(
        ["split", "examples", "files"],
        [[f"`{s}`", f"{v['num_examples']:,}", len(v["files"])] for s, v in c["splits"].items()],
    )
    return (
        f"### `{name}`\n\n{c.get('description', '')}\n\n"
        f"![preview of {name}](images/preview-{name}.png)\n\n"
        f"{params}\n\n{splits}\n\nData in `{config_dir(name)}/`. "
        f"Fingerprint (sha256 of the content): `{c['fingerprint']}`."
    )


def _reproducibility(meta: dict) -> str:
    rows = [
        [f"`{n}`", f"`{c['texmnist_version']}`", f"`{c['recipe']['seed']}`", f"`{c['command']}`"]
        for n, c in meta["configs"].items()
    ]
    return (
        "Every configuration is generated deterministically from the official MNIST files and "
        "the DTD archive: the same seed gives bit-identical data on any machine and for any "
        "number of processes. Rebuild with `pip install textured-mnist` and the command below, "
        "then compare the fingerprints in `texmnist.json`.\n\n"
        + _table(["config", "texmnist", "seed", "command"], rows)
    )


def _baselines(folder: Path) -> str:
    """The evaluation report's table when one lies in the folder; else nothing."""
    report = folder / REPORT_FILE
    if not report.is_file():
        return ""
    return "## Baseline results\n\n" + report.read_text().strip()


def render_card(folder: Path, *, repo_id: str = DEFAULT_REPO_ID) -> str:
    folder = Path(folder)
    meta = read_meta(folder)
    names = list(meta["configs"])
    first = "default" if "default" in names else names[0]
    recipe = meta["configs"][first]["recipe"]
    body = string.Template(template_text().split("---", 2)[2]).safe_substitute(
        preview_default=f"images/preview-{first}.png",
        threshold=recipe["threshold"],
        partition_rule=meta["configs"][first]["partition_rule"],
        mapping_table=_mapping_table(meta),
        configs_table=_configs_table(meta),
        config_sections="\n\n".join(_config_section(n, c) for n, c in meta["configs"].items()),
        repo_id=repo_id,
        example_config=next((n for n in names if n != "default"), first),
        baselines=_baselines(folder),
        reproducibility=_reproducibility(meta),
        citations="```bibtex\n"
        + "\n\n".join([TEXMNIST_BIBTEX % __version__, MNIST_BIBTEX, DTD_BIBTEX])
        + "\n```",
    )
    return DatasetCard(f"---\n{card_data(meta).to_yaml()}\n---\n{body.lstrip()}").content


def write_card(folder: Path, *, repo_id: str = DEFAULT_REPO_ID) -> Path:
    path = Path(folder) / "README.md"
    path.write_text(render_card(folder, repo_id=repo_id))
    return path
