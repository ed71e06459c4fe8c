"""The MNIST feature network: the ruler every sample-quality metric of :mod:`tinydiff_lib.metrics` measures with.

Inception-v3 features mean little on 28×28 digits, so samples are measured in the feature space φ(x) ∈ R^128
of a small MNIST classifier (:class:`FeatureNet`, its penultimate layer). This module holds the network, its
training (:func:`train_feature_net`, run by ``scripts/train_feature_net.py``), its checkpoint format
(:func:`load_feature_net`, :func:`weights_hash`) and the way images become features (:func:`as_model_input`,
:func:`extract_features`).
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import sys
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from .data import from_uint8, mnist_tensor
from .errors import MissingFileError, UsageError
from .utils import atomic_torch_save, count_parameters, get_device, seed_everything

__all__ = [
    "FeatureNet", "DEFAULT_FEATURE_NET", "TRAIN_FEATURE_NET_COMMAND", "FEATURES_FORMAT", "random_affine",
    "weights_hash", "load_feature_net", "train_feature_net", "classifier_accuracy", "as_model_input",
    "extract_features",
]  # fmt: skip

#: the shipped feature network (in a source checkout)
DEFAULT_FEATURE_NET = Path(__file__).resolve().parent.parent / "checkpoints" / "mnist_features.pt"
#: the command that makes it
TRAIN_FEATURE_NET_COMMAND = "python scripts/train_feature_net.py"
FEATURES_FORMAT = "tinydiff-features"


def _conv_bn_relu(c_in: int, c_out: int) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(c_in, c_out, 3, padding=1, bias=False), nn.BatchNorm2d(c_out), nn.ReLU())


class FeatureNet(nn.Module):
    """A small MNIST classifier; ``embed(x)`` = φ(x) ∈ R^feature_dim, its penultimate (post-ReLU) layer.

    x: (B, 1, 28, 28) in [-1, 1]. Three 3×3 conv + BatchNorm + ReLU layers, each followed by 2×2
    max-pooling (28 → 14 → 7 → 3), then a linear layer to φ and a linear classifier on top.
    """

    def __init__(self, channels: int = 32, feature_dim: int = 128, num_classes: int = 10, dropout: float = 0.3):
        super().__init__()
        c = channels
        self.body = nn.Sequential(
            _conv_bn_relu(1, c), nn.MaxPool2d(2),  # (B, c, 14, 14)
            _conv_bn_relu(c, 2 * c), nn.MaxPool2d(2),  # (B, 2c, 7, 7)
            _conv_bn_relu(2 * c, 2 * c), nn.MaxPool2d(2),  # (B, 2c, 3, 3)
        )  # fmt: skip
        self.to_features = nn.Sequential(nn.Flatten(), nn.Linear(2 * c * 9, feature_dim), nn.ReLU())
        self.dropout = nn.Dropout(dropout)
        self.classifier = nn.Linear(feature_dim, num_classes)

    def embed(self, x: torch.Tensor) -> torch.Tensor:
        """φ(x): (B, 1, 28, 28) -> (B, feature_dim)."""
        return self.to_features(self.body(x))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Class logits (B, num_classes)."""
        return self.classifier(self.dropout(self.embed(x)))


def random_affine(
    x: torch.Tensor, generator: torch.Generator | None = None, degrees: float = 10.0, scale: float = 0.1,
    shift: float = 2.0,
) -> torch.Tensor:  # fmt: skip
    """Light augmentation: a random rotation (±degrees), zoom (1 ± scale) and shift (±shift pixels) per image.

    x: (B, 1, H, W) in [-1, 1]; pixels moved in from outside the image are background (−1).
    """
    b, _, h, w = x.shape
    u = torch.rand(b, 4, generator=generator).to(x.device) * 2 - 1  # (B, 4) uniform in [-1, 1]
    angle, zoom = u[:, 0] * math.radians(degrees), 1 + u[:, 1] * scale
    cos, sin = torch.cos(angle) / zoom, torch.sin(angle) / zoom
    theta = torch.stack(
        [torch.stack([cos, -sin, u[:, 2] * 2 * shift / w], 1), torch.stack([sin, cos, u[:, 3] * 2 * shift / h], 1)], 1
    )  # (B, 2, 3) in normalised coordinates
    grid = F.affine_grid(theta, list(x.shape), align_corners=False)
    return F.grid_sample(x + 1, grid, padding_mode="zeros", align_corners=False) - 1  # zero padding = ink-free


