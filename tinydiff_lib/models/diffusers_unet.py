"""A library U-Net for comparison: diffusers' ``UNet2DModel`` behind our ε_θ(x_t, t) interface.

The configuration is the one the Hugging Face diffusion course uses for MNIST: block channels 32/64/64,
two ResNet layers per block, self-attention at the two lower resolutions (14×14 and 7×7). ``diffusers`` is
an optional benchmark dependency (``pip install "tinydiff[benchmark]"``); nothing else in the series needs it.
"""

from __future__ import annotations

import torch
from torch import nn

from ..errors import MissingDependencyError

__all__ = ["DiffusersUNet", "DIFFUSERS_COURSE_CONFIG"]

#: UNet2DModel arguments of the course's MNIST model (28×28 → 14×14 → 7×7)
DIFFUSERS_COURSE_CONFIG = dict(
    sample_size=28,
    in_channels=1,
    out_channels=1,
    layers_per_block=2,
    block_out_channels=(32, 64, 64),
    down_block_types=("DownBlock2D", "AttnDownBlock2D", "AttnDownBlock2D"),
    up_block_types=("AttnUpBlock2D", "AttnUpBlock2D", "UpBlock2D"),
)


class DiffusersUNet(nn.Module):
    """ε_θ(x_t, t) = ``UNet2DModel(x_t, t).sample``; keyword arguments override the course configuration."""

    def __init__(self, **overrides):
        super().__init__()
        try:
            from diffusers import UNet2DModel
        except ImportError as exc:  # an optional dependency: say how to get it
            raise MissingDependencyError(
                "the diffusers_unet model needs the optional `diffusers` package: "
                'pip install "diffusers>=0.30" (or pip install -e ".[benchmark]")'
            ) from exc
        self.unet = UNet2DModel(**{**DIFFUSERS_COURSE_CONFIG, **overrides})

    def forward(self, x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        return self.unet(x, t).sample  # (B, 1, 28, 28)
