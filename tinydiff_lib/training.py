"""Training: a frozen :class:`TrainConfig` and one plain :func:`train` loop (Ho et al. 2020, Algorithm 1).

The loop is resumable bit for bit on the CPU: the model, EMA, optimiser, LR schedule and RNG states are
saved in the run file; the data order (:mod:`tinydiff_lib.batching`) and the noise of step k (a generator
re-seeded from (seed, k)) are pure functions of the step, so a run killed at any point and resumed gives
the same weights as one that was not, and a run can resume on another device or number of processes.
On a GPU the step makes no host round trip: the data sit on the GPU, losses are read every
``log_every`` steps, and the EMA uses foreach kernels. Under ``torchrun`` the same loop trains with
``DistributedDataParallel`` (:mod:`tinydiff_lib.distributed`). A conditional run also sees the labels of its
rows, or captions of them, dropped with probability ``cond_drop_prob`` (:mod:`tinydiff_lib.conditioning`).
"""

from __future__ import annotations

import dataclasses
import math
import shutil
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from types import SimpleNamespace

import torch
from torch.nn.parallel import DistributedDataParallel
from tqdm.auto import tqdm

from .batching import BatchSource
from .checkpoint import CheckpointError, make_run_file, read_train_state, save_checkpoint
from .conditioning import ConditionSource, check_model_condition, condition_kwargs, run_labels
from .distributed import cleanup, local_slice, mean_over_ranks, setup
from .ema import load_extra_emas, make_ema, make_extra_emas
from .errors import MissingFileError, TinyDiffError, UsageError
from .experiments import final_loss
from .models import build_model
from .objectives import OBJECTIVES, make_loss, recommended_sampling
from .optim import first_difference, make_lr_schedule, make_optimizer
from .schedule import SCHEDULES, NoiseSchedule
from .utils import get_device, native_bf16

__all__ = ["TrainConfig", "TrainResult", "NonFiniteLossError", "train", "make_ema", "make_optimizer"]


class NonFiniteLossError(TinyDiffError, RuntimeError):
    """The loss became NaN or infinite; the last good checkpoint was left as it was."""


