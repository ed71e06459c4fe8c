"""TinyConv: the single-scale baseline (three 3×3 convs at 28×28, no down-sampling)."""

from __future__ import annotations

import torch
from torch import nn

from .blocks import TimeMLP

__all__ = ["TinyConv"]


class TinyConv(nn.Module):
    """ε_θ(x_t, t) from local 3×3 context only; t enters as a per-channel bias after each hidden conv.

    Three 3×3 convs give every output pixel a 7×7 view of the input; the book measures it.
    """

    def __init__(self, in_channels: int = 1, channels: int = 128, time_dim: int = 32, groups: int = 8):
        super().__init__()
        self.time_mlp = TimeMLP(time_dim, channels)
        self.conv1 = nn.Conv2d(in_channels, channels, 3, padding=1)
        self.norm1 = nn.GroupNorm(groups, channels)
        self.conv2 = nn.Conv2d(channels, channels, 3, padding=1)
        self.norm2 = nn.GroupNorm(groups, channels)
        self.conv3 = nn.Conv2d(channels, in_channels, 3, padding=1)
        self.act = nn.SiLU()

    def forward(self, x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        temb = self.time_mlp(t)[:, :, None, None]  # (B, C) -> (B, C, 1, 1)
        h = self.act(self.norm1(self.conv1(x) + temb))  # (B, C, 28, 28)
        h = self.act(self.norm2(self.conv2(h) + temb))  # (B, C, 28, 28)
        return self.conv3(h)  # (B, 1, 28, 28)
