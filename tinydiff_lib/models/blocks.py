"""Building blocks shared by every denoiser: the time embedding first; later blocks build on it."""

from __future__ import annotations

import math

import torch
from torch import nn

__all__ = ["sinusoidal_embedding", "TimeMLP"]


def sinusoidal_embedding(t: torch.Tensor, dim: int, max_period: float = 10000.0) -> torch.Tensor:
    """Transformer-style embedding of integer timesteps (Vaswani et al. 2017, §3.5; Ho et al. 2020, App. B).

    emb[:, i] = sin(t · ω_i), emb[:, half + i] = cos(t · ω_i), ω_i = max_period^(−i/half), i < half = dim // 2.
    ``t``: (B,) -> (B, dim) float32.
    """
    if dim < 2 or dim % 2:
        raise ValueError(f"embedding dim must be an even number >= 2, got {dim}")
    half = dim // 2
    freqs = torch.exp(-math.log(max_period) * torch.arange(half, device=t.device, dtype=torch.float32) / half)
    args = t.float()[:, None] * freqs[None, :]  # (B, half)
    return torch.cat([torch.sin(args), torch.cos(args)], dim=-1)  # (B, dim)


class TimeMLP(nn.Module):
    """Sinusoidal embedding of t followed by Linear → SiLU → Linear: t (B,) -> (B, out_dim)."""

    def __init__(self, emb_dim: int, out_dim: int, hidden_dim: int | None = None):
        super().__init__()
        self.emb_dim = emb_dim
        hidden_dim = hidden_dim or out_dim
        self.net = nn.Sequential(nn.Linear(emb_dim, hidden_dim), nn.SiLU(), nn.Linear(hidden_dim, out_dim))

    def forward(self, t: torch.Tensor) -> torch.Tensor:
        return self.net(sinusoidal_embedding(t, self.emb_dim))
