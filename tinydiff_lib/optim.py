"""The optimiser of every training run: AdamW with a no-decay group, and its learning-rate schedule."""

from __future__ import annotations

import math

import torch

__all__ = ["make_optimizer", "make_lr_schedule", "lr_factor", "first_difference"]


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
    then constant or a cosine decay that reaches 0 at ``config.lr_horizon`` (0: at ``config.steps``); over the
    last ``config.cooldown_steps`` of ``config.steps`` it falls linearly from the value at their start to 0
    (a warm-up-stable-decay "cool-down": a run stopped part way down a long cosine still ends annealed)."""
    if config.warmup_steps and step < config.warmup_steps:
        return (step + 1) / config.warmup_steps
    cool_from = config.steps - getattr(config, "cooldown_steps", 0)
    if step >= cool_from and cool_from < config.steps:
        return _schedule(cool_from, config) * (config.steps - step) / (config.steps - cool_from)
    return _schedule(step, config)


def _schedule(step: int, config) -> float:
    """Constant or cosine after the warm-up (no cool-down)."""
    if config.lr_schedule == "constant":
        return 1.0
    span = max(1, (getattr(config, "lr_horizon", 0) or config.steps) - config.warmup_steps)
    return 0.5 * (1 + math.cos(math.pi * min(1.0, (step - config.warmup_steps) / span)))


def first_difference(config_a, config_b, steps: int) -> int | None:
    """The first step below ``steps`` at which the two configs' learning rates differ (None: none does)."""
    return next((s for s in range(steps) if lr_factor(s, config_a) != lr_factor(s, config_b)), None)


def make_lr_schedule(optimizer: torch.optim.Optimizer, config) -> torch.optim.lr_scheduler.LambdaLR:
    """The schedule of :func:`lr_factor`, stepped once per training step."""
    return torch.optim.lr_scheduler.LambdaLR(optimizer, lambda step: lr_factor(step, config))
