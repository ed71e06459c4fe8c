"""Scoring samples: the estimators of :mod:`tinydiff_lib.metrics` in the feature space of the MNIST feature network.

Samples are scored against the MNIST *test* split as the reference set. Every report carries the
**real-data floor**: the same numbers for ``n`` real MNIST-*train* images, so a score is always read next to
what real data reaches at the same sample count (every estimator is biased by n). The reference statistics
and the floors are computed once and cached beside the feature-network checkpoint
(``checkpoints/mnist_features.stats.pt``), keyed by a hash of the network's weights.

Two different spreads appear in the reports, under different names:

- ``kid_std`` (and ``kid_floor_std``): the standard error of one KID estimate over its random subsets
  (:func:`tinydiff_lib.metrics.kernel_inception_distance`); the images themselves are held fixed;
- ``<name>_seed_std``: the sample standard deviation of a metric over several sampling seeds
  (:func:`evaluate_checkpoint` with ``seeds=[...]``): the luck of drawing the samples.
A conditional checkpoint is sampled with equal numbers per digit; its report adds the classifier's ``accuracy``.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

import torch

from .conditioning import accuracy_over_seeds, requested_accuracy
from .data import mnist_tensor
from .errors import UsageError
from .features import FeatureNet, as_model_input, extract_features, load_feature_net, weights_hash
from .metrics import frechet_distance, gaussian_stats, kernel_inception_distance, knn_radii, precision_recall
from .utils import atomic_torch_save, get_device

__all__ = [
    "reference_stats",
    "score_features",
    "real_data_floor",
    "evaluate_images",
    "mean_std_over_seeds",
    "evaluate_checkpoint",
    "FLOOR_METRICS",
    "SEED_METRICS",
    "UNSURE_BELOW",
]

STATS_FORMAT_VERSION = 2  # bump when a metric changes: old caches are then rebuilt


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
    """Features of the reference set (MNIST test): ``phi`` (N, D), ``mu`` (D,), ``sigma`` (D, D), k-NN
    ``radii`` (N,) and ``rms`` = sqrt(E||φ||² / D) (a scalar), the scale KID divides features by.

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


#: a sample counts as ``unsure`` when the classifier's top class probability is below this
UNSURE_BELOW = 0.9


def score_features(
    phi: torch.Tensor, probs: torch.Tensor, reference: dict, k: int = 3, kid_subsets: int = 100,
    kid_subset_size: int = 1000, seed: int = 0,
) -> dict:  # fmt: skip
    """All metrics of one set of features (N, D) and class probabilities (N, C) against ``reference``.

    fid (Heusel et al. 2017, Eq. 6), kid and ``kid_std`` = its standard error over the KID subsets
    (Bińkowski et al. 2018), precision and recall (Kynkäänniemi et al. 2019, Eq. 3), mean_confidence =
    mean max_c p(c | x), ``unsure`` = the share of images with max_c p(c | x) < :data:`UNSURE_BELOW` (digits the
    classifier hesitates to name; real MNIST has about 1 %), class_histogram (C counts of the arg-max class).
    ``seed`` draws the KID subsets.

    KID sees the features divided by the reference's RMS, so that xᵀy/d is O(1) as for the Inception
    features the cubic kernel was chosen for (our φ reaches ~20; unscaled, the "+1" of the kernel would
    not matter and KID would come in arbitrary units). FID and precision/recall use φ as it is.
    """
    mu, sigma = gaussian_stats(phi)
    rms = reference["rms"].float()
    kid, kid_subset_std = kernel_inception_distance(phi / rms, reference["phi"] / rms, kid_subsets, kid_subset_size,
                                                    generator=torch.Generator().manual_seed(seed))  # fmt: skip
    precision, recall = precision_recall(reference["phi"], phi, k, real_radii=reference["radii"])
    confidence, label = probs.max(dim=1)
    return {
        "fid": frechet_distance(mu, sigma, reference["mu"], reference["sigma"]),
        "kid": kid,
        "kid_std": kid_subset_std,  # standard error over KID subsets (the key the checkpoint cards carry)
        "precision": precision,
        "recall": recall,
        "mean_confidence": float(confidence.double().mean()),
        "unsure": float((confidence < UNSURE_BELOW).double().mean()),
        "class_histogram": torch.bincount(label, minlength=probs.shape[1]).tolist(),
    }


