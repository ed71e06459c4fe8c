import numpy as np
import pytest
import torch

import tinydiff_lib as td
from tinydiff_lib import data as data_module

from .conftest import needs_mnist


def test_uint8_round_trip_and_polarity():
    images = np.array([[[0, 255], [128, 1]]], dtype=np.uint8)
    x = td.from_uint8(images)
    assert x.shape == (1, 1, 2, 2) and x.min() == -1 and x.max() == 1
    assert np.array_equal(td.to_uint8(x), images)
    assert td.to_unit(torch.tensor([-3.0, 0.0, 3.0])).tolist() == [0.0, 0.5, 1.0]


def test_data_root_precedence(monkeypatch, tmp_path):
    monkeypatch.setenv("TINYDIFF_DATA", str(tmp_path / "env"))
    assert td.data_root(tmp_path / "arg") == tmp_path / "arg"
    assert td.data_root() == tmp_path / "env"
    monkeypatch.delenv("TINYDIFF_DATA")
    assert td.data_root().name == "tinydiff"


def test_missing_data_offline_names_the_setting(monkeypatch, tmp_path):
    from torchvision import datasets

    def offline(self):
        raise OSError("no network")

    monkeypatch.setattr(datasets.MNIST, "download", offline)
    with pytest.raises(td.DataNotFoundError, match="TINYDIFF_DATA") as info:
        td.load_mnist(root=tmp_path)
    assert "train-images-idx3-ubyte" in str(info.value)


@needs_mnist
def test_mnist_is_scaled_to_minus_one_one():
    x, y = td.mnist_tensor(train=False)
    assert x.shape == (10_000, 1, 28, 28) and x.dtype == torch.float32
    assert x.min() == -1 and x.max() == 1 and y.shape == (10_000,)
    assert abs(td.to_unit(x).mean().item() - 0.1325) < 0.002  # MNIST test mean on [0, 1]
    image, label = td.load_mnist(train=False)[0]
    torch.testing.assert_close(image, x[0])


@needs_mnist
def test_loader_pins_memory_only_on_cuda():
    loader = data_module.make_loader(32, train=False, generator=torch.Generator().manual_seed(0))
    xb, yb = next(iter(loader))
    assert xb.shape == (32, 1, 28, 28) and not loader.pin_memory
