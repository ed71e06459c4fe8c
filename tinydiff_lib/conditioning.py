"""Conditioning: labels and prompts in training, and classifier-free guidance when sampling (Ho & Salimans 2022).

Training (their Algorithm 1): the condition c of each image, its class label or a caption of it
(:mod:`tinydiff_lib.text`), is replaced by the null condition ∅ with probability p (``cond_drop_prob``), so one
network learns the conditional ε(x, c) and the unconditional ε(x, ∅) together. ∅ is the label embedding's
"no label" row (:data:`~tinydiff_lib.models.NULL_LABEL`) or the empty prompt (all padding).

Sampling (their Algorithm 2): :class:`Guided` mixes the two predictions, ε̃ = (1 + w) ε(x, c) − w ε(x, ∅), in one
batched pass; every sampler of the library runs through it unchanged.

Determinism: the dropout and the captions of step k come from a CPU generator seeded by (seed, k)
(:func:`cond_seed`), drawn for the whole global batch and sliced to this process's rows like the noise, so a
resumed or distributed conditional run sees the same conditions as one uninterrupted run.
"""

from __future__ import annotations

import torch
from torch import nn

from .errors import UsageError
from .models import CONDITIONS, NULL_LABEL, NUM_CLASSES
from .text import MAX_PROMPT_LENGTH, PAD, captions_for, captions_from_seeds, tokenize

__all__ = [
    "CONDITIONS", "NULL_LABEL", "cond_seed", "null_like", "dropout_mask", "drop_condition", "model_condition",
    "condition_kwargs", "run_labels", "check_model_condition", "ConditionSource", "Guided", "guide",
    "check_guidance", "sampling_condition", "evaluation_split", "evaluation_condition", "requested_accuracy",
    "accuracy_over_seeds",
]  # fmt: skip


def cond_seed(seed: int, step: int) -> int:
    """The seed of the conditioning generator at ``step`` (dropout, captions): a pure function of (seed, step)."""
    return (seed + 1) * 2_000_029 + step + 7_919


def null_like(cond: torch.Tensor) -> torch.Tensor:
    """∅ shaped like ``cond``: labels (B,) -> all NULL_LABEL; prompt tokens (B, L) -> all PAD (empty prompts)."""
    return torch.full_like(cond, NULL_LABEL if cond.ndim == 1 else PAD)


def dropout_mask(batch: int, p: float, generator: torch.Generator) -> torch.Tensor:
    """Which of ``batch`` conditions to drop: (B,) bool, each True with probability p, u ~ U[0, 1) < p."""
    return torch.rand(batch, generator=generator) < p


def drop_condition(cond: torch.Tensor, drop: torch.Tensor) -> torch.Tensor:
    """``cond`` with the rows where ``drop`` (B,) is True replaced by ∅; labels (B,) or tokens (B, L)."""
    mask = drop.reshape(-1, *([1] * (cond.ndim - 1)))  # (B,) -> (B, 1) for tokens
    return torch.where(mask.to(cond.device), null_like(cond), cond)


def model_condition(model: nn.Module) -> str:
    """What a network is conditioned on: ``"none"``, ``"label"`` or ``"text"`` (its ``condition`` attribute)."""
    return getattr(model, "condition", "none")


def condition_kwargs(model_kwargs: dict, condition: str) -> dict:
    """A run's model kwargs with ``condition`` in them (unless "none"), so its checkpoint rebuilds the network."""
    if condition not in CONDITIONS:
        raise UsageError(f"condition must be one of {', '.join(CONDITIONS)}, got {condition!r}")
    given = model_kwargs.get("condition", condition)
    if given != condition:
        raise UsageError(f"model_kwargs ask for condition {given!r} but the run's condition is {condition!r}")
    return {**model_kwargs, "condition": condition} if condition != "none" else dict(model_kwargs)


