"""Sample-quality metrics: expectations from the maths (closed forms, invariances), not golden numbers."""

from __future__ import annotations

import json
import math
import os

import numpy as np
import pytest
import torch

from tinydiff_lib import metrics
from tinydiff_lib.cli import main
from tinydiff_lib.metrics import (
    DEFAULT_FEATURE_NET,
    FeatureNet,
    as_model_input,
    frechet_distance,
    gaussian_stats,
    kernel_inception_distance,
    load_feature_net,
    mmd2_unbiased,
    polynomial_kernel,
    precision_recall,
)

needs_mnist = pytest.mark.skipif(not os.environ.get("TINYDIFF_DATA"), reason="set TINYDIFF_DATA to the MNIST folder")
needs_feature_net = pytest.mark.skipif(not DEFAULT_FEATURE_NET.is_file(), reason="run scripts/train_feature_net.py")


def random_covariance(d: int, gen: torch.Generator) -> torch.Tensor:
    a = torch.randn(d, 2 * d, generator=gen, dtype=torch.float64)
    return a @ a.T / (2 * d) + 0.1 * torch.eye(d, dtype=torch.float64)  # symmetric positive definite


# --- Fréchet distance ------------------------------------------------------------------------------


def test_frechet_distance_of_a_set_with_itself_is_zero():
    phi = torch.randn(500, 16, generator=torch.Generator().manual_seed(0))
    mu, sigma = gaussian_stats(phi)
    assert abs(frechet_distance(mu, sigma, mu, sigma)) < 1e-9


def test_frechet_distance_matches_closed_form_for_commuting_covariances():
    """Σ1 = Q D1 Qᵀ, Σ2 = Q D2 Qᵀ commute, so (Σ1 Σ2)^{1/2} = Q (D1 D2)^{1/2} Qᵀ and
    d² = ||μ1 − μ2||² + Σ_i (d1_i + d2_i − 2 √(d1_i d2_i)) = ||μ1 − μ2||² + Σ_i (√d1_i − √d2_i)²."""
    gen = torch.Generator().manual_seed(1)
    d = 12
    mu1, mu2 = torch.randn(d, generator=gen, dtype=torch.float64), torch.randn(d, generator=gen, dtype=torch.float64)
    d1, d2 = torch.rand(d, generator=gen, dtype=torch.float64) * 3, torch.rand(d, generator=gen, dtype=torch.float64)
    expected = float((mu1 - mu2) @ (mu1 - mu2) + (d1 + d2 - 2 * (d1 * d2).sqrt()).sum())
    assert frechet_distance(mu1, torch.diag(d1), mu2, torch.diag(d2)) == pytest.approx(expected, rel=1e-9)
    q, _ = torch.linalg.qr(torch.randn(d, d, generator=gen, dtype=torch.float64))  # a random rotation
    sigma1, sigma2 = q @ torch.diag(d1) @ q.T, q @ torch.diag(d2) @ q.T
    assert frechet_distance(mu1, sigma1, mu2, sigma2) == pytest.approx(expected, rel=1e-9)


def test_frechet_distance_is_symmetric_and_non_negative():
    gen = torch.Generator().manual_seed(2)
    d = 20
    mu1, mu2 = torch.randn(d, generator=gen, dtype=torch.float64), torch.randn(d, generator=gen, dtype=torch.float64)
    sigma1, sigma2 = random_covariance(d, gen), random_covariance(d, gen)
    forward, backward = frechet_distance(mu1, sigma1, mu2, sigma2), frechet_distance(mu2, sigma2, mu1, sigma1)
    assert forward == pytest.approx(backward, rel=1e-9)
    assert forward > 0
    # same covariance: only the means differ
    assert frechet_distance(mu1, sigma1, mu2, sigma1) == pytest.approx(float((mu1 - mu2) @ (mu1 - mu2)), rel=1e-9)


