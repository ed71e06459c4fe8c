"""Checkpoints as plain Python types plus tensors, so ``torch.load(path, weights_only=True)`` reads them.

Layout (DESIGN.md §4)::

    {"format": "tinydiff", "format_version": 1, "library_version": str, "torch_version": str,
     "model": {"name": str, "kwargs": dict}, "schedule": {"name": str, "num_steps": int},
     "config": dict (TrainConfig), "state_dict": weights used for sampling (EMA where used),
     "ema": bool, "step": int, "wall_time_s": float, "device": str,
     "history": {"step": [...], "loss": [...]},
     "train_state": {...} or None}   # optimizer, raw weights, RNG states: only in resumable run files
"""

from __future__ import annotations

import os
from pathlib import Path

import torch

from .models import build_model
from .schedule import NoiseSchedule
from .utils import atomic_torch_save

__all__ = ["CheckpointError", "save_checkpoint", "load_checkpoint", "load_model", "export_checkpoint"]

FORMAT = "tinydiff"
FORMAT_VERSION = 1


class CheckpointError(ValueError):
    """A file is missing, unreadable, or not a TinyDiff checkpoint."""


def save_checkpoint(ckpt: dict, path: str | os.PathLike) -> Path:
    """Write atomically (temporary file, then rename)."""
    return atomic_torch_save(ckpt, path)


def load_checkpoint(path: str | os.PathLike, map_location="cpu") -> dict:
    """Read a checkpoint with ``weights_only=True`` and check that it is one of ours."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"checkpoint not found: {path}")
    try:
        ckpt = torch.load(path, map_location=map_location, weights_only=True)
    except Exception as exc:
        raise CheckpointError(f"{path} is not a readable PyTorch checkpoint ({exc.__class__.__name__})") from None
    if not isinstance(ckpt, dict) or ckpt.get("format") != FORMAT:
        raise CheckpointError(f"{path} is not a TinyDiff checkpoint (no 'format': 'tinydiff' entry)")
    if ckpt.get("format_version", 0) > FORMAT_VERSION:
        raise CheckpointError(f"{path} was written by a newer TinyDiff (format {ckpt['format_version']})")
    return ckpt


def load_model(path_or_ckpt, device="cpu") -> tuple[torch.nn.Module, NoiseSchedule, dict]:
    """Rebuild ``(model, schedule, checkpoint)`` from a checkpoint file (or an already loaded dict).

    The model holds the sampling weights (EMA where training used EMA) and is in ``eval()`` mode.
    """
    ckpt = path_or_ckpt if isinstance(path_or_ckpt, dict) else load_checkpoint(path_or_ckpt)
    model = build_model(ckpt["model"]["name"], **ckpt["model"]["kwargs"])
    state = {k: v.float() if v.is_floating_point() else v for k, v in ckpt["state_dict"].items()}
    model.load_state_dict(state)
    schedule = NoiseSchedule(name=ckpt["schedule"]["name"], num_steps=ckpt["schedule"]["num_steps"])
    return model.to(device).eval(), schedule.to(device), ckpt


def export_checkpoint(src, dst, dtype: torch.dtype = torch.float32, raw: bool = False) -> Path:
    """Copy a run file without its resumable training state (optimizer etc.): the small file we ship.

    ``raw=True`` exports the optimiser's own weights instead of their EMA (to measure what the EMA buys).
    """
    ckpt = dict(load_checkpoint(src))
    if raw:
        if not ckpt.get("train_state") or not ckpt.get("ema"):
            raise CheckpointError(f"{src} holds no separate raw weights (not a run file, or trained without EMA)")
        ckpt["state_dict"], ckpt["ema"] = ckpt["train_state"]["model"], False
    ckpt["train_state"] = None
    ckpt["state_dict"] = {k: v.to(dtype) if v.is_floating_point() else v for k, v in ckpt["state_dict"].items()}
    ckpt["weights_dtype"] = str(dtype).removeprefix("torch.")
    return save_checkpoint(ckpt, dst)
