"""The σ view (Karras et al. 2022): preconditioning, loss, σ distribution, DDPM ε-model as a denoiser, Eq. 5 grid."""

import dataclasses
import math

import pytest
import torch

from tinydiff_lib import NoiseSchedule, ddim_timesteps
from tinydiff_lib.edm import (
    MNIST_SIGMA_DATA,
    SIGMA_DISTRIBUTIONS,
    DDPMDenoiser,
    EDMPrecond,
    SigmaDistribution,
    ddim_sigmas,
    edm_loss,
    edm_weight,
    karras_sigmas,
    measure_sigma_data,
    schedule_sigmas,
)
from tinydiff_lib.models import MODELS, build_model

from .conftest import needs_mnist

#: narrower versions of the slow presets (the contract does not depend on width)
FAST_KWARGS = {"film_unet_base64": dict(base_channels=16), "dilated_convnet_256": dict(width=32)}


class ZeroNet(torch.nn.Module):
    """F_θ = 0; records the inputs it was called with."""

    def forward(self, x, t):
        self.seen = (x, t)
        return torch.zeros_like(x)


def gen(seed=0):
    return torch.Generator().manual_seed(seed)


# --- Eq. 5 grid ---------------------------------------------------------------------------------------------------


def test_karras_sigmas_follow_eq5():
    sigmas = karras_sigmas(18, 0.002, 80.0, rho=7)
    assert sigmas.shape == (19,) and sigmas.dtype == torch.float64
    assert sigmas[0] == pytest.approx(80.0) and sigmas[-2] == pytest.approx(0.002) and sigmas[-1] == 0
    assert bool((sigmas[:-1] > sigmas[1:]).all())
    root = sigmas[:-1] ** (1 / 7)  # σ^{1/ρ} is linear in i
    torch.testing.assert_close(root, torch.linspace(80 ** (1 / 7), 0.002 ** (1 / 7), 18, dtype=torch.float64))
    torch.testing.assert_close(karras_sigmas(4, 1.0, 4.0, rho=1), torch.tensor([4.0, 3, 2, 1, 0], dtype=torch.float64))
    assert karras_sigmas(1, 0.002, 80.0).tolist() == pytest.approx([80.0, 0.0])
    for bad in (dict(num_steps=0), dict(num_steps=2.0), dict(num_steps=3, sigma_min=5.0, sigma_max=1.0)):
        with pytest.raises(ValueError):
            karras_sigmas(**bad)


# --- preconditioning (EDM Table 1) --------------------------------------------------------------------------------


def test_with_zero_network_the_denoiser_is_c_skip_times_x():
    d = EDMPrecond(ZeroNet(), sigma_data=0.5)
    x, sigma = torch.randn(3, 1, 4, 4, generator=gen()), torch.tensor([0.01, 0.5, 20.0])
    c_skip = 0.25 / (sigma**2 + 0.25)
    torch.testing.assert_close(d(x, sigma), c_skip[:, None, None, None] * x)
    torch.testing.assert_close(d.net.seen[0], x / (sigma**2 + 0.25).sqrt()[:, None, None, None])  # c_in x
    torch.testing.assert_close(d(x, 0.5), d(x, torch.full((3,), 0.5)))  # a float σ is repeated per image


def test_c_noise_maps_edm_range_onto_the_embedding_range():
    d = EDMPrecond(ZeroNet())
    sigma = torch.tensor([0.002, math.exp(-1.2), 80.0])
    t_in = d.noise_to_t(d.coefficients(sigma)[3])
    torch.testing.assert_close(t_in, torch.tensor([0.0, 1000 * (6.2146 - 1.2) / 10.5966, 1000.0]), atol=0.1, rtol=0)
    d(torch.zeros(3, 1, 2, 2), sigma)
    assert d.net.seen[1].dtype == torch.float32 and d.net.seen[1].shape == (3,)  # the network gets a float t (B,)


