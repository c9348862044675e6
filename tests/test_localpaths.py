"""Paths of the build machine: found in text (localpaths), replaced by their role in
recorded build commands (command)."""

from __future__ import annotations

import pytest

from texmnist.repo.command import PATH_ROLES, with_path_roles
from texmnist.repo.localpaths import find_local_paths, strings_in

HOME_PATHS = [
    "/home/alice/data/mnist",
    "/Users/bob/Downloads/dtd",
    "/root/fashion",
    "C:\\Users\\carol\\kmnist",
    "D:/datasets/dtd",
    "~/textured-mnist",
    "~dave/out",
    "\\\\nas\\share\\mnist",
    "file:///home/erin/mnist",
    "/tmp/build/out",
]


@pytest.mark.parametrize("path", HOME_PATHS)
def test_a_local_path_is_found_in_prose_code_and_tables(path):
    for text in (f"built from {path} today", f"`{path}`", f"| {path} |", f"--out={path}"):
        assert find_local_paths(text), text


@pytest.mark.parametrize(
    "text",
    [
        "https://huggingface.co/datasets/user/textured-mnist",
        "http://yann.lecun.com/exdb/mnist/ and https://www.robots.ox.ac.uk/~vgg/data/dtd/",
        "data/train-*.parquet and rgb/test_random-00000-of-00001.parquet",
        "![preview](images/preview-default.png)",
        "intensity / 255, train/test, and/or, 12 MB/s, 1/2",
        "texmnist build --out <OUT> --mnist-dir <MNIST> --dtd-dir=<DTD>",
    ],
)
def test_urls_relative_paths_and_fractions_are_not_local_paths(text):
    assert find_local_paths(text) == []


def test_json_strings_are_checked_with_their_real_backslashes():
    value = {"configs": {"a": {"command": "x --out C:\\Users\\bob\\o", "n": [1, "/home/al/x"]}}}
    found = [p for s in strings_in(value) for p in find_local_paths(s)]
    assert found == ["C:\\Users\\bob\\o", "/home/al/x"]


@pytest.mark.parametrize("path", HOME_PATHS)
def test_every_path_option_keeps_its_place_and_loses_its_value(path):
    command = (
        f"texmnist build --out {path}/o --config rgb,sizes --mnist-dir {path}/m "
        f"--fashion-mnist-dir={path}/f --kmnist {path}/k --dtd-dir '{path}/d t d' --seed 3"
    )
    got = with_path_roles(command)
    assert got == (
        "texmnist build --out <OUT> --config rgb,sizes --mnist-dir <MNIST> "
        "--fashion-mnist-dir=<FASHION_MNIST> --kmnist-dir <KMNIST> --dtd-dir <DTD> --seed 3"
    )
    assert find_local_paths(got) == []


def test_a_command_that_does_not_parse_is_dropped_not_half_cleaned():
    assert with_path_roles("texmnist build --out '/home/alice/unclosed") == ""


def test_every_path_option_of_build_has_a_role():
    from texmnist.cli import parser

    build = parser()._subparsers._group_actions[0].choices["build"]
    dirs = {o for a in build._actions for o in a.option_strings if o.endswith(("-dir", "--out"))}
    assert dirs == set(PATH_ROLES)
