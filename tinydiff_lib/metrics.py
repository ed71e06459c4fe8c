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
    "real_data_floor",
    "evaluate_images",
    "evaluate_checkpoint",
]

#: the shipped feature network (in a source checkout)
DEFAULT_FEATURE_NET = Path(__file__).resolve().parent.parent / "checkpoints" / "mnist_features.pt"
#: the command that makes it
TRAIN_FEATURE_NET_COMMAND = "python scripts/train_feature_net.py"
FEATURES_FORMAT = "tinydiff-features"
STATS_FORMAT_VERSION = 2  # bump when a metric changes: old caches are then rebuilt


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
    if path is None and not DEFAULT_FEATURE_NET.is_file():
        from .hub import checkpoint_path

        try:  # an install without the checkout's checkpoints/ (e.g. Colab): fetch the shipped file
            path = checkpoint_path("mnist_features")
        except Exception:
            path = DEFAULT_FEATURE_NET
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


# --------------------------------------------------------------------------------------------------
# Images in, features out


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
            raise ValueError(f"float images must lie in [-1, 1], got values in [{x.min():.3g}, {x.max():.3g}] "
                             "(pass uint8 for 0..255 images)")  # fmt: skip
        x = x.clamp(-1, 1)
    else:
        raise ValueError(f"images must be uint8 (0..255) or float in [-1, 1], got dtype {x.dtype}")
    if x.ndim == 3:
        x = x.unsqueeze(1)  # (N, 28, 28) -> (N, 1, 28, 28)
    if tuple(x.shape[1:]) != (1, 28, 28):
        raise ValueError(f"images must have shape (N, 28, 28) or (N, 1, 28, 28), got {tuple(images.shape)}")
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


# --------------------------------------------------------------------------------------------------
# Fréchet distance (Heusel et al. 2017)


