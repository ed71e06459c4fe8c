"""Training objectives: what one step draws and minimises, and which sampler suits the result.

* ``"ddpm"``: L_simple = E ‖ε − ε_θ(x_t, t)‖², t ~ U{0, …, T−1} (Ho et al. 2020, Eq. 14, Algorithm 1).
* ``"edm"``: E λ(σ) ‖D_θ(x_0 + σ n; σ) − x_0‖² with ln σ ~ N(P_mean, P_std²) and the preconditioned
  denoiser of :class:`~tinydiff_lib.edm.EDMPrecond` (Karras et al. 2022, Eq. 8 and Table 1).

A conditional run passes each image's condition c (a label, or prompt tokens, already dropped to the null
condition with probability p by :mod:`tinydiff_lib.conditioning`) as ``loss(x0, generator, cond)``; the
network then predicts ε_θ(x_t, t, c) or F_θ(c_in x; c_noise, c), and the objectives are otherwise unchanged.

Both draw their noise for the whole global batch of B images from one generator and keep this process's
rows, so the same (seed, step) gives the same t or σ and the same noise on every device and every number
of processes.
"""

from __future__ import annotations

from functools import partial

import torch

from .diffusion import diffusion_loss, sample_timesteps
from .edm import MNIST_SIGMA_DATA, EDMPrecond, SigmaDistribution, edm_loss

__all__ = ["OBJECTIVES", "make_loss", "recommended_sampling"]

OBJECTIVES = ("ddpm", "edm")

#: the sampler and step count a checkpoint recommends, by objective (about 20–50 network passes); for EDM the
#: recipe study's best sampler at about 20 passes (results/recipes.json: DPM-Solver++(2M), 20 steps)
RECOMMENDED = {"ddpm": {"sampler": "ddim", "steps": 50}, "edm": {"sampler": "dpmpp_2m", "steps": 20}}


def recommended_sampling(config: dict) -> dict:
    """``{"sampler", "steps"}`` that ``sample`` / ``evaluate`` use when no ``--sampler`` is given."""
    return dict(RECOMMENDED[config.get("objective", "ddpm")])


def make_loss(config, net: torch.nn.Module, schedule, rows: slice):
    """``loss(x0, generator, cond=None) -> scalar`` for ``config.objective``; ``x0`` (and ``cond``) hold this
    process's ``rows``. t (or σ) and the noise are drawn the same way with or without a condition."""
    batch = config.batch_size
    if config.objective == "ddpm":

        def ddpm(x0: torch.Tensor, generator: torch.Generator, cond: torch.Tensor | None = None) -> torch.Tensor:
            t = sample_timesteps(schedule, batch, device=x0.device, generator=generator)[rows]  # (B_local,)
            eps = torch.randn((batch, *x0.shape[1:]), generator=generator, device=x0.device)[rows]
            eps_model = net if cond is None else partial(net, cond=cond)  # ε_θ(x_t, t, c)
            return diffusion_loss(eps_model, schedule, x0, t=t, eps=eps)

        return ddpm
    denoiser = EDMPrecond(net, MNIST_SIGMA_DATA)
    sigmas = SigmaDistribution("train", config.sigma_p_mean, config.sigma_p_std)

    def edm(x0: torch.Tensor, generator: torch.Generator, cond: torch.Tensor | None = None) -> torch.Tensor:
        sigma = sigmas.sample(batch, generator=generator, device=x0.device)[rows]  # (B_local,)
        noise = torch.randn((batch, *x0.shape[1:]), generator=generator, device=x0.device)[rows]
        return edm_loss(denoiser, x0, sigma, noise, sigma_data=MNIST_SIGMA_DATA, cond=cond)

    return edm
