import os
from pathlib import Path

import pytest
import torch

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(autouse=True)
def _single_thread():
    """Tests are small: one thread avoids oversubscription on 2-core CI machines."""
    torch.set_num_threads(1)
    yield


def mnist_available() -> bool:
    root = os.environ.get("TINYDIFF_DATA")
    return bool(root) and (Path(root) / "MNIST" / "raw" / "train-images-idx3-ubyte").exists()


needs_mnist = pytest.mark.skipif(not mnist_available(), reason="set TINYDIFF_DATA to a folder with MNIST/raw")
