"""MLPDenoiser: ε_θ(x_t, t) for 2-D toy data (two moons), the same (x, t) contract on (B, 2) inputs."""

from __future__ import annotations

import torch
from torch import nn

from .blocks import TimeMLP

__all__ = ["MLPDenoiser"]


class MLPDenoiser(nn.Module):
    """Concatenate x (B, D) with an embedding of t, then a SiLU MLP back to (B, D)."""

    def __init__(self, dim: int = 2, hidden: int = 128, time_dim: int = 32, depth: int = 3):
        super().__init__()
        self.time_mlp = TimeMLP(time_dim, hidden)
        layers: list[nn.Module] = [nn.Linear(dim + hidden, hidden), nn.SiLU()]
        for _ in range(depth - 1):
            layers += [nn.Linear(hidden, hidden), nn.SiLU()]
        layers.append(nn.Linear(hidden, dim))
        self.net = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        h = torch.cat([x, self.time_mlp(t)], dim=1)  # (B, D + hidden)
        return self.net(h)  # (B, D)
