"""Reverse-process samplers: pure one-step updates plus short, visible loops.

* DDPM ancestral sampling (Ho et al. 2020, Algorithm 2) with σ_t² = β_t, σ_t² = β̃_t, or σ_t = 0.
* DDIM (Song et al. 2021, Eq. 12) with any η and any number of steps.

The one-step functions are the bare maths (``clip_x0=False`` by default); the sampling loops are for images
in [-1, 1] and clip x̂_0 to that range by default (pass ``clip_x0=False`` for other data, e.g. 2-D toys).

DDIM timestep spacing: for K steps over T, τ_i = round(i · (T − 1) / (K − 1)) for i = K−1, …, 0, so the
loop visits T−1 first and 0 last (K = 1 visits T−1 only). The step from τ_i goes to τ_{i−1}, and the step
from τ_0 goes to "t = −1", where ᾱ = 1 (a clean image).

Devices: no function here moves an object it was given. When the schedule's buffers are not on the device of
the images, the steps and loops work with a private copy on that device; the caller's schedule stays put.
With ``return_trajectory=True`` the loops also return a :class:`Trajectory`, one time label per frame.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from tqdm.auto import tqdm

from .diffusion import predict_eps, predict_x0, q_posterior
from .schedule import NoiseSchedule

__all__ = ["ddpm_step", "ddim_step", "ddpm_sample", "ddim_sample", "ddim_timesteps", "Trajectory", "randn", "VARIANCES"]

VARIANCES = ("beta", "beta_tilde", "zero")


def randn(shape, generator: torch.Generator | None = None, device=None) -> torch.Tensor:
    """Standard normal noise drawn on the generator's device, then moved to ``device`` (reproducible on CPU)."""
    gen_device = generator.device if generator is not None else device
    return torch.randn(shape, generator=generator, device=gen_device).to(device)


@dataclass(frozen=True)
class Trajectory:
    """The frames of one sampling run, frame i at time label ``t[i]`` (S frames for a sampler of S − 1 steps).

    ``t``: the S labels, the timesteps visited (T−1 first) then −1, the clean image (ᾱ = 1);
    ``xt``: (S, B, C, H, W) on the CPU, ``xt[i]`` the image at ``t[i]`` (``xt[0]`` is x_T, ``xt[-1]`` the sample);
    ``x0_pred``: (S, B, C, H, W), ``x0_pred[i]`` the x̂_0 predicted from ``xt[i]`` at ``t[i]`` (Eq. 15);
    at the last frame nothing is left to predict, so ``x0_pred[-1]`` is the sample itself.
    """

    t: tuple[int, ...]
    xt: torch.Tensor
    x0_pred: torch.Tensor

    def __post_init__(self):
        if not (len(self.t) == len(self.xt) == len(self.x0_pred)):
            sizes = (len(self.t), len(self.xt), len(self.x0_pred))
            raise ValueError(f"need one label per frame; got (labels, x_t, x0_pred) = {sizes}")

    def __len__(self) -> int:
        return len(self.t)

    def labels(self) -> list[str]:
        """One caption per frame: ``"t = 999"``, …, ``"clean"`` for the last one (t = −1)."""
        return [f"t = {t}" if t >= 0 else "clean" for t in self.t]


def _trajectory(taus: list[int], xs: list[torch.Tensor], x0s: list[torch.Tensor]) -> Trajectory:
    """xs: x_t before each step then the sample; x0s: x̂_0 of each step then the sample (S = len(taus) + 1)."""
    return Trajectory(tuple(taus) + (-1,), torch.stack(xs), torch.stack(x0s + [xs[-1]]))


def _x0_from_eps(schedule, xt, t, eps_pred, clip_x0):
    x0_pred = predict_x0(schedule, xt, t, eps_pred)
    if clip_x0:
        x0_pred = x0_pred.clamp(-1, 1)
        eps_pred = predict_eps(schedule, xt, t, x0_pred)  # keep ε consistent with the clipped x̂_0
    return x0_pred, eps_pred


def ddpm_step(
    schedule: NoiseSchedule,
    xt: torch.Tensor,
    t: int,
    eps_pred: torch.Tensor,
    noise: torch.Tensor | None = None,
    variance: str = "beta",
    clip_x0: bool = False,
) -> tuple[torch.Tensor, torch.Tensor]:
    """One ancestral step x_t → x_{t−1} (Ho et al. Algorithm 2, line 4).

    x_{t−1} = μ̃_t(x_t, x̂_0) + σ_t z, with x̂_0 from Eq. 15 and μ̃ from Eq. 7 (equal to
    (x_t − β_t/√(1−ᾱ_t) ε_θ)/√α_t when x̂_0 is not clipped). σ_t² is β_t (``"beta"``), β̃_t
    (``"beta_tilde"``) or 0 (``"zero"``); no noise is added at t = 0. Returns (x_{t−1}, x̂_0).
    """
    if variance not in VARIANCES:
        raise ValueError(f"variance must be one of {VARIANCES}, got {variance!r}")
    schedule = schedule.on(xt.device)
    tt = torch.full((xt.shape[0],), t, device=xt.device, dtype=torch.long)
    x0_pred, _ = _x0_from_eps(schedule, xt, tt, eps_pred, clip_x0)
    mean, _ = q_posterior(schedule, x0_pred, xt, tt)
    if t == 0 or variance == "zero":
        return mean, x0_pred
    var = schedule.betas[t] if variance == "beta" else schedule.posterior_variance[t]
    if noise is None:
        noise = torch.randn_like(xt)
    return mean + var.sqrt() * noise, x0_pred


