"""Small helpers the notebooks share: get a ladder model (shipped or trained here) and trace a forward pass.

``load_or_train`` loads a shipped checkpoint of the ladder, or trains the model when asked to (or, when the
checkpoint is missing, trains a short stand-in run and says so). ``trace_shapes`` runs one forward pass with
hooks and lists what each named stage outputs, so a notebook can show an architecture's shapes. ``glue`` hands
a value to the book's prose, ``read_results`` reads a results file of the checkout (results/*.json), and
``lowest_share`` picks a setting from the grid study's rows (results/grid.json), as the results page does.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import NamedTuple

import torch

from .checkpoint import CheckpointError, load_model
from .hub import checkpoint_path
from .schedule import NoiseSchedule
from .training import TrainConfig, train

__all__ = ["LoadedModel", "load_or_train", "StageShape", "trace_shapes", "glue", "read_results", "lowest_share"]

# the ladder budget of every shipped checkpoint (AdamW 1e-3 with a cosine decay, EMA 0.995, linear schedule)
LADDER = dict(lr=1e-3, ema_decay=0.995)


class LoadedModel(NamedTuple):
    """What :func:`load_or_train` returns; unpacks as ``model, schedule, history, note``."""

    model: torch.nn.Module  # the weights to sample from (EMA), in eval() mode
    schedule: NoiseSchedule
    history: dict  # {"step": [...], "loss": [...]}
    note: str  # where the weights come from, for the reader


def load_or_train(
    name: str,
    data: torch.Tensor | None = None,
    device: str | torch.device = "cpu",
    train_from_scratch: bool = False,
    budget_steps: int = 1500,
    budget_batch_size: int = 64,
    fallback_steps: int = 100,
    fallback_batch_size: int = 32,
    seed: int = 0,
) -> LoadedModel:
    """The ladder model ``name``: its shipped checkpoint, or trained here.

    * ``train_from_scratch=False``: load ``checkpoints/<name>.pt`` (downloaded where only the package is
      installed). If there is none, print a NOTE and train a short stand-in run of ``fallback_steps`` ×
      ``fallback_batch_size`` (its samples say little about the model).
    * ``train_from_scratch=True``: train the ladder budget, ``budget_steps`` × ``budget_batch_size``.

    ``data``: training images (N, 1, 28, 28) in [-1, 1] (MNIST-train when None). Returns a
    :class:`LoadedModel` ``(model, schedule, history, note)``, the model on ``device``.
    """
    if not train_from_scratch:
        try:
            model, schedule, ckpt = load_model(checkpoint_path(name), device=device)
            note = (
                f"shipped checkpoint, {ckpt['step']} steps × {ckpt['config']['batch_size']} images, "
                f"{ckpt['wall_time_s'] / 60:.0f} min on {ckpt['device']}"
            )
            return LoadedModel(model, schedule, ckpt["history"], note)
        except CheckpointError as exc:
            print(
                f"NOTE: no shipped checkpoint for {name} ({exc.__class__.__name__}): training a short run of "
                f"{fallback_steps} steps instead; its samples say little about what {name} can do"
            )
    steps, bs = (budget_steps, budget_batch_size) if train_from_scratch else (fallback_steps, fallback_batch_size)
    config = TrainConfig(model=name, steps=steps, batch_size=bs, seed=seed, **LADDER)
    result = train(config, data=data, device=device, progress=train_from_scratch)
    where = next(result.ema_model.parameters()).device.type
    note = f"trained here, {steps} steps × {bs} images, {result.wall_time_s / 60:.1f} min on {where}"
    return LoadedModel(result.ema_model, result.schedule, result.history, note)


class StageShape(NamedTuple):
    """One row of :func:`trace_shapes`: a stage's name, module class, and input and output shapes."""

    name: str
    module: str
    input_shape: tuple[int, ...]
    output_shape: tuple[int, ...]


def trace_shapes(
    model: torch.nn.Module, names: list[str], x: torch.Tensor, t: torch.Tensor
) -> tuple[list[StageShape], torch.Tensor]:
    """Run ``model(x, t)`` once (no grad) and record each named submodule's input and output shapes.

    ``names``: dotted submodule names (``model.get_submodule``), e.g. ``["conv1", "down.0.1"]``; ``x``:
    (B, C, H, W); ``t``: (B,). Returns ``(rows, out)``: one :class:`StageShape` per call of a named stage, in
    the order they ran, and the model's output. The hooks are removed afterwards, also on an error.
    """
    rows: list[StageShape] = []

    def hook(name):
        def record(module, inputs, output):
            first = inputs[0] if inputs else output
            rows.append(StageShape(name, type(module).__name__, tuple(first.shape), tuple(output.shape)))

        return record

    handles = [model.get_submodule(name).register_forward_hook(hook(name)) for name in names]
    try:
        with torch.no_grad():
            out = model(x, t)
    finally:
        for handle in handles:
            handle.remove()
    return rows, out


def glue(name: str, value, display: bool = False) -> None:
    """Store ``value`` under ``name`` for the book's prose ({glue:text}`name:.1f`): myst-nb's ``glue`` where
    it is installed (the book build), otherwise nothing (Colab, a plain JupyterLab), so a notebook runs anywhere.
    """
    try:
        from myst_nb import glue as myst_glue
    except ImportError:
        return
    myst_glue(name, value, display=display)


def read_results(path: str | os.PathLike) -> dict | None:
    """A results file of the checkout (``results/*.json``) as a dict, or None where it is missing (Colab, where
    only the notebook and the shipped checkpoints are at hand), so a notebook can say what is not measured."""
    path = Path(path)
    return json.loads(path.read_text()) if path.is_file() else None


def lowest_share(rows: list[dict], fid_cap: float | None = None, min_precision: float | None = None) -> dict | None:
    """The row with the lowest share of samples the classifier hesitates on (``unsure``), of equal shares the one
    with the lower ``fid``; with ``fid_cap`` and ``min_precision``, only among the rows with ``fid`` ≤ fid_cap and
    ``precision`` ≥ min_precision. None where no row qualifies. ``rows``: grid-study rows of one model (dicts with
    ``unsure``, ``fid`` and ``precision``), as scripts/grid_study.py writes them."""
    good = [r for r in rows if (fid_cap is None or r["fid"] <= fid_cap)
            and (min_precision is None or r["precision"] >= min_precision)]  # fmt: skip
    return min(good, key=lambda r: (r["unsure"], r["fid"]), default=None)