@dataclass(frozen=True)
class TrainConfig:
    """Everything that decides a training run. ``steps`` is the total number of optimiser steps."""

    model: str = "tiny_conv"
    model_kwargs: dict = field(default_factory=dict)
    objective: str = "ddpm"  # "ddpm" (ε-prediction, L_simple) or "edm" (σ view, preconditioned; see objectives)
    sigma_p_mean: float = -1.2  # edm: ln σ ~ N(sigma_p_mean, sigma_p_std²) (Karras et al. 2022: −1.2, 1.2)
    sigma_p_std: float = 1.2
    schedule: str = "linear"  # ddpm: the β schedule (edm samples σ directly)
    num_diffusion_steps: int = 1000
    steps: int = 1000
    batch_size: int = 128  # the global batch, split between processes under torchrun
    lr: float = 1e-3
    lr_schedule: str = "cosine"  # "constant" or "cosine" (decay to 0 over ``steps``)
    warmup_steps: int = 0
    lr_horizon: int = 0  # cosine: the step at which it reaches 0 (0: at ``steps``; later: stop part way down it)
    cooldown_steps: int = 0  # the last k steps decay the LR linearly from the schedule's value to 0 (WSD-style)
    weight_decay: float = 0.0  # AdamW decay of weight matrices and kernels; biases and norm gains never decay
    grad_clip: float = 1.0
    ema_decay: float = 0.999  # 0 disables EMA
    extra_ema_decays: tuple = ()  # more EMAs of the same run, kept for the EMA-length study (export one later)
    amp: bool = True  # bfloat16 autocast on CUDA
    cpu_amp: bool = False  # bfloat16 autocast on the CPU too (about 2x faster where the CPU has bf16 units)
    seed: int = 0
    checkpoint_every: int = 500
    condition: str = "none"  # "label" or "text": what the network is conditioned on (merged into model_kwargs)
    cond_drop_prob: float = 0.1  # p: the condition is replaced by the null one with probability p (Ho & Salimans)

    def __post_init__(self):
        object.__setattr__(self, "extra_ema_decays", tuple(float(d) for d in self.extra_ema_decays))
        object.__setattr__(self, "model_kwargs", condition_kwargs(self.model_kwargs, self.condition))
        checks = [
            (0 <= self.cond_drop_prob <= 1, f"cond_drop_prob must be in [0, 1], got {self.cond_drop_prob}"),
            (self.objective in OBJECTIVES, f"unknown objective {self.objective!r}; choose one of {', '.join(OBJECTIVES)}"),  # noqa: E501
            (self.sigma_p_std > 0, f"sigma_p_std must be > 0, got {self.sigma_p_std}"),
            (self.steps >= 1, f"steps must be >= 1, got {self.steps}"),
            (self.batch_size >= 1, f"batch_size must be >= 1, got {self.batch_size}"),
            (self.lr > 0 and math.isfinite(self.lr), f"lr must be a positive number, got {self.lr}"),
            (self.lr_schedule in ("constant", "cosine"), f"lr_schedule must be constant or cosine, got {self.lr_schedule!r}"),  # noqa: E501
            (self.warmup_steps >= 0, f"warmup_steps must be >= 0, got {self.warmup_steps}"),
            (self.lr_horizon == 0 or self.lr_horizon > self.warmup_steps, f"lr_horizon must be 0 or past the warm-up, got {self.lr_horizon}"),  # noqa: E501
            (0 <= self.cooldown_steps <= self.steps - self.warmup_steps, f"cooldown_steps must be in [0, steps - warmup_steps], got {self.cooldown_steps}"),  # noqa: E501
            (self.weight_decay >= 0, f"weight_decay must be >= 0, got {self.weight_decay}"),
            (0 <= self.ema_decay < 1, f"ema_decay must be in [0, 1), got {self.ema_decay}"),
            (all(0 < d < 1 for d in self.extra_ema_decays), f"extra EMA decays must be in (0, 1), got {self.extra_ema_decays}"),  # noqa: E501
            (self.grad_clip > 0, f"grad_clip must be > 0, got {self.grad_clip}"),
            (self.checkpoint_every >= 1, f"checkpoint_every must be >= 1, got {self.checkpoint_every}"),
            (self.schedule in SCHEDULES, f"unknown schedule {self.schedule!r}; choose one of {', '.join(SCHEDULES)}"),
            (self.num_diffusion_steps >= 1, f"num_diffusion_steps must be >= 1, got {self.num_diffusion_steps}"),
        ]  # fmt: skip
        for ok, message in checks:
            if not ok:
                raise UsageError(message)

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


def _noise_seed(seed: int, step: int) -> int:
    """The seed of the noise generator at ``step``: t and ε of a step depend on (seed, step) only."""
    return (seed + 1) * 1_000_003 + step


def _rng_state() -> dict:
    state = {"torch": torch.get_rng_state()}
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def _set_rng_state(state: dict) -> None:
    """Global RNG states (dropout); CUDA states only where the same number of GPUs is visible."""
    torch.set_rng_state(state["torch"])
    if state.get("cuda") and torch.cuda.is_available() and len(state["cuda"]) == torch.cuda.device_count():
        torch.cuda.set_rng_state_all(state["cuda"])


def _check_same_lr(ckpt: dict, config: TrainConfig, path: Path) -> None:
    """A run resumes with a new ``lr_horizon`` or ``cooldown_steps`` only where its learning rate at every step
    already taken stays as it was: then resuming equals training the new config from scratch (a fork of a run
    into a cool-down). A longer ``steps`` alone still extends a run, as it always did."""
    saved = SimpleNamespace(**{**TrainConfig().to_dict(), **ckpt["config"]})
    if all(getattr(saved, k) == getattr(config, k) for k in ("lr_horizon", "cooldown_steps")):
        return
    if (k := first_difference(saved, config, ckpt["step"])) is not None:
        raise CheckpointError(f"cannot resume {path}: the new learning-rate schedule differs at step {k}, which "
                              "it has already taken; train into a new --out")  # fmt: skip


