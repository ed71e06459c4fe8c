"""The optimiser of every training run: AdamW with a no-decay group, and its learning-rate schedule."""

from __future__ import annotations

import math

import torch

__all__ = ["make_optimizer", "make_lr_schedule", "lr_factor"]


def make_optimizer(model: torch.nn.Module, config) -> torch.optim.AdamW:
    """AdamW with two groups: weight matrices/kernels (ndim ≥ 2) decay, biases and norm gains (ndim ≤ 1) do not."""
    params = [p for p in model.parameters() if p.requires_grad]
    groups = [
        {"params": [p for p in params if p.ndim >= 2], "weight_decay": config.weight_decay},
        {"params": [p for p in params if p.ndim <= 1], "weight_decay": 0.0},
    ]
    return torch.optim.AdamW(groups, lr=config.lr)


def lr_factor(step: int, config) -> float:
    """The learning rate at ``step`` as a fraction of ``config.lr``: linear warm-up over ``config.warmup_steps``,
    then constant or a cosine decay to 0 at ``config.steps`` (``config.lr_schedule``)."""
    if config.warmup_steps and step < config.warmup_steps:
        return (step + 1) / config.warmup_steps
    if config.lr_schedule == "constant":
        return 1.0
    span = max(1, config.steps - config.warmup_steps)
    return 0.5 * (1 + math.cos(math.pi * min(1.0, (step - config.warmup_steps) / span)))


def make_lr_schedule(optimizer: torch.optim.Optimizer, config) -> torch.optim.lr_scheduler.LambdaLR:
    """The schedule of :func:`lr_factor`, stepped once per training step."""
    return torch.optim.lr_scheduler.LambdaLR(optimizer, lambda step: lr_factor(step, config))