def real_data_floor(net: FeatureNet, num: int, seed: int = 0, k: int = 3, kid_subsets: int = 100,
                    kid_subset_size: int = 1000, data_root: str | os.PathLike | None = None) -> dict:  # fmt: skip
    """The metrics of ``num`` random MNIST-train images (drawn with ``seed``) against the reference, scored
    exactly as samples are (:func:`score_features`): what a perfect generator reaches at this sample count.
    Cached per setting."""
    key = f"n={num},seed={seed},k={k},kid={kid_subsets}x{kid_subset_size}"
    cache = _load_cache(net)
    if not set(FLOOR_METRICS) <= set(cache["floors"].get(key, {})):  # missing, or from before a metric was added
        reference = reference_stats(net, k, data_root)
        x, _ = mnist_tensor(train=True, root=data_root)
        if not 1 <= num <= len(x):
            raise UsageError(f"the real-data floor needs 1 to {len(x)} images, got {num}")
        idx = torch.randperm(len(x), generator=torch.Generator().manual_seed(seed))[:num]
        phi, probs = extract_features(net, x[idx])
        cache = _load_cache(net)  # reference_stats may have just written it
        cache["floors"][key] = score_features(phi, probs, reference, k, kid_subsets, kid_subset_size, seed)
        _save_cache(net, cache)
    return cache["floors"][key]


# --------------------------------------------------------------------------------------------------
# Reports


#: metrics reported for the real-data floor as ``<name>_floor`` (``kid_std`` as ``kid_floor_std``)
FLOOR_METRICS = ("fid", "kid", "kid_std", "precision", "recall", "mean_confidence", "unsure")


def evaluate_images(
    images, num_floor: int | None = None, seed: int = 0, k: int = 3, feature_net: FeatureNet | str | None = None,
    device="cpu", kid_subsets: int = 100, kid_subset_size: int = 1000, data_root: str | os.PathLike | None = None,
    labels: torch.Tensor | None = None,
) -> dict:  # fmt: skip
    """Score any images against MNIST-test, next to the real-data floor at ``num_floor`` (default: as many).

    ``images``: uint8 (N, 28, 28) with 0 = background, 255 = ink, or float (N, 1, 28, 28) in [-1, 1].
    ``seed`` draws the KID subsets and the MNIST-train images of the floor. ``device`` ("auto", "cpu",
    "cuda", "mps") is where a feature network loaded from a path runs; a given :class:`FeatureNet` stays
    where it is. Returns a dict of plain types: fid, kid, kid_std (standard error over KID subsets),
    precision, recall, mean_confidence, unsure, class_histogram, the same metrics of the floor as ``<name>_floor``
    (``kid_floor_std``), num_samples, num_floor, num_reference. ``labels`` (N,): the digit each image was asked
    to show; adds ``accuracy`` and ``accuracy_per_digit`` (:func:`~tinydiff_lib.conditioning.requested_accuracy`).
    """
    net = feature_net if isinstance(feature_net, FeatureNet) else load_feature_net(feature_net, get_device(device))
    x = as_model_input(images)
    if len(x) <= k:
        raise UsageError(f"need more than k={k} images to score (k-NN precision/recall), got {len(x)}")
    reference = reference_stats(net, k, data_root)
    phi, probs = extract_features(net, x)
    options = {"k": k, "kid_subsets": kid_subsets, "kid_subset_size": kid_subset_size, "seed": seed}
    result = score_features(phi, probs, reference, **options)
    result.update(requested_accuracy(probs, torch.as_tensor(labels)) if labels is not None else {})
    num_floor = len(x) if num_floor is None else num_floor
    floor = real_data_floor(net, num_floor, data_root=data_root, **options)
    result.update({f"{name}_floor".replace("kid_std_floor", "kid_floor_std"): floor[name] for name in FLOOR_METRICS})
    result.update(num_samples=len(x), num_floor=num_floor, num_reference=len(reference["phi"]))
    return result


#: metrics averaged over sampling seeds (each gets a ``<name>_seed_std``)
SEED_METRICS = ("fid", "kid", "precision", "recall", "mean_confidence", "unsure", "fid_floor", "kid_floor",
                "precision_floor", "recall_floor", "mean_confidence_floor", "unsure_floor")  # fmt: skip


def mean_std_over_seeds(runs: list[dict]) -> dict:
    """Combine :func:`evaluate_images` reports of the same setting with different sampling seeds.

    Each metric of :data:`SEED_METRICS` becomes its mean over the S runs, with ``<name>_seed_std`` = the sample
    standard deviation over the runs (the spread over sample draws). ``kid_std`` / ``kid_floor_std`` stay
    standard errors over KID subsets, now of the mean: sqrt(Σ_s se_s²) / S. The class histogram is summed;
    the runs are kept under ``per_seed``.
    """
    result = dict(runs[0])
    for name in SEED_METRICS:
        values = torch.tensor([run[name] for run in runs], dtype=torch.float64)
        result[name], result[f"{name}_seed_std"] = float(values.mean()), float(values.std())
    for name in ("kid_std", "kid_floor_std"):
        stderrs = torch.tensor([run[name] for run in runs], dtype=torch.float64)
        result[name] = float(stderrs.pow(2).sum().sqrt() / len(runs))
    result["class_histogram"] = torch.tensor([run["class_histogram"] for run in runs]).sum(0).tolist()
    result.update(accuracy_over_seeds(runs) if "accuracy" in runs[0] else {})  # a conditional checkpoint
    result["per_seed"] = runs
    return result


