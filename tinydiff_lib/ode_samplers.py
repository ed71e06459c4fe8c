"""Samplers on the noise level σ: pure one-step updates plus short, visible loops.

Every sampler takes a denoiser ``D(x, sigma) -> x̂_0`` (x (B, …), sigma (B,)), e.g. :class:`~tinydiff_lib.edm.EDMPrecond`
or :class:`~tinydiff_lib.edm.DDPMDenoiser`, and a descending grid σ_0 > σ_1 > … > σ_N ≥ 0
(:func:`~tinydiff_lib.edm.karras_sigmas`, :func:`~tinydiff_lib.edm.ddim_sigmas`; a final 0 lands on a clean image).
They integrate the probability-flow ODE of x = x_0 + σ n (Karras et al. 2022, Eq. 4 with σ(t) = t, s(t) = 1)

    dx/dσ = (x − D(x; σ)) / σ:

* :func:`euler_sample`: one Euler step per interval, the same update as DDIM with η = 0 (Song et al. 2021);
* :func:`heun_sample`: Heun's second-order method (EDM Algorithm 1), no correction on the last step to σ = 0;
* :func:`stochastic_sample`: EDM Algorithm 2, Heun plus "churn" (noise added to climb from σ_i to σ̂_i first);
* :func:`dpmpp_2m_sample`: DPM-Solver++(2M) (Lu et al. 2022, Algorithm 2), multistep second order in λ = −ln σ.

Start from x_T = σ_0 z, z ~ N(0, I) (:func:`sample_x_T`); the loops return x at σ_N, shaped like x_T. A DDPM
checkpoint's x_T ~ N(0, I) is x_T √(1 + σ_0²) in this view (x = x_t / √ᾱ_t). ``clip_denoised=True`` clamps every
D(x; σ) to [-1, 1], the σ-view equivalent of ``ddim_sample(clip_x0=True)`` for images; the default is the bare
ODE (whose order of accuracy the tests check). Each loop calls ``denoiser.eval()`` when it is an ``nn.Module``.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import torch
from torch import nn
from tqdm.auto import tqdm

from .samplers import randn

__all__ = [
    "ode_derivative", "euler_step", "heun_step", "churn_step", "dpmpp_2m_step", "sample_x_T", "euler_sample",
    "heun_sample", "stochastic_sample", "dpmpp_2m_sample", "network_passes", "ODE_SAMPLERS",
]  # fmt: skip

Denoiser = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]

#: sampler names of :func:`network_passes`
ODE_SAMPLERS = ("euler", "heun", "stochastic", "dpmpp_2m")


def ode_derivative(x: torch.Tensor, sigma: float, x0_pred: torch.Tensor) -> torch.Tensor:
    """dx/dσ = (x − D(x; σ)) / σ (EDM Eq. 4 with σ(t) = t, s(t) = 1; Algorithm 1, line 4). Shaped like x."""
    return (x - x0_pred) / sigma


def euler_step(x: torch.Tensor, sigma: float, sigma_next: float, x0_pred: torch.Tensor) -> torch.Tensor:
    """x_{i+1} = x_i + (σ_{i+1} − σ_i) dx/dσ = x̂_0 + (σ_{i+1}/σ_i)(x_i − x̂_0) (EDM Algorithm 1, line 5).

    Written as x̂_0 + σ_{i+1} ε̂ with ε̂ = (x_i − x̂_0)/σ_i, it is DDIM's η = 0 update (Song et al. Eq. 12) in the σ view.
    """
    return x + (sigma_next - sigma) * ode_derivative(x, sigma, x0_pred)


def _denoise(denoiser: Denoiser, x: torch.Tensor, sigma: float, clip_denoised: bool) -> torch.Tensor:
    sigma_batch = torch.full((x.shape[0],), sigma, dtype=x.dtype, device=x.device)  # (B,)
    x0_pred = denoiser(x, sigma_batch).to(x.dtype)
    return x0_pred.clamp(-1, 1) if clip_denoised else x0_pred


def heun_step(
    denoiser: Denoiser,
    x: torch.Tensor,
    sigma: float,
    sigma_next: float,
    x0_pred: torch.Tensor,
    clip_denoised: bool = False,
) -> torch.Tensor:
    """One Heun step σ_i → σ_{i+1} (EDM Algorithm 1, lines 4–8), given x̂_0 = D(x_i; σ_i).

    Euler to x̃ = x_i + (σ_{i+1} − σ_i) d_i, then, unless σ_{i+1} = 0 (where d would divide by 0), the trapezoid
    x_{i+1} = x_i + (σ_{i+1} − σ_i)(d_i + d'_i)/2 with d'_i = (x̃ − D(x̃; σ_{i+1}))/σ_{i+1}: one more network pass.
    """
    x_next = euler_step(x, sigma, sigma_next, x0_pred)
    if sigma_next == 0:
        return x_next
    d = ode_derivative(x, sigma, x0_pred)
    d_next = ode_derivative(x_next, sigma_next, _denoise(denoiser, x_next, sigma_next, clip_denoised))
    return x + (sigma_next - sigma) * (d + d_next) / 2


def churn_step(x: torch.Tensor, sigma: float, gamma: float, noise: torch.Tensor, s_noise: float = 1.0):
    """Raise the noise level σ_i → σ̂_i = (1 + γ) σ_i by adding fresh noise (EDM Algorithm 2, lines 5–6).

    x̂ = x + √(σ̂² − σ²) S_noise ε, ε = ``noise`` (like x). Returns (x̂, σ̂); γ = 0 returns (x, σ).
    """
    sigma_hat = sigma * (1 + gamma)
    if gamma == 0:
        return x, sigma
    return x + math.sqrt(sigma_hat**2 - sigma**2) * s_noise * noise, sigma_hat


def dpmpp_2m_step(
    x: torch.Tensor,
    sigma: float,
    sigma_next: float,
    x0_pred: torch.Tensor,
    x0_pred_prev: torch.Tensor | None = None,
    sigma_prev: float | None = None,
) -> torch.Tensor:
    """One DPM-Solver++(2M) step σ_i → σ_{i+1} (Lu et al. 2022, Algorithm 2, with α = 1 in the σ view).

    With λ = −ln σ, h = λ_{i+1} − λ_i: x_{i+1} = (σ_{i+1}/σ_i) x_i − (e^{−h} − 1) D̃, where D̃ = x̂_0 on the first
    step (``x0_pred_prev`` None: first order, the Euler/DDIM step) and afterwards the extrapolation
    D̃ = (1 + 1/(2r)) x̂_0 − 1/(2r) x̂_0^prev, r = h_{i−1}/h_i, from the previous step's x̂_0 at ``sigma_prev``.
    Landing on σ_{i+1} = 0 (h = ∞) returns x̂_0: the solver's first-order last step.
    """
    if sigma_next == 0:
        return x0_pred
    h = math.log(sigma / sigma_next)
    if x0_pred_prev is None:
        d = x0_pred
    else:
        r = math.log(sigma_prev / sigma) / h
        d = (1 + 1 / (2 * r)) * x0_pred - (1 / (2 * r)) * x0_pred_prev
    return (sigma_next / sigma) * x - math.expm1(-h) * d


def sample_x_T(shape, sigma_max: float, generator: torch.Generator | None = None, device=None) -> torch.Tensor:
    """x_T = σ_max z, z ~ N(0, I) of ``shape`` (B, C, H, W), drawn on the generator's device, moved to ``device``."""
    return sigma_max * randn(shape, generator, device)


def _grid(sigmas: torch.Tensor | Sequence[float]) -> list[float]:
    """The σ grid as floats, checked: at least two levels, strictly descending, positive except a final 0."""
    grid = [float(s) for s in sigmas]
    if len(grid) < 2 or any(a <= b for a, b in zip(grid, grid[1:])) or grid[-1] < 0:
        raise ValueError(f"sigmas must be >= 2 strictly descending levels ending at >= 0, got {grid}")
    return grid


def _prepare(denoiser: Denoiser, sigmas) -> list[float]:
    if isinstance(denoiser, nn.Module):
        denoiser.eval()
    return _grid(sigmas)


@torch.no_grad()
def euler_sample(denoiser: Denoiser, x_T: torch.Tensor, sigmas, clip_denoised: bool = False, progress: bool = False):
    """Deterministic Euler over the grid ``sigmas`` (N + 1 levels, N network passes): DDIM η = 0 on σ."""
    grid = _prepare(denoiser, sigmas)
    x = x_T
    for sigma, sigma_next in tqdm(list(zip(grid, grid[1:])), disable=not progress, desc="Euler", leave=False):
        x = euler_step(x, sigma, sigma_next, _denoise(denoiser, x, sigma, clip_denoised))
    return x


@torch.no_grad()
def heun_sample(denoiser: Denoiser, x_T: torch.Tensor, sigmas, clip_denoised: bool = False, progress: bool = False):
    """Heun's method over ``sigmas`` (EDM Algorithm 1): 2N − 1 passes for a grid ending at 0, else 2N."""
    grid = _prepare(denoiser, sigmas)
    x = x_T
    for sigma, sigma_next in tqdm(list(zip(grid, grid[1:])), disable=not progress, desc="Heun", leave=False):
        x = heun_step(denoiser, x, sigma, sigma_next, _denoise(denoiser, x, sigma, clip_denoised), clip_denoised)
    return x


@torch.no_grad()
def stochastic_sample(
    denoiser: Denoiser,
    x_T: torch.Tensor,
    sigmas,
    generator: torch.Generator | None = None,
    s_churn: float = 0.0,
    s_tmin: float = 0.0,
    s_tmax: float = math.inf,
    s_noise: float = 1.0,
    clip_denoised: bool = False,
    progress: bool = False,
):
    """EDM's stochastic sampler (Algorithm 2): at each σ_i, churn then one Heun step from σ̂_i to σ_{i+1}.

    γ_i = min(S_churn / N, √2 − 1) when S_tmin ≤ σ_i ≤ S_tmax, else 0 (N = len(sigmas) − 1); ε is drawn from
    ``generator`` only on steps with γ_i > 0. ``s_churn = 0`` is :func:`heun_sample`. EDM's ImageNet-64 setting:
    S_churn = 40, S_tmin = 0.05, S_tmax = 50, S_noise = 1.003. Same number of passes as Heun.
    """
    grid = _prepare(denoiser, sigmas)
    num_steps = len(grid) - 1
    x = x_T
    for sigma, sigma_next in tqdm(list(zip(grid, grid[1:])), disable=not progress, desc="EDM", leave=False):
        gamma = min(s_churn / num_steps, math.sqrt(2) - 1) if s_tmin <= sigma <= s_tmax else 0.0
        noise = randn(x.shape, generator, x.device).to(x.dtype) if gamma > 0 else None
        x_hat, sigma_hat = churn_step(x, sigma, gamma, noise, s_noise)
        x0_pred = _denoise(denoiser, x_hat, sigma_hat, clip_denoised)
        x = heun_step(denoiser, x_hat, sigma_hat, sigma_next, x0_pred, clip_denoised)
    return x


@torch.no_grad()
def dpmpp_2m_sample(denoiser: Denoiser, x_T: torch.Tensor, sigmas, clip_denoised: bool = False, progress: bool = False):
    """DPM-Solver++(2M) over ``sigmas`` (Lu et al. 2022): one pass per step, each reusing the previous x̂_0."""
    grid = _prepare(denoiser, sigmas)
    x, x0_pred_prev = x_T, None
    for i in tqdm(range(len(grid) - 1), disable=not progress, desc="DPM++(2M)", leave=False):
        x0_pred = _denoise(denoiser, x, grid[i], clip_denoised)
        x = dpmpp_2m_step(x, grid[i], grid[i + 1], x0_pred, x0_pred_prev, grid[i - 1] if i > 0 else None)
        x0_pred_prev = x0_pred
    return x


def network_passes(sampler: str, num_steps: int, ends_at_zero: bool = True) -> int:
    """Network evaluations per image for ``num_steps`` steps (a grid of num_steps + 1 levels).

    Euler and DPM-Solver++(2M): N. Heun and the stochastic sampler: 2N − 1 when the last step lands on σ = 0
    (no correction there, EDM Algorithm 1), 2N otherwise.
    """
    if sampler not in ODE_SAMPLERS:
        raise ValueError(f"unknown sampler {sampler!r}; choose one of {', '.join(ODE_SAMPLERS)}")
    if not isinstance(num_steps, int) or num_steps < 1:
        raise ValueError(f"num_steps must be a positive integer, got {num_steps!r}")
    if sampler in ("euler", "dpmpp_2m"):
        return num_steps
    return 2 * num_steps - 1 if ends_at_zero else 2 * num_steps
