"""Checks of the card: its YAML parses, and lists every config and split as texmnist.json does."""

from __future__ import annotations

import re
from pathlib import Path

import datasets
import yaml
from datasets.data_files import resolve_pattern
from datasets.info import DatasetInfosDict
from huggingface_hub import DatasetCard

from ..meta import META_FILE, default_config
from .rules import CARD_FILE, IMAGE_COLUMNS, SPLIT_NAME, Problem


def read_card(folder: Path) -> tuple[DatasetCard | None, list[Problem]]:
    path = folder / CARD_FILE
    if not path.is_file():
        return None, [Problem(str(path), "missing; the Hub reads configs from it")]
    text = path.read_text()
    match = re.match(r"^---\s*\n(.*?)\n---\s*\n", text, re.DOTALL)
    if match is None:
        return None, [Problem(str(path), "no YAML header (--- ... ---) at the top")]
    try:
        header = yaml.safe_load(match.group(1))
    except yaml.YAMLError as e:
        where = getattr(e, "problem_mark", None)
        at = f" at line {where.line + 2}" if where is not None else ""
        reason = getattr(e, "problem", None) or type(e).__name__
        return None, [Problem(str(path), f"YAML header does not parse{at}: {reason}")]
    if not isinstance(header, dict):
        return None, [Problem(str(path), "YAML header is not a mapping")]
    try:
        return DatasetCard(text), []
    except Exception as e:  # huggingface_hub's own validation of the header
        return None, [Problem(str(path), f"not a valid dataset card ({e})")]


def card_against_meta(folder: Path, card: DatasetCard, meta: dict) -> list[Problem]:
    readme = str(folder / CARD_FILE)
    problems = []
    yaml_configs = {c.get("config_name"): c for c in (card.data.configs or [])}
    try:
        infos = DatasetInfosDict.from_dataset_card_data(card.data)
    except Exception as e:  # malformed dataset_info: report, check the rest
        problems.append(Problem(readme, f"dataset_info does not parse ({e})"))
        infos = {}
    problems += _default(readme, yaml_configs, meta)
    for name in sorted(set(yaml_configs) - set(meta["configs"])):
        problems.append(Problem(readme, f"config {name!r} in `configs` is not in {META_FILE}"))
    for name, c in meta["configs"].items():
        if name not in yaml_configs:
            problems.append(Problem(readme, f"config {name!r} is missing from `configs`"))
        else:
            problems += _data_files(readme, folder, name, yaml_configs[name], c)
        if name not in infos:
            problems.append(Problem(readme, f"config {name!r} is missing from `dataset_info`"))
        else:
            problems += _info(readme, name, infos[name], c)
    return problems


def _default(readme: str, yaml_configs: dict, meta: dict) -> list[Problem]:
    """Exactly one config is the default, the one `default_config` names."""
    want = default_config(meta)
    marked = [n for n, entry in yaml_configs.items() if entry.get("default") is True]
    if marked == [want]:
        return []
    if not marked:
        return [Problem(readme, f"no config has `default: true`; the default config is {want!r}")]
    return [
        Problem(
            readme,
            f"`default: true` on {', '.join(map(repr, marked))}; the default config is {want!r}",
        )
    ]


def _data_files(readme: str, folder: Path, name: str, entry: dict, c: dict) -> list[Problem]:
    """Each split's `data_files` resolves, as `load_dataset` resolves it, to exactly the
    shards texmnist.json lists, in their order."""
    problems = []
    listed = {}
    for item in entry.get("data_files") or []:
        split = item.get("split") if isinstance(item, dict) else None
        paths = item.get("path") if isinstance(item, dict) else None
        listed[split] = paths
    for split in listed:
        if not isinstance(split, str) or not SPLIT_NAME.match(split):
            problems.append(
                Problem(readme, f"config {name!r}: split name {split!r} is not ^\\w+(\\.\\w+)*$")
            )
    for split, s in c["splits"].items():
        where = f"config {name!r} split {split!r}"
        if not SPLIT_NAME.match(split):
            problems.append(
                Problem(where, "split name is not ^\\w+(\\.\\w+)*$; the Hub refuses it")
            )
        if split not in listed:
            problems.append(Problem(readme, f"{where} is missing from `configs` data_files"))
            continue
        got = _resolve(folder, listed[split])
        if got != s["files"]:
            n = len(s["files"])
            problems.append(
                Problem(
                    readme,
                    f"{where}: data_files {listed[split]!r} resolves to {got}, not the {n} "
                    f"files built ({', '.join(s['files'])})",
                )
            )
    for split in sorted(set(listed) - set(c["splits"]), key=str):
        problems.append(Problem(readme, f"config {name!r}: split {split!r} was never built"))
    return problems


def _resolve(folder: Path, patterns) -> list[str]:
    """The files `load_dataset(folder)` reads for a `data_files` entry, relative, in order."""
    patterns = [patterns] if isinstance(patterns, str) else list(patterns or [])
    files = []
    for pattern in patterns:
        try:
            found = resolve_pattern(str(pattern), base_path=str(folder))
        except (FileNotFoundError, ValueError):
            continue
        files += [Path(f).relative_to(folder).as_posix() for f in found]
    return files


def _info(readme: str, name: str, info: datasets.DatasetInfo, c: dict) -> list[Problem]:
    problems = []
    splits = info.splits or {}
    for split, s in c["splits"].items():
        where = f"config {name!r} split {split!r}"
        if split not in splits:
            problems.append(Problem(readme, f"{where} is missing from `dataset_info` splits"))
            continue
        got = splits[split]
        if got.num_examples != s["num_examples"]:
            problems.append(
                Problem(
                    readme,
                    f"{where}: num_examples {got.num_examples:,} in the card, "
                    f"{s['num_examples']:,} in the data",
                )
            )
        if got.num_bytes != s["num_bytes"]:
            problems.append(
                Problem(
                    readme,
                    f"{where}: num_bytes {got.num_bytes:,} in the card, {s['num_bytes']:,} built",
                )
            )
    for split in sorted(set(splits) - set(c["splits"])):
        problems.append(Problem(readme, f"config {name!r}: dataset_info lists unbuilt {split!r}"))
    expected = datasets.Features.from_dict(c["features"])
    if info.features is None:
        problems.append(Problem(readme, f"config {name!r}: dataset_info has no features"))
        return problems
    for column in IMAGE_COLUMNS:
        if column in info.features and not isinstance(info.features[column], datasets.Image):
            problems.append(
                Problem(
                    readme,
                    f"config {name!r}: image column {column!r} is typed "
                    f"{type(info.features[column]).__name__}, not Image",
                )
            )
    if info.features != expected:
        problems.append(Problem(readme, f"config {name!r}: features differ from the built data"))
    return problems
