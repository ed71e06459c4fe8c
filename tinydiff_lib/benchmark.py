"""Throughput probe: training and sampling images/s of a registered model on a device, with or without
bfloat16 autocast, ``channels_last`` memory and ``torch.compile``.

Training: images/s through one optimiser step (forward, L_simple backward, AdamW). Sampling: images/s
through one network evaluation without gradients; a DDPM sample needs T = 1000 of them, a DDIM or ODE
sample ``--steps`` of them. Each phase runs ``warmup`` untimed steps (compilation happens there), then up
to ``steps`` timed ones (fewer once ``max_seconds`` has passed). A probe, not a test: on a shared machine
the numbers are noisy.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from .models import build_model
from .utils import count_parameters

__all__ = ["Variant", "VARIANTS", "images_per_second", "benchmark_model"]


@dataclass(frozen=True)
class Variant:
    """How the network runs: bfloat16 autocast, channels_last weights and activations, torch.compile."""

    name: str
    bf16: bool = False
    channels_last: bool = False
    compile: bool = False


VARIANTS = {
    v.name: v
    for v in [
        Variant("fp32"),
        Variant("bf16", bf16=True),
        Variant("bf16+channels_last", bf16=True, channels_last=True),
        Variant("bf16+channels_last+compile", bf16=True, channels_last=True, compile=True),
        Variant("fp32+compile", compile=True),
    ]
}


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    elif device.type == "mps":
        torch.mps.synchronize()


def images_per_second(step, batch: int, device: torch.device, warmup: int, steps: int, max_seconds: float) -> float:
    """Run ``step()`` ``warmup`` times untimed, then up to ``steps`` times timed; batch · steps / seconds."""
    for _ in range(warmup):
        step()
    _sync(device)
    done, start = 0, time.perf_counter()
    while done < steps:
        step()
        done += 1
        if time.perf_counter() - start > max_seconds:
            break
    _sync(device)
    return batch * done / (time.perf_counter() - start)


def benchmark_model(
    name: str,
    device: torch.device,
    variant: Variant = VARIANTS["fp32"],
    train_batch: int = 64,
    sample_batch: int = 128,
    warmup: int = 1,
    steps: int = 3,
    max_seconds: float = 10.0,
    seed: int = 0,
) -> dict:
    """``{"model", "variant", "parameters", "train", "sample"}``: images/s of one model on ``device``."""
    torch.manual_seed(seed)
    model = build_model(name).to(device)
    fmt = torch.channels_last if variant.channels_last else torch.contiguous_format
    model = model.to(memory_format=fmt)
    net = torch.compile(model) if variant.compile else model
    opt = torch.optim.AdamW(model.parameters(), lr=1e-4)

    def batch(n: int):
        x = torch.randn(n, 1, 28, 28, device=device).contiguous(memory_format=fmt)  # (B, 1, 28, 28)
        return x, torch.randint(0, 1000, (n,), device=device)

    xt, t = batch(train_batch)
    eps = torch.randn_like(xt)

    def train_step() -> None:
        opt.zero_grad(set_to_none=True)
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=variant.bf16):
            loss = F.mse_loss(net(xt, t).float(), eps)
        loss.backward()
        opt.step()

    model.train()
    train_rate = images_per_second(train_step, train_batch, device, warmup, steps, max_seconds)
    xs, ts = batch(sample_batch)

    @torch.no_grad()
    def sample_step() -> None:
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=variant.bf16):
            net(xs, ts)

    model.eval()
    sample_rate = images_per_second(sample_step, sample_batch, device, warmup, steps, max_seconds)
    return {"model": name, "variant": variant.name, "parameters": count_parameters(model), "train": train_rate,
            "sample": sample_rate}  # fmt: skip
