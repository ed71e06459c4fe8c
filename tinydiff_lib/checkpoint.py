"""Checkpoints: the one place that builds and reads the file layout, plain Python types plus tensors, so
``torch.load(path, weights_only=True)`` reads them.

Layout, format version 2::

    {"format": "tinydiff", "format_version": 2, "library_version": str, "torch_version": str,
     "model": {"name": str, "kwargs": dict}, "schedule": {"name": str, "num_steps": int},
     "config": dict (TrainConfig.to_dict()),
     "state_dict": weights to sample from (the EMA where training used one), on the CPU,
     "ema": bool, "step": int, "wall_time_s": float, "device": str (GPU name on CUDA),
     "runtime": {"world_size": int, "compile": bool, "channels_last": bool, "amp": bool},
     "sampling": {"sampler": str, "steps": int} (the recommended sampler; absent in older files: DDIM, 50),
     "history": {"step": [...], "loss": [...]},
     "train_state": None in a shipped (exported) checkpoint; in a resumable run file
        {"model": raw weights, "ema": AveragedModel state or None, "optimizer": ..., "lr_scheduler": ...,
         "rng": {"torch": CPU RNG state, "cuda": [per-GPU states] (when CUDA was used)}}}

Version 1 files (before the no-decay parameter group) load for sampling; their training state cannot be
resumed. Every file is written atomically (a temporary file, then a rename), and read to the CPU:
``load_state_dict`` puts each tensor where the model lives, so a run started on one device resumes on
another.
"""

from __future__ import annotations

import os
from pathlib import Path

import torch

from . import __version__
from .errors import TinyDiffError
from .models import build_model
from .schedule import NoiseSchedule
from .utils import atomic_torch_save

__all__ = [
    "CheckpointError", "save_checkpoint", "load_checkpoint", "load_model", "export_checkpoint", "make_run_file",
    "read_train_state",
]  # fmt: skip

FORMAT = "tinydiff"
FORMAT_VERSION = 2
RESUMABLE_FROM = 2  # oldest format whose training state a run can resume from

#: settings that may change between a run and its resumption (everything else must match)
RESUMABLE_CHANGES = ("steps", "checkpoint_every", "lr_horizon", "cooldown_steps")  # the LR is checked in train()


class CheckpointError(TinyDiffError, ValueError):
    """A file is missing, unreadable, not a TinyDiff checkpoint, or cannot be resumed."""


def save_checkpoint(ckpt: dict, path: str | os.PathLike) -> Path:
    """Write atomically (temporary file, then rename)."""
    return atomic_torch_save(ckpt, path)


def load_checkpoint(path: str | os.PathLike, map_location="cpu") -> dict:
    """Read a checkpoint with ``weights_only=True`` (to the CPU by default) and check that it is one of ours."""
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


def make_run_file(config: dict, sample_state: dict, train_state: dict | None, **fields) -> dict:
    """The checkpoint dict of a training run. ``config``: ``TrainConfig.to_dict()``; ``sample_state``: the
    weights to sample from; ``fields``: ``ema``, ``step``, ``wall_time_s``, ``device``, ``runtime``, ``history``.
    """
    return {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "library_version": __version__,
        "torch_version": str(torch.__version__),
        "model": {"name": config["model"], "kwargs": dict(config["model_kwargs"])},
        "schedule": {"name": config["schedule"], "num_steps": config["num_diffusion_steps"]},
        "config": dict(config),
        "state_dict": {k: v.detach().cpu().contiguous() for k, v in sample_state.items()},
        **fields,
        "train_state": train_state,
    }


def read_train_state(path: str | os.PathLike, config: dict, defaults: dict | None = None) -> dict:
    """Load a run file to resume it with ``config``; one clear error when it cannot be resumed.

    ``defaults``: values of settings a run file may predate (a newer setting at its default matches).
    """
    ckpt = load_checkpoint(path, map_location="cpu")
    if ckpt.get("train_state") is None:
        raise CheckpointError(f"{path} holds no training state (an exported checkpoint); train into a new --out")
    if ckpt.get("format_version", 1) < RESUMABLE_FROM:
        raise CheckpointError(f"{path} was written by an older TinyDiff and cannot be resumed; train into a new --out")
    saved = {k: v for k, v in {**(defaults or {}), **ckpt["config"]}.items() if k not in RESUMABLE_CHANGES}
    now = {k: v for k, v in config.items() if k not in RESUMABLE_CHANGES}
    if saved != now:
        diff = sorted(k for k in {*now, *saved} if saved.get(k) != now.get(k))
        raise CheckpointError(f"cannot resume {path}: its settings differ in {', '.join(diff)}")
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


def export_checkpoint(
    src, dst, dtype: torch.dtype = torch.float32, raw: bool = False, ema: float | None = None
) -> Path:
    """Copy a run file without its resumable training state (optimizer etc.): the small file we ship.

    ``raw=True`` exports the optimiser's own weights instead of their EMA (to measure what the EMA buys);
    ``ema=d`` exports the extra EMA of decay d the run kept (``TrainConfig.extra_ema_decays``). The copy
    recommends the library's current sampler for its objective (:func:`~tinydiff_lib.objectives.recommended_sampling`).
    """
    from .objectives import recommended_sampling

    ckpt = dict(load_checkpoint(src))
    ckpt["sampling"] = recommended_sampling(ckpt.get("config", {}))
    if raw:
        if not ckpt.get("train_state") or not ckpt.get("ema"):
            raise CheckpointError(f"{src} holds no separate raw weights (not a run file, or trained without EMA)")
        ckpt["state_dict"], ckpt["ema"] = ckpt["train_state"]["model"], False
    elif ema is not None:
        extra = (ckpt.get("train_state") or {}).get("ema_extra", {})
        if str(float(ema)) not in extra:
            raise CheckpointError(f"{src} kept no EMA of decay {ema} (it has: {', '.join(extra) or 'none'})")
        averaged = extra[str(float(ema))]  # an AveragedModel state: n_averaged and module.<name>
        ckpt["state_dict"] = {k.removeprefix("module."): v for k, v in averaged.items() if k.startswith("module.")}
        ckpt["ema_decay"] = float(ema)
    ckpt["train_state"] = None
    ckpt["state_dict"] = {k: v.to(dtype) if v.is_floating_point() else v for k, v in ckpt["state_dict"].items()}
    ckpt["weights_dtype"] = str(dtype).removeprefix("torch.")
    return save_checkpoint(ckpt, dst)
