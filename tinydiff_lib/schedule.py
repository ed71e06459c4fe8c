"""β schedules and the :class:`NoiseSchedule` that precomputes every quantity DDPM needs.

Notation (Ho et al. 2020): α_t = 1 − β_t, ᾱ_t = ∏_{s≤t} α_s. Our index t runs over 0 … T−1
(paper t = ours + 1), so ᾱ_prev at t = 0 is 1 (the clean image).
"""

from __future__ import annotations

import copy
import math

import torch
from torch import nn

__all__ = ["linear_betas", "cosine_betas", "sigmoid_betas", "make_betas", "NoiseSchedule", "SCHEDULES"]


def _check_steps(num_steps: int) -> None:
    if not isinstance(num_steps, int) or isinstance(num_steps, bool) or num_steps < 1:
        raise ValueError(f"num_steps must be a positive integer, got {num_steps!r}")


def linear_betas(num_steps: int, beta_start: float = 1e-4, beta_end: float = 0.02) -> torch.Tensor:
    """β_t evenly spaced from ``beta_start`` to ``beta_end`` (Ho et al. 2020, §4: 1e-4 … 0.02 for T = 1000)."""
    _check_steps(num_steps)
    if not (0 < beta_start <= beta_end < 1):
        raise ValueError(f"need 0 < beta_start <= beta_end < 1, got {beta_start}, {beta_end}")
    return torch.linspace(beta_start, beta_end, num_steps, dtype=torch.float64)


def cosine_betas(num_steps: int, s: float = 0.008, max_beta: float = 0.999) -> torch.Tensor:
    """Nichol & Dhariwal 2021, Eq. 17: ᾱ(t) = f(t)/f(0), f(t) = cos²(((t/T + s)/(1 + s))·π/2); β clipped at 0.999."""
    _check_steps(num_steps)
    if s <= 0:
        raise ValueError(f"offset s must be positive, got {s}")
    steps = torch.arange(num_steps + 1, dtype=torch.float64) / num_steps
    f = torch.cos((steps + s) / (1 + s) * math.pi / 2) ** 2
    alpha_bar = f / f[0]
    betas = 1 - alpha_bar[1:] / alpha_bar[:-1]
    return betas.clamp(min=1e-8, max=max_beta)


def sigmoid_betas(
    num_steps: int, beta_start: float = 1e-4, beta_end: float = 0.02, sharpness: float = 6.0
) -> torch.Tensor:
    """β_t follows a sigmoid from ``beta_start`` to ``beta_end`` (slow start, fast middle, slow end)."""
    _check_steps(num_steps)
    if not (0 < beta_start <= beta_end < 1):
        raise ValueError(f"need 0 < beta_start <= beta_end < 1, got {beta_start}, {beta_end}")
    x = torch.linspace(-sharpness, sharpness, num_steps, dtype=torch.float64)
    return beta_start + (beta_end - beta_start) * torch.sigmoid(x)


SCHEDULES = {"linear": linear_betas, "cosine": cosine_betas, "sigmoid": sigmoid_betas}


def make_betas(name: str, num_steps: int) -> torch.Tensor:
    """β_t for a schedule named ``linear``, ``cosine`` or ``sigmoid``."""
    if name not in SCHEDULES:
        raise ValueError(f"unknown schedule {name!r}; choose one of {', '.join(SCHEDULES)}")
    return SCHEDULES[name](num_steps)


