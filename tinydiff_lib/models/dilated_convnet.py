"""DilatedConvNet: a single-resolution denoiser that sees the whole digit through dilated convolutions.

The appendix's other answer to TinyConv's small receptive field: instead of down-sampling (the U-Nets), keep
28×28 and space the taps of the 3×3 kernels out, with dilation 3^(layer // 2) = 1, 1, 3, 3, 9, 9, 27, 27
(Yu & Koltun 2016). Constant width, residual blocks, t added before every block (seed 003).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from .blocks import TimeMLP, group_norm

__all__ = ["DilatedConvNet", "DilatedResBlock", "DILATED_CONVNET_PRESETS"]


class DilatedResBlock(nn.Module):
    """h = x + conv_d(x), then SiLU(GroupNorm(h)), with a 3×3 conv of dilation d: (B, C, H, W) -> (B, C, H, W).

    Padding d keeps H and W; the taps sit at offsets {−d, 0, d}, so the block widens the receptive field by 2d.
    """

    def __init__(self, channels: int, dilation: int):
        super().__init__()
        self.conv = nn.Conv2d(channels, channels, 3, padding=dilation, dilation=dilation)
        self.norm = group_norm(channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.silu(self.norm(x + self.conv(x)))


class DilatedConvNet(nn.Module):
    """7×7 input projection → ``num_layers`` DilatedResBlocks (t added before each) → 3×3 output projection.

    The time embedding is sinusoidal (``time_dim`` = 256) through TimeMLP to ``width`` channels; the seed's two
    1×1 convolutions on a (B, 256, 1, 1) tensor are the same maps as these Linear layers. Receptive field of
    the stack: 7 + 2·Σ dilations + 2 = 7 + 2·80 + 2 pixels wide, far beyond 28, although a tap 27 pixels away
    falls off the image for most pixels. ``width`` = 256 is the seed's ~4.9 M parameters; the ``dilated_convnet``
    preset uses 64 for CPUs. (B, 1, 28, 28), t (B,) -> (B, 1, 28, 28).
    """

    def __init__(self, in_channels: int = 1, width: int = 256, num_layers: int = 8, time_dim: int = 256):
        super().__init__()
        self.dilations = tuple(3 ** (layer // 2) for layer in range(num_layers))
        self.time_mlp = TimeMLP(time_dim, width)
        self.in_proj = nn.Conv2d(in_channels, width, 7, padding=3)
        self.blocks = nn.ModuleList(DilatedResBlock(width, d) for d in self.dilations)
        self.out_proj = nn.Conv2d(width, in_channels, 3, padding=1)

    def forward(self, x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        temb = self.time_mlp(t)[:, :, None, None]  # (B, W) -> (B, W, 1, 1)
        h = self.in_proj(x)  # (B, W, 28, 28)
        for block in self.blocks:
            h = block(h + temb)  # (B, W, 28, 28)
        return self.out_proj(h)  # (B, 1, 28, 28)


#: named configurations: a CPU-friendly width and the seed-003 width (~4.9 M parameters)
DILATED_CONVNET_PRESETS = {
    "dilated_convnet": dict(width=64),
    "dilated_convnet_256": dict(width=256),
}
