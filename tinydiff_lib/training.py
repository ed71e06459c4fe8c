"""Training: a frozen :class:`TrainConfig` and one plain :func:`train` loop (Ho et al. 2020, Algorithm 1).

The loop is resumable bit for bit on the CPU: the model, EMA, optimizer, LR schedule, the data order
(a permutation per epoch drawn from ``seed`` and the epoch number) and every RNG state are saved in
the checkpoint, so a run killed at any point and resumed gives the same weights as one that was not.
"""

from __future__ import annotations

import dataclasses
import math
import time
from dataclasses import dataclass, field
from pathlib import Path

import torch
from torch.optim.swa_utils import AveragedModel
from tqdm.auto import tqdm

from . import __version__
from .checkpoint import FORMAT, FORMAT_VERSION, load_checkpoint, save_checkpoint
from .diffusion import diffusion_loss
from .models import build_model
from .schedule import SCHEDULES, NoiseSchedule
from .utils import get_device

__all__ = ["TrainConfig", "TrainResult", "NonFiniteLossError", "train", "make_ema"]


class NonFiniteLossError(RuntimeError):
    """The loss became NaN or infinite; the last good checkpoint was left as it was."""


@dataclass(frozen=True)
class TrainConfig:
    """Everything that decides a training run. ``steps`` is the total number of optimiser steps."""

    model: str = "tiny_conv"
    model_kwargs: dict = field(default_factory=dict)
    schedule: str = "linear"
    num_diffusion_steps: int = 1000
    steps: int = 1000
    batch_size: int = 128
    lr: float = 1e-3
    lr_schedule: str = "cosine"  # "constant" or "cosine" (decay to 0 over ``steps``)
    warmup_steps: int = 0
    weight_decay: float = 0.0
    grad_clip: float = 1.0
    ema_decay: float = 0.999  # 0 disables EMA
    amp: bool = True  # bfloat16 autocast, used on CUDA only
    seed: int = 0
    checkpoint_every: int = 500

    def __post_init__(self):
        checks = [
            (self.steps >= 1, f"steps must be >= 1, got {self.steps}"),
            (self.batch_size >= 1, f"batch_size must be >= 1, got {self.batch_size}"),
            (self.lr > 0 and math.isfinite(self.lr), f"lr must be a positive number, got {self.lr}"),
            (
                self.lr_schedule in ("constant", "cosine"),
                f"lr_schedule must be constant or cosine, got {self.lr_schedule!r}",
            ),
            (self.warmup_steps >= 0, f"warmup_steps must be >= 0, got {self.warmup_steps}"),
            (0 <= self.ema_decay < 1, f"ema_decay must be in [0, 1), got {self.ema_decay}"),
            (self.grad_clip > 0, f"grad_clip must be > 0, got {self.grad_clip}"),
            (self.checkpoint_every >= 1, f"checkpoint_every must be >= 1, got {self.checkpoint_every}"),
            (self.schedule in SCHEDULES, f"unknown schedule {self.schedule!r}; choose one of {', '.join(SCHEDULES)}"),
            (self.num_diffusion_steps >= 1, f"num_diffusion_steps must be >= 1, got {self.num_diffusion_steps}"),
        ]
        for ok, message in checks:
            if not ok:
                raise ValueError(message)

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)


@dataclass
class TrainResult:
    model: torch.nn.Module  # the raw (non-averaged) weights
    ema_model: torch.nn.Module  # the weights to sample from: the EMA, or ``model`` when EMA is off
    schedule: NoiseSchedule
    history: dict
    step: int
    wall_time_s: float
    checkpoint: Path | None


def make_ema(model: torch.nn.Module, decay: float) -> AveragedModel:
    """EMA of the weights via ``torch.optim.swa_utils.AveragedModel``; buffers (BatchNorm stats) too.

    The decay warms up as min(decay, (1 + n)/(10 + n)) after n updates, so short runs are not dominated
    by the random initial weights.
    """

    def avg_fn(avg, param, num_averaged):
        n = float(num_averaged)
        d = min(decay, (1 + n) / (10 + n))
        return d * avg + (1 - d) * param

    return AveragedModel(model, avg_fn=avg_fn, use_buffers=True)


def _lr_lambda(config: TrainConfig):
    def factor(step: int) -> float:
        if config.warmup_steps and step < config.warmup_steps:
            return (step + 1) / config.warmup_steps
        if config.lr_schedule == "constant":
            return 1.0
        span = max(1, config.steps - config.warmup_steps)
        return 0.5 * (1 + math.cos(math.pi * min(1.0, (step - config.warmup_steps) / span)))

    return factor


def _batch_indices(step: int, n: int, batch_size: int, seed: int) -> torch.Tensor:
    """Indices of the batch used at ``step``: epoch e shuffles with a generator seeded by (seed, e)."""
    per_epoch = n // batch_size
    if per_epoch == 0:
        raise ValueError(f"batch_size {batch_size} is larger than the data ({n} images)")
    epoch, i = divmod(step, per_epoch)
    perm = torch.randperm(n, generator=torch.Generator().manual_seed(seed * 100_003 + epoch))
    return perm[i * batch_size : (i + 1) * batch_size]


