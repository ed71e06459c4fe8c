"""The denoisers of the series, and one dictionary from command-line names to constructors."""

from __future__ import annotations

import inspect
from collections.abc import Callable
from functools import partial

from torch import nn

from ..errors import UsageError
from .batchnorm_unet import BatchNormUNet
from .blocks import AttentionBlock, Downsample, FiLM, ResBlock, TimeMLP, Upsample, sinusoidal_embedding
from .diffusers_unet import DiffusersUNet
from .dilated_convnet import DILATED_CONVNET_PRESETS, DilatedConvNet
from .film_unet import CONDITIONS, FILM_UNET_PRESETS, NULL_LABEL, NUM_CLASSES, FiLMUNet
from .mini_unet import MiniUNet, MiniUNetV2
from .mlp import MLPDenoiser
from .tiny_conv import TinyConv

__all__ = [
    "MODELS", "OPTIONAL_MODELS", "build_model", "TinyConv", "MiniUNet", "MiniUNetV2", "FiLMUNet", "BatchNormUNet",
    "DilatedConvNet", "DiffusersUNet", "MLPDenoiser", "TimeMLP", "sinusoidal_embedding", "FiLM", "ResBlock",
    "AttentionBlock", "Downsample", "Upsample", "CONDITIONS", "NULL_LABEL", "NUM_CLASSES",
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
    "film_unet_class": partial(FiLMUNet, **FILM_UNET_PRESETS["film_unet_class"]),  # conditioned on the digit
    "film_unet_text": partial(FiLMUNet, **FILM_UNET_PRESETS["film_unet_text"]),  # conditioned on a prompt
    "film_unet_w16": partial(FiLMUNet, **FILM_UNET_PRESETS["film_unet_w16"]),  # capacity study: base width 16
    "film_unet_w32": partial(FiLMUNet, **FILM_UNET_PRESETS["film_unet_w32"]),  # capacity study: base width 32
    "film_unet_rb2": partial(FiLMUNet, **FILM_UNET_PRESETS["film_unet_rb2"]),  # capacity study: 2 ResBlocks per level
    "film_unet_noattn": partial(FiLMUNet, **FILM_UNET_PRESETS["film_unet_noattn"]),  # capacity study: no attention
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
    condition, preset = kwargs.get("condition", "none"), getattr(known[name], "keywords", {}).get("condition")
    if condition != "none" and "condition" not in inspect.signature(known[name]).parameters:
        raise UsageError(f"model {name!r} takes no condition; --condition {condition} needs a conditional "
                         "FiLM U-Net (film_unet_class, film_unet_text, or film_unet with --condition)")  # fmt: skip
    if preset is not None and condition not in ("none", preset):
        raise UsageError(f"model {name!r} is conditioned on {preset}; train it with --condition {preset}")
    return known[name](**kwargs)