def run_labels(config, labels: torch.Tensor | None) -> torch.Tensor | None:
    """The digits (N,) a conditional run trains on, checked (0–9); None for an unconditional run."""
    if config.condition == "none":
        return None
    if labels is None:
        raise UsageError(f"a run with condition {config.condition!r} needs the labels of its data (labels=...)")
    labels = torch.as_tensor(labels).long()
    if len(labels) and not (0 <= int(labels.min()) and int(labels.max()) < NUM_CLASSES):
        raise UsageError(f"labels must be digits 0 to 9, got values in [{int(labels.min())}, {int(labels.max())}]")
    return labels


def check_model_condition(model: nn.Module, condition: str, name: str) -> None:
    """A run's ``condition`` must be the one the network was built for; one clear line otherwise."""
    kind = model_condition(model)
    if kind == condition:
        return
    if kind == "none":
        raise UsageError(f"model {name!r} takes no condition; --condition {condition} needs a conditional "
                         "FiLM U-Net (film_unet_class, film_unet_text, or film_unet with --condition)")  # fmt: skip
    raise UsageError(f"model {name!r} is conditioned on {kind}; train it with --condition {kind}")


class ConditionSource:
    """``source(step)``: the conditions of this process's ``rows`` at ``step``, on ``device``, or None.

    ``"label"``: the labels (B_local,) of the step's images; ``"text"``: tokens (B_local, L) of a random training
    caption of each label (:func:`~tinydiff_lib.text.captions_from_seeds`). Either way each image's condition is
    dropped to ∅ with probability ``p`` (Ho & Salimans 2022, Algorithm 1). ``batches``: a
    :class:`~tinydiff_lib.batching.BatchSource` made with labels; ``batch``: the global batch size.
    """

    def __init__(self, condition: str, p: float, seed: int, batches, batch: int, rows: slice, device,
                 max_length: int = MAX_PROMPT_LENGTH):  # fmt: skip
        self.condition, self.p, self.seed, self.batches, self.batch = condition, p, seed, batches, batch
        self.rows, self.device, self.max_length = rows, torch.device(device), max_length

    @classmethod
    def of_run(cls, config, batches, rows: slice, device) -> ConditionSource:
        """The source of a :class:`~tinydiff_lib.training.TrainConfig`'s ``condition`` and ``cond_drop_prob``."""
        return cls(config.condition, config.cond_drop_prob, config.seed, batches, config.batch_size, rows, device)

    def __call__(self, step: int) -> torch.Tensor | None:
        if self.condition == "none":
            return None
        gen = torch.Generator().manual_seed(cond_seed(self.seed, step))
        labels = self.batches.labels(step)  # (B_local,) on the CPU
        drop = dropout_mask(self.batch, self.p, gen)[self.rows]  # (B_local,), drawn for the global batch
        if self.condition == "label":
            return self._to_device(drop_condition(labels, drop))
        seeds = torch.randint(2**62, (self.batch,), generator=gen)[self.rows]  # one caption seed per image
        captions = captions_from_seeds(labels.tolist(), seeds.tolist(), "train")
        captions = ["" if d else c for c, d in zip(captions, drop.tolist())]  # "" is the null prompt
        return self._to_device(tokenize(captions, self.max_length))  # (B_local, L)

    def _to_device(self, cond: torch.Tensor) -> torch.Tensor:
        """To the device without a sync: a copy from pinned memory does not wait for the GPU to finish its work."""
        if self.device.type != "cuda":
            return cond.to(self.device)
        return cond.pin_memory().to(self.device, non_blocking=True)


def check_guidance(guidance: float) -> float:
    """The guidance scale w must be a finite number >= 0 (0: purely conditional)."""
    if not (isinstance(guidance, (int, float)) and 0 <= guidance < float("inf")):
        raise UsageError(f"the guidance scale must be a number >= 0 (0 is purely conditional), got {guidance}")
    return float(guidance)


