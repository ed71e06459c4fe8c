import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

import tinydiff_lib as td
from tinydiff_lib import data as data_module

from .conftest import REPO, needs_mnist


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


def _offline_download(monkeypatch, partial_file: bool = False):
    """torchvision's real MNIST.download (which creates MNIST/raw/ first) with every file download failing."""
    from urllib.error import URLError

    from torchvision.datasets import mnist

    def fail(url, download_root, filename=None, md5=None, **kwargs):
        if partial_file:
            (Path(download_root) / filename).write_bytes(b"half a file")
        raise URLError("no network")

    monkeypatch.setattr(mnist, "download_and_extract_archive", fail)


@pytest.mark.parametrize("partial_file", [False, True])
def test_failed_lookup_leaves_no_folders_behind(monkeypatch, tmp_path, partial_file):
    _offline_download(monkeypatch, partial_file)
    with pytest.raises(td.DataNotFoundError):
        td.load_mnist(root=tmp_path / "typo" / "data")
    assert not (tmp_path / "typo").exists(), "a failed look-up created folders"
    with pytest.raises(td.DataNotFoundError):
        td.load_mnist(root=tmp_path)  # the root exists: it stays, nothing is created inside it
    assert list(tmp_path.iterdir()) == []


def test_failed_lookup_keeps_an_existing_raw_folder(monkeypatch, tmp_path):
    raw = tmp_path / "MNIST" / "raw"
    raw.mkdir(parents=True)
    (raw / "train-images-idx3-ubyte").write_bytes(b"the user's file")
    _offline_download(monkeypatch)
    with pytest.raises(td.DataNotFoundError, match=str(raw)):
        td.load_mnist(root=tmp_path)
    assert (raw / "train-images-idx3-ubyte").read_bytes() == b"the user's file"


def test_relative_root_is_read_from_the_current_folder(monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("TINYDIFF_DATA", "rel/data")
    assert td.data_root() == tmp_path / "rel" / "data" and td.data_root().is_absolute()
    assert td.data_root("other") == tmp_path / "other"


needs_make = pytest.mark.skipif(shutil.which("make") is None, reason="needs make")


def make_data_root(env_value: str | None, *args: str) -> str:
    """What `make` hands its recipes (nbval, pytest) as TINYDIFF_DATA, typed from the repository root."""
    env = {k: v for k, v in os.environ.items() if k not in ("TINYDIFF_DATA", "MAKEFLAGS", "MAKELEVEL")}
    if env_value is not None:
        env["TINYDIFF_DATA"] = env_value
    result = subprocess.run(["make", "-s", "data-root", *args], cwd=REPO, env=env, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    return result.stdout.strip()


@needs_make
def test_make_turns_a_relative_data_root_into_an_absolute_one():
    # the README's offline example: TINYDIFF_DATA=../shared/data make test (typed in the repository root)
    expected = os.path.abspath(REPO / ".." / "shared" / "data")
    assert make_data_root("../shared/data") == expected
    assert make_data_root(None, "TINYDIFF_DATA=../shared/data") == expected  # make test TINYDIFF_DATA=...
    assert make_data_root("/abs/mnist") == "/abs/mnist"
    assert make_data_root("~/mnist") == str(Path.home() / "mnist")
    assert make_data_root(None) == str(Path.home() / ".cache" / "tinydiff")


@pytest.mark.slow
@needs_make
@needs_mnist
def test_a_notebook_kernel_finds_mnist_through_a_relative_root():
    """The failure this guards: nbval runs each notebook with notebooks/ as its working folder."""
    relative = os.path.relpath(os.environ["TINYDIFF_DATA"], REPO)
    resolved = make_data_root(relative)
    code = "import tinydiff_lib as td; x, y = td.mnist_tensor(train=False); print(len(x))"
    env = {**os.environ, "TINYDIFF_DATA": resolved}
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=REPO / "notebooks", env=env, capture_output=True, text=True
    )
    assert result.returncode == 0 and result.stdout.strip() == "10000", result.stderr[-2000:]