def evaluate_checkpoint(
    path: str | os.PathLike, num_samples: int = 1000, sampler: str | None = None, steps: int | None = None,
    eta: float = 0.0, seed: int = 0, seeds: list[int] | None = None, batch_size: int | None = None, device="auto",
    feature_net: FeatureNet | str | None = None, k: int = 3, data_root: str | os.PathLike | None = None,
    progress: bool = True, bf16: bool = False, guidance: float = 0.0, prompts: str | None = None, guide=None,
    guide_interval=None,
) -> dict:  # fmt: skip
    """Sample ``num_samples`` images from a denoiser checkpoint and :func:`evaluate_images` them.

    A conditional checkpoint draws sample i as digit i mod 10, guided by ``guidance``; a text one from captions of
    the template split ``prompts`` ("train" or "held_out"); the report adds ``accuracy`` and ``accuracy_per_digit``
    on the requested digits, ``condition``, ``guidance`` and, for text, ``prompts``.

    ``sampler=None`` uses the sampler (and, unless ``steps`` is given, the steps) the checkpoint recommends.
    ``bf16``: sample under bfloat16 autocast where the device has bf16 units
    (:func:`~tinydiff_lib.sampling_io.sampling_bf16`); the dtype used is recorded in the result.
    ``guide``: a checkpoint of a weaker model of the same kind: sample with autoguidance of scale ``guidance``
    (:mod:`tinydiff_lib.autoguidance`); the report adds ``guide`` and ``autoguidance``. ``guide_interval``
    (σ_lo, σ_hi): push only for σ in (σ_lo, σ_hi]; the report adds it as ``guide_interval``.

    With ``seeds=[s1, s2, ...]`` it samples once per seed and reports (:func:`mean_std_over_seeds`) the mean
    of each metric with its standard deviation over seeds as ``<name>_seed_std``, the class histogram
    summed over seeds, and every run under ``per_seed``.
    """
    from .autoguidance import load_sampling_model
    from .conditioning import evaluation_condition, evaluation_split, model_condition
    from .sampling_io import generate, resolve_steps, sampling_bf16, sampling_plan

    start = time.perf_counter()
    if num_samples <= k:
        raise UsageError(
            f"need more than k={k} samples to score (k-NN precision/recall), got --num-samples {num_samples}"
        )
    device = get_device(device)
    net = feature_net if isinstance(feature_net, FeatureNet) else load_feature_net(feature_net, device)
    # cfg_w: the classifier-free scale, 0 if autoguided
    model, schedule, ckpt, cfg_w = load_sampling_model(path, guide, guidance, device, guide_interval)
    sampler, steps = sampling_plan(ckpt, sampler, steps)
    bf16 = sampling_bf16(bf16, device)
    objective, condition = ckpt["config"].get("objective", "ddpm"), model_condition(model)
    split = evaluation_split(condition, cfg_w, prompts)  # "train" / "held_out" for text, else None
    seeds = list(seeds) if seeds else [seed]
    runs = []
    for s in seeds:
        digits, cond = evaluation_condition(condition, num_samples, split, s)  # (None, {}) when unconditional
        x = generate(model, schedule, num_samples, sampler, steps, eta, s, batch_size=batch_size, progress=progress,
                     objective=objective, bf16=bf16, guidance=cfg_w, **cond)  # fmt: skip
        runs.append(evaluate_images(x, seed=s, k=k, feature_net=net, device=device, data_root=data_root,
                                    labels=digits))  # fmt: skip
    result = runs[0] if len(runs) == 1 else mean_std_over_seeds(runs)
    result.update(
        checkpoint=str(path), model=ckpt["model"]["name"], sampler=sampler,
        steps=resolve_steps(sampler, steps, schedule.num_steps), eta=eta,
        sampling_dtype="bfloat16" if bf16 else "float32",
        **({"condition": condition, "guidance": guidance} if condition != "none" else {}),
        **({"prompts": split} if split else {}),
        **({"guide": str(guide), "autoguidance": guidance} if guide is not None else {}),
        **({"guide_interval": list(guide_interval)} if guide_interval is not None else {}),
        **({"seed": seeds[0]} if len(seeds) == 1 else {"seeds": seeds}),
        seconds=time.perf_counter() - start,
    )  # fmt: skip
    return result
