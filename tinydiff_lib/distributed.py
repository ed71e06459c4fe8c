"""Data-parallel training under ``torchrun``: one process per device, one global batch split between them.

    torchrun --standalone --nproc_per_node N -m tinydiff_lib train --model film_unet ...

``torchrun`` sets ``RANK``, ``LOCAL_RANK`` and ``WORLD_SIZE``; :func:`setup` reads them and joins the process
group (NCCL on CUDA, Gloo on the CPU). Every rank walks the same per-epoch permutation and draws the same
noise for the whole global batch of B images, then keeps its own slice of B / N rows
(:func:`local_slice`), so N processes see exactly the rows, timesteps and ε one process would see.
``DistributedDataParallel`` averages the gradients, and the mean of N equal-sized slice means is the mean
over the whole batch: without batch-dependent layers (GroupNorm, not BatchNorm), N ranks take the same step
as one process, up to floating-point rounding. Rank 0 alone writes checkpoints and shows the progress bar.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import torch
import torch.distributed as dist

from .errors import UsageError

__all__ = ["World", "setup", "local_slice", "mean_over_ranks", "cleanup"]


@dataclass(frozen=True)
class World:
    """Where this process sits: ``rank`` in [0, ``size``); ``size`` = 1 outside torchrun."""

    rank: int = 0
    size: int = 1
    local_rank: int = 0

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def distributed(self) -> bool:
        return self.size > 1


def setup(device: torch.device) -> tuple[World, torch.device]:
    """Join the process group when started by torchrun (``WORLD_SIZE`` > 1); return the world and device.

    On CUDA each rank takes GPU ``LOCAL_RANK``. Outside torchrun nothing happens.
    """
    size = int(os.environ.get("WORLD_SIZE", "1"))
    if size <= 1:
        return World(), device
    world = World(int(os.environ["RANK"]), size, int(os.environ.get("LOCAL_RANK", "0")))
    if device.type == "cuda":
        device = torch.device("cuda", world.local_rank)
        torch.cuda.set_device(device)
    elif device.type != "cpu":
        raise UsageError(f"torchrun training runs on cuda or cpu, not {device.type}")
    if not dist.is_initialized():
        dist.init_process_group("nccl" if device.type == "cuda" else "gloo", rank=world.rank, world_size=size)
    return world, device


def local_slice(world: World, batch_size: int) -> slice:
    """The rows of a global batch of ``batch_size`` that belong to this rank (equal shares)."""
    if batch_size % world.size:
        raise UsageError(f"--batch-size {batch_size} must be divisible by the number of processes ({world.size})")
    share = batch_size // world.size
    return slice(world.rank * share, (world.rank + 1) * share)


def mean_over_ranks(x: torch.Tensor, world: World) -> torch.Tensor:
    """Average ``x`` over all ranks (a no-op for one process); used for the logged loss."""
    if not world.distributed:
        return x
    x = x.clone()
    dist.all_reduce(x, op=dist.ReduceOp.SUM)
    return x / world.size


def cleanup(world: World) -> None:
    """Leave the process group (after a barrier, so no rank exits while another still writes)."""
    if world.distributed and dist.is_initialized():
        dist.barrier()
        dist.destroy_process_group()