class Guided(nn.Module):
    """Classifier-free guidance around a conditional network (Ho & Salimans 2022, Eq. 6):

        ε̃(x, c) = (1 + w) ε(x, c) − w ε(x, ∅) = ε(x, c) + w (ε(x, c) − ε(x, ∅)),

    a push by w along the difference between the conditional and the unconditional prediction. w = 0 is the
    plain conditional model (then only the conditional half is computed); w > 0 trades diversity for fidelity to c.
    The mix is linear with weights summing to 1, so it gives the same result on any prediction that is affine in ε
    with a coefficient of x that does not depend on c: x̂_0 = (x_t − √(1 − ᾱ_t) ε)/√ᾱ_t, and the σ-view
    denoiser D(x; σ) = x − σ ε. One wrapper serves ε-models, ``model(x, t, cond)``, and σ-denoisers,
    ``denoiser(x, sigma, cond)`` (:class:`~tinydiff_lib.edm.EDMPrecond`, :class:`~tinydiff_lib.edm.DDPMDenoiser`).

    One network pass per call: ``model(cat[x, x], cat[level, level], cat[c, ∅])`` on 2B images, split in halves.
    ``cond``: labels (B,) or prompt tokens (B, L) on the model's device; ``null``: ∅ (default :func:`null_like`).
    ``forward(x, level)``: x (B, …), level t or σ (B,) or a scalar -> (B, …), like the wrapped model.
    """

    def __init__(self, model: nn.Module, cond: torch.Tensor, guidance: float = 0.0, null: torch.Tensor | None = None):
        super().__init__()
        self.model, self.guidance = model, check_guidance(guidance)
        self.register_buffer("cond", cond, persistent=False)
        self.register_buffer("null", null_like(cond) if null is None else null, persistent=False)

    def forward(self, x: torch.Tensor, level: torch.Tensor | float) -> torch.Tensor:
        level = torch.as_tensor(level, device=x.device)
        level = level.expand(len(x)) if level.ndim == 0 else level  # (B,)
        if self.guidance == 0:
            return self.model(x, level, self.cond)
        out = self.model(torch.cat([x, x]), torch.cat([level, level]), torch.cat([self.cond, self.null]))  # (2B, …)
        out_c, out_u = out.chunk(2)  # 2 × (B, …): conditional, unconditional
        return out_c + self.guidance * (out_c - out_u)

    def extra_repr(self) -> str:
        return f"guidance={self.guidance}"


def guide(model: nn.Module, cond: torch.Tensor | None, guidance: float = 0.0) -> nn.Module:
    """``model`` itself for ``cond=None`` (unconditional sampling), else ``Guided(model, cond, guidance)``."""
    return model if cond is None else Guided(model, cond, guidance)


def sampling_condition(model: nn.Module, num_samples: int, labels=None, prompts=None,
                       guidance: float = 0.0) -> torch.Tensor | None:  # fmt: skip
    """The conditions of ``num_samples`` samples, checked against what ``model`` is conditioned on.

    ``labels``: a digit or (N,) digits 0–9; ``prompts``: a string or N strings. Returns labels (N,) or tokens
    (N, L) on the CPU, or None (neither given: unconditional sampling, guidance must then be 0).
    """
    check_guidance(guidance)
    if labels is not None and prompts is not None:
        raise UsageError("give --label or --prompt, not both")
    given = "label" if labels is not None else "text" if prompts is not None else None
    if given is None:
        if guidance > 0:
            raise UsageError("--guidance needs a condition to push towards: add --label D or --prompt TEXT, or, "
                             "for an unconditional checkpoint, --guide-checkpoint GUIDE (autoguidance)")  # fmt: skip
        return None
    option, kind = "--label" if given == "label" else "--prompt", model_condition(model)
    if kind == "none":
        raise UsageError(f"this checkpoint is unconditional: drop {option} (or train with --condition {given})")
    if kind != given:
        other = "--label D" if kind == "label" else '--prompt TEXT (e.g. --prompt "the digit 3")'
        raise UsageError(f"this checkpoint is conditioned on {'class labels' if kind == 'label' else 'text'}: "
                         f"use {other} instead of {option}")  # fmt: skip
    if given == "label":
        labels = torch.as_tensor(labels).long().flatten()  # (N,) or (1,)
        bad = labels[(labels < 0) | (labels >= NUM_CLASSES)]
        if len(bad):
            raise UsageError(f"label {int(bad[0])} is not a digit; --label takes 0 to 9")
        cond = labels.expand(num_samples) if len(labels) == 1 else labels
    else:
        prompts = [prompts] if isinstance(prompts, str) else list(prompts)
        cond = tokenize(prompts, model.text_encoder.max_length)  # (N or 1, L)
        cond = cond.expand(num_samples, -1) if len(cond) == 1 else cond
    if len(cond) != num_samples:
        raise UsageError(f"got {len(cond)} conditions for {num_samples} samples; give one, or one per sample")
    return cond.contiguous()


