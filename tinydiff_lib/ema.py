"""Exponential moving average of the weights, θ_EMA ← d θ_EMA + (1 − d) θ, with a warm-up of d.

Built on ``torch.optim.swa_utils.AveragedModel`` with a foreach ``multi_avg_fn``: one fused update per
group of tensors of the same device and dtype instead of one small kernel (and, on a GPU, one host
round trip) per tensor. The decay warms up as d = min(decay, (1 + n)/(10 + n)) after n updates, computed
on the device, so short runs are not dominated by the random initial weights. Floating-point buffers
(BatchNorm's running statistics) are averaged too; integer buffers (BatchNorm's batch counter) are not
averages of anything and are copied as they are. (AveragedModel keeps its update count n on the CPU and
hands it to the update as a one-element copy per device and dtype group: one tiny copy per step remains.)
"""

from __future__ import annotations

import torch
from torch.optim.swa_utils import AveragedModel

__all__ = ["make_ema", "ema_multi_avg_fn", "make_extra_emas", "load_extra_emas"]


def ema_multi_avg_fn(decay: float):
    """The ``multi_avg_fn`` of :func:`make_ema`: lists of averaged and current tensors, n on the device."""

    @torch.no_grad()
    def update(averaged: list[torch.Tensor], current: list[torch.Tensor], num_averaged: torch.Tensor) -> None:
        if not averaged[0].is_floating_point():  # a group of integer buffers: copy, do not average
            torch._foreach_copy_(averaged, current)
            return
        n = num_averaged.to(averaged[0].dtype)
        d = torch.clamp((1 + n) / (10 + n), max=decay)
        torch._foreach_lerp_(averaged, current, 1 - d)  # avg + (1 − d)(θ − avg) = d·avg + (1 − d)·θ

    return update


def make_ema(model: torch.nn.Module, decay: float) -> AveragedModel:
    """An :class:`AveragedModel` of ``model`` (its buffers included) with the warm-up EMA above."""
    return AveragedModel(model, multi_avg_fn=ema_multi_avg_fn(decay), use_buffers=True)


def make_extra_emas(model: torch.nn.Module, decays) -> dict[float, AveragedModel]:
    """One more :func:`make_ema` per decay (the EMA-length study keeps several averages of one run)."""
    return {float(d): make_ema(model, d) for d in decays}


def load_extra_emas(emas: dict[float, AveragedModel], states: dict[str, dict]) -> None:
    """Restore the averages of :func:`make_extra_emas` from a run file's ``{str(decay): state_dict}``."""
    for decay, averaged in emas.items():
        averaged.load_state_dict(states[str(decay)])
