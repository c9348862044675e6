"""Shared fixtures: fake sources in the real on-disk formats, and small builds."""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

# Tests never touch the network or the user's Hugging Face cache; set before
# `datasets` is imported, since it reads these once.
os.environ["HF_HUB_OFFLINE"] = "1"
os.environ["HF_DATASETS_OFFLINE"] = "1"
HF_HOME = os.environ["HF_HOME"] = tempfile.mkdtemp(prefix="texmnist-test-hf-")

import pytest  # noqa: E402
from fakedata import make_fake_dtd, make_fake_mnist  # noqa: E402

SHARED_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"

N_TRAIN, N_TEST, PER_CATEGORY = 80, 40, 12


def pytest_unconfigure(config) -> None:
    """The Hugging Face home of the run (`load_dataset`'s caches, ~30 MB) goes with it."""
    shutil.rmtree(HF_HOME, ignore_errors=True)


@pytest.fixture(scope="session")
def fake_sources(tmp_path_factory) -> tuple[Path, Path]:
    """(mnist_dir, dtd_dir): 80 + 40 fake digits and 12 photos per category."""
    root = tmp_path_factory.mktemp("sources")
    mnist = make_fake_mnist(root / "mnist", n_train=N_TRAIN, n_test=N_TEST, seed=0)
    dtd = make_fake_dtd(root / "dtd", per_category=PER_CATEGORY, seed=0)
    return mnist, dtd


@pytest.fixture
def online(monkeypatch):
    """Downloads on (from file:// mirrors) for one test: texmnist honours the offline
    variables set above. `datasets` read them at import, so its own stay off."""
    from texmnist.sources.fetch import OFFLINE_VARIABLES

    for name in OFFLINE_VARIABLES:
        monkeypatch.delenv(name, raising=False)


def shared_data_or_skip() -> Path:
    if not (SHARED_DATA / "mnist").is_dir() or not (SHARED_DATA / "dtd").is_dir():
        pytest.skip(f"real data not found at {SHARED_DATA}")
    return SHARED_DATA


@pytest.fixture(scope="module")
def one_torch_thread():
    """Tiny models train fastest on one thread; two spin against each other on a busy machine.

    For torch test modules: `pytestmark = pytest.mark.usefixtures("one_torch_thread")`.
    """
    torch = pytest.importorskip("torch")
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="session")
def score_repo(fake_sources, tmp_path_factory) -> Path:
    """A small `default` build with a counterfactual split, for the `score` tests."""
    from texmnist.generate.config import named_config
    from texmnist.repo.folder import build

    mnist, dtd = fake_sources
    out = tmp_path_factory.mktemp("score") / "repo"
    config = named_config("default", mnist_dir=str(mnist), dtd_dir=str(dtd), counterfactual_size=8)
    build(config, out, write_card=False)
    return out


@pytest.fixture(scope="session")
def score_data(score_repo) -> dict:
    """`score_repo`'s test splits as arrays: label, texture, mnist_index, aligned."""
    from texmnist.repo.arrays import load_arrays

    columns = ["label", "texture", "mnist_index", "aligned"]
    splits = ("test_correlated", "test_random", "test_no_background", "test_counterfactual")
    return {s: load_arrays(score_repo, "default", s, columns=columns) for s in splits}