def ddim_step(
    schedule: NoiseSchedule,
    xt: torch.Tensor,
    t: int,
    t_prev: int,
    eps_pred: torch.Tensor,
    eta: float = 0.0,
    noise: torch.Tensor | None = None,
    clip_x0: bool = False,
) -> tuple[torch.Tensor, torch.Tensor]:
    """One DDIM step x_t → x_{t_prev} (Song et al. 2021, Eqs. 12 and 16); ``t_prev = -1`` means ᾱ = 1.

    x_prev = √ᾱ_prev x̂_0 + √(1 − ᾱ_prev − σ²) ε_θ + σ z,
    σ = η √((1 − ᾱ_prev)/(1 − ᾱ_t)) √(1 − ᾱ_t/ᾱ_prev). η = 0 is deterministic; η = 1 with t_prev = t − 1
    is DDPM with σ² = β̃_t. Returns (x_prev, x̂_0).
    """
    if eta < 0:
        raise ValueError(f"eta must be >= 0, got {eta}")
    schedule = schedule.on(xt.device)
    tt = torch.full((xt.shape[0],), t, device=xt.device, dtype=torch.long)
    x0_pred, eps_pred = _x0_from_eps(schedule, xt, tt, eps_pred, clip_x0)
    a_t = schedule.alpha_bar[t]
    a_prev = schedule.alpha_bar[t_prev] if t_prev >= 0 else torch.ones_like(a_t)
    sigma = eta * ((1 - a_prev) / (1 - a_t) * (1 - a_t / a_prev)).clamp(min=0).sqrt()
    direction = (1 - a_prev - sigma**2).clamp(min=0).sqrt() * eps_pred
    x_prev = a_prev.sqrt() * x0_pred + direction
    if eta > 0 and t_prev >= 0:
        if noise is None:
            noise = torch.randn_like(xt)
        x_prev = x_prev + sigma * noise
    return x_prev, x0_pred


def ddim_timesteps(num_train_steps: int, num_steps: int) -> list[int]:
    """The K timesteps DDIM visits, in the order visited: T−1 first, 0 last (see the module docstring)."""
    if not isinstance(num_steps, int) or not 1 <= num_steps <= num_train_steps:
        raise ValueError(f"num_steps must be an integer in [1, {num_train_steps}], got {num_steps!r}")
    if num_steps == 1:
        return [num_train_steps - 1]
    taus = torch.linspace(0, num_train_steps - 1, num_steps, dtype=torch.float64).round().long()
    return taus.flip(0).tolist()


def _eps(model, xt, t):
    tt = torch.full((xt.shape[0],), t, device=xt.device, dtype=torch.long)
    return model(xt, tt).float()


@torch.no_grad()
def ddpm_sample(
    model: torch.nn.Module,
    schedule: NoiseSchedule,
    shape: tuple[int, ...],
    generator: torch.Generator | None = None,
    variance: str = "beta",
    clip_x0: bool = True,
    x_T: torch.Tensor | None = None,
    return_trajectory: bool = False,
    progress: bool = False,
):
    """DDPM ancestral sampling over all T steps (Ho et al. Algorithm 2).

    Starts from x_T ~ N(0, I) (or ``x_T``) of ``shape`` (B, C, H, W); noise comes from ``generator``.
    Returns x_0 on the model's device, or ``(x_0, trajectory)``: a :class:`Trajectory` of S = T + 1 frames,
    labelled t = T−1, …, 0, −1. The caller's ``schedule`` is not moved (a private copy is used if needed).
    """
    model.eval()
    device = next(model.parameters()).device
    schedule = schedule.on(device)
    taus = list(range(schedule.num_steps - 1, -1, -1))
    x = randn(shape, generator, device) if x_T is None else x_T.to(device)
    xs, x0s = [x.cpu()], []
    for t in tqdm(taus, disable=not progress, desc="DDPM", leave=False):
        noise = randn(shape, generator, device) if t > 0 and variance != "zero" else None
        x, x0_pred = ddpm_step(schedule, x, t, _eps(model, x, t), noise, variance, clip_x0)
        if return_trajectory:
            x0s.append(x0_pred.cpu())  # predicted from xs[-1]
            xs.append(x.cpu())
    return (x, _trajectory(taus, xs, x0s)) if return_trajectory else x


@torch.no_grad()
def ddim_sample(
    model: torch.nn.Module,
    schedule: NoiseSchedule,
    shape: tuple[int, ...],
    num_steps: int = 50,
    eta: float = 0.0,
    generator: torch.Generator | None = None,
    clip_x0: bool = True,
    x_T: torch.Tensor | None = None,
    return_trajectory: bool = False,
    progress: bool = False,
):
    """DDIM sampling with ``num_steps`` steps on the spacing of :func:`ddim_timesteps` (Song et al. 2021).

    Same return convention as :func:`ddpm_sample`: the trajectory has S = num_steps + 1 frames, labelled
    with the visited timesteps and then −1.
    """
    model.eval()
    device = next(model.parameters()).device
    schedule = schedule.on(device)
    taus = ddim_timesteps(schedule.num_steps, num_steps)
    x = randn(shape, generator, device) if x_T is None else x_T.to(device)
    xs, x0s = [x.cpu()], []
    for i, t in enumerate(tqdm(taus, disable=not progress, desc="DDIM", leave=False)):
        t_prev = taus[i + 1] if i + 1 < len(taus) else -1
        noise = randn(shape, generator, device) if eta > 0 and t_prev >= 0 else None
        x, x0_pred = ddim_step(schedule, x, t, t_prev, _eps(model, x, t), eta, noise, clip_x0)
        if return_trajectory:
            x0s.append(x0_pred.cpu())  # predicted from xs[-1]
            xs.append(x.cpu())
    return (x, _trajectory(taus, xs, x0s)) if return_trajectory else x