def weights_hash(model: nn.Module) -> str:
    """SHA-256 of the parameters and buffers (names, shapes, float32 bytes); keys the statistics cache."""
    h = hashlib.sha256()
    for name, tensor in sorted(model.state_dict().items()):
        t = tensor.detach().cpu().contiguous()
        t = t.float() if t.is_floating_point() else t
        h.update(f"{name}:{tuple(t.shape)}:{t.dtype}".encode())
        h.update(t.numpy().tobytes())
    return h.hexdigest()


def load_feature_net(path: str | os.PathLike | None = None, device="cpu") -> FeatureNet:
    """The trained :class:`FeatureNet` from ``path`` (default: the shipped one), in ``eval()`` mode.

    ``device``: "auto", "cpu", "cuda" or "mps" (see :func:`tinydiff_lib.utils.get_device`). Read with
    ``torch.load(..., weights_only=True)``; the file holds plain types and tensors only.
    """
    if path is None and not DEFAULT_FEATURE_NET.is_file():
        from .hub import checkpoint_path

        try:  # an install without the checkout's checkpoints/ (e.g. Colab): fetch the shipped file
            path = checkpoint_path("mnist_features")
        except Exception:
            path = DEFAULT_FEATURE_NET
    path = Path(path) if path is not None else DEFAULT_FEATURE_NET
    if not path.is_file():
        raise MissingFileError(
            f"feature network not found: {path}; make it with `{TRAIN_FEATURE_NET_COMMAND}` (a few minutes on a CPU)"
        )
    try:
        ckpt = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:
        raise UsageError(f"{path} is not a readable PyTorch checkpoint ({exc.__class__.__name__})") from None
    if not isinstance(ckpt, dict) or ckpt.get("format") != FEATURES_FORMAT:
        raise UsageError(f"{path} is not a TinyDiff feature-network checkpoint; remake it with "
                         f"`{TRAIN_FEATURE_NET_COMMAND}`")  # fmt: skip
    net = FeatureNet(**ckpt["kwargs"])
    net.load_state_dict(ckpt["state_dict"])
    net.source_path = path  # where the statistics cache lives
    return net.to(get_device(device)).eval()


@torch.no_grad()
def classifier_accuracy(net: FeatureNet, x: torch.Tensor, y: torch.Tensor, batch_size: int = 1000) -> float:
    """Fraction of images ``x`` (N, 1, 28, 28) whose arg-max class is ``y`` (N,); ``net`` should be in eval mode."""
    device = next(net.parameters()).device
    correct = sum(
        (net(x[i : i + batch_size].to(device)).argmax(1).cpu() == y[i : i + batch_size]).sum().item()
        for i in range(0, len(x), batch_size)
    )
    return correct / len(x)