def _rng_state(gen: torch.Generator) -> dict:
    state = {"torch": torch.get_rng_state(), "noise": gen.get_state()}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def _set_rng_state(gen: torch.Generator, state: dict) -> None:
    torch.set_rng_state(state["torch"])
    gen.set_state(state["noise"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def train(
    config: TrainConfig,
    data: torch.Tensor | None = None,
    out: str | Path | None = None,
    resume: bool = False,
    device: str | torch.device = "auto",
    progress: bool = True,
    data_root: str | None = None,
    stop_after: int | None = None,
) -> TrainResult:
    """Train ``config.model`` to predict ε with L_simple (Ho et al. Algorithm 1).

    ``data``: images (N, C, H, W) in [-1, 1]; MNIST-train when None. ``out``: checkpoint path, written
    every ``config.checkpoint_every`` steps and at the end (atomically). ``resume``: continue from ``out``
    up to ``config.steps``. ``stop_after``: stop (with a checkpoint) after this many steps of this call,
    e.g. to run a long job in slices.
    """
    device = get_device(device)
    if data is None:
        from .data import mnist_tensor

        data, _ = mnist_tensor(train=True, root=data_root)
    if device.type == "cuda":
        data = data.pin_memory()
    torch.manual_seed(config.seed)
    model = build_model(config.model, **config.model_kwargs).to(device)
    ema = make_ema(model, config.ema_decay) if config.ema_decay > 0 else None
    schedule = NoiseSchedule(name=config.schedule, num_steps=config.num_diffusion_steps).to(device)
    optimizer = torch.optim.AdamW(model.parameters(), lr=config.lr, weight_decay=config.weight_decay)
    lr_sched = torch.optim.lr_scheduler.LambdaLR(optimizer, _lr_lambda(config))
    noise_gen = torch.Generator(device=device).manual_seed(config.seed + 1)
    history = {"step": [], "loss": []}
    step, wall_before = 0, 0.0

    out = Path(out) if out is not None else None
    if resume:
        if out is None or not out.exists():
            raise FileNotFoundError(f"--resume needs an existing checkpoint at {out}")
        ckpt = load_checkpoint(out, map_location=device)
        if ckpt.get("train_state") is None:
            raise ValueError(f"{out} holds no training state (an exported checkpoint); train into a new --out")
        saved = {k: v for k, v in ckpt["config"].items() if k not in ("steps", "checkpoint_every")}
        now = {k: v for k, v in config.to_dict().items() if k not in ("steps", "checkpoint_every")}
        if saved != now:
            diff = sorted(k for k in now if saved.get(k) != now[k])
            raise ValueError(f"cannot resume {out}: its settings differ in {', '.join(diff)}")
        ts = ckpt["train_state"]
        model.load_state_dict(ts["model"])
        if ema is not None:
            ema.load_state_dict(ts["ema"])
        optimizer.load_state_dict(ts["optimizer"])
        lr_sched.load_state_dict(ts["lr_scheduler"])
        _set_rng_state(noise_gen, ts["rng"])
        history = {k: list(v) for k, v in ckpt["history"].items()}
        step, wall_before = ckpt["step"], ckpt["wall_time_s"]

    use_amp = config.amp and device.type == "cuda"
    sample_model = ema.module if ema is not None else model
    start, last_step = time.perf_counter(), config.steps if stop_after is None else min(config.steps, step + stop_after)

    def checkpoint() -> Path | None:
        if out is None:
            return None
        return save_checkpoint(
            {
                "format": FORMAT,
                "format_version": FORMAT_VERSION,
                "library_version": __version__,
                "torch_version": str(torch.__version__),
                "model": {"name": config.model, "kwargs": dict(config.model_kwargs)},
                "schedule": {"name": config.schedule, "num_steps": config.num_diffusion_steps},
                "config": config.to_dict(),
                "state_dict": {k: v.detach().cpu() for k, v in sample_model.state_dict().items()},
                "ema": ema is not None,
                "step": step,
                "wall_time_s": wall_before + time.perf_counter() - start,
                "device": str(device) if device.type != "cuda" else torch.cuda.get_device_name(device),
                "history": history,
                "train_state": {
                    "model": model.state_dict(),
                    "ema": ema.state_dict() if ema is not None else None,
                    "optimizer": optimizer.state_dict(),
                    "lr_scheduler": lr_sched.state_dict(),
                    "rng": _rng_state(noise_gen),
                },
            },
            out,
        )

    model.train()
    bar = tqdm(total=config.steps, initial=step, disable=not progress, desc=config.model)
    running = None
    while step < last_step:
        x0 = data[_batch_indices(step, len(data), config.batch_size, config.seed)].to(device, non_blocking=True)
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=use_amp):
            loss = diffusion_loss(model, schedule, x0, generator=noise_gen)
        if not torch.isfinite(loss):
            bar.close()
            raise NonFiniteLossError(
                f"loss became {loss.item()} at step {step + 1}; the last checkpoint was kept. "
                "Lower --lr or check the data scaling ([-1, 1])."
            )
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), config.grad_clip)
        optimizer.step()
        lr_sched.step()
        if ema is not None:
            ema.update_parameters(model)
        step += 1
        value = loss.item()
        history["step"].append(step)
        history["loss"].append(value)
        running = value if running is None else 0.98 * running + 0.02 * value
        bar.update(1)
        bar.set_postfix(loss=f"{running:.4f}")
        if step % config.checkpoint_every == 0 and step < last_step:
            checkpoint()
    bar.close()
    path = checkpoint()
    sample_model.eval()
    return TrainResult(
        model=model,
        ema_model=sample_model,
        schedule=schedule,
        history=history,
        step=step,
        wall_time_s=wall_before + time.perf_counter() - start,
        checkpoint=path,
    )