class NoiseSchedule(nn.Module):
    """Every tensor derived from β, computed once (in float64, stored as float32).

    Buffers are non-persistent: they follow ``.to(device)`` but never enter a ``state_dict``; the schedule
    is rebuilt from its name and T.

    ==========================  ====================================================
    ``betas``                   β_t
    ``alphas``                  α_t = 1 − β_t
    ``alpha_bar``               ᾱ_t = ∏_{s≤t} α_s
    ``alpha_bar_prev``          ᾱ_{t−1} (1 at t = 0)
    ``sqrt_alpha_bar``          √ᾱ_t          (Ho et al. Eq. 4, mean of q(x_t | x_0))
    ``sqrt_one_minus_alpha_bar``√(1 − ᾱ_t)    (Eq. 4, std of q(x_t | x_0))
    ``posterior_variance``      β̃_t = β_t (1 − ᾱ_{t−1}) / (1 − ᾱ_t)          (Eq. 7)
    ``posterior_log_variance``  log β̃_t, with β̃_0 replaced by β̃_1 (β̃_0 = 0)
    ``posterior_coef_x0``       √ᾱ_{t−1} β_t / (1 − ᾱ_t)                     (Eq. 7, μ̃ weight of x_0)
    ``posterior_coef_xt``       √α_t (1 − ᾱ_{t−1}) / (1 − ᾱ_t)                (Eq. 7, μ̃ weight of x_t)
    ==========================  ====================================================
    """

    def __init__(self, betas: torch.Tensor | None = None, *, name: str = "linear", num_steps: int = 1000):
        super().__init__()
        if betas is None:
            betas = make_betas(name, num_steps)
        else:
            name = "custom"
        betas = torch.as_tensor(betas, dtype=torch.float64)
        if betas.ndim != 1 or len(betas) < 1:
            raise ValueError("betas must be a non-empty 1-D tensor")
        if not torch.all((betas > 0) & (betas < 1)):
            raise ValueError("every beta must lie strictly between 0 and 1")
        self.name = name
        self.num_steps = len(betas)
        alphas = 1 - betas
        alpha_bar = torch.cumprod(alphas, 0)
        alpha_bar_prev = torch.cat([torch.ones(1, dtype=torch.float64), alpha_bar[:-1]])
        post_var = betas * (1 - alpha_bar_prev) / (1 - alpha_bar)
        post_logvar = torch.log(torch.cat([post_var[1:2], post_var[1:]])) if len(betas) > 1 else torch.log(betas)
        derived = {
            "betas": betas,
            "alphas": alphas,
            "alpha_bar": alpha_bar,
            "alpha_bar_prev": alpha_bar_prev,
            "sqrt_alpha_bar": alpha_bar.sqrt(),
            "sqrt_one_minus_alpha_bar": (1 - alpha_bar).sqrt(),
            "posterior_variance": post_var,
            "posterior_log_variance": post_logvar,
            "posterior_coef_x0": alpha_bar_prev.sqrt() * betas / (1 - alpha_bar),
            "posterior_coef_xt": alphas.sqrt() * (1 - alpha_bar_prev) / (1 - alpha_bar),
        }
        for key, value in derived.items():
            self.register_buffer(key, value.float(), persistent=False)

    def on(self, device: torch.device | str) -> NoiseSchedule:
        """This schedule on ``device``: itself when it is already there, else a copy (the original stays put)."""
        device = torch.device(device)
        if self.betas.device == device or (device.index is None and self.betas.device.type == device.type):
            return self
        return copy.deepcopy(self).to(device)

    def __len__(self) -> int:
        return self.num_steps

    def extra_repr(self) -> str:
        return f"name={self.name!r}, num_steps={self.num_steps}"

    def gather(self, values: torch.Tensor, t: torch.Tensor, ndim: int = 4) -> torch.Tensor:
        """``values[t]`` reshaped to (B, 1, …, 1) so it broadcasts against a batch with ``ndim`` dims.

        The result lives on the device of ``t`` (the batch's device), wherever the schedule lives.
        """
        t = torch.as_tensor(t)
        idx = self.check_t(t).to(values.device)
        return values[idx].to(t.device).reshape(-1, *([1] * (ndim - 1)))  # (B,) -> (B, 1, 1, 1)

    def check_t(self, t: torch.Tensor) -> torch.Tensor:
        """Validate timesteps: an integer tensor with values in [0, T); returned as int64 on its own device.

        The range is checked on the CPU; on a GPU it is left to the indexing kernel's own bounds check, since
        reading the minimum back would stall every training step.
        """
        t = torch.as_tensor(t)
        if t.dtype.is_floating_point:
            raise ValueError("t must be an integer tensor (int64), not floating point")
        if t.device.type == "cpu" and t.numel() and (int(t.min()) < 0 or int(t.max()) >= self.num_steps):
            raise ValueError(f"t must lie in [0, {self.num_steps}), got values {int(t.min())}..{int(t.max())}")
        return t.long()

    def snr(self, t: torch.Tensor | None = None) -> torch.Tensor:
        """Signal-to-noise ratio ᾱ_t / (1 − ᾱ_t) (Kingma et al. 2021); all t when ``t`` is None."""
        snr = self.alpha_bar / (1 - self.alpha_bar)
        return snr if t is None else self.gather(snr, t, ndim=1)