@pytest.mark.parametrize("sigma", [0.01, 0.3, 1.0, 5.0, 80.0])
def test_preconditioning_gives_unit_variance_input_and_target(sigma):
    """x_0 ~ N(0, σ_data²): Var[c_in x] = 1, Var[(x_0 − c_skip x)/c_out] = 1, c_skip = argmin_c E (x_0 − c x)²."""
    sigma_data, n = 0.6, 200_000
    x0 = sigma_data * torch.randn(n, generator=gen(1), dtype=torch.float64)
    x = x0 + sigma * torch.randn(n, generator=gen(2), dtype=torch.float64)
    c_skip, c_out, c_in, _ = EDMPrecond(ZeroNet(), sigma_data).coefficients(torch.tensor(sigma, dtype=torch.float64))
    assert (c_in * x).var().item() == pytest.approx(1.0, rel=0.02)
    assert ((x0 - c_skip * x) / c_out).var().item() == pytest.approx(1.0, rel=0.02)
    assert ((x0 * x).mean() / (x * x).mean()).item() == pytest.approx(c_skip.item(), rel=0.02, abs=1e-4)


def test_loss_weight_is_one_over_c_out_squared():
    sigma = torch.logspace(-3, 2, 11, dtype=torch.float64)
    _, c_out, _, _ = EDMPrecond(ZeroNet(), MNIST_SIGMA_DATA).coefficients(sigma)
    torch.testing.assert_close(edm_weight(sigma, MNIST_SIGMA_DATA), 1 / c_out**2)
    torch.testing.assert_close(SigmaDistribution().weight(sigma), 1 / c_out**2)


def test_edm_loss_is_the_weighted_error_and_near_one_for_a_zero_network():
    g = gen(3)
    x0 = 0.6 * torch.randn(4096, 1, 2, 2, generator=g)
    sigma, noise = SigmaDistribution().sample(4096, g), torch.randn(x0.shape, generator=g)
    d = EDMPrecond(ZeroNet(), sigma_data=0.6)
    assert edm_loss(d, x0, sigma, noise).item() == pytest.approx(1.0, rel=0.05)  # F = 0: unit-variance target
    s = sigma[:, None, None, None]
    expect = (edm_weight(s, 0.6) * (d(x0 + s * noise, sigma) - x0) ** 2).mean()
    torch.testing.assert_close(edm_loss(d, x0, sigma, noise), expect)
    expect_1 = (edm_weight(s, 1.0) * (d(x0 + s * noise, sigma) - x0) ** 2).mean()
    torch.testing.assert_close(edm_loss(d, x0, sigma, noise, sigma_data=1.0), expect_1)  # an explicit σ_data wins


def test_precond_wraps_a_project_network():
    net = build_model("tiny_conv", channels=16)
    x = torch.randn(2, 1, 28, 28, generator=gen())
    out = EDMPrecond(net)(x, torch.tensor([0.1, 10.0]))
    assert out.shape == x.shape and torch.isfinite(out).all()


# --- σ distribution and σ_data ------------------------------------------------------------------------------------


@pytest.mark.parametrize("dist", list(SIGMA_DISTRIBUTIONS.values()), ids=list(SIGMA_DISTRIBUTIONS))
def test_sigma_distribution_has_the_requested_log_mean_and_std(dist):
    sigma = dist.sample(100_000, gen(4))
    assert sigma.shape == (100_000,) and bool((sigma > 0).all())
    assert sigma.log().mean().item() == pytest.approx(dist.p_mean, abs=0.02)
    assert sigma.log().std().item() == pytest.approx(dist.p_std, rel=0.02)
    torch.testing.assert_close(dist.sample(5, gen(7)), dist.sample(5, gen(7)))  # reproducible from a generator


def test_sigma_distribution_is_frozen_and_checked():
    assert SigmaDistribution() == SIGMA_DISTRIBUTIONS["edm"] == SigmaDistribution("edm", -1.2, 1.2)
    assert SIGMA_DISTRIBUTIONS["high_noise"].p_mean > SIGMA_DISTRIBUTIONS["edm"].p_mean
    with pytest.raises(dataclasses.FrozenInstanceError):
        SigmaDistribution().p_mean = 0.0
    with pytest.raises(ValueError):
        SigmaDistribution("bad", 0.0, 0.0)


def test_measure_sigma_data_is_the_pixel_std():
    x0 = 0.3 + 0.7 * torch.randn(1000, 1, 4, 4, generator=gen(5))
    assert measure_sigma_data(x0) == pytest.approx(0.7, rel=0.02)


