"""The dataset card: README.md of a texmnist folder, from `dataset_card.md`.

The YAML header comes from `huggingface_hub.DatasetCardData` and `datasets`'
own YAML writers (so `load_dataset` reads exactly what it expects); the body is
the template with `$name` fields (`string.Template`: no Jinja2 needed for plain
substitution) filled from the folder's texmnist.json.
"""

from __future__ import annotations

import re
import string
from importlib import resources
from pathlib import Path

import datasets
from datasets.info import DatasetInfosDict
from huggingface_hub import DatasetCard, DatasetCardData

from ..errors import OutputError
from ..generate.config import DATA_VERSION, DEFAULT_CATEGORIES, NAMED_CONFIGS, named_config
from ..generate.splits import SPLIT_SPECS
from ..sources import provenance
from ..sources.provenance import DEFAULT_REPO_ID, Provenance
from .baselines import baselines
from .command import public_command
from .meta import config_dir, default_config, read_metadata, split_pattern

TAGS = [
    "spurious-correlations",
    "robustness",
    "distribution-shift",
    "synthetic",
    "mnist",
    "textures",
]

PARAM_DOCS = {
    "seed": "random seed of every draw",
    "source": "digit source",
    "categories": "DTD category of digit 0..9",
    "threshold": "foreground: intensity / 255 above this",
    "partition": "DTD train/test partition of the photos",
    "correlation": "ρ: P(train texture is the class's own)",
    "canvas": "image side, px",
    "scale": "digit side(s), px",
    "position": "digit placement(s)",
    "color": "texture colour",
    "texture_sampling": "whole photo resized, or a random crop",
    "crop_size": "crop side in photo px (crop sampling)",
    "foreground": "what fills the strokes",
    "validation_size": "training digits held out for validation",
    "background_only": "adds `test_background_only`",
    "counterfactual_size": "digits in `test_counterfactual` (ten rows each)",
    "groups": "size × position × background groups",
    "max_train": "only the first N training digits",
    "max_test": "only the first N test digits",
    "draft": "JPEG draft decoding of the photos",
}


def template_text() -> str:
    """The card template: the repository's dataset_card.md (shipped in the package)."""
    return resources.files("texmnist.repo").joinpath("dataset_card.md").read_text()


def _size_category(n: int) -> str:
    for limit, name in [(1_000, "n<1K"), (10_000, "1K<n<10K"), (100_000, "10K<n<100K")]:
        if n < limit:
            return name
    return "100K<n<1M" if n < 1_000_000 else "1M<n<10M"


def _ordered(meta: dict) -> list[tuple[str, dict]]:
    """Configs with the default one first (the Hub shows the first config first)."""
    default = default_config(meta)
    return sorted(meta["configs"].items(), key=lambda kv: kv[0] != default)


def folder_sources(meta: dict) -> list[Provenance]:
    """Provenance of exactly the sources the folder's configs use (digit sources, then DTD)."""
    return provenance.sources_of(c["recipe"]["source"] for _, c in _ordered(meta))


def card_data(meta: dict) -> DatasetCardData:
    """The YAML header: licence, tags, `configs` and `dataset_info` for every config."""
    records = folder_sources(meta)
    configs, infos = [], DatasetInfosDict()
    total = 0
    default = default_config(meta)
    for name, cmeta in _ordered(meta):
        entry = {
            "config_name": name,
            "data_files": [{"split": s, "path": split_pattern(name, s)} for s in cmeta["splits"]],
        }
        if name == default:
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
        license_name=provenance.license_name(records),
        license_link=provenance.DTD.license_url,
        task_categories=["image-classification"],
        task_ids=["multi-class-image-classification"],
        tags=TAGS,
        size_categories=[_size_category(total)],
        source_datasets=[f"extended|{p.key}" for p in records],
        annotations_creators=["machine-generated"],
        language_creators=["found"],
        configs=configs,
    )
    infos.to_dataset_card_data(data)
    return data


# -- body pieces ----------------------------------------------------------------


def _table(header: list[str], rows: list[list]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + " --- |" * len(header)]
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


def _value(v) -> str:
    """A recipe value as the command line would spell it."""
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, list):
        return ", ".join(str(x) for x in v)
    return str(v)


def _mapping_categories(meta: dict) -> list[str]:
    """The mapping of the first config (`default` when built); others may differ."""
    return list(_ordered(meta)[0][1]["recipe"].get("categories", DEFAULT_CATEGORIES))


def _mapping_table(meta: dict) -> str:
    cats = _mapping_categories(meta)
    return _table(["digit", "DTD category"], [[d, f"`{c}`"] for d, c in enumerate(cats)])


def _configs_table(meta: dict) -> str:
    rows = []
    for name, c in _ordered(meta):
        n = sum(v["num_examples"] for v in c["splits"].values())
        rows.append([f"`{name}`", c.get("description", ""), f"{n:,}"])
    return _table(["config", "what it is", "examples"], rows)


