"""Sample-quality metrics in the MNIST domain: a small feature network, FID, KID, precision/recall.

Inception-v3 features mean little on 28×28 digits, so we measure samples in the feature space φ(x) ∈ R^128
of a small MNIST classifier (:class:`FeatureNet`, the penultimate layer), against the MNIST *test* split
as the reference set. Every report carries the **real-data floor**: the same numbers for ``n`` real
MNIST-*train* images, so a score is always read next to what real data reaches at the same sample count
(every one of these estimators is biased by the sample count n).

- Fréchet distance (Heusel et al. 2017, "GANs trained by a two time-scale update rule ...", Eq. 6)
- KID: unbiased MMD² with the cubic polynomial kernel (Bińkowski et al. 2018, "Demystifying MMD GANs", Eq. 3)
- k-NN precision and recall (Kynkäänniemi et al. 2019, "Improved precision and recall metric ...", Eqs. 1-3)
- the predicted-class histogram and the mean classifier confidence max_c p(c | x)

The feature statistics of the reference set are computed once and cached beside the feature-network
checkpoint (``checkpoints/mnist_features.stats.pt``), keyed by a hash of the network's weights.
"""

from __future__ import annotations

import hashlib
import math
import os
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from .data import from_uint8, mnist_tensor
from .utils import atomic_torch_save, get_device

__all__ = [
    "FeatureNet",
    "DEFAULT_FEATURE_NET",
    "TRAIN_FEATURE_NET_COMMAND",
    "random_affine",
    "load_feature_net",
    "weights_hash",
    "as_model_input",
    "extract_features",
    "gaussian_stats",
    "frechet_distance",
    "polynomial_kernel",
    "mmd2_unbiased",
    "kernel_inception_distance",
    "knn_radii",
    "precision_recall",
    "reference_stats",
    "score_features",
    "evaluate_images",
    "evaluate_checkpoint",
]

#: the shipped feature network (in a source checkout)
DEFAULT_FEATURE_NET = Path(__file__).resolve().parent.parent / "checkpoints" / "mnist_features.pt"
#: the command that makes it
TRAIN_FEATURE_NET_COMMAND = "python scripts/train_feature_net.py"
FEATURES_FORMAT = "tinydiff-features"
STATS_FORMAT_VERSION = 1


# --------------------------------------------------------------------------------------------------
# The feature network


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

    Read with ``torch.load(..., weights_only=True)``; the file holds plain types and tensors only.
    """
    path = Path(path) if path is not None else DEFAULT_FEATURE_NET
    if not path.is_file():
        raise FileNotFoundError(
            f"feature network not found: {path}; make it with `{TRAIN_FEATURE_NET_COMMAND}` (a few minutes on a CPU)"
        )
    ckpt = torch.load(path, map_location="cpu", weights_only=True)
    if not isinstance(ckpt, dict) or ckpt.get("format") != FEATURES_FORMAT:
        raise ValueError(f"{path} is not a TinyDiff feature-network checkpoint; remake it with "
                         f"`{TRAIN_FEATURE_NET_COMMAND}`")  # fmt: skip
    net = FeatureNet(**ckpt["kwargs"])
    net.load_state_dict(ckpt["state_dict"])
    net.source_path = path  # where the statistics cache lives
    return net.to(device).eval()