def test_frechet_distance_handles_singular_covariances():
    """Fewer samples than dimensions give a rank-deficient Σ; the distance stays finite and ≥ 0."""
    gen = torch.Generator().manual_seed(3)
    mu_a, sigma_a = gaussian_stats(torch.randn(10, 32, generator=gen))
    mu_b, sigma_b = gaussian_stats(torch.randn(10, 32, generator=gen))
    value = frechet_distance(mu_a, sigma_a, mu_b, sigma_b)
    assert math.isfinite(value) and value >= -1e-9


# --- KID ---------------------------------------------------------------------------------------------


def test_mmd2_unbiased_matches_the_double_sum():
    gen = torch.Generator().manual_seed(4)
    x, y = torch.randn(6, 3, generator=gen, dtype=torch.float64), torch.randn(5, 3, generator=gen, dtype=torch.float64)

    def k(a, b):
        return (a @ b / 3 + 1) ** 3

    m, n = len(x), len(y)
    xx = sum(k(x[i], x[j]) for i in range(m) for j in range(m) if i != j) / (m * (m - 1))
    yy = sum(k(y[i], y[j]) for i in range(n) for j in range(n) if i != j) / (n * (n - 1))
    xy = sum(k(x[i], y[j]) for i in range(m) for j in range(n)) / (m * n)
    assert float(mmd2_unbiased(x, y)) == pytest.approx(float(xx + yy - 2 * xy), rel=1e-12)
    assert polynomial_kernel(x, y).shape == (m, n)


def test_kid_is_zero_for_two_halves_and_positive_for_shifted_data():
    gen = torch.Generator().manual_seed(5)
    phi = torch.randn(4000, 16, generator=gen)
    a, b = phi[:2000], phi[2000:]
    kid, stderr = kernel_inception_distance(a, b, num_subsets=50, subset_size=200, generator=gen)
    assert abs(kid) < 4 * stderr
    kid_shift, stderr_shift = kernel_inception_distance(a, b + 0.5, num_subsets=50, subset_size=200, generator=gen)
    assert kid_shift > 20 * stderr_shift and kid_shift > 20 * abs(kid)


# --- precision and recall ------------------------------------------------------------------------------


def test_precision_recall_of_identical_and_disjoint_sets():
    """Every point lies in its own k-NN ball (distance 0), so a set against itself scores 1 and 1;
    two sets further apart than any radius score 0 and 0."""
    phi = torch.randn(300, 8, generator=torch.Generator().manual_seed(6))
    assert precision_recall(phi, phi.clone(), k=3) == (1.0, 1.0)
    assert precision_recall(phi, phi + 100.0, k=3) == (0.0, 0.0)


def test_precision_recall_of_a_collapsed_generator():
    """Samples that cover one corner of the data: high precision, low recall (Kynkäänniemi et al. Fig. 1)."""
    real = torch.randn(2000, 2, generator=torch.Generator().manual_seed(7))
    fake = real[real[:, 0] > 1.0][:200]  # the right tail only
    precision, recall = precision_recall(real, fake, k=3)
    assert precision > 0.9 and recall < 0.3


# --- inputs, feature network, cache --------------------------------------------------------------------


def test_as_model_input_accepts_uint8_and_float_images():
    x = torch.rand(5, 1, 28, 28) * 2 - 1
    x_uint8 = ((x + 1) / 2 * 255).round().to(torch.uint8).squeeze(1).numpy()  # (5, 28, 28) MNIST polarity
    torch.testing.assert_close(as_model_input(x_uint8), x, atol=1 / 127.5, rtol=0)
    assert as_model_input(x).shape == (5, 1, 28, 28)
    with pytest.raises(ValueError, match=r"\[-1, 1\]"):
        as_model_input(x_uint8.astype(np.float32))  # 0..255 floats
    with pytest.raises(ValueError, match="shape"):
        as_model_input(torch.zeros(5, 3, 28, 28))