@needs_mnist
def test_mnist_sigma_data_constant_matches_the_training_set():
    from tinydiff_lib.data import mnist_tensor

    assert measure_sigma_data(mnist_tensor(train=True)[0]) == pytest.approx(MNIST_SIGMA_DATA, abs=1e-4)


# --- the DDPM ε-model as a σ-denoiser -----------------------------------------------------------------------------


def test_schedule_sigmas_are_the_vp_noise_levels():
    s = NoiseSchedule(num_steps=100)
    sigmas = schedule_sigmas(s)
    a = s.alpha_bar.double()
    torch.testing.assert_close(sigmas, ((1 - a) / a).sqrt())
    assert bool((sigmas[1:] > sigmas[:-1]).all())
    grid = ddim_sigmas(s, 7)
    assert grid.shape == (8,) and grid[-1] == 0
    torch.testing.assert_close(grid[:-1], sigmas[ddim_timesteps(100, 7)])


def test_sigma_to_t_hits_the_integers_on_the_grid_and_interpolates_in_log_sigma():
    s = NoiseSchedule(num_steps=100)
    d = DDPMDenoiser(ZeroNet(), s)
    sigmas = schedule_sigmas(s).float()
    torch.testing.assert_close(d.sigma_to_t(sigmas), torch.arange(100.0), atol=2e-3, rtol=0)
    mid = (sigmas[:-1].log() + sigmas[1:].log()).div(2).exp()  # halfway in ln σ between t and t + 1
    torch.testing.assert_close(d.sigma_to_t(mid), torch.arange(99.0) + 0.5, atol=2e-3, rtol=0)
    torch.testing.assert_close(d.sigma_to_t(torch.tensor([1e-5, 1e5])), torch.tensor([0.0, 99.0]))  # clamped
    nearest = DDPMDenoiser(ZeroNet(), s, interpolate=False).sigma_to_t(mid * 0.999)
    assert nearest.dtype == torch.int64 and nearest.tolist() == list(range(99))


def test_ddpm_denoiser_with_the_true_noise_returns_x0():
    """ε_θ = the true ε of x_t = √ᾱ_t x_0 + √(1 − ᾱ_t) ε at the (rounded) t: then D(x_0 + σ_t ε; σ_t) = x_0."""
    s = NoiseSchedule(num_steps=200)
    a = s.alpha_bar
    x0 = torch.rand(3, 1, 5, 5, generator=gen(6)) * 2 - 1

    def true_eps(xt, t):
        t = t.round().long()
        return (xt - a[t].sqrt()[:, None, None, None] * x0) / (1 - a[t]).sqrt()[:, None, None, None]

    d = DDPMDenoiser(true_eps, s)
    sigma = schedule_sigmas(s)[[0, 80, 199]].float()
    x = x0 + sigma[:, None, None, None] * torch.randn(x0.shape, generator=gen(7))
    torch.testing.assert_close(d(x, sigma), x0, atol=1e-4, rtol=0)


# --- the model contract: forward(x, noise_level) with an integer t or a continuous level --------------------------


@pytest.mark.parametrize("name", sorted(MODELS))
def test_every_model_accepts_a_float_time(name):
    torch.manual_seed(0)
    model = build_model(name, **FAST_KWARGS.get(name, {})).eval()
    with torch.no_grad():
        for p in model.parameters():
            if not p.any():  # zero-initialised output / FiLM layers would hide the time input
                p.normal_(0, 0.1, generator=gen(8))
    shape = (2, 2) if name == "mlp" else (2, 1, 28, 28)
    x = torch.rand(shape, generator=gen(9)) * 2 - 1
    t = torch.tensor([12, 730])
    with torch.no_grad():
        out_int, out_float, out_shifted = model(x, t), model(x, t.float()), model(x, t + 0.5)
    assert out_shifted.shape == x.shape and torch.isfinite(out_shifted).all()
    torch.testing.assert_close(out_float, out_int)  # an integer-valued float t is that t
    if name == "film_unet_no_time":  # the ablation without a time input
        torch.testing.assert_close(out_shifted, out_int)
    else:
        assert not torch.allclose(out_shifted, out_int)