def _device_name(device: torch.device) -> str:
    return torch.cuda.get_device_name(device) if device.type == "cuda" else str(device)


def train(
    config: TrainConfig,
    data: torch.Tensor | None = None,
    out: str | Path | None = None,
    resume: bool = False,
    device: str | torch.device = "auto",
    progress: bool = True,
    data_root: str | None = None,
    stop_after: int | None = None,
    compile: bool = False,
    log_every: int | None = None,
    keep_at: tuple[int, ...] = (),
    labels: torch.Tensor | None = None,
) -> TrainResult:
    """Train ``config.model`` with ``config.objective`` (DDPM: Ho et al. Algorithm 1; EDM: Karras et al. 2022).

    ``data``: images (N, C, H, W) in [-1, 1]; MNIST-train when None. ``out``: run file, written every
    ``config.checkpoint_every`` steps and at the end (atomically; rank 0 only). ``resume``: continue from
    ``out`` up to ``config.steps``. ``stop_after``: stop (with a checkpoint) after this many steps of this
    call. ``compile``: ``torch.compile`` the network. ``log_every``: read the loss back every this many steps
    (default 1 on the CPU, 25 on a GPU, where each read waits for the GPU). ``keep_at``: steps at which a copy
    of the run file is kept as ``<out stem>.step<k>.pt`` (snapshots of one run, e.g. for a curve against budget).
    ``labels``: (N,) digits of ``data``, needed by a conditional run (MNIST's own when ``data`` is None).
    """
    world, device = setup(get_device(device))
    torch.manual_seed(config.seed)
    model = build_model(config.model, **config.model_kwargs).to(device)
    check_model_condition(model, config.condition, config.model)
    if data is None:
        from .data import mnist_tensor

        data, labels = mnist_tensor(train=True, root=data_root)
    channels_last = device.type == "cuda"
    if channels_last:
        model = model.to(memory_format=torch.channels_last)
    ema = make_ema(model, config.ema_decay) if config.ema_decay > 0 else None
    extra_emas = make_extra_emas(model, config.extra_ema_decays)
    schedule = NoiseSchedule(name=config.schedule, num_steps=config.num_diffusion_steps).to(device)
    optimizer = make_optimizer(model, config)
    lr_sched = make_lr_schedule(optimizer, config)
    history, step, wall_before = {"step": [], "loss": []}, 0, 0.0

    out = Path(out) if out is not None else None
    if resume:
        if out is None or not out.exists():
            raise MissingFileError(f"--resume needs an existing run file at {out}")
        ckpt = read_train_state(out, config.to_dict(), defaults=TrainConfig().to_dict())
        _check_same_lr(ckpt, config, out)
        ts = ckpt["train_state"]
        model.load_state_dict(ts["model"])
        if ema is not None:
            ema.load_state_dict(ts["ema"])
        load_extra_emas(extra_emas, ts.get("ema_extra", {}))
        optimizer.load_state_dict(ts["optimizer"])
        lr_sched.load_state_dict(ts["lr_scheduler"])
        _set_rng_state(ts["rng"])
        history = {k: list(v) for k, v in ckpt["history"].items()}
        step, wall_before = ckpt["step"], ckpt["wall_time_s"]

    rows = local_slice(world, config.batch_size)
    batches = BatchSource(data, config.batch_size, config.seed, device, rows, labels=run_labels(config, labels))
    conditions = ConditionSource.of_run(config, batches, rows, device)  # step -> None, labels or prompt tokens
    net = model
    if world.distributed:
        net = DistributedDataParallel(model, device_ids=[device] if device.type == "cuda" else None)
    net = torch.compile(net) if compile else net
    loss_fn = make_loss(config, net, schedule, rows)
    use_amp = (config.amp and device.type == "cuda") or (config.cpu_amp and device.type == "cpu")
    if config.cpu_amp and device.type == "cpu" and not native_bf16(device):
        warnings.warn("--cpu-bf16 on a CPU without bfloat16 units: autocast is emulated here, several times slower "
                      "than float32; leave it off (a float32 run is another run) unless you reproduce a bf16 run",
                      RuntimeWarning, stacklevel=2)  # fmt: skip
    log_every = log_every or (1 if device.type == "cpu" else 25)
    sample_model = ema.module if ema is not None else model
    noise_gen = torch.Generator(device=device)
    runtime = {"world_size": world.size, "compile": compile, "channels_last": channels_last, "amp": use_amp}
    start = time.perf_counter()
    last_step = config.steps if stop_after is None else min(config.steps, step + stop_after)

    def checkpoint() -> Path | None:
        if out is None or not world.is_main:
            return None
        train_state = {
            "model": model.state_dict(),
            "ema": ema.state_dict() if ema is not None else None,
            "ema_extra": {str(d): e.state_dict() for d, e in extra_emas.items()},
            "optimizer": optimizer.state_dict(),
            "lr_scheduler": lr_sched.state_dict(),
            "rng": _rng_state(),
        }
        ckpt = make_run_file(config.to_dict(), sample_model.state_dict(), train_state, ema=ema is not None,
                             step=step, wall_time_s=wall_before + time.perf_counter() - start,
                             device=_device_name(device), runtime=runtime, history=history,
                             sampling=recommended_sampling(config.to_dict()))  # fmt: skip
        return save_checkpoint(ckpt, out)

    def keep(path: Path | None) -> Path | None:
        if path is not None and step in keep_at:  # a snapshot: <stem>.step<k>.pt beside the run file
            shutil.copyfile(path, path.with_name(f"{path.stem}.step{step}.pt"))
        return path

    model.train()
    bar = tqdm(total=config.steps, initial=step, disable=not (progress and world.is_main), desc=config.model)
    if history["loss"]:
        bar.set_postfix(loss=f"{final_loss(history):.4f}")
    pending: list[torch.Tensor] = []  # losses of steps not yet read back, on the device

    def flush() -> None:
        values = mean_over_ranks(torch.stack(pending), world).tolist()  # one device→host read
        first = step - len(values) + 1
        pending.clear()
        for k, value in enumerate(values):
            if not math.isfinite(value):
                bar.close()
                raise NonFiniteLossError(
                    f"loss became {value} at step {first + k}; the last checkpoint was kept. "
                    "Lower --lr or check the data scaling ([-1, 1])."
                )
        history["step"].extend(range(first, step + 1))
        history["loss"].extend(values)
        bar.update(len(values))
        bar.set_postfix(loss=f"{final_loss(history):.4f}")  # mean of the recent losses, seeded from history

    while step < last_step:
        x0 = batches[step]  # (B_local, C, H, W) on the device
        noise_gen.manual_seed(_noise_seed(config.seed, step))  # t (or σ) and ε of this step
        cond = conditions(step)  # None, labels (B_local,) or prompt tokens (B_local, L)
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=use_amp):
            loss = loss_fn(x0, noise_gen, cond)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), config.grad_clip)
        optimizer.step()
        lr_sched.step()
        for averaged in ([ema] if ema is not None else []) + list(extra_emas.values()):
            averaged.update_parameters(model)
        step += 1
        pending.append(loss.detach())
        at_checkpoint = step % config.checkpoint_every == 0 or step == last_step or step in keep_at
        if len(pending) >= log_every or at_checkpoint:
            flush()  # before every checkpoint: a non-finite loss never reaches a file
        if at_checkpoint and step < last_step:
            keep(checkpoint())
    bar.close()
    path = keep(checkpoint())
    cleanup(world)
    sample_model.eval()
    return TrainResult(model=model, ema_model=sample_model, schedule=schedule, history=history, step=step,
                       wall_time_s=wall_before + time.perf_counter() - start, checkpoint=path)  # fmt: skip
