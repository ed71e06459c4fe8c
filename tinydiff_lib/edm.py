"""The σ view of diffusion (Karras et al. 2022, "Elucidating the design space…", EDM).

A noisy image is x = x_0 + σ n with n ~ N(0, I) and one number σ ≥ 0, the noise level. A *denoiser*
D(x; σ) estimates x_0; every sampler of :mod:`tinydiff_lib.ode_samplers` needs nothing else.

* :class:`EDMPrecond`: D(x; σ) = c_skip(σ) x + c_out(σ) F_θ(c_in(σ) x; c_noise(σ)) (EDM Eq. 7, Table 1).
* :func:`edm_loss` and :class:`SigmaDistribution`: E_σ λ(σ) ‖D(x_0 + σ n; σ) − x_0‖² with ln σ ~ N(P_mean, P_std²).
* :class:`DDPMDenoiser`: a DDPM ε-model seen as a σ-denoiser, so the same samplers serve both kinds of checkpoint.
* :func:`karras_sigmas`: the ρ-spaced noise levels of EDM Eq. 5.

DDPM in this view: x_t = √ᾱ_t x_0 + √(1 − ᾱ_t) ε, divided by √ᾱ_t, is x_0 + σ_t ε with σ_t = √((1 − ᾱ_t)/ᾱ_t)
(EDM Table 1, "VP"); so x = x_t / √ᾱ_t, and conversely x_t = x / √(1 + σ²) since ᾱ = 1 / (1 + σ²).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import nn

from .samplers import ddim_timesteps, randn
from .schedule import NoiseSchedule

__all__ = [
    "MNIST_SIGMA_DATA", "measure_sigma_data", "EDMPrecond", "edm_weight", "edm_loss", "SigmaDistribution",
    "SIGMA_DISTRIBUTIONS", "schedule_sigmas", "ddim_sigmas", "DDPMDenoiser", "karras_sigmas",
]  # fmt: skip

#: std of the MNIST training pixels in [-1, 1]: ``measure_sigma_data(mnist_tensor(train=True)[0])`` over all
#: 60000 × 784 pixels in float64 gives 0.616216 (the test set: 0.6210); EDM uses 0.5 for CIFAR-10 / ImageNet.
#: The pixels' mean is −0.739 (mostly black background); the preconditioning only uses the variance.
#: tests/test_edm.py re-measures it when TINYDIFF_DATA points at MNIST.
MNIST_SIGMA_DATA = 0.6162


def measure_sigma_data(x0: torch.Tensor) -> float:
    """σ_data, the standard deviation of all pixels of ``x0`` (N, C, H, W) (EDM §5, "σ_data"), in float64."""
    return float(x0.double().std())


def _call(net: nn.Module, x: torch.Tensor, t: torch.Tensor, cond: torch.Tensor | None) -> torch.Tensor:
    """net(x, t), or net(x, t, cond) for a conditional network (an unconditional one never sees a third argument)."""
    return net(x, t) if cond is None else net(x, t, cond)


def _per_image(sigma: torch.Tensor | float, x: torch.Tensor) -> torch.Tensor:
    """σ as a (B, 1, …, 1) tensor on x's device and dtype; a float or a 0-dim tensor is repeated B times."""
    sigma = torch.as_tensor(sigma, dtype=x.dtype, device=x.device)
    return sigma.expand(x.shape[0]).reshape(-1, *([1] * (x.ndim - 1)))  # (B,) -> (B, 1, 1, 1)


