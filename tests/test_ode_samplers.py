"""Samplers on σ (Karras et al. 2022; Lu et al. 2022): expectations derived from the probability-flow ODE."""

import math

import numpy as np
import pytest
import torch

from tinydiff_lib import NoiseSchedule, ddim_sample, ddim_step, ddim_timesteps
from tinydiff_lib.edm import DDPMDenoiser, ddim_sigmas, karras_sigmas, schedule_sigmas
from tinydiff_lib.models import build_model
from tinydiff_lib.ode_samplers import (
    ODE_SAMPLERS,
    churn_step,
    dpmpp_2m_sample,
    dpmpp_2m_step,
    euler_sample,
    euler_step,
    heun_sample,
    heun_step,
    network_passes,
    sample_x_T,
    stochastic_sample,
)


def gen(seed=0):
    return torch.Generator().manual_seed(seed)


def run(name, denoiser, x_T, sigmas, **kwargs):
    """Each sampler by name; the stochastic one with churn on every step and its own generator."""
    if name == "stochastic":
        return stochastic_sample(denoiser, x_T, sigmas, generator=gen(1), s_churn=40, s_noise=1.003, **kwargs)
    return {"euler": euler_sample, "heun": heun_sample, "dpmpp_2m": dpmpp_2m_sample}[name](
        denoiser, x_T, sigmas, **kwargs
    )


class Counter:
    """A denoiser returning 0 that counts its calls (one call = one network pass per image)."""

    def __init__(self):
        self.calls = 0

    def __call__(self, x, sigma):
        assert sigma.shape == (x.shape[0],)
        self.calls += 1
        return torch.zeros_like(x)


# --- an oracle denoiser lands on x_0 -----------------------------------------------------------------------------


@pytest.mark.parametrize("name", ODE_SAMPLERS)
@pytest.mark.parametrize("num_steps", [1, 2, 5, 18])
def test_oracle_denoiser_lands_on_x0(name, num_steps):
    """D(x; σ) = x_0 for x = x_0 + σ n: every step keeps x − x_0 ∝ n, and the step to σ = 0 removes it."""
    x0 = torch.rand(4, 1, 6, 6, generator=gen(2), dtype=torch.float64) * 2 - 1  # float64: x is ~100 times x_0
    sigmas = karras_sigmas(num_steps, 0.002, 80.0)
    x_T = x0 + 80.0 * torch.randn(x0.shape, generator=gen(3), dtype=torch.float64)
    out = run(name, lambda x, sigma: x0, x_T, sigmas)
    assert out.dtype == torch.float64
    torch.testing.assert_close(out, x0, atol=1e-12, rtol=0)


@pytest.mark.parametrize("name", ["euler", "heun", "dpmpp_2m"])
def test_ddpm_oracle_through_ddpm_denoiser_lands_on_x0(name):
    """The ε-model returning the true noise, seen through DDPMDenoiser on the DDIM σ grid, lands on x_0."""
    s = NoiseSchedule(num_steps=200)
    a = s.alpha_bar
    x0 = torch.rand(3, 1, 5, 5, generator=gen(4)) * 2 - 1

    def true_eps(xt, t):
        t = t.round().long()
        return (xt - a[t].sqrt()[:, None, None, None] * x0) / (1 - a[t]).sqrt()[:, None, None, None]

    sigmas = ddim_sigmas(s, 10)
    x_T = x0 + float(sigmas[0]) * torch.randn(x0.shape, generator=gen(5))
    out = run(name, DDPMDenoiser(true_eps, s), x_T, sigmas)
    torch.testing.assert_close(out, x0, atol=1e-4, rtol=0)


# --- Euler on the DDPM σ grid is DDIM η = 0 ----------------------------------------------------------------------


def small_eps_model():
    torch.manual_seed(0)
    model = build_model("tiny_conv", channels=16).eval()
    with torch.no_grad():
        model.conv3.weight.mul_(10)  # a fixed, clearly non-trivial ε̂ that depends on x and t
    return model


