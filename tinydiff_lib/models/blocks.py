"""Building blocks shared by the denoisers; each model adds one idea on top of these.

* :func:`sinusoidal_embedding` and :class:`TimeMLP`: t (B,) -> a vector per image.
* :class:`FiLM`: time-dependent scale and shift, h · (1 + γ(t)) + β(t) (Perez et al. 2018).
* :class:`ResBlock`: GroupNorm → SiLU → conv, twice, FiLM in between, 1×1 skip when channels change.
* :class:`AttentionBlock`: self-attention over all H·W positions (cheap at 7×7).
* :class:`Downsample` / :class:`Upsample`: halve / double H and W.
* :class:`ConvNormAct`: the plain conv → norm → activation unit of the mini U-Nets and the BatchNorm U-Net.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

__all__ = [
    "sinusoidal_embedding",
    "TimeMLP",
    "group_norm",
    "FiLM",
    "ResBlock",
    "AttentionBlock",
    "Downsample",
    "Upsample",
    "ConvNormAct",
]


def sinusoidal_embedding(t: torch.Tensor, dim: int, max_period: float = 10000.0) -> torch.Tensor:
    """Transformer-style embedding of a time step or a noise level (Vaswani et al. 2017, §3.5; Ho et al. 2020).

    emb[:, i] = sin(t · ω_i), emb[:, half + i] = cos(t · ω_i), ω_i = max_period^(−i/half), i < half = dim // 2.
    ``t``: (B,) integer steps or float levels (the σ view maps ln σ into [0, 1000)) -> (B, dim) float32.
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


def group_norm(channels: int, max_groups: int = 8) -> nn.GroupNorm:
    """GroupNorm with the largest group count <= ``max_groups`` that divides ``channels`` (Wu & He 2018)."""
    groups = max(g for g in range(1, max_groups + 1) if channels % g == 0)
    return nn.GroupNorm(groups, channels)


class FiLM(nn.Module):
    """Feature-wise linear modulation: h · (1 + γ) + β with (γ, β) = Linear(emb) (Perez et al. 2018).

    Zero-initialised, so at the start of training FiLM is the identity. h: (B, C, H, W), emb: (B, E).
    ``mode``: ``"film"`` (scale and shift), ``"shift"`` (h + β only: the additive time bias of the original
    DDPM U-Net) or ``"none"`` (h unchanged: a block that never sees t). The last two exist for the ablations.
    """

    MODES = ("film", "shift", "none")

    def __init__(self, emb_dim: int, channels: int, mode: str = "film"):
        super().__init__()
        if mode not in self.MODES:
            raise ValueError(f"FiLM mode must be one of {self.MODES}, got {mode!r}")
        self.mode = mode
        self.proj = None
        if mode != "none":
            self.proj = nn.Linear(emb_dim, (2 if mode == "film" else 1) * channels)
            nn.init.zeros_(self.proj.weight)
            nn.init.zeros_(self.proj.bias)

    def forward(self, h: torch.Tensor, emb: torch.Tensor) -> torch.Tensor:
        if self.proj is None:
            return h
        if self.mode == "shift":
            return h + self.proj(emb)[:, :, None, None]  # (B, C, 1, 1)
        gamma, beta = self.proj(emb)[:, :, None, None].chunk(2, dim=1)  # (B, 2C, 1, 1) -> 2 × (B, C, 1, 1)
        return h * (1 + gamma) + beta