def gaussian_stats(phi: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Mean μ (D,) and unbiased covariance Σ (D, D) of features (N, D), in float64."""
    phi = phi.double()
    return phi.mean(0), torch.cov(phi.T)


def _sqrtm_psd(sigma: torch.Tensor) -> torch.Tensor:
    """Σ^{1/2} of a symmetric positive semi-definite matrix via its eigendecomposition Σ = V Λ Vᵀ."""
    lam, v = torch.linalg.eigh((sigma + sigma.T) / 2)
    return (v * lam.clamp(min=0).sqrt()) @ v.T  # V Λ^{1/2} Vᵀ


def frechet_distance(mu1: torch.Tensor, sigma1: torch.Tensor, mu2: torch.Tensor, sigma2: torch.Tensor) -> float:
    """Fréchet (2-Wasserstein) distance² between N(μ1, Σ1) and N(μ2, Σ2) (Heusel et al. 2017, Eq. 6).

        d² = ||μ1 − μ2||² + tr(Σ1 + Σ2 − 2 (Σ1 Σ2)^{1/2})

    Σ1 Σ2 is not symmetric, but it has the same eigenvalues as the PSD matrix M = Σ1^{1/2} Σ2 Σ1^{1/2},
    so tr (Σ1 Σ2)^{1/2} = Σ_i √λ_i(M): one symmetric ``eigh`` each, no complex square roots. Float64.
    """
    mu1, mu2, sigma1, sigma2 = (t.double() for t in (mu1, mu2, sigma1, sigma2))
    root1 = _sqrtm_psd(sigma1)
    m = root1 @ sigma2 @ root1  # (D, D), symmetric PSD
    tr_covmean = torch.linalg.eigvalsh((m + m.T) / 2).clamp(min=0).sqrt().sum()
    diff = mu1 - mu2
    return float(diff @ diff + torch.trace(sigma1) + torch.trace(sigma2) - 2 * tr_covmean)


# --------------------------------------------------------------------------------------------------
# KID (Bińkowski et al. 2018)


def polynomial_kernel(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """k(x, y) = (xᵀy / d + 1)³ for rows x (m, d), y (n, d) -> (m, n) (Bińkowski et al. 2018, Sec. 4)."""
    return torch.addmm(torch.ones((), dtype=x.dtype), x, y.T, alpha=1 / x.shape[1]).pow_(3)  # in place: no copies


def mmd2_unbiased(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Unbiased MMD² between samples x (m, d) and y (n, d) (Gretton et al. 2012, Eq. 3): the diagonal
    terms k(x_i, x_i) are left out, so its expectation is exactly 0 when x and y come from one distribution.

        MMD²_u = Σ_{i≠j} k(x_i, x_j) / m(m−1) + Σ_{i≠j} k(y_i, y_j) / n(n−1) − 2 Σ_{i,j} k(x_i, y_j) / mn

    Kernels are computed in the dtype of x and y, the sums in float64.
    """
    m, n = len(x), len(y)
    k_xx, k_yy, k_xy = polynomial_kernel(x, x), polynomial_kernel(y, y), polynomial_kernel(x, y)
    sum_xx = k_xx.sum(dtype=torch.float64) - k_xx.diagonal().sum(dtype=torch.float64)
    sum_yy = k_yy.sum(dtype=torch.float64) - k_yy.diagonal().sum(dtype=torch.float64)
    return sum_xx / (m * (m - 1)) + sum_yy / (n * (n - 1)) - 2 * k_xy.sum(dtype=torch.float64) / (m * n)


def kernel_inception_distance(
    phi_x: torch.Tensor, phi_y: torch.Tensor, num_subsets: int = 100, subset_size: int = 1000,
    generator: torch.Generator | None = None,
) -> tuple[float, float]:  # fmt: skip
    """KID: MMD²_u averaged over ``num_subsets`` random subsets of ``subset_size`` from each set.

    Returns (mean, standard error = std over subsets / √num_subsets). The subset size is capped at the
    smaller set. Kernels in float32 (the sums in float64): 4× faster on a CPU, errors ≪ the standard error.
    """
    size = min(subset_size, len(phi_x), len(phi_y))
    if size < 2:
        raise ValueError(f"KID needs at least 2 samples per set, got {len(phi_x)} and {len(phi_y)}")
    phi_x, phi_y = phi_x.float(), phi_y.float()
    values = torch.stack([
        mmd2_unbiased(phi_x[torch.randperm(len(phi_x), generator=generator)[:size]],
                      phi_y[torch.randperm(len(phi_y), generator=generator)[:size]])
        for _ in range(num_subsets)
    ])  # fmt: skip
    stderr = values.std() / math.sqrt(num_subsets) if num_subsets > 1 else torch.tensor(float("nan"))
    return float(values.mean()), float(stderr)


# --------------------------------------------------------------------------------------------------
# Precision and recall (Kynkäänniemi et al. 2019)


def knn_radii(phi: torch.Tensor, k: int = 3, chunk: int = 1000) -> torch.Tensor:
    """Distance from each row of ``phi`` (N, D) to its k-th nearest *other* row: (N,) float64.

    The ball of this radius around each point is its piece of the estimated manifold (Eq. 1).
    """
    if len(phi) <= k:
        raise ValueError(f"k-NN radii with k={k} need more than {k} points, got {len(phi)}")
    phi = phi.double()
    # column 0 of the sorted distances is the point itself (distance 0), so the k-th neighbour is k + 1-th
    return torch.cat([torch.cdist(phi[i : i + chunk], phi).kthvalue(k + 1, dim=1).values
                      for i in range(0, len(phi), chunk)])  # fmt: skip


def _inside_manifold(points: torch.Tensor, centres: torch.Tensor, radii: torch.Tensor, chunk: int = 1000):
    """f(φ) of Kynkäänniemi et al. Eq. 2 for each point: is it within radius_j of some centre j? (N,) bool."""
    points, centres = points.double(), centres.double()
    return torch.cat([(torch.cdist(points[i : i + chunk], centres) <= radii[None, :]).any(dim=1)
                      for i in range(0, len(points), chunk)])  # fmt: skip


def precision_recall(
    phi_real: torch.Tensor, phi_fake: torch.Tensor, k: int = 3, real_radii: torch.Tensor | None = None
) -> tuple[float, float]:
    """k-NN precision and recall (Kynkäänniemi et al. 2019, Eq. 3).

    precision: fraction of fake samples inside the real manifold (union of k-NN balls of the reals);
    recall: fraction of real samples inside the fake manifold. ``real_radii``: precomputed ``knn_radii``.
    """
    real_radii = knn_radii(phi_real, k) if real_radii is None else real_radii
    precision = _inside_manifold(phi_fake, phi_real, real_radii).double().mean()
    recall = _inside_manifold(phi_real, phi_fake, knn_radii(phi_fake, k)).double().mean()
    return float(precision), float(recall)


# --------------------------------------------------------------------------------------------------
# Reference set, real-data floor and the cache beside the feature network


def _stats_path(net: FeatureNet) -> Path | None:
    """``<feature net>.stats.pt`` beside the checkpoint the net was loaded from (None: not from a file)."""
    source = getattr(net, "source_path", None)
    return Path(source).with_suffix(".stats.pt") if source is not None else None


def _load_cache(net: FeatureNet) -> dict:
    """The statistics cache for exactly these weights; an empty one when missing, stale or unreadable."""
    key = weights_hash(net)
    path = _stats_path(net)
    if path is not None and path.is_file():
        try:
            cache = torch.load(path, map_location="cpu", weights_only=True)
            if cache.get("weights_sha256") == key and cache.get("format_version") == STATS_FORMAT_VERSION:
                return cache
        except Exception:
            pass  # a broken cache is rebuilt
    return {"format_version": STATS_FORMAT_VERSION, "weights_sha256": key, "reference": {}, "floors": {}}


def _save_cache(net: FeatureNet, cache: dict) -> None:
    path = _stats_path(net)
    if path is not None:
        try:
            atomic_torch_save(cache, path)
        except OSError:
            pass  # a read-only install still works, just without the cache


def reference_stats(net: FeatureNet, k: int = 3, data_root: str | os.PathLike | None = None) -> dict:
    """Features of the reference set (MNIST test): ``phi`` (N, D), ``mu``, ``sigma``, k-NN ``radii`` and
    ``rms`` = sqrt(E||φ||² / D), the scale KID divides features by.

    Computed once per feature network (and per k) and cached beside its checkpoint.
    """
    cache = _load_cache(net)
    ref = cache["reference"]
    changed = False
    if "phi" not in ref:
        x, _ = mnist_tensor(train=False, root=data_root)
        ref["phi"], _ = extract_features(net, x)
        ref["mu"], ref["sigma"] = gaussian_stats(ref["phi"])
        ref["rms"] = ref["phi"].double().pow(2).mean().sqrt()
        changed = True
    if f"radii_k{k}" not in ref:
        ref[f"radii_k{k}"] = knn_radii(ref["phi"], k)
        changed = True
    if changed:
        _save_cache(net, cache)
    return {"phi": ref["phi"], "mu": ref["mu"], "sigma": ref["sigma"], "rms": ref["rms"], "radii": ref[f"radii_k{k}"]}


def score_features(
    phi: torch.Tensor, probs: torch.Tensor, reference: dict, k: int = 3, kid_subsets: int = 100,
    kid_subset_size: int = 1000, seed: int = 0,
) -> dict:  # fmt: skip
    """All metrics of one set of features (N, D) and class probabilities (N, C) against ``reference``.

    KID sees the features divided by the reference's RMS, so that xᵀy/d is O(1) as for the Inception
    features the cubic kernel was chosen for (our φ reaches ~20; unscaled, the "+1" of the kernel would
    not matter and KID would come in arbitrary units). FID and precision/recall use φ as it is.
    ``kid_std`` is the standard error over KID subsets only; the spread over sample draws needs several seeds.
    """
    mu, sigma = gaussian_stats(phi)
    rms = reference["rms"].float()
    kid, kid_std = kernel_inception_distance(phi / rms, reference["phi"] / rms, kid_subsets, kid_subset_size,
                                             generator=torch.Generator().manual_seed(seed))  # fmt: skip
    precision, recall = precision_recall(reference["phi"], phi, k, real_radii=reference["radii"])
    confidence, label = probs.max(dim=1)
    return {
        "fid": frechet_distance(mu, sigma, reference["mu"], reference["sigma"]),
        "kid": kid,
        "kid_std": kid_std,
        "precision": precision,
        "recall": recall,
        "mean_confidence": float(confidence.double().mean()),
        "class_histogram": torch.bincount(label, minlength=probs.shape[1]).tolist(),
    }


def real_data_floor(net: FeatureNet, num: int, seed: int = 0, k: int = 3, kid_subsets: int = 100,
                    kid_subset_size: int = 1000, data_root: str | os.PathLike | None = None) -> dict:  # fmt: skip
    """The metrics of ``num`` random MNIST-train images (drawn with ``seed``) against the reference, scored
    exactly as samples are: what a perfect generator reaches at this sample count. Cached per setting."""
    key = f"n={num},seed={seed},k={k},kid={kid_subsets}x{kid_subset_size}"
    cache = _load_cache(net)
    if key not in cache["floors"]:
        reference = reference_stats(net, k, data_root)
        x, _ = mnist_tensor(train=True, root=data_root)
        if not 1 <= num <= len(x):
            raise ValueError(f"the real-data floor needs 1 to {len(x)} images, got {num}")
        idx = torch.randperm(len(x), generator=torch.Generator().manual_seed(seed))[:num]
        phi, probs = extract_features(net, x[idx])
        cache = _load_cache(net)  # reference_stats may have just written it
        cache["floors"][key] = score_features(phi, probs, reference, k, kid_subsets, kid_subset_size, seed)
        _save_cache(net, cache)
    return cache["floors"][key]


# --------------------------------------------------------------------------------------------------
# Reports


#: metrics reported for the real-data floor as ``<name>_floor`` (``kid_std`` as ``kid_floor_std``)
FLOOR_METRICS = ("fid", "kid", "kid_std", "precision", "recall", "mean_confidence")


def evaluate_images(
    images, num_floor: int | None = None, seed: int = 0, k: int = 3, feature_net: FeatureNet | str | None = None,
    device="cpu", kid_subsets: int = 100, kid_subset_size: int = 1000, data_root: str | os.PathLike | None = None,
) -> dict:  # fmt: skip
    """Score any images against MNIST-test, next to the real-data floor at ``num_floor`` (default: as many).

    ``images``: uint8 (N, 28, 28) with 0 = background, 255 = ink, or float (N, 1, 28, 28) in [-1, 1].
    ``seed`` draws the KID subsets and the MNIST-train images of the floor. Returns a dict of plain types:
    fid, kid, kid_std (standard error over subsets), precision, recall, mean_confidence, class_histogram,
    the same metrics of the floor as ``<name>_floor`` (``kid_floor_std``), num_samples, num_floor, num_reference.
    """
    net = feature_net if isinstance(feature_net, FeatureNet) else load_feature_net(feature_net, device)
    x = as_model_input(images)
    if len(x) <= k:
        raise ValueError(f"need more than k={k} images to score (k-NN precision/recall), got {len(x)}")
    reference = reference_stats(net, k, data_root)
    phi, probs = extract_features(net, x)
    options = {"k": k, "kid_subsets": kid_subsets, "kid_subset_size": kid_subset_size, "seed": seed}
    result = score_features(phi, probs, reference, **options)
    num_floor = len(x) if num_floor is None else num_floor
    floor = real_data_floor(net, num_floor, data_root=data_root, **options)
    result.update({f"{name}_floor".replace("kid_std_floor", "kid_floor_std"): floor[name] for name in FLOOR_METRICS})
    result.update(num_samples=len(x), num_floor=num_floor, num_reference=len(reference["phi"]))
    return result


#: metrics averaged over sampling seeds (each gets a ``<name>_std``)
SEED_METRICS = ("fid", "kid", "precision", "recall", "mean_confidence",
                "fid_floor", "kid_floor", "precision_floor", "recall_floor", "mean_confidence_floor")  # fmt: skip


def _mean_std_over_seeds(runs: list[dict]) -> dict:
    """Mean ± sample standard deviation of each metric over runs with different seeds."""
    result = dict(runs[0])
    for name in SEED_METRICS:
        values = torch.tensor([run[name] for run in runs], dtype=torch.float64)
        result[name], result[f"{name}_std"] = float(values.mean()), float(values.std())
    result["class_histogram"] = torch.tensor([run["class_histogram"] for run in runs]).sum(0).tolist()
    result["per_seed"] = runs
    return result


def evaluate_checkpoint(
    path: str | os.PathLike, num_samples: int = 1000, sampler: str = "ddim", steps: int | None = None,
    eta: float = 0.0, seed: int = 0, seeds: list[int] | None = None, batch_size: int = 256, device="auto",
    feature_net: FeatureNet | str | None = None, k: int = 3, data_root: str | os.PathLike | None = None,
    progress: bool = True,
) -> dict:  # fmt: skip
    """Sample ``num_samples`` images from a denoiser checkpoint and :func:`evaluate_images` them.

    With ``seeds=[s1, s2, ...]`` it samples once per seed and reports the mean of each metric with its
    standard deviation over seeds as ``<name>_std`` (``kid_std`` then is the spread over seeds, not the
    subset standard error), the class histogram summed over seeds, and every run under ``per_seed``.
    """
    from .checkpoint import load_model
    from .sampling_io import generate, resolve_steps

    start = time.perf_counter()
    if num_samples <= k:
        raise ValueError(
            f"need more than k={k} samples to score (k-NN precision/recall), got --num-samples {num_samples}"
        )
    device = get_device(device)
    net = feature_net if isinstance(feature_net, FeatureNet) else load_feature_net(feature_net, device)
    model, schedule, ckpt = load_model(path, device=device)
    seeds = list(seeds) if seeds else [seed]
    runs = []
    for s in seeds:
        x = generate(model, schedule, num_samples, sampler, steps, eta, s, batch_size=batch_size, progress=progress)
        runs.append(evaluate_images(x, seed=s, k=k, feature_net=net, device=device, data_root=data_root))
    result = runs[0] if len(runs) == 1 else _mean_std_over_seeds(runs)
    result.update(
        checkpoint=str(path), model=ckpt["model"]["name"], sampler=sampler,
        steps=resolve_steps(sampler, steps, schedule.num_steps), eta=eta,
        **({"seed": seeds[0]} if len(seeds) == 1 else {"seeds": seeds}),
        seconds=time.perf_counter() - start,
    )  # fmt: skip
    return result