@pytest.mark.parametrize("clip", [False, True])
def test_euler_step_equals_ddim_eta0_step(clip):
    """x_σ = x_t / √ᾱ_t: Euler's x̂_0 + σ_{i+1}(x_σ − x̂_0)/σ_i is DDIM's √ᾱ_prev x̂_0 + √(1 − ᾱ_prev) ε̂, divided."""
    s, model = NoiseSchedule(num_steps=100), small_eps_model()
    denoiser = DDPMDenoiser(model, s)
    taus, sigmas = ddim_timesteps(100, 8), ddim_sigmas(s, 8).tolist()
    sqrt_a = lambda t: s.alpha_bar[t].sqrt() if t >= 0 else torch.tensor(1.0)  # noqa: E731
    xt = torch.randn(2, 1, 8, 8, generator=gen(6))
    with torch.no_grad():
        for i, t in enumerate(taus):
            t_prev = taus[i + 1] if i + 1 < len(taus) else -1
            x_prev, x0_pred = ddim_step(s, xt, t, t_prev, model(xt, torch.full((2,), t)), eta=0.0, clip_x0=clip)
            x_sigma = xt / sqrt_a(t)
            d = denoiser(x_sigma, torch.full((2,), sigmas[i]))
            d = d.clamp(-1, 1) if clip else d
            torch.testing.assert_close(d, x0_pred, atol=1e-4, rtol=1e-4)
            x_sigma_next = euler_step(x_sigma, sigmas[i], sigmas[i + 1], d)
            torch.testing.assert_close(x_sigma_next * sqrt_a(t_prev), x_prev, atol=1e-4, rtol=1e-4)
            xt = x_prev


@pytest.mark.parametrize("clip", [False, True])
def test_euler_loop_equals_ddim_sample_eta0(clip):
    s, model = NoiseSchedule(num_steps=100), small_eps_model()
    x_T = torch.randn(2, 1, 8, 8, generator=gen(7))
    ddim = ddim_sample(model, s, x_T.shape, num_steps=12, eta=0.0, clip_x0=clip, x_T=x_T)
    sigmas = ddim_sigmas(s, 12)
    euler = euler_sample(DDPMDenoiser(model, s), x_T * math.sqrt(1 + sigmas[0] ** 2), sigmas, clip_denoised=clip)
    torch.testing.assert_close(euler, ddim, atol=1e-4, rtol=1e-4)


# --- order of accuracy on a Gaussian toy -------------------------------------------------------------------------


def gaussian_errors(sampler, steps, s=0.6, sigma_min=0.002, sigma_max=80.0):
    """Data ~ N(0, s² I): D(x; σ) = s² x / (s² + σ²) and x(σ) = x(σ_max) √(s² + σ²) / √(s² + σ_max²) exactly."""
    x_T = sigma_max * torch.randn(8, 3, generator=gen(8), dtype=torch.float64)
    exact = x_T * math.sqrt(s**2 + sigma_min**2) / math.sqrt(s**2 + sigma_max**2)
    errors = []
    for n in steps:
        sigmas = karras_sigmas(n + 1, sigma_min, sigma_max)[:-1]  # n steps from σ_max to σ_min (no final 0)
        out = sampler(lambda x, sigma: s**2 * x / (s**2 + sigma[:, None] ** 2), x_T, sigmas)
        errors.append(((out - exact).norm() / exact.norm()).item())
    return errors


def slope(steps, errors):
    return float(np.polyfit(np.log(steps), np.log(errors), 1)[0])


STEPS = [16, 32, 64, 128]


def test_euler_is_first_order():
    assert -1.1 < slope(STEPS, gaussian_errors(euler_sample, STEPS)) < -0.85  # measured −0.96


def test_heun_is_second_order():
    errors = gaussian_errors(heun_sample, STEPS)
    assert -2.3 < slope(STEPS, errors) < -1.85  # measured −2.05
    assert errors[-1] < gaussian_errors(euler_sample, STEPS[-1:])[0] / 10


def test_dpmpp_2m_is_at_least_second_order():
    assert slope(STEPS, gaussian_errors(dpmpp_2m_sample, STEPS)) < -1.85  # measured −2.11


