"""The denoisers of the series, and one dictionary from command-line names to constructors."""

from __future__ import annotations

from functools import partial
from typing import Callable

from torch import nn

from .blocks import TimeMLP, sinusoidal_embedding
from .film_unet import FILM_UNET_PRESETS, FiLMUNet
from .mlp import MLPDenoiser
from .tiny_conv import TinyConv

__all__ = ["MODELS", "build_model", "TinyConv", "FiLMUNet", "MLPDenoiser", "TimeMLP", "sinusoidal_embedding"]

#: command-line name -> constructor taking keyword arguments
MODELS: dict[str, Callable[..., nn.Module]] = {
    "tiny_conv": TinyConv,
    "film_unet": partial(FiLMUNet, **FILM_UNET_PRESETS["film_unet"]),
    "film_unet_base64": partial(FiLMUNet, **FILM_UNET_PRESETS["film_unet_base64"]),
    "mlp": MLPDenoiser,
}


def build_model(name: str, **kwargs) -> nn.Module:
    """Construct the model registered as ``name``; unknown names list the known ones."""
    if name not in MODELS:
        raise ValueError(f"unknown model {name!r}; known models: {', '.join(sorted(MODELS))}")
    return MODELS[name](**kwargs)

