"""`texmnist.torch_dataset`: the arrays of a split as a map-style torch Dataset."""

from __future__ import annotations

import functools

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from torch.utils.data import DataLoader  # noqa: E402

import texmnist  # noqa: E402
from texmnist.errors import ConfigError  # noqa: E402
from texmnist.generate.config import named_config  # noqa: E402
from texmnist.repo.arrays import load_arrays  # noqa: E402
from texmnist.repo.folder import build  # noqa: E402
from texmnist.repo.torchdata import TexturedMNISTDataset, image_tensor  # noqa: E402


@pytest.fixture(scope="module")
def repo(fake_sources, tmp_path_factory):
    mnist, dtd = fake_sources
    out = tmp_path_factory.mktemp("torchdata") / "repo"
    for name in ("default", "rgb"):
        config = named_config(
            name, mnist_dir=str(mnist), dtd_dir=str(dtd), validation_size=10, counterfactual_size=0
        )
        build(config, out, write_card=False)
    return out


@pytest.mark.parametrize("config", ["default", "rgb"])
def test_items_are_the_arrays(repo, config):
    arrays = load_arrays(repo, config, "test_random")
    ds = texmnist.torch_dataset(repo, config, "test_random")
    assert isinstance(ds, TexturedMNISTDataset) and len(ds) == len(arrays["label"])
    channels = 1 if arrays["image"].ndim == 3 else 3
    for i in (0, 7, len(ds) - 1):
        image, label = ds[i]
        assert image.dtype == torch.float32 and image.shape == (channels, 28, 28)
        expected = arrays["image"][i].reshape(28, 28, channels).transpose(2, 0, 1) / 255.0
        np.testing.assert_allclose(image.numpy(), expected, rtol=0, atol=1e-7)
        assert label == int(arrays["label"][i]) and isinstance(label, int)
    # The whole split, at once: the stored tensor is the arrays' images, bit for bit.
    stored = ds.images.numpy().transpose(0, 2, 3, 1)
    assert np.array_equal(stored.reshape(arrays["image"].shape), arrays["image"])


def test_metadata_and_transform(repo):
    arrays = load_arrays(repo, "default", "test_random")
    flip = functools.partial(torch.flip, dims=(2,))  # a transform: mirror left-right
    ds = texmnist.torch_dataset(repo, "default", "test_random", flip, metadata=True)
    image, label, row = ds[-1]
    last = len(ds) - 1
    assert row["index"] == last and label == int(arrays["label"][last])
    assert int(row["texture"]) == int(arrays["texture"][last])
    assert int(row["mnist_index"]) == int(arrays["mnist_index"][last])
    assert torch.equal(row["mask"], torch.from_numpy(arrays["mask"][last]))
    assert row["texture_file"] == arrays["texture_file"][last]
    mirrored = arrays["image"][last][None, :, ::-1] / 255.0
    np.testing.assert_allclose(image.numpy(), mirrored, rtol=0, atol=1e-7)
    with pytest.raises(IndexError):
        ds[len(ds)]


def test_dataloader_with_two_workers(repo):
    ds = texmnist.torch_dataset(repo, "rgb", "test_correlated", metadata=True)
    loader = DataLoader(ds, batch_size=16, shuffle=True, num_workers=2,
                        generator=torch.Generator().manual_seed(0))  # fmt: skip
    seen, labels = [], {}
    for images, label, row in loader:
        assert images.shape[1:] == (3, 28, 28) and images.dtype == torch.float32
        seen += row["index"].tolist()
        labels.update(zip(row["index"].tolist(), label.tolist(), strict=True))
    assert sorted(seen) == list(range(len(ds)))  # every row once, across both workers
    assert [labels[i] for i in range(len(ds))] == ds.labels.tolist()


def test_bad_split_and_images(repo):
    with pytest.raises(ConfigError, match="has no split 'test_nope'"):
        texmnist.torch_dataset(repo, "default", "test_nope")
    with pytest.raises(ConfigError, match="expected uint8"):
        image_tensor(np.zeros((2, 28, 28), dtype=np.float32))
    # Read-only (memory-mapped) arrays copy like any other.
    frozen = np.arange(2 * 4 * 4 * 3, dtype=np.uint8).reshape(2, 4, 4, 3)
    frozen.flags.writeable = False
    assert torch.equal(image_tensor(frozen), torch.from_numpy(frozen.copy()).permute(0, 3, 1, 2))
