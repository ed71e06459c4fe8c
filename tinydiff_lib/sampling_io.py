"""Generate many samples from a checkpoint in batches, and write them as .npy or .png."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from tqdm.auto import tqdm

from .data import to_uint8
from .samplers import ddim_sample, ddpm_sample

__all__ = ["generate", "save_samples", "resolve_steps"]

SAMPLERS = ("ddpm", "ddim")
DEFAULT_DDIM_STEPS = 50


def resolve_steps(sampler: str, steps: int | None, num_train_steps: int) -> int:
    """The number of network passes a sampler makes: all T for DDPM, ``steps`` (default 50) for DDIM."""
    return num_train_steps if sampler == "ddpm" else steps or DEFAULT_DDIM_STEPS


def generate(
    model: torch.nn.Module,
    schedule,
    num_samples: int,
    sampler: str = "ddim",
    steps: int | None = None,
    eta: float = 0.0,
    seed: int = 0,
    batch_size: int = 256,
    progress: bool = True,
) -> torch.Tensor:
    """``num_samples`` images (N, 1, 28, 28) in [-1, 1], drawn batch by batch from one seeded CPU generator.

    ``steps``: DDIM steps (default 50); DDPM always runs all T steps (``steps`` must be None or T).
    """
    if sampler not in SAMPLERS:
        raise ValueError(f"unknown sampler {sampler!r}; choose ddpm or ddim")
    if num_samples < 1:
        raise ValueError(f"--num-samples must be >= 1, got {num_samples}")
    if sampler == "ddpm" and steps not in (None, schedule.num_steps):
        raise ValueError(f"DDPM runs all {schedule.num_steps} steps; use --sampler ddim for --steps {steps}")
    num_steps = resolve_steps(sampler, steps, schedule.num_steps)
    gen = torch.Generator().manual_seed(seed)
    out = []
    bar = tqdm(total=num_samples, disable=not progress, desc=f"sampling ({sampler})")
    for start in range(0, num_samples, batch_size):
        shape = (min(batch_size, num_samples - start), 1, 28, 28)
        if sampler == "ddpm":
            x = ddpm_sample(model, schedule, shape, generator=gen)
        else:
            x = ddim_sample(model, schedule, shape, num_steps=num_steps, eta=eta, generator=gen)
        out.append(x.cpu())
        bar.update(shape[0])
    bar.close()
    return torch.cat(out)


def save_samples(x: torch.Tensor, path: str | Path, nrow: int | None = None) -> Path:
    """``.npy``: uint8 (N, 28, 28), 0 = background, 255 = ink. ``.png``: a grid image."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.suffix == ".npy":
        np.save(path, to_uint8(x))
    elif path.suffix == ".png":
        from torchvision.utils import save_image

        nrow = nrow or max(1, int(np.ceil(np.sqrt(len(x)))))
        save_image((x.cpu() + 1) / 2, path, nrow=nrow, padding=2, pad_value=0.5)
    else:
        raise ValueError(f"--out must end in .npy or .png, got {path.name}")
    return path