def train_feature_net(
    out: str | os.PathLike = DEFAULT_FEATURE_NET, epochs: int = 3, batch_size: int = 128, lr: float = 3e-3,
    seed: int = 0, device="cpu", data_root: str | os.PathLike | None = None, command: str = TRAIN_FEATURE_NET_COMMAND,
    data: tuple[torch.Tensor, torch.Tensor] | None = None, test_data: tuple[torch.Tensor, torch.Tensor] | None = None,
    progress: bool = True,
) -> dict:  # fmt: skip
    """Train a :class:`FeatureNet` and write it to ``out`` with a JSON card beside it (``out`` with ``.json``).

    Minimises the cross-entropy of random-affine-augmented MNIST-train images with Adam and a one-cycle
    learning rate (peak ``lr``); a couple of minutes on a 2-core CPU. ``data`` / ``test_data``: (images
    (N, 1, 28, 28) in [-1, 1], labels (N,)) to use instead of MNIST train / test. ``command`` is recorded
    in the card; ``progress`` prints one JSON line per epoch to stderr. Returns the card.
    """
    start = time.perf_counter()
    device = get_device(device)
    gen = seed_everything(seed)
    x, y = data if data is not None else mnist_tensor(train=True, root=data_root)
    kwargs = {"channels": 32, "feature_dim": 128, "num_classes": 10, "dropout": 0.3}
    net = FeatureNet(**kwargs).to(device)
    steps_per_epoch = len(x) // batch_size
    if steps_per_epoch < 1:
        raise UsageError(f"batch_size {batch_size} is larger than the {len(x)} training images")
    opt = torch.optim.Adam(net.parameters(), lr=lr)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=lr, total_steps=epochs * steps_per_epoch)
    log = []
    for epoch in range(epochs):
        net.train()
        perm = torch.randperm(len(x), generator=gen)
        total, correct = 0.0, 0
        for i in range(steps_per_epoch):
            idx = perm[i * batch_size : (i + 1) * batch_size]
            logits = net(random_affine(x[idx], generator=gen).to(device))  # (B, 10) of augmented (B, 1, 28, 28)
            loss = F.cross_entropy(logits, y[idx].to(device))
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sched.step()
            total += loss.item()
            correct += (logits.argmax(1).cpu() == y[idx]).sum().item()
        log.append({"epoch": epoch + 1, "loss": round(total / steps_per_epoch, 5),
                    "train_accuracy": round(correct / (steps_per_epoch * batch_size), 5)})  # fmt: skip
        if progress:
            print(json.dumps(log[-1]), file=sys.stderr)
    net.eval()
    wall_time_s = time.perf_counter() - start
    x_test, y_test = test_data if test_data is not None else mnist_tensor(train=False, root=data_root)
    test_accuracy = classifier_accuracy(net, x_test, y_test)
    net = net.cpu()
    training = {
        "command": command,
        "data": f"MNIST train ({len(x):,} images) in [-1, 1]" if data is None else f"{len(x):,} given images",
        "augmentation": "random affine per image: rotation ±10°, zoom 1 ± 0.1, shift ±2 px (background fill)",
        "optimizer": "Adam, one-cycle learning rate",
        "epochs": epochs, "batch_size": batch_size, "lr": lr, "seed": seed, "device": str(device),
        "wall_time_s": round(wall_time_s, 1),
        "log": log,
    }  # fmt: skip
    from . import __version__

    ckpt = {
        "format": FEATURES_FORMAT, "format_version": 1, "kwargs": kwargs,
        "state_dict": {k: v.detach().clone() for k, v in net.state_dict().items()},
        "test_accuracy": test_accuracy, "weights_sha256": weights_hash(net), "training": training,
        "library_version": __version__, "torch_version": str(torch.__version__),
    }  # fmt: skip
    out = atomic_torch_save(ckpt, out)
    card = {
        "name": "FeatureNet (MNIST classifier; features = its 128-d penultimate layer)",
        "file": out.name,
        "file_size_bytes": out.stat().st_size,
        "parameters": count_parameters(net),
        "test_accuracy": round(test_accuracy, 5),
        "test_set": f"MNIST test ({len(x_test):,} images)" if test_data is None else f"{len(x_test):,} given images",
        **{k: v for k, v in ckpt.items() if k not in ("format", "state_dict", "test_accuracy")},
    }
    out.with_suffix(".json").write_text(json.dumps(card, indent=2, ensure_ascii=False) + "\n")
    return card


def as_model_input(images) -> torch.Tensor:
    """Any image array -> float32 (N, 1, 28, 28) in [-1, 1] on the CPU.

    Accepts uint8 (N, 28, 28) or (N, 1, 28, 28) with MNIST polarity (0 = background, 255 = ink), as
    ``sample --out x.npy`` writes, or float (N, 1, 28, 28) / (N, 28, 28) in [-1, 1], as the library uses.
    """
    x = images if isinstance(images, torch.Tensor) else torch.as_tensor(np.asarray(images))
    x = x.detach().cpu()
    if x.dtype == torch.uint8:
        x = from_uint8(x)
    elif x.is_floating_point():
        x = x.float()
        if len(x) and (x.min() < -1.01 or x.max() > 1.01):
            raise UsageError(f"float images must lie in [-1, 1], got values in [{x.min():.3g}, {x.max():.3g}] "
                             "(pass uint8 for 0..255 images)")  # fmt: skip
        x = x.clamp(-1, 1)
    else:
        raise UsageError(f"images must be uint8 (0..255) or float in [-1, 1], got dtype {x.dtype}")
    if x.ndim == 3:
        x = x.unsqueeze(1)  # (N, 28, 28) -> (N, 1, 28, 28)
    if tuple(x.shape[1:]) != (1, 28, 28):
        raise UsageError(f"images must have shape (N, 28, 28) or (N, 1, 28, 28), got {tuple(images.shape)}")
    return x


@torch.no_grad()
def extract_features(net: FeatureNet, x: torch.Tensor, batch_size: int = 1000) -> tuple[torch.Tensor, torch.Tensor]:
    """φ(x) and p(c | x) for images (N, 1, 28, 28) in [-1, 1]: float32 (N, D) and (N, num_classes), on the CPU."""
    device = next(net.parameters()).device
    phi, probs = [], []
    for i in range(0, len(x), batch_size):
        f = net.embed(x[i : i + batch_size].to(device))  # (b, D)
        phi.append(f.float().cpu())
        probs.append(net.classifier(f).softmax(dim=1).float().cpu())  # (b, num_classes); dropout is off in eval
    return torch.cat(phi), torch.cat(probs)
