"""MiniUNet (one level, 28 → 14 → 28) and MiniUNetV2 (two levels, 28 → 14 → 7 → 14 → 28).

The first two U-Nets of the series: plain :class:`~tinydiff_lib.models.blocks.ConvNormAct` units, skips that
concatenate encoder features into the decoder, and t entering as an additive per-channel bias. The only new
idea over TinyConv is changing resolution, which lets every output pixel see most of the digit.
"""

from __future__ import annotations

import torch
from torch import nn

from .blocks import ConvNormAct, Downsample, TimeMLP, Upsample

__all__ = ["MiniUNet", "MiniUNetV2"]


class MiniUNet(nn.Module):
    """One down/up level with one skip at 28×28 (Ronneberger et al. 2015, cut down to a single level).

    conv_in (C) → down1 (2C) [+ t, kept as the skip] → Downsample to 14×14 → mid (2C) [+ t] → Upsample to
    28×28 → concat skip (4C) → up1 (C) → conv_out (1). t enters as a bias of 2C channels from
    TimeMLP(32 → 2C). The seed resampled with a 4×4 strided conv and a transposed conv; here the library's
    :class:`Downsample` / :class:`Upsample` do it. (B, 1, 28, 28), t (B,) -> (B, 1, 28, 28).
    """

    def __init__(self, in_channels: int = 1, base_channels: int = 32, time_dim: int = 32, max_groups: int = 8):
        super().__init__()
        c = base_channels
        self.time_mlp = TimeMLP(time_dim, 2 * c)
        self.conv_in = nn.Conv2d(in_channels, c, 3, padding=1)
        self.down1 = ConvNormAct(c, 2 * c, max_groups=max_groups)
        self.downsample = Downsample(2 * c)
        self.mid = ConvNormAct(2 * c, 2 * c, max_groups=max_groups)
        self.upsample = Upsample(2 * c)
        self.up1 = ConvNormAct(4 * c, c, max_groups=max_groups)
        self.conv_out = nn.Conv2d(c, in_channels, 3, padding=1)

    def forward(self, x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        temb = self.time_mlp(t)[:, :, None, None]  # (B, 2C) -> (B, 2C, 1, 1)
        skip = self.down1(self.conv_in(x)) + temb  # (B, 2C, 28, 28)
        h = self.mid(self.downsample(skip)) + temb  # (B, 2C, 14, 14)
        h = self.upsample(h)  # (B, 2C, 28, 28)
        h = self.up1(torch.cat([h, skip], dim=1))  # (B, 4C, 28, 28) -> (B, C, 28, 28)
        return self.conv_out(h)  # (B, 1, 28, 28)


class MiniUNetV2(nn.Module):
    """Two levels, 28 → 14 → 7 → 14 → 28, skips at 28 and 14, t added at every resolution.

    Channels C, 2C, 4C at 28, 14, 7. Every stage is a ConvNormAct (strided conv down, nearest ×2 + conv up;
    the seed used transposed convs) followed by ``+ temb[:, :channels]``: one TimeMLP(32 → 4C) vector whose
    first ``channels`` entries bias each stage. (B, 1, 28, 28), t (B,) -> (B, 1, 28, 28).
    """

    def __init__(self, in_channels: int = 1, base_channels: int = 32, time_dim: int = 32, max_groups: int = 4):
        super().__init__()
        c = base_channels
        self.time_mlp = TimeMLP(time_dim, 4 * c)
        self.enc1 = ConvNormAct(in_channels, c, max_groups=max_groups)
        self.down1 = ConvNormAct(c, 2 * c, down=True, max_groups=max_groups)
        self.down2 = ConvNormAct(2 * c, 4 * c, down=True, max_groups=max_groups)
        self.mid = ConvNormAct(4 * c, 4 * c, max_groups=max_groups)
        self.up2 = ConvNormAct(4 * c, 2 * c, up=True, max_groups=max_groups)
        self.dec2 = ConvNormAct(4 * c, 2 * c, max_groups=max_groups)
        self.up1 = ConvNormAct(2 * c, c, up=True, max_groups=max_groups)
        self.dec1 = ConvNormAct(2 * c, c, max_groups=max_groups)
        self.conv_out = nn.Conv2d(c, in_channels, 3, padding=1)

    def forward(self, x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        temb = self.time_mlp(t)[:, :, None, None]  # (B, 4C) -> (B, 4C, 1, 1)

        def add_time(h: torch.Tensor) -> torch.Tensor:
            return h + temb[:, : h.shape[1]]  # bias the first C_h channels of the embedding

        h1 = add_time(self.enc1(x))  # (B, C, 28, 28)
        h2 = add_time(self.down1(h1))  # (B, 2C, 14, 14)
        h = add_time(self.down2(h2))  # (B, 4C, 7, 7)
        h = add_time(self.mid(h))  # (B, 4C, 7, 7)
        h = add_time(self.up2(h))  # (B, 2C, 14, 14)
        h = add_time(self.dec2(torch.cat([h, h2], dim=1)))  # (B, 4C, 14, 14) -> (B, 2C, 14, 14)
        h = add_time(self.up1(h))  # (B, C, 28, 28)
        h = add_time(self.dec1(torch.cat([h, h1], dim=1)))  # (B, 2C, 28, 28) -> (B, C, 28, 28)
        return self.conv_out(h)  # (B, 1, 28, 28)
