"""2-D toy data for the reverse-process notebook: two interleaved half moons, standardised."""

from __future__ import annotations

import math

import torch

__all__ = ["two_moons"]


def two_moons(n: int, noise: float = 0.05, generator: torch.Generator | None = None) -> torch.Tensor:
    """``n`` points (n, 2) on two interleaved half circles plus Gaussian ``noise``, scaled to unit std.

    The upper moon comes first, then the lower one: shuffle (or take a random subset) before slicing.
    """
    if n < 2:
        raise ValueError(f"n must be >= 2, got {n}")
    n_top = n // 2
    angle = torch.rand(n, generator=generator) * math.pi
    top = torch.stack([torch.cos(angle[:n_top]), torch.sin(angle[:n_top])], 1)
    bottom = torch.stack([1 - torch.cos(angle[n_top:]), 0.5 - torch.sin(angle[n_top:])], 1)
    x = torch.cat([top, bottom]) + noise * torch.randn(n, 2, generator=generator)
    return (x - x.mean(0)) / x.std(0)
