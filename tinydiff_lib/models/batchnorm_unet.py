"""BatchNormUNet: the classic segmentation-style U-Net (BatchNorm + ReLU) used as an MNIST denoiser.

The appendix model: the same U-Net shape as MiniUNetV2, with BatchNorm instead of GroupNorm, max-pooling down
and parameter-free nearest up-sampling, two convolutions per block and a learned time projection per block.
BatchNorm normalises with batch statistics while training and with running averages in ``eval()``, so the
network behaves differently in the two modes (the reason the FiLM U-Net uses GroupNorm).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from .blocks import ConvNormAct, TimeMLP

__all__ = ["BatchNormUNet"]


class TimeConvBlock(nn.Module):
    """ConvNormAct (BatchNorm, ReLU) → + Linear(emb) per channel → ConvNormAct: (B, C_in, H, W) -> (B, C_out, H, W)."""

    def __init__(self, in_channels: int, out_channels: int, emb_dim: int):
        super().__init__()
        self.conv1 = ConvNormAct(in_channels, out_channels, batch_norm=True, act=nn.ReLU)
        self.time_proj = nn.Linear(emb_dim, out_channels)
        self.conv2 = ConvNormAct(out_channels, out_channels, batch_norm=True, act=nn.ReLU)

    def forward(self, x: torch.Tensor, emb: torch.Tensor) -> torch.Tensor:
        h = self.conv1(x) + self.time_proj(emb)[:, :, None, None]  # (B, C_out, H, W) + (B, C_out, 1, 1)
        return self.conv2(h)


class BatchNormUNet(nn.Module):
    """U-Net with skips, BatchNorm + ReLU, t injected into every encoder and decoder block (seed 002).

    Channels C, 2C, 4C at 28, 14, 7 (C = ``base_channels`` = 32); a sinusoidal embedding of t (``time_dim`` =
    128) through TimeMLP feeds a Linear(128 → C_out) bias in each :class:`TimeConvBlock`.

    enc1 (C, 28) → maxpool → enc2 (2C, 14) → maxpool → enc3 (4C, 7) → mid (4C, 7)
    → up ×2, concat enc2 → dec2 (2C, 14) → up ×2, concat enc1 → dec1 (C, 28) → 3×3 conv (1, 28).

    858,113 parameters with the defaults; the seed reports 858,305 without its layer list (a 192-parameter,
    0.02 % gap). (B, 1, 28, 28), t (B,) -> (B, 1, 28, 28).
    """

    def __init__(self, in_channels: int = 1, base_channels: int = 32, time_dim: int = 128):
        super().__init__()
        c = base_channels
        self.time_mlp = TimeMLP(time_dim, time_dim)
        self.enc1 = TimeConvBlock(in_channels, c, time_dim)
        self.enc2 = TimeConvBlock(c, 2 * c, time_dim)
        self.enc3 = TimeConvBlock(2 * c, 4 * c, time_dim)
        self.mid = TimeConvBlock(4 * c, 4 * c, time_dim)
        self.dec2 = TimeConvBlock(4 * c + 2 * c, 2 * c, time_dim)
        self.dec1 = TimeConvBlock(2 * c + c, c, time_dim)
        self.conv_out = nn.Conv2d(c, in_channels, 3, padding=1)

    def forward(self, x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        emb = self.time_mlp(t)  # (B, time_dim)
        h1 = self.enc1(x, emb)  # (B, C, 28, 28)
        h2 = self.enc2(F.max_pool2d(h1, 2), emb)  # (B, 2C, 14, 14)
        h = self.enc3(F.max_pool2d(h2, 2), emb)  # (B, 4C, 7, 7)
        h = self.mid(h, emb)  # (B, 4C, 7, 7)
        h = F.interpolate(h, scale_factor=2.0, mode="nearest")  # (B, 4C, 14, 14)
        h = self.dec2(torch.cat([h, h2], dim=1), emb)  # (B, 6C, 14, 14) -> (B, 2C, 14, 14)
        h = F.interpolate(h, scale_factor=2.0, mode="nearest")  # (B, 2C, 28, 28)
        h = self.dec1(torch.cat([h, h1], dim=1), emb)  # (B, 3C, 28, 28) -> (B, C, 28, 28)
        return self.conv_out(h)  # (B, 1, 28, 28)