class EDMPrecond(nn.Module):
    """D(x; σ) = c_skip(σ) x + c_out(σ) F_θ(c_in(σ) x; c_noise(σ)) around a network F (EDM Eq. 7, Table 1).

    c_skip = σ_data² / (σ² + σ_data²), c_out = σ σ_data / √(σ² + σ_data²), c_in = 1 / √(σ² + σ_data²),
    c_noise = ¼ ln σ. With x_0 of std σ_data, c_in x has unit variance, and the target of F,
    (x_0 − c_skip x) / c_out, has unit variance with c_skip the choice that minimises it (EDM App. B.6).

    ``net`` is any model of the project, ``forward(x, t)`` with t a (B,) tensor fed to a sinusoidal embedding
    (:func:`~tinydiff_lib.models.blocks.sinusoidal_embedding`, which takes float t). That embedding was designed for
    t ∈ [0, 1000): frequencies from 1 down to 10⁻⁴ rad per unit of t. So c_noise is mapped affinely,
    t_in = 1000 · (c_noise − ¼ ln σ_lo) / (¼ ln σ_hi − ¼ ln σ_lo), with (σ_lo, σ_hi) = (0.002, 80), EDM's sampling
    range: that range fills t_in ∈ [0, 1000] as the DDPM steps do, larger noise has larger t as in DDPM, and
    levels outside it extrapolate smoothly (the embedding accepts any real t).
    In numbers t_in = 94.3 · (ln σ + 6.21); the training median σ = e^−1.2 sits at t_in ≈ 473.

    ``forward(x, sigma, cond=None)``: x (B, C, H, W), sigma (B,) or a float -> D (B, C, H, W), in x's dtype;
    ``cond`` (a conditional network's label or prompt tokens) is passed on to F when given.
    """

    def __init__(
        self, net: nn.Module, sigma_data: float = MNIST_SIGMA_DATA, sigma_lo: float = 0.002, sigma_hi: float = 80.0
    ):
        super().__init__()
        if not (sigma_data > 0 and 0 < sigma_lo < sigma_hi):
            raise ValueError(f"need sigma_data > 0, 0 < sigma_lo < sigma_hi; got {sigma_data, sigma_lo, sigma_hi}")
        self.net, self.sigma_data = net, float(sigma_data)
        self.c_noise_lo, self.c_noise_hi = math.log(sigma_lo) / 4, math.log(sigma_hi) / 4

    def coefficients(self, sigma: torch.Tensor) -> tuple[torch.Tensor, ...]:
        """(c_skip, c_out, c_in, c_noise) of EDM Table 1, each shaped like ``sigma``."""
        s2, d2 = sigma**2, self.sigma_data**2
        c_skip = d2 / (s2 + d2)
        c_out = sigma * self.sigma_data / (s2 + d2).sqrt()
        c_in = 1 / (s2 + d2).sqrt()
        return c_skip, c_out, c_in, sigma.log() / 4

    def noise_to_t(self, c_noise: torch.Tensor) -> torch.Tensor:
        """The network's time input t_in = 1000 (c_noise − c_lo) / (c_hi − c_lo), float (B,) (see the class doc)."""
        return 1000 * (c_noise - self.c_noise_lo) / (self.c_noise_hi - self.c_noise_lo)

    def forward(self, x: torch.Tensor, sigma: torch.Tensor | float, cond: torch.Tensor | None = None) -> torch.Tensor:
        sigma = _per_image(sigma, x)  # (B, 1, 1, 1)
        c_skip, c_out, c_in, c_noise = self.coefficients(sigma)
        F_x = _call(self.net, c_in * x, self.noise_to_t(c_noise.flatten()).float(), cond)  # t_in: (B,)
        return c_skip * x + c_out * F_x.to(x.dtype)

    def extra_repr(self) -> str:
        return f"sigma_data={self.sigma_data}"


def edm_weight(sigma: torch.Tensor, sigma_data: float) -> torch.Tensor:
    """The loss weight λ(σ) = (σ² + σ_data²) / (σ σ_data)² = 1 / c_out(σ)² (EDM Table 1), shaped like ``sigma``."""
    return (sigma**2 + sigma_data**2) / (sigma * sigma_data) ** 2


def edm_loss(
    denoiser: nn.Module, x0: torch.Tensor, sigma: torch.Tensor, noise: torch.Tensor, sigma_data: float | None = None,
    cond: torch.Tensor | None = None,
) -> torch.Tensor:  # fmt: skip
    """E λ(σ) ‖D(x_0 + σ n; σ) − x_0‖² (EDM Eq. 8 with Table 1's λ), averaged over pixels and batch; a scalar.

    ``x0``: (B, C, H, W); ``sigma``: (B,) drawn by the caller (e.g. :meth:`SigmaDistribution.sample`);
    ``noise``: n, like ``x0``. Passing them in lets a distributed loop draw them for the global batch and
    slice. ``sigma_data`` defaults to ``denoiser.sigma_data``; ``cond``: the condition of each image, or None.
    Since λ = 1/c_out², this is the plain MSE of F
    against its unit-variance target (x_0 − c_skip x)/c_out, so it starts near 1 when F = 0.
    """
    sigma_data = denoiser.sigma_data if sigma_data is None else sigma_data
    sigma = _per_image(sigma, x0)  # (B, 1, 1, 1)
    x0_pred = _call(denoiser, x0 + sigma * noise, sigma.flatten(), cond)
    return (edm_weight(sigma, sigma_data) * (x0_pred.float() - x0.float()) ** 2).mean()


@dataclass(frozen=True)
class SigmaDistribution:
    """The training distribution of σ: ln σ ~ N(p_mean, p_std²) (EDM Table 1: P_mean = −1.2, P_std = 1.2).

    A distribution shifted towards high noise raises ``p_mean`` (``SIGMA_DISTRIBUTIONS["high_noise"]``: 0.0,
    median σ = 1 ≈ 1.6 σ_data instead of e^−1.2 = 0.30); a larger ``p_std`` widens it on both sides.
    """

    name: str = "edm"
    p_mean: float = -1.2
    p_std: float = 1.2

    def __post_init__(self):
        if not self.p_std > 0:
            raise ValueError(f"p_std must be positive, got {self.p_std}")

    def sample(self, batch: int, generator: torch.Generator | None = None, device=None) -> torch.Tensor:
        """σ = exp(P_mean + P_std z), z ~ N(0, 1): (B,) float32 on ``device`` (drawn on the generator's)."""
        return (self.p_mean + self.p_std * randn((batch,), generator, device)).exp()

    def weight(self, sigma: torch.Tensor, sigma_data: float = MNIST_SIGMA_DATA) -> torch.Tensor:
        """λ(σ) = (σ² + σ_data²) / (σ σ_data)², the weight that goes with this distribution (:func:`edm_weight`)."""
        return edm_weight(sigma, sigma_data)