def _splits_table(meta: dict) -> str:
    configs = _ordered(meta)
    names = [s for s in SPLIT_SPECS if any(s in c["splits"] for _, c in configs)]
    names += [s for _, c in configs for s in c["splits"] if s not in names]
    rows = []
    for s in names:
        counts = [
            f"{c['splits'][s]['num_examples']:,}" if s in c["splits"] else "–" for _, c in configs
        ]
        doc = SPLIT_SPECS[s].doc if s in SPLIT_SPECS else ""
        rows.append([f"`{s}`", doc, *counts])
    return _table(["split", "what it holds", *[f"`{n}`" for n, _ in configs]], rows)


def _params_table(c: dict, mapping: list[str], base: dict | None = None) -> str:
    """The recipe of `c`; with `base`, only the parameters that differ from it."""
    rows = []
    for k, v in c["recipe"].items():
        if v is None or (k == "categories" and list(v) == mapping):
            continue
        if base is not None and base.get(k) == v:
            continue
        rows.append([f"`{k}`", f"`{_value(v)}`", PARAM_DOCS.get(k, "")])
    return _table(["parameter", "value", "meaning"], rows)


def _subset_note(c: dict) -> str:
    """Say plainly when a build used only part of the digits."""
    recipe, digits = c["recipe"], c.get("digits", {})
    parts = []
    for key, side, word in (("max_train", "train", "training"), ("max_test", "test", "test")):
        n, total = recipe.get(key), digits.get(side)
        if n is not None and (total is None or n < total):
            parts.append(f"the first {n:,} {word} digits" + (f" (of {total:,})" if total else ""))
    if not parts:
        return ""
    return f"**Subset build:** this configuration uses only {' and '.join(parts)}.\n\n"


def _config_section(name: str, c: dict, mapping: list[str], repo_id: str, first: tuple) -> str:
    """Description, preview and parameters of one config (the first shows all of them)."""
    first_name, first_c = first
    if name == first_name:
        preview = "Preview: the grid at the top of this card."
    else:
        preview = f"![preview of the {name} configuration](images/preview-{name}.png)"
    if name not in NAMED_CONFIGS:  # a custom variant: what it changes in the recipe
        params = _params_table(c, mapping, base=named_config("default").recipe())
        params += "\n\nEvery other parameter as in the named config `default`."
    elif name == first_name:
        params = _params_table(c, mapping)
    else:
        params = _params_table(c, mapping, base=first_c["recipe"])
        params += f"\n\nEvery other parameter as in `{first_name}`."
    return (
        f"### Configuration `{name}`\n\n{c.get('description', '')}\n\n"
        f"{_subset_note(c)}{preview}\n\n{params}\n\n"
        f"Parquet files in `{config_dir(name)}/`; "
        f'`load_dataset("{repo_id}", "{name}", split="train")`.'
    )


def _reproducibility(meta: dict) -> str:
    rows = []
    for n, c in _ordered(meta):
        command = public_command(c.get("command", ""), n, c["recipe"])
        version = f"`{c['texmnist_version']}`"
        rows.append([f"`{n}`", f"`{c.get('data_version', '–')}`", version, c["recipe"]["seed"],
                     f"`{command}`"])  # fmt: skip
    fingerprints = _table(
        ["config", "fingerprint (sha256)"],
        [[f"`{n}`", f"`{c['fingerprint']}`"] for n, c in _ordered(meta)],
    )
    return (
        _table(["config", "data version", "texmnist", "seed", "command"], rows)
        + "\n\n"
        + fingerprints
    )


# -- the card ---------------------------------------------------------------------


def render_card(folder: Path, *, repo_id: str = DEFAULT_REPO_ID) -> str:
    """The full README.md text of `folder`, with `repo_id` in the usage snippets."""
    folder = Path(folder)
    meta = read_metadata(folder)
    if meta is None or not meta["configs"]:
        raise OutputError(f"{folder}: no texmnist configs here; run `texmnist build` first")
    configs = _ordered(meta)
    names = [n for n, _ in configs]
    first, cfirst = configs[0]
    mapping = _mapping_categories(meta)
    records = folder_sources(meta)
    body = string.Template(template_text().split("---", 2)[2]).safe_substitute(
        preview_first=f"images/preview-{first}.png",
        threshold=cfirst["recipe"]["threshold"],
        partition_rule=cfirst["partition_rule"],
        mapping_table=_mapping_table(meta),
        splits_table=_splits_table(meta),
        configs_table=_configs_table(meta),
        config_sections="\n\n".join(
            _config_section(n, c, mapping, repo_id, configs[0]) for n, c in configs
        ),
        repo_id=repo_id,
        default_config=first,
        example_config=next((n for n in names if n != first), first),
        baselines=baselines(folder, names),
        reproducibility=_reproducibility(meta),
        licence=provenance.license_text(records),
        cite_sources=" and ".join(p.title for p in records),
        citations="```bibtex\n" + provenance.citations(records, DATA_VERSION, repo_id) + "\n```",
    )
    body = re.sub(r"\n{3,}", "\n\n", body.lstrip())  # an omitted section leaves no gap
    return DatasetCard(f"---\n{card_data(meta).to_yaml()}\n---\n{body}").content


def write_card(folder: Path, *, repo_id: str = DEFAULT_REPO_ID) -> Path:
    path = Path(folder) / "README.md"
    path.write_text(render_card(folder, repo_id=repo_id))
    return path