def test_stochastic_sampler_draws_the_gaussian_data_distribution():
    """With the exact denoiser, Algorithm 2 ends near N(0, s²) (the prior has std σ_max, not √(σ_max² + s²)).

    Churn adds discretisation error (measured std 0.629 at 32 steps, 0.603 at 128, 0.600 at 512), so 128 steps."""
    s, sigma_max = 0.6, 80.0
    x_T = sample_x_T((20_000, 1), sigma_max, gen(9)).double()
    sigmas = karras_sigmas(128, 0.002, sigma_max)
    out = stochastic_sample(
        lambda x, sigma: s**2 * x / (s**2 + sigma[:, None] ** 2), x_T, sigmas, generator=gen(10), s_churn=40
    )
    assert out.std().item() == pytest.approx(s * sigma_max / math.sqrt(s**2 + sigma_max**2), rel=0.02)


# --- the steps themselves ----------------------------------------------------------------------------------------


def test_first_order_cases_reduce_to_euler():
    x, x0_pred, prev = (torch.randn(2, 3, generator=gen(i)) for i in (11, 12, 13))
    euler = euler_step(x, 2.0, 0.5, x0_pred)
    torch.testing.assert_close(dpmpp_2m_step(x, 2.0, 0.5, x0_pred), euler)  # no history: first order
    torch.testing.assert_close(dpmpp_2m_step(x, 2.0, 0.5, x0_pred, x0_pred, 5.0), euler)  # constant x̂_0
    torch.testing.assert_close(dpmpp_2m_step(x, 2.0, 0.0, x0_pred, prev, 5.0), x0_pred)  # lands on x̂_0
    torch.testing.assert_close(heun_step(Counter(), x, 2.0, 0.0, x0_pred), euler_step(x, 2.0, 0.0, x0_pred))
    torch.testing.assert_close(euler_step(x, 2.0, 0.0, x0_pred), x0_pred)


def test_churn_raises_the_noise_level():
    x, noise = torch.randn(2, 3, generator=gen(14)), torch.randn(2, 3, generator=gen(15))
    x_hat, sigma_hat = churn_step(x, 2.0, 0.25, noise, s_noise=1.5)
    assert sigma_hat == pytest.approx(2.5)
    torch.testing.assert_close(x_hat, x + math.sqrt(2.5**2 - 2.0**2) * 1.5 * noise)
    assert churn_step(x, 2.0, 0.0, noise) == (x, 2.0)


def test_stochastic_without_churn_is_heun():
    x_T = sample_x_T((3, 1, 4, 4), 80.0, gen(16))
    d = lambda x, sigma: torch.tanh(x) * 0.9  # noqa: E731
    sigmas = karras_sigmas(6)
    torch.testing.assert_close(stochastic_sample(d, x_T, sigmas, generator=gen(17)), heun_sample(d, x_T, sigmas))
    # churn outside [S_tmin, S_tmax] does nothing either
    torch.testing.assert_close(stochastic_sample(d, x_T, sigmas, s_churn=40, s_tmin=100.0), heun_sample(d, x_T, sigmas))


@pytest.mark.parametrize("name", ODE_SAMPLERS)
@pytest.mark.parametrize("num_steps", [1, 3, 10])
@pytest.mark.parametrize("ends_at_zero", [True, False])
def test_network_passes_counts_the_denoiser_calls(name, num_steps, ends_at_zero):
    sigmas = karras_sigmas(num_steps, 0.002, 80.0) if ends_at_zero else karras_sigmas(num_steps + 1, 0.002, 80.0)[:-1]
    counter = Counter()
    run(name, counter, torch.ones(2, 1, 3, 3), sigmas)
    assert counter.calls == network_passes(name, num_steps, ends_at_zero)
    if name == "heun" and ends_at_zero:
        assert counter.calls == 2 * num_steps - 1


def test_bad_arguments_are_rejected():
    with pytest.raises(ValueError, match="unknown sampler"):
        network_passes("rk4", 10)
    for bad in ([1.0], [1.0, 2.0], [2.0, 1.0, -0.5], [2.0, 2.0, 0.0]):
        with pytest.raises(ValueError):
            euler_sample(Counter(), torch.zeros(1, 1), bad)


def test_loops_put_a_module_in_eval_mode_and_keep_shapes():
    s = NoiseSchedule(num_steps=50)
    model = build_model("tiny_conv", channels=16).train()
    x_T = sample_x_T((2, 1, 8, 8), float(schedule_sigmas(s)[-1]), gen(18))
    out = heun_sample(DDPMDenoiser(model, s), x_T, ddim_sigmas(s, 3), clip_denoised=True)
    assert not model.training and out.shape == x_T.shape and out.abs().max() <= 1
