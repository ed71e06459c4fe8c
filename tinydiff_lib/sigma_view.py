"""The σ view, measured: the helpers behind the chapter "Training better" (notebook 07).

A noisy image is x = x_0 + σ n, n ~ N(0, I); a denoiser D(x; σ) estimates x_0 (Karras et al. 2022, "EDM"; see
:mod:`tinydiff_lib.edm`). This module holds what the chapter measures with that view:

* :func:`checkpoint_denoiser`: a checkpoint's network as D(x; σ), with its σ range, whatever its objective;
* :func:`schedule_log_sigma_density` / :func:`lognormal_log_sigma_density`: the training distribution of σ,
  as a density per unit ln σ, of DDPM (t ~ U{0, …, T−1} on a β schedule) and of EDM (ln σ ~ N(P_mean, P_std²));
* :func:`loss_by_sigma`: the denoising error E‖D(x_0 + σ n; σ) − x_0‖² per pixel at each of a list of σ;
* :class:`GaussianToy`: data N(μ, s² I), for which both D and the probability-flow ODE are exact in closed
  form, so a sampler's error can be measured against the true solution.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import torch

from .edm import SigmaDistribution, schedule_sigmas
from .samplers import randn
from .sampling_io import sigma_denoiser
from .schedule import NoiseSchedule

__all__ = [
    "checkpoint_denoiser",
    "schedule_log_sigma_density",
    "lognormal_log_sigma_density",
    "loss_by_sigma",
    "GaussianToy",
]


def checkpoint_denoiser(model: torch.nn.Module, schedule: NoiseSchedule, config: dict):
    """(D(x; σ), σ_min, σ_max) of a checkpoint's network; ``config`` is its ``ckpt["config"]``.

    ``config["objective"]`` says how the network was trained: ``"edm"`` wraps it in EDM's preconditioning
    (:class:`~tinydiff_lib.edm.EDMPrecond`, σ from 0.002 to 80), ``"ddpm"`` (the default, for files older than
    the option) makes the ε-model a denoiser (:class:`~tinydiff_lib.edm.DDPMDenoiser`, σ over the schedule's σ_t).
    """
    return sigma_denoiser(model, schedule, config.get("objective", "ddpm"))


def schedule_log_sigma_density(schedule: NoiseSchedule) -> tuple[torch.Tensor, torch.Tensor]:
    """(σ_t, p(ln σ_t)): the density of ln σ per unit ln σ when DDPM draws t ~ U{0, …, T−1}.

    σ_t = √((1 − ᾱ_t)/ᾱ_t) increases with t, so the T equally likely levels spread over ln σ with density
    p(ln σ_t) = (1/T) / (d ln σ_t / dt), the derivative taken by central differences on the grid (one-sided at
    the ends). Both (T,) float64 on the CPU; the density integrates to ≈ 1 over ln σ.
    """
    sigmas = schedule_sigmas(schedule)  # (T,), increasing
    dlog_dt = torch.gradient(sigmas.log())[0]  # (T,): d ln σ_t / dt, unit spacing in t
    return sigmas, 1.0 / (len(sigmas) * dlog_dt)


def lognormal_log_sigma_density(dist: SigmaDistribution, sigma: torch.Tensor) -> torch.Tensor:
    """p(ln σ) of ln σ ~ N(P_mean, P_std²) (EDM Table 1) at ``sigma`` (any shape): a normal density in ln σ."""
    z = (torch.as_tensor(sigma, dtype=torch.float64).log() - dist.p_mean) / dist.p_std
    return torch.exp(-0.5 * z**2) / (dist.p_std * math.sqrt(2 * math.pi))


@torch.no_grad()
def loss_by_sigma(
    denoiser: Callable[[torch.Tensor, torch.Tensor], torch.Tensor],
    x0: torch.Tensor,
    sigmas: Sequence[float] | torch.Tensor,
    generator: torch.Generator | None = None,
    batch_size: int = 256,
) -> torch.Tensor:
    """E‖D(x_0 + σ n; σ) − x_0‖² per pixel at each σ: a (S,) float64 tensor on the CPU.

    ``x0``: (N, C, H, W) clean images on the denoiser's device. One noise n ~ N(0, I) like ``x0`` is drawn from
    ``generator`` and reused at every σ, so the differences along the curve come from σ alone. The images go
    through the denoiser ``batch_size`` at a time; an ``nn.Module`` denoiser is put in eval mode.
    """
    if isinstance(denoiser, torch.nn.Module):
        denoiser.eval()
    noise = randn(x0.shape, generator, x0.device).to(x0.dtype)  # (N, C, H, W)
    errors = []
    for sigma in [float(s) for s in sigmas]:
        total = 0.0
        for start in range(0, len(x0), batch_size):
            x0_b, n_b = x0[start : start + batch_size], noise[start : start + batch_size]
            sigma_b = torch.full((len(x0_b),), sigma, dtype=x0.dtype, device=x0.device)  # (b,)
            x0_pred = denoiser(x0_b + sigma * n_b, sigma_b)
            total += float(((x0_pred.double() - x0_b.double()) ** 2).sum())
        errors.append(total / x0.numel())
    return torch.tensor(errors, dtype=torch.float64)


@dataclass(frozen=True)
class GaussianToy:
    """Data x_0 ~ N(μ, s² I): the one case where the σ view can be solved exactly.

    x = x_0 + σ n is N(μ, (s² + σ²) I), so the exact denoiser (the posterior mean E[x_0 | x]) is
    D(x; σ) = μ + s²/(s² + σ²) (x − μ), its error is s²σ²/(s² + σ²) per dimension, and the probability-flow ODE
    dx/dσ = (x − D)/σ = σ/(s² + σ²) (x − μ) has the solution
    x(σ_b) = μ + (x(σ_a) − μ) √((s² + σ_b²)/(s² + σ_a²)): every point is rescaled about μ, the distribution
    N(μ, (s² + σ_a²) I) going to N(μ, (s² + σ_b²) I). ``mean`` and ``std`` are per-dimension constants.
    """

    mean: float = 0.0
    std: float = 0.5

    def __post_init__(self):
        if not self.std > 0:
            raise ValueError(f"std must be positive, got {self.std}")

    def sample(self, shape, generator: torch.Generator | None = None, dtype=torch.float64) -> torch.Tensor:
        """x_0 = μ + s z, z ~ N(0, I) of ``shape`` (B, …)."""
        return self.mean + self.std * randn(shape, generator).to(dtype)

    def denoiser(self, x: torch.Tensor, sigma: torch.Tensor) -> torch.Tensor:
        """D(x; σ) = μ + s²/(s² + σ²)(x − μ); x (B, …), sigma (B,) -> like x."""
        sigma = torch.as_tensor(sigma, dtype=x.dtype, device=x.device)
        sigma = sigma.expand(x.shape[0]).reshape(-1, *([1] * (x.ndim - 1)))  # (B,) -> (B, 1, …)
        s2 = self.std**2
        return self.mean + s2 / (s2 + sigma**2) * (x - self.mean)

    def mmse(self, sigma) -> torch.Tensor:
        """E‖D(x; σ) − x_0‖² per dimension of the exact denoiser: s²σ²/(s² + σ²), shaped like ``sigma``."""
        sigma = torch.as_tensor(sigma, dtype=torch.float64)
        return self.std**2 * sigma**2 / (self.std**2 + sigma**2)

    def flow(self, x: torch.Tensor, sigma_from: float, sigma_to: float) -> torch.Tensor:
        """The exact solution of the probability-flow ODE from σ_a = ``sigma_from`` to σ_b = ``sigma_to``."""
        s2 = self.std**2
        return self.mean + (x - self.mean) * math.sqrt((s2 + sigma_to**2) / (s2 + sigma_from**2))
