"""The forward process, the posterior and the training loss (Ho et al. 2020)."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from .schedule import NoiseSchedule

__all__ = ["q_sample", "predict_x0", "predict_eps", "q_posterior", "sample_timesteps", "diffusion_loss"]


def q_sample(
    schedule: NoiseSchedule, x0: torch.Tensor, t: torch.Tensor, eps: torch.Tensor | None = None
) -> torch.Tensor:
    """Sample q(x_t | x_0) = N(√ᾱ_t x_0, (1 − ᾱ_t) I) in closed form (Ho et al. Eq. 4).

    x_t = √ᾱ_t · x_0 + √(1 − ᾱ_t) · ε. ``x0``: (B, …); ``t``: int64 (B,); ``eps``: like ``x0`` (drawn when None).
    """
    if eps is None:
        eps = torch.randn_like(x0)
    a = schedule.gather(schedule.sqrt_alpha_bar, t, x0.ndim)
    s = schedule.gather(schedule.sqrt_one_minus_alpha_bar, t, x0.ndim)
    return a * x0 + s * eps


def predict_x0(schedule: NoiseSchedule, xt: torch.Tensor, t: torch.Tensor, eps: torch.Tensor) -> torch.Tensor:
    """Invert Eq. 4 for x_0: x̂_0 = (x_t − √(1 − ᾱ_t) ε) / √ᾱ_t (Ho et al. Eq. 15)."""
    a = schedule.gather(schedule.sqrt_alpha_bar, t, xt.ndim)
    s = schedule.gather(schedule.sqrt_one_minus_alpha_bar, t, xt.ndim)
    return (xt - s * eps) / a


def predict_eps(schedule: NoiseSchedule, xt: torch.Tensor, t: torch.Tensor, x0: torch.Tensor) -> torch.Tensor:
    """Invert Eq. 4 for ε: ε = (x_t − √ᾱ_t x_0) / √(1 − ᾱ_t)."""
    a = schedule.gather(schedule.sqrt_alpha_bar, t, xt.ndim)
    s = schedule.gather(schedule.sqrt_one_minus_alpha_bar, t, xt.ndim)
    return (xt - a * x0) / s


def q_posterior(
    schedule: NoiseSchedule, x0: torch.Tensor, xt: torch.Tensor, t: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """Mean and variance of q(x_{t−1} | x_t, x_0) = N(μ̃_t, β̃_t I) (Ho et al. Eqs. 6–7).

    μ̃_t = √ᾱ_{t−1} β_t / (1 − ᾱ_t) · x_0 + √α_t (1 − ᾱ_{t−1}) / (1 − ᾱ_t) · x_t,
    β̃_t = β_t (1 − ᾱ_{t−1}) / (1 − ᾱ_t). Returns (mean like ``xt``, variance of shape (B, 1, …, 1)).
    """
    c0 = schedule.gather(schedule.posterior_coef_x0, t, xt.ndim)
    ct = schedule.gather(schedule.posterior_coef_xt, t, xt.ndim)
    var = schedule.gather(schedule.posterior_variance, t, xt.ndim)
    return c0 * x0 + ct * xt, var


def sample_timesteps(
    schedule: NoiseSchedule, batch_size: int, device=None, generator: torch.Generator | None = None
) -> torch.Tensor:
    """t ~ Uniform{0, …, T−1}, int64 of shape (B,)."""
    gen_device = generator.device if generator is not None else device
    t = torch.randint(0, schedule.num_steps, (batch_size,), generator=generator, device=gen_device)
    return t.to(device) if device is not None else t


def diffusion_loss(
    model: torch.nn.Module,
    schedule: NoiseSchedule,
    x0: torch.Tensor,
    t: torch.Tensor | None = None,
    eps: torch.Tensor | None = None,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """L_simple = E_{t, x_0, ε} ‖ε − ε_θ(x_t, t)‖² (Ho et al. Eq. 14, Algorithm 1).

    ``t`` and ``eps`` are drawn (from ``generator`` when given) unless passed in. Returns a scalar.
    """
    if t is None:
        t = sample_timesteps(schedule, x0.shape[0], device=x0.device, generator=generator)
    if eps is None:
        gen_device = generator.device if generator is not None else x0.device
        eps = torch.randn(x0.shape, generator=generator, device=gen_device, dtype=x0.dtype).to(x0.device)
    xt = q_sample(schedule, x0, t, eps)
    eps_pred = model(xt, t)
    return F.mse_loss(eps_pred.float(), eps.float())
