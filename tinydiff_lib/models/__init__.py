"""The denoisers of the series, and one dictionary from command-line names to constructors."""

from __future__ import annotations

from collections.abc import Callable
from functools import partial

from torch import nn

from ..errors import UsageError
from .batchnorm_unet import BatchNormUNet
from .blocks import AttentionBlock, Downsample, FiLM, ResBlock, TimeMLP, Upsample, sinusoidal_embedding
from .diffusers_unet import DiffusersUNet
from .dilated_convnet import DILATED_CONVNET_PRESETS, DilatedConvNet
from .film_unet import FILM_UNET_PRESETS, FiLMUNet
from .mini_unet import MiniUNet, MiniUNetV2
from .mlp import MLPDenoiser
from .tiny_conv import TinyConv

__all__ = [
    "MODELS", "OPTIONAL_MODELS", "build_model", "TinyConv", "MiniUNet", "MiniUNetV2", "FiLMUNet", "BatchNormUNet",
    "DilatedConvNet", "DiffusersUNet", "MLPDenoiser", "TimeMLP", "sinusoidal_embedding", "FiLM", "ResBlock",
    "AttentionBlock", "Downsample", "Upsample",
]  # fmt: skip

#: command-line name -> constructor taking keyword arguments
MODELS: dict[str, Callable[..., nn.Module]] = {
    "tiny_conv": TinyConv,
    "mini_unet": MiniUNet,
    "mini_unet_v2": MiniUNetV2,
    "film_unet": partial(FiLMUNet, **FILM_UNET_PRESETS["film_unet"]),
    "film_unet_base64": partial(FiLMUNet, **FILM_UNET_PRESETS["film_unet_base64"]),
    "film_unet_shift": partial(FiLMUNet, **FILM_UNET_PRESETS["film_unet_shift"]),  # ablation: additive time bias
    "film_unet_no_time": partial(FiLMUNet, **FILM_UNET_PRESETS["film_unet_no_time"]),  # ablation: no time input
    "batchnorm_unet": BatchNormUNet,
    "dilated_convnet": partial(DilatedConvNet, **DILATED_CONVNET_PRESETS["dilated_convnet"]),
    "dilated_convnet_256": partial(DilatedConvNet, **DILATED_CONVNET_PRESETS["dilated_convnet_256"]),
    "mlp": MLPDenoiser,
}


#: models that need an optional package (built only on request; not part of the series' zoo)
OPTIONAL_MODELS: dict[str, Callable[..., nn.Module]] = {
    "diffusers_unet": DiffusersUNet,  # needs `diffusers`: the library U-Net of the results page
}


def build_model(name: str, **kwargs) -> nn.Module:
    """Construct the model registered as ``name``; unknown names list the known ones."""
    known = {**MODELS, **OPTIONAL_MODELS}
    if name not in known:
        raise UsageError(f"unknown model {name!r}; known models: {', '.join(sorted(known))}")
    return known[name](**kwargs)