def test_stats_cache_is_keyed_by_the_weights(tmp_path):
    net = FeatureNet()
    net.source_path = tmp_path / "net.pt"
    cache = metrics._load_cache(net)
    cache["floors"]["probe"] = {"fid": 1.0}
    metrics._save_cache(net, cache)
    assert (tmp_path / "net.stats.pt").is_file()
    assert metrics._load_cache(net)["floors"] == {"probe": {"fid": 1.0}}
    with torch.no_grad():
        net.classifier.bias += 1  # a changed network invalidates the cache
    assert metrics._load_cache(net)["floors"] == {}


def test_missing_feature_net_names_the_command(tmp_path):
    with pytest.raises(FileNotFoundError, match="scripts/train_feature_net.py"):
        load_feature_net(tmp_path / "missing.pt")


@needs_mnist
@needs_feature_net
def test_shipped_feature_net_is_accurate():
    from tinydiff_lib.data import mnist_tensor

    ckpt = torch.load(DEFAULT_FEATURE_NET, map_location="cpu", weights_only=True)  # plain types + tensors only
    assert ckpt["test_accuracy"] >= 0.99 and isinstance(ckpt["torch_version"], str)
    assert DEFAULT_FEATURE_NET.stat().st_size <= 1_000_000
    net = load_feature_net()
    x, y = mnist_tensor(train=False)
    idx = torch.randperm(len(x), generator=torch.Generator().manual_seed(0))[:2000]
    with torch.no_grad():
        accuracy = (net(x[idx]).argmax(1) == y[idx]).double().mean().item()
    assert accuracy >= 0.985


# --- the evaluate command -------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def tiny_checkpoint(tmp_path_factory):
    from tinydiff_lib import TrainConfig, train

    out = tmp_path_factory.mktemp("ckpt") / "tiny.pt"
    data = torch.rand(64, 1, 28, 28, generator=torch.Generator().manual_seed(0)) * 2 - 1
    config = TrainConfig(model="tiny_conv", model_kwargs={"channels": 16}, steps=5, batch_size=16, checkpoint_every=5)
    train(config, data=data, out=out, device="cpu", progress=False)
    return out


KEYS = {"fid", "kid", "kid_std", "precision", "recall", "fid_floor", "kid_floor", "precision_floor", "recall_floor",
        "class_histogram", "mean_confidence", "num_samples", "sampler", "steps", "seconds"}  # fmt: skip


@needs_mnist
@needs_feature_net
def test_evaluate_prints_one_json_object(tiny_checkpoint, capsys):
    argv = ["evaluate", "--checkpoint", str(tiny_checkpoint), "--num-samples", "16", "--sampler", "ddim",
            "--steps", "2", "--device", "cpu", "--quiet"]  # fmt: skip
    assert main(argv) == 0
    out = capsys.readouterr().out.strip().splitlines()
    assert len(out) == 1
    result = json.loads(out[0])
    assert KEYS <= set(result)
    assert result["num_samples"] == 16 and result["sampler"] == "ddim" and result["steps"] == 2
    assert sum(result["class_histogram"]) == 16 and len(result["class_histogram"]) == 10
    assert 0 <= result["precision"] <= 1 and 0 <= result["recall"] <= 1
    assert result["fid"] > result["fid_floor"]  # five training steps are far from real digits

    assert main([*argv, "--seeds", "0,1"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["seeds"] == [0, 1] and {"fid_std", "fid_floor_std"} <= set(result)
    assert sum(result["class_histogram"]) == 32


@pytest.mark.parametrize(
    "argv",
    [
        ["evaluate", "--checkpoint", "no/such/file.pt"],
        ["evaluate", "--checkpoint", "x.pt", "--num-samples", "0"],
        ["evaluate", "--checkpoint", "x.pt", "--num-samples", "3"],  # k-NN with k = 3 needs more than 3
        ["evaluate", "--checkpoint", "x.pt", "--seeds", "1,two"],
        ["evaluate", "--checkpoint", "x.pt", "--sampler", "euler"],
        ["evaluate", "--checkpoint", "x.pt", "--features", "no/such/features.pt"],
    ],
)
def test_evaluate_bad_arguments_give_one_error_line(argv, capsys):
    assert main(argv) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error:")