#: named training distributions of σ
SIGMA_DISTRIBUTIONS = {
    "edm": SigmaDistribution("edm", -1.2, 1.2),
    "high_noise": SigmaDistribution("high_noise", 0.0, 1.2),
}


def schedule_sigmas(schedule: NoiseSchedule) -> torch.Tensor:
    """σ_t = √((1 − ᾱ_t)/ᾱ_t) for t = 0 … T−1, increasing (EDM Table 1, VP): (T,) float64 on the CPU."""
    alpha_bar = schedule.alpha_bar.detach().cpu().double()
    return ((1 - alpha_bar) / alpha_bar).sqrt()


def ddim_sigmas(schedule: NoiseSchedule, num_steps: int) -> torch.Tensor:
    """The σ_t of :func:`~tinydiff_lib.samplers.ddim_timesteps` then 0 (ᾱ = 1): (K + 1,) float64, descending."""
    taus = ddim_timesteps(schedule.num_steps, num_steps)
    return torch.cat([schedule_sigmas(schedule)[taus], torch.zeros(1, dtype=torch.float64)])


class DDPMDenoiser(nn.Module):
    """A DDPM ε-model ε_θ(x_t, t) as a σ-denoiser: D(x; σ) = x − σ ε_θ(x / √(1 + σ²), t(σ)) (EDM Table 1, VP).

    x is the σ-view image x_t / √ᾱ_t, so x_t = √ᾱ x = x / √(1 + σ²) and x̂_0 = x − σ ε̂ is Ho et al. Eq. 15.
    t(σ) interpolates linearly between the two neighbouring timesteps on the log-σ grid ln σ_0 < … < ln σ_{T−1}:
    on a grid point it is that integer t, between two it is a float, which the sinusoidal time embedding accepts,
    and it is clamped to [0, T−1] outside the trained range (σ_0 … σ_{T−1} ≈ 0.010 … 157 for the linear schedule).
    ``interpolate=False`` rounds to the nearest index in log σ and passes an int64 t instead (the only choice
    for a network that cannot take a float t). ``forward(x, sigma, cond=None)``: x (B, …), sigma (B,) or float
    -> (B, …); ``cond`` goes on to a conditional ε-model.
    """

    def __init__(self, eps_model: nn.Module, schedule: NoiseSchedule, interpolate: bool = True):
        super().__init__()
        self.eps_model, self.interpolate = eps_model, interpolate
        self.register_buffer("log_sigmas", schedule_sigmas(schedule).log().float(), persistent=False)  # (T,)

    def sigma_to_t(self, sigma: torch.Tensor) -> torch.Tensor:
        """t(σ) for σ (B,): float32 by linear interpolation in ln σ, or int64, the nearest index (see above)."""
        grid = self.log_sigmas.to(sigma.device)
        log_sigma = sigma.float().log().clamp(grid[0], grid[-1])
        hi = torch.searchsorted(grid, log_sigma).clamp(1, len(grid) - 1)  # grid[hi − 1] < ln σ <= grid[hi]
        w = (log_sigma - grid[hi - 1]) / (grid[hi] - grid[hi - 1])  # in [0, 1]; 1 on a grid point
        t = (hi - 1).float() + w
        return t if self.interpolate else t.round().long()

    def forward(self, x: torch.Tensor, sigma: torch.Tensor | float, cond: torch.Tensor | None = None) -> torch.Tensor:
        sigma = _per_image(sigma, x)  # (B, 1, 1, 1)
        eps_pred = _call(self.eps_model, x / (1 + sigma**2).sqrt(), self.sigma_to_t(sigma.flatten()), cond)
        return x - sigma * eps_pred.to(x.dtype)


def karras_sigmas(num_steps: int, sigma_min: float = 0.002, sigma_max: float = 80.0, rho: float = 7.0) -> torch.Tensor:
    """σ_i = (σ_max^{1/ρ} + i/(N−1) (σ_min^{1/ρ} − σ_max^{1/ρ}))^ρ for i < N, σ_N = 0 (EDM Eq. 5).

    Returns (N + 1,) float64, descending from σ_max to σ_min, then 0; N = 1 gives (σ_max, 0). ρ = 7 spends the
    steps near σ_min; ρ = 1 is uniform in σ.
    """
    if not isinstance(num_steps, int) or isinstance(num_steps, bool) or num_steps < 1:
        raise ValueError(f"num_steps must be a positive integer, got {num_steps!r}")
    if not (0 < sigma_min < sigma_max and rho > 0):
        raise ValueError(f"need 0 < sigma_min < sigma_max and rho > 0, got {sigma_min}, {sigma_max}, {rho}")
    ramp = torch.linspace(0, 1, num_steps, dtype=torch.float64)  # i / (N − 1); [0] for N = 1
    lo, hi = sigma_min ** (1 / rho), sigma_max ** (1 / rho)
    sigmas = (hi + ramp * (lo - hi)) ** rho
    return torch.cat([sigmas, torch.zeros(1, dtype=torch.float64)])