def evaluation_split(condition: str, guidance: float, prompts: str | None) -> str | None:
    """The template split a text checkpoint is evaluated on ("train" by default), None for other checkpoints;
    checks that ``prompts`` and ``guidance`` suit the checkpoint's ``condition``."""
    check_guidance(guidance)
    if prompts is not None and condition != "text":
        takes = "labels" if condition == "label" else "no condition"
        raise UsageError(f"--prompts train|held_out is for text-conditioned checkpoints; this one takes {takes}")
    if condition == "none" and guidance != 0:
        raise UsageError("--guidance needs a conditional checkpoint; this one is unconditional")
    if prompts not in (None, "train", "held_out"):
        raise UsageError(f"--prompts must be train or held_out, got {prompts!r}")
    return (prompts or "train") if condition == "text" else None


def evaluation_condition(condition: str, num_samples: int, prompts: str | None = "train", seed: int = 0) -> tuple:
    """(requested digits (N,), the ``labels=`` or ``prompts=`` arguments of ``generate``) for an evaluation.

    Digit i mod 10 for sample i: an equal number per digit (to within one). A text model gets one caption per
    sample from the template split ``prompts`` ("train" or "held_out"), drawn with ``seed``. An unconditional
    ``condition`` ("none") gives (None, {}).
    """
    if condition == "none":
        return None, {}
    digits = torch.arange(num_samples) % NUM_CLASSES  # (N,)
    if condition == "label":
        return digits, {"labels": digits}
    return digits, {"prompts": captions_for(digits, torch.Generator().manual_seed(seed), prompts)}


def requested_accuracy(probs: torch.Tensor, digits: torch.Tensor) -> dict:
    """How often the MNIST classifier sees the requested digit: ``accuracy`` = mean of [argmax p(· | x_i) = y_i]
    over the N samples, and ``accuracy_per_digit`` (10 values, None for a digit never requested).

    ``probs``: (N, 10) class probabilities of the samples; ``digits``: (N,) the requested digits.
    """
    correct = probs.argmax(dim=1) == digits  # (N,) bool
    per_digit = [float(correct[digits == d].double().mean()) if (digits == d).any() else None
                 for d in range(probs.shape[1])]  # fmt: skip
    return {"accuracy": float(correct.double().mean()), "accuracy_per_digit": per_digit}


def accuracy_over_seeds(runs: list[dict]) -> dict:
    """``accuracy`` (with ``accuracy_seed_std``) and ``accuracy_per_digit`` averaged over runs of several seeds."""
    values = torch.tensor([run["accuracy"] for run in runs], dtype=torch.float64)
    per_digit = zip(*(run["accuracy_per_digit"] for run in runs))
    return {"accuracy": float(values.mean()), "accuracy_seed_std": float(values.std()),
            "accuracy_per_digit": [None if None in a else sum(a) / len(a) for a in per_digit]}  # fmt: skip
