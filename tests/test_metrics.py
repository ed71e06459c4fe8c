"""Estimators on feature tensors: expectations from the maths (closed forms, invariances), not golden numbers,
and once each against an independent implementation (scipy, torchmetrics, a brute-force numpy one)."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from tinydiff_lib.metrics import (
    frechet_distance,
    gaussian_stats,
    kernel_inception_distance,
    knn_radii,
    mmd2_unbiased,
    polynomial_kernel,
    precision_recall,
)


def random_covariance(d: int, gen: torch.Generator) -> torch.Tensor:
    a = torch.randn(d, 2 * d, generator=gen, dtype=torch.float64)
    return a @ a.T / (2 * d) + 0.1 * torch.eye(d, dtype=torch.float64)  # symmetric positive definite


def two_feature_sets(gen: torch.Generator, n: int = 400, m: int = 300, d: int = 16):
    """Real-like features (n, d) and a shifted, correlated, rescaled set (m, d), float64."""
    real = torch.randn(n, d, generator=gen, dtype=torch.float64)
    mix = torch.eye(d, dtype=torch.float64) + 0.3 * torch.randn(d, d, generator=gen, dtype=torch.float64)
    fake = torch.randn(m, d, generator=gen, dtype=torch.float64) @ mix * 1.2 + 0.3
    return real, fake


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


def test_frechet_distance_agrees_with_scipy_sqrtm():
    """Independent check: the textbook formula with numpy's mean/covariance and ``scipy.linalg.sqrtm`` of the
    non-symmetric product Σ1 Σ2 (a Schur-decomposition square root, unlike our symmetric eigh route), as the
    reference FID code computes it. Both are float64 on well-conditioned 16×16 covariances, so they agree to
    ~1e-12; rel 1e-8 leaves room for LAPACK differences."""
    linalg = pytest.importorskip("scipy.linalg")
    real, fake = two_feature_sets(torch.Generator().manual_seed(10))
    a, b = real.numpy(), fake.numpy()
    mu1, mu2 = a.mean(0), b.mean(0)
    sigma1, sigma2 = np.cov(a, rowvar=False), np.cov(b, rowvar=False)
    covmean = linalg.sqrtm(sigma1 @ sigma2)
    covmean = covmean.real if np.iscomplexobj(covmean) else covmean
    expected = float(((mu1 - mu2) ** 2).sum() + np.trace(sigma1) + np.trace(sigma2) - 2 * np.trace(covmean))

    (mu_a, sigma_a), (mu_b, sigma_b) = gaussian_stats(real), gaussian_stats(fake)
    np.testing.assert_allclose(sigma_a.numpy(), sigma1, rtol=1e-12, atol=1e-12)  # unbiased covariance, as np.cov
    assert frechet_distance(mu_a, sigma_a, mu_b, sigma_b) == pytest.approx(expected, rel=1e-8)
    assert expected > 1  # a clearly non-trivial distance, so the agreement means something


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


def test_kid_subset_std_is_the_standard_error_of_the_subset_mean():
    """The second value is std over subsets / √num_subsets (Bessel-corrected std), recomputed here from the
    same subsets (same generator, same draw order: rows of x, then rows of y, per subset)."""
    gen = torch.Generator().manual_seed(6)
    x, y = torch.randn(300, 8, generator=gen), torch.randn(200, 8, generator=gen) + 0.2
    kid, stderr = kernel_inception_distance(
        x, y, num_subsets=7, subset_size=50, generator=torch.Generator().manual_seed(1)
    )
    g = torch.Generator().manual_seed(1)
    values = []
    for _ in range(7):
        rows_x, rows_y = torch.randperm(300, generator=g)[:50], torch.randperm(200, generator=g)[:50]
        values.append(mmd2_unbiased(x[rows_x], y[rows_y]))
    values = torch.stack(values)
    assert kid == pytest.approx(float(values.mean()), rel=1e-12)
    assert stderr == pytest.approx(float(values.std(unbiased=True)) / math.sqrt(7), rel=1e-12)
    assert math.isnan(kernel_inception_distance(x, y, num_subsets=1, subset_size=50)[1])


@pytest.mark.filterwarnings("ignore:Metric `Kernel Inception Distance` will save all extracted features")
def test_kid_agrees_with_torchmetrics():
    """Independent check against ``torchmetrics.image.kid.KernelInceptionDistance`` with an identity
    ``feature`` module (so it sees our feature vectors as they are), same kernel (degree 3, γ = 1/d, coef 1).

    1. Subsets as large as both sets (equal sizes): every subset is a permutation of the whole set, and
       MMD²_u is permutation-invariant, so both give the full-set MMD²_u whatever they draw — an exact check
       of the kernel and the unbiased estimator that does not depend on random numbers.
    2. Real subsets: torchmetrics (1.x) draws, per subset, ``torch.randperm(n_real)`` then
       ``torch.randperm(n_fake)`` from torch's global generator; ours draws from ``generator`` in the order
       (phi_x, phi_y). A fresh CPU generator seeded s yields the same stream as the global one after
       ``torch.manual_seed(s)``, so with phi_x = real both pick identical subsets and the means must agree.
       torchmetrics returns the *population* std over subsets (``unbiased=False``); ours is the standard
       error of the mean, std(unbiased) / √S, so ours · √S · √((S−1)/S) must equal theirs.

    Tolerance: torchmetrics works in float64 here, ours computes kernels in float32 (sums in float64):
    kernel values are O(1), so 1e-6 absolute is ~10 float32 ulps, far below any KID that matters (the
    standard errors here are ~1e-2).
    """
    pytest.importorskip("torchmetrics")
    from torch import nn
    from torchmetrics.image.kid import KernelInceptionDistance

    real, fake = two_feature_sets(torch.Generator().manual_seed(11), n=300, m=300)

    tm = KernelInceptionDistance(feature=nn.Identity(), subsets=3, subset_size=300)
    tm.update(real, real=True)
    tm.update(fake, real=False)
    with torch.random.fork_rng():
        tm_mean, tm_std = tm.compute()
    ours, _ = kernel_inception_distance(real, fake, num_subsets=3, subset_size=300)
    assert ours == pytest.approx(float(tm_mean), abs=1e-6) and float(tm_std) < 1e-9
    assert float(mmd2_unbiased(real, fake)) == pytest.approx(float(tm_mean), abs=1e-12)  # float64 both

    subsets, size = 20, 100
    fake = fake[:250]  # unequal set sizes: only the subsets must be equal
    tm = KernelInceptionDistance(feature=nn.Identity(), subsets=subsets, subset_size=size)
    tm.update(real, real=True)
    tm.update(fake, real=False)
    with torch.random.fork_rng():
        torch.manual_seed(5)
        tm_mean, tm_std = tm.compute()
    ours, ours_se = kernel_inception_distance(real, fake, subsets, size, generator=torch.Generator().manual_seed(5))
    assert ours == pytest.approx(float(tm_mean), abs=1e-6)
    assert ours_se * math.sqrt(subsets) * math.sqrt((subsets - 1) / subsets) == pytest.approx(float(tm_std), rel=1e-4)


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


def test_precision_recall_agree_with_a_brute_force_numpy_version():
    """Independent check of Kynkäänniemi et al. Eqs. 1-3 with full numpy distance matrices: radius = the
    (k+1)-th smallest distance in each row (the 1st is the point itself), f(φ) = any(dist ≤ radius). Continuous
    random data has no distance ties, so the fractions must agree exactly; chunking is exercised with chunk=7."""
    real, fake = two_feature_sets(torch.Generator().manual_seed(12), n=120, m=90, d=5)
    k = 3

    def dist(a, b):
        return np.sqrt(((a[:, None, :] - b[None, :, :]) ** 2).sum(-1))

    a, b = real.numpy(), fake.numpy()
    radii_real, radii_fake = np.sort(dist(a, a), axis=1)[:, k], np.sort(dist(b, b), axis=1)[:, k]
    precision = (dist(b, a) <= radii_real[None, :]).any(1).mean()
    recall = (dist(a, b) <= radii_fake[None, :]).any(1).mean()

    np.testing.assert_allclose(knn_radii(real, k, chunk=7).numpy(), radii_real, rtol=1e-12)
    assert precision_recall(real, fake, k) == (pytest.approx(precision, abs=1e-12), pytest.approx(recall, abs=1e-12))
    assert 0 < precision < 1 and 0 < recall < 1  # a non-trivial case