class ResBlock(nn.Module):
    """Residual block with FiLM time conditioning (Ho et al. 2020, App. B; Dhariwal & Nichol 2021, "AdaGN").

    h = conv(SiLU(GN(x))); h = FiLM(GN(h), emb); h = conv(dropout(SiLU(h))); return skip(x) + h.
    (B, C_in, H, W) -> (B, C_out, H, W).
    """

    def __init__(self, in_channels: int, out_channels: int, emb_dim: int, dropout: float = 0.0, film: str = "film"):
        super().__init__()
        self.norm1 = group_norm(in_channels)
        self.conv1 = nn.Conv2d(in_channels, out_channels, 3, padding=1)
        self.norm2 = group_norm(out_channels)
        self.film = FiLM(emb_dim, out_channels, film)
        self.dropout = nn.Dropout(dropout)
        self.conv2 = nn.Conv2d(out_channels, out_channels, 3, padding=1)
        self.skip = nn.Conv2d(in_channels, out_channels, 1) if in_channels != out_channels else nn.Identity()

    def forward(self, x: torch.Tensor, emb: torch.Tensor) -> torch.Tensor:
        h = self.conv1(F.silu(self.norm1(x)))
        h = self.film(self.norm2(h), emb)
        h = self.conv2(self.dropout(F.silu(h)))
        return self.skip(x) + h


class AttentionBlock(nn.Module):
    """Multi-head self-attention over the H·W positions, with a residual connection (Vaswani et al. 2017).

    softmax(q kᵀ / √d) v via ``F.scaled_dot_product_attention``. (B, C, H, W) -> (B, C, H, W).
    """

    def __init__(self, channels: int, num_heads: int = 4):
        super().__init__()
        if channels % num_heads:
            raise ValueError(f"channels ({channels}) must be divisible by num_heads ({num_heads})")
        self.num_heads = num_heads
        self.norm = group_norm(channels)
        self.qkv = nn.Conv2d(channels, 3 * channels, 1)
        self.proj = nn.Conv2d(channels, channels, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, c, h, w = x.shape
        qkv = self.qkv(self.norm(x)).reshape(b, 3, self.num_heads, c // self.num_heads, h * w)  # (B, 3, nh, d, HW)
        q, k, v = qkv.transpose(-1, -2).unbind(1)  # 3 × (B, nh, HW, d)
        out = F.scaled_dot_product_attention(q, k, v)  # (B, nh, HW, d)
        out = out.transpose(-1, -2).reshape(b, c, h, w)  # (B, C, H, W)
        return x + self.proj(out)


class Downsample(nn.Module):
    """3×3 convolution with stride 2: (B, C, H, W) -> (B, C, ⌈H/2⌉, ⌈W/2⌉) (28 → 14 → 7)."""

    def __init__(self, channels: int):
        super().__init__()
        self.conv = nn.Conv2d(channels, channels, 3, stride=2, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv(x)


class Upsample(nn.Module):
    """Nearest-neighbour ×2 then a 3×3 convolution (no checkerboard artefacts): (B, C, H, W) -> (B, C, 2H, 2W)."""

    def __init__(self, channels: int):
        super().__init__()
        self.conv = nn.Conv2d(channels, channels, 3, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv(F.interpolate(x, scale_factor=2.0, mode="nearest"))


class ConvNormAct(nn.Sequential):
    """3×3 convolution → normalisation → activation, optionally halving or doubling H and W.

    ``down``: stride 2, (B, C_in, H, W) -> (B, C_out, ⌈H/2⌉, ⌈W/2⌉); ``up``: nearest ×2 before the conv, as in
    :class:`Upsample`, -> (B, C_out, 2H, 2W); neither: -> (B, C_out, H, W). ``batch_norm`` swaps
    :func:`group_norm` (at most ``max_groups`` groups) for BatchNorm and drops the conv bias, which
    BatchNorm's own shift makes redundant (its gradient would be exactly zero). ``act``: e.g. nn.SiLU, nn.ReLU.
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        *,
        down: bool = False,
        up: bool = False,
        batch_norm: bool = False,
        act: type[nn.Module] = nn.SiLU,
        max_groups: int = 8,
    ):
        if down and up:
            raise ValueError("ConvNormAct: choose at most one of down and up")
        layers: list[nn.Module] = [nn.Upsample(scale_factor=2.0, mode="nearest")] if up else []
        layers += [
            nn.Conv2d(in_channels, out_channels, 3, stride=2 if down else 1, padding=1, bias=not batch_norm),
            nn.BatchNorm2d(out_channels) if batch_norm else group_norm(out_channels, max_groups),
            act(),
        ]
        super().__init__(*layers)
