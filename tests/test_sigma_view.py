"""The chapter helpers of the σ view: expectations derived from the maths, not from golden numbers."""

import math

import numpy as np
import pytest
import torch

from tinydiff_lib import NoiseSchedule
from tinydiff_lib.edm import (
    SIGMA_DISTRIBUTIONS,
    DDPMDenoiser,
    EDMPrecond,
    SigmaDistribution,
    karras_sigmas,
    schedule_sigmas,
)
from tinydiff_lib.ode_samplers import euler_sample, heun_sample
from tinydiff_lib.sigma_view import (
    GaussianToy,
    checkpoint_denoiser,
    lognormal_log_sigma_density,
    loss_by_sigma,
    schedule_log_sigma_density,
)


def gen(seed=0):
    return torch.Generator().manual_seed(seed)


class EpsZero(torch.nn.Module):
    """ε_θ = 0, so a DDPM denoiser returns its input: D(x; σ) = x."""

    def forward(self, x, t):
        return torch.zeros_like(x)


# --- checkpoint_denoiser ------------------------------------------------------------------------------------------


def test_checkpoint_denoiser_follows_the_recorded_objective():
    schedule, net = NoiseSchedule(name="linear", num_steps=1000), EpsZero()
    sigmas_t = schedule_sigmas(schedule)
    for config in ({"objective": "ddpm"}, {}):  # files older than the option are DDPM
        denoiser, lo, hi = checkpoint_denoiser(net, schedule, config)
        assert isinstance(denoiser, DDPMDenoiser)
        assert (lo, hi) == pytest.approx((float(sigmas_t[0]), float(sigmas_t[-1])))
    denoiser, lo, hi = checkpoint_denoiser(net, schedule, {"objective": "edm"})
    assert isinstance(denoiser, EDMPrecond) and (lo, hi) == (0.002, 80.0)


# --- the training distributions of σ ------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["linear", "cosine"])
def test_schedule_density_is_a_density_of_ln_sigma_matching_the_levels(name):
    sigmas, density = schedule_log_sigma_density(NoiseSchedule(name=name, num_steps=1000))
    assert sigmas.shape == density.shape == (1000,) and bool((density > 0).all())
    log_sigma = sigmas.log()
    assert float(torch.trapezoid(density, log_sigma)) == pytest.approx(1.0, abs=0.01)
    # its integral up to σ_t is the share of the T equally likely levels below σ_t, t/T
    cdf = torch.cat([torch.zeros(1, dtype=torch.float64), torch.cumulative_trapezoid(density, log_sigma)])  # (T,)
    torch.testing.assert_close(cdf, torch.arange(1000, dtype=torch.float64) / 1000, atol=0.01, rtol=0)


def test_schedule_density_is_flat_where_ln_sigma_is_linear_in_t():
    """A schedule whose ln σ_t grows by the same Δ every step puts density 1/(T Δ) everywhere."""
    T, delta = 50, 0.1
    log_sigma = -2.0 + delta * torch.arange(T, dtype=torch.float64)
    alpha_bar = 1 / (1 + torch.exp(2 * log_sigma))  # σ² = (1 − ᾱ)/ᾱ  ⇔  ᾱ = 1/(1 + σ²)
    schedule = NoiseSchedule(name="linear", num_steps=T)
    schedule.alpha_bar = alpha_bar  # only alpha_bar is read
    _, density = schedule_log_sigma_density(schedule)
    torch.testing.assert_close(density, torch.full((T,), 1 / (T * delta), dtype=torch.float64))


def test_lognormal_density_integrates_to_one_and_peaks_at_the_median():
    dist = SIGMA_DISTRIBUTIONS["edm"]
    sigma = torch.logspace(-6, 4, 4001, dtype=torch.float64)
    density = lognormal_log_sigma_density(dist, sigma)
    assert float(torch.trapezoid(density, sigma.log())) == pytest.approx(1.0, abs=1e-6)
    peak = float(sigma[density.argmax()])
    assert math.log(peak) == pytest.approx(dist.p_mean, abs=0.01)
    assert float(density.max()) == pytest.approx(1 / (dist.p_std * math.sqrt(2 * math.pi)), rel=1e-4)


def test_lognormal_density_matches_samples():
    dist = SigmaDistribution("test", 0.0, 1.2)
    log_sigma = dist.sample(200_000, generator=gen(1)).double().log().numpy()
    counts, edges = np.histogram(log_sigma, bins=20, range=(-3, 3))
    hist = counts / (len(log_sigma) * np.diff(edges))
    centres = torch.tensor((edges[1:] + edges[:-1]) / 2).exp()
    np.testing.assert_allclose(hist, lognormal_log_sigma_density(dist, centres).numpy(), rtol=0.05, atol=0.003)


# --- loss_by_sigma ------------------------------------------------------------------------------------------------


