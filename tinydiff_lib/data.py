"""MNIST through torchvision, scaled to [-1, 1].

The data root comes from, in order: the ``root`` argument, the ``TINYDIFF_DATA`` environment variable,
or ``~/.cache/tinydiff``. torchvision downloads MNIST there when it can; offline, put the four raw MNIST
files in ``<root>/MNIST/raw/`` (the layout ``torchvision.datasets.MNIST`` reads).

A relative root is read from the current working folder of the process that loads the data; a notebook's
kernel runs in ``notebooks/``, so ``make`` turns a relative ``TINYDIFF_DATA`` into an absolute path first
(``make data-root`` prints it). A failed look-up leaves no folder behind.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset

from .errors import TinyDiffError

__all__ = [
    "data_root",
    "load_mnist",
    "mnist_tensor",
    "make_loader",
    "to_unit",
    "to_uint8",
    "from_uint8",
    "DataNotFoundError",
]

ENV_VAR = "TINYDIFF_DATA"


class DataNotFoundError(TinyDiffError, RuntimeError):
    """MNIST is neither on disk nor downloadable."""


def data_root(root: str | os.PathLike | None = None) -> Path:
    """Where MNIST lives, as an absolute path: ``root``, else ``$TINYDIFF_DATA``, else ``~/.cache/tinydiff``.

    ``~`` is the home folder; a relative path is taken from the current working folder (now, so that the
    messages name the folder that was searched)."""
    if root is not None:
        return Path(root).expanduser().absolute()
    if os.environ.get(ENV_VAR):
        return Path(os.environ[ENV_VAR]).expanduser().absolute()
    return Path.home() / ".cache" / "tinydiff"


def _first_missing(path: Path) -> Path | None:
    """The outermost folder of ``path`` (itself or a parent) that does not exist yet, or None."""
    missing = None
    for folder in (path, *path.parents):
        if folder.exists():
            break
        missing = folder
    return missing


def load_mnist(train: bool = True, root: str | os.PathLike | None = None):
    """``torchvision.datasets.MNIST`` with images as float tensors in [-1, 1] of shape (1, 28, 28)."""
    from torchvision import datasets, transforms

    root = data_root(root)
    tf = transforms.Compose([transforms.ToTensor(), transforms.Normalize((0.5,), (0.5,))])  # [0,1] -> [-1,1]
    try:
        return datasets.MNIST(str(root), train=train, download=False, transform=tf)
    except RuntimeError:
        pass  # not on disk yet: try to download
    raw = root / "MNIST" / "raw"
    created = _first_missing(raw)  # torchvision creates <root>/MNIST/raw before it downloads
    try:
        return datasets.MNIST(str(root), train=train, download=True, transform=tf)
    except Exception as exc:
        if created is not None:  # everything below it was made by this failed attempt: empty folders, partial files
            shutil.rmtree(created, ignore_errors=True)
        raise DataNotFoundError(
            f"MNIST is not in {raw} and could not be downloaded ({exc.__class__.__name__}). "
            f"Set {ENV_VAR} to a folder holding MNIST/raw/ with the four files "
            "train-images-idx3-ubyte, train-labels-idx1-ubyte, t10k-images-idx3-ubyte, t10k-labels-idx1-ubyte "
            "(a relative path is read from the current folder; from make, from the repository root)."
        ) from None


class _TensorMNIST(Dataset):
    """All of MNIST as one float tensor in [-1, 1] (fast: no per-item PIL conversion)."""

    def __init__(self, x: torch.Tensor, y: torch.Tensor):
        self.x, self.y = x, y

    def __len__(self) -> int:
        return len(self.x)

    def __getitem__(self, i):
        return self.x[i], self.y[i]


def mnist_tensor(train: bool = True, root: str | os.PathLike | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """MNIST as ``(x, y)``: x float32 (N, 1, 28, 28) in [-1, 1], y int64 (N,)."""
    ds = load_mnist(train=train, root=root)
    x = from_uint8(ds.data)  # (N, 28, 28) uint8 -> (N, 1, 28, 28) in [-1, 1]
    return x, ds.targets.clone()


def make_loader(
    batch_size: int,
    train: bool = True,
    root: str | os.PathLike | None = None,
    generator: torch.Generator | None = None,
    device: torch.device | str = "cpu",
) -> DataLoader:
    """A shuffling loader over MNIST; pinned memory when the model is on CUDA."""
    x, y = mnist_tensor(train=train, root=root)
    return DataLoader(
        _TensorMNIST(x, y),
        batch_size=batch_size,
        shuffle=True,
        drop_last=True,
        generator=generator,
        pin_memory=torch.device(device).type == "cuda",
    )


def to_unit(x: torch.Tensor) -> torch.Tensor:
    """[-1, 1] -> [0, 1], clamped."""
    return ((x + 1) / 2).clamp(0, 1)


def to_uint8(x: torch.Tensor) -> np.ndarray:
    """(N, 1, 28, 28) in [-1, 1] -> uint8 array (N, 28, 28), MNIST polarity (0 = background, 255 = ink)."""
    return (to_unit(x.detach().float().cpu()) * 255).round().to(torch.uint8).squeeze(1).numpy()


def from_uint8(images) -> torch.Tensor:
    """uint8 (N, 28, 28) array or tensor -> float32 (N, 1, 28, 28) in [-1, 1]."""
    x = torch.as_tensor(np.asarray(images)).float()
    if x.ndim == 3:
        x = x.unsqueeze(1)  # (N, 28, 28) -> (N, 1, 28, 28)
    return x / 127.5 - 1
