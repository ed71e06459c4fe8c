"""Generate many samples from a checkpoint in batches, and write them as .npy or .png."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from tqdm.auto import tqdm

from .data import to_uint8
from .errors import UsageError
from .samplers import ddim_sample, ddpm_sample

__all__ = ["generate", "save_samples", "resolve_steps", "default_batch_size"]

SAMPLERS = ("ddpm", "ddim")
DEFAULT_DDIM_STEPS = 50
PNG_SCALE = 4  # screen pixels per MNIST pixel in a PNG grid (nearest neighbour)


def resolve_steps(sampler: str, steps: int | None, num_train_steps: int) -> int:
    """The number of network passes a sampler makes: all T for DDPM, ``steps`` (default 50) for DDIM."""
    if sampler == "ddpm":
        return num_train_steps
    num_steps = DEFAULT_DDIM_STEPS if steps is None else steps
    if not 1 <= num_steps <= num_train_steps:
        raise UsageError(f"--steps must lie in [1, {num_train_steps}] (the model was trained with T = "
                         f"{num_train_steps}), got {num_steps}")  # fmt: skip
    return num_steps


def default_batch_size(device: torch.device) -> int:
    """Images per sampling batch: a large batch keeps a GPU busy; 256 is plenty for a CPU."""
    return 4096 if device.type == "cuda" else 256


def generate(
    model: torch.nn.Module,
    schedule,
    num_samples: int,
    sampler: str = "ddim",
    steps: int | None = None,
    eta: float = 0.0,
    seed: int = 0,
    batch_size: int | None = None,
    progress: bool = True,
) -> torch.Tensor:
    """``num_samples`` images (N, 1, 28, 28) in [-1, 1] on the CPU, drawn batch by batch from one seeded generator.

    ``steps``: DDIM steps (default 50); DDPM always runs all T steps (``steps`` must be None or T). The noise
    comes from a generator on the model's device (on a GPU, a CPU generator would cost a host-to-device copy
    per step), so the same seed gives the same samples on the same device; the CPU and a GPU differ.
    """
    if sampler not in SAMPLERS:
        raise UsageError(f"unknown sampler {sampler!r}; choose ddpm or ddim")
    if num_samples < 1:
        raise UsageError(f"--num-samples must be >= 1, got {num_samples}")
    if sampler == "ddpm" and steps not in (None, schedule.num_steps):
        raise UsageError(f"DDPM runs all {schedule.num_steps} steps; use --sampler ddim for --steps {steps}")
    num_steps = resolve_steps(sampler, steps, schedule.num_steps)
    device = next(model.parameters()).device
    batch_size = batch_size or default_batch_size(device)
    gen = torch.Generator(device=device).manual_seed(seed)
    out = []
    bar = tqdm(total=num_samples, disable=not progress, desc=f"sampling ({sampler})")
    for start in range(0, num_samples, batch_size):
        shape = (min(batch_size, num_samples - start), 1, 28, 28)
        if sampler == "ddpm":
            x = ddpm_sample(model, schedule, shape, generator=gen)
        else:
            x = ddim_sample(model, schedule, shape, num_steps=num_steps, eta=eta, generator=gen)
        out.append(x.cpu())  # one device→host copy per batch
        bar.update(shape[0])
    bar.close()
    return torch.cat(out)


def save_samples(x: torch.Tensor, path: str | Path, nrow: int | None = None, scale: int = PNG_SCALE) -> Path:
    """``.npy``: uint8 (N, 28, 28), 0 = background, 255 = ink. ``.png``: a grid, each pixel ``scale`` × ``scale``."""
    path = Path(path)
    if path.suffix not in (".npy", ".png"):
        raise UsageError(f"--out must end in .npy or .png, got {path.name}")
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.suffix == ".npy":
        np.save(path, to_uint8(x))
        return path
    from torchvision.utils import make_grid, save_image

    nrow = nrow or max(1, int(np.ceil(np.sqrt(len(x)))))
    grid = make_grid((x.cpu().float() + 1) / 2, nrow=nrow, padding=2, pad_value=0.5)  # (3, H, W)
    grid = torch.nn.functional.interpolate(grid[None], scale_factor=scale, mode="nearest")[0]  # (3, sH, sW)
    save_image(grid, path)
    return path