def test_loss_by_sigma_of_the_identity_is_sigma_squared():
    """D(x; σ) = x (an ε-model that predicts 0) misses x_0 by σ n: error σ² E[n²] = σ² (the noise is reused)."""
    x0 = torch.rand(64, 1, 8, 8, generator=gen(2)) * 2 - 1
    sigmas = [0.01, 0.5, 3.0, 80.0]
    identity = DDPMDenoiser(EpsZero(), NoiseSchedule(name="linear", num_steps=1000))
    errors = loss_by_sigma(identity, x0, sigmas, generator=gen(3))
    noise_power = float((torch.randn(x0.shape, generator=gen(3)).double() ** 2).mean())  # the same n
    torch.testing.assert_close(errors, torch.tensor(sigmas, dtype=torch.float64) ** 2 * noise_power)
    assert noise_power == pytest.approx(1.0, abs=0.05)


def test_loss_by_sigma_of_the_exact_gaussian_denoiser_is_the_mmse():
    toy = GaussianToy(mean=-0.3, std=0.6)
    x0 = toy.sample((4000, 1, 4, 4), generator=gen(4))
    sigmas = torch.tensor([0.05, 0.3, 0.6, 2.0, 20.0], dtype=torch.float64)
    errors = loss_by_sigma(toy.denoiser, x0, sigmas, generator=gen(5), batch_size=1000)
    torch.testing.assert_close(errors, toy.mmse(sigmas), rtol=0.03, atol=0)
    # batching does not change the result
    torch.testing.assert_close(loss_by_sigma(toy.denoiser, x0[:100], sigmas, gen(6), batch_size=7),
                               loss_by_sigma(toy.denoiser, x0[:100], sigmas, gen(6)))  # fmt: skip


def test_no_denoiser_beats_the_exact_one_on_the_toy():
    toy = GaussianToy(std=0.5)
    x0 = toy.sample((5000, 3), generator=gen(7))
    for sigma in [0.1, 0.5, 2.0]:
        exact = loss_by_sigma(toy.denoiser, x0, [sigma], gen(8))
        for factor in [0.8, 1.2]:  # shrink by another factor than s²/(s² + σ²)
            other = loss_by_sigma(lambda x, s, f=factor: f * toy.denoiser(x, s), x0, [sigma], gen(8))
            assert float(other) > float(exact)


# --- the Gaussian toy's exact probability-flow ODE ----------------------------------------------------------------


def test_toy_flow_solves_the_probability_flow_ode():
    toy = GaussianToy(mean=0.4, std=0.7)
    x = 5 * torch.randn(16, 2, generator=gen(9), dtype=torch.float64)
    for sigma in [0.05, 0.5, 4.0]:
        h = 1e-5 * sigma
        derivative = (toy.flow(x, 5.0, sigma + h) - toy.flow(x, 5.0, sigma - h)) / (2 * h)
        x_sigma = toy.flow(x, 5.0, sigma)
        expected = (x_sigma - toy.denoiser(x_sigma, torch.full((16,), sigma, dtype=torch.float64))) / sigma
        torch.testing.assert_close(derivative, expected, rtol=1e-6, atol=1e-8)
    # a flow: composing two legs is the whole way, and going back returns the start
    torch.testing.assert_close(toy.flow(toy.flow(x, 5.0, 1.0), 1.0, 0.1), toy.flow(x, 5.0, 0.1))
    torch.testing.assert_close(toy.flow(toy.flow(x, 5.0, 0.1), 0.1, 5.0), x)


def test_toy_flow_carries_the_noisy_marginal_to_the_data():
    toy = GaussianToy(mean=-0.5, std=0.6)
    sigma_max = 80.0
    x_T = toy.sample((200_000,), generator=gen(10)) + sigma_max * torch.randn(200_000, generator=gen(11)).double()
    x0 = toy.flow(x_T, sigma_max, 0.0)
    assert float(x0.mean()) == pytest.approx(-0.5, abs=0.01)
    assert float(x0.std()) == pytest.approx(0.6, rel=0.01)


def toy_errors(sampler, steps, toy, sigma_min=0.002, sigma_max=80.0):
    x_T = toy.mean + sigma_max * torch.randn(32, 3, generator=gen(12), dtype=torch.float64)
    exact = toy.flow(x_T, sigma_max, sigma_min)
    errors = []
    for n in steps:
        sigmas = karras_sigmas(n + 1, sigma_min, sigma_max)[:-1]  # n steps from σ_max to σ_min (no final 0)
        errors.append(float((sampler(toy.denoiser, x_T, sigmas) - exact).norm() / (exact - toy.mean).norm()))
    return errors


def test_samplers_converge_to_the_toy_flow_at_their_order():
    toy, steps = GaussianToy(mean=0.3, std=0.6), [16, 32, 64, 128]
    euler, heun = toy_errors(euler_sample, steps, toy), toy_errors(heun_sample, steps, toy)
    slope_euler = np.polyfit(np.log(steps), np.log(euler), 1)[0]
    slope_heun = np.polyfit(np.log(steps), np.log(heun), 1)[0]
    assert -1.15 < slope_euler < -0.85
    assert -2.3 < slope_heun < -1.85
    assert heun[-1] < euler[-1] / 10


def test_toy_rejects_a_non_positive_std():
    with pytest.raises(ValueError):
        GaussianToy(std=0.0)
