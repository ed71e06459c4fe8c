"""Autoguidance: guide a model with a weaker version of itself (Karras et al. 2024), no labels needed.

Classifier-free guidance (:class:`~tinydiff_lib.conditioning.Guided`) pushes the conditional prediction away from
the unconditional one. Karras et al. ("Guiding a diffusion model with a bad version of itself", 2024) push a
model's prediction away from that of a *weaker* model of the same kind, here an earlier snapshot of the same run:

    D̃(x; σ) = D(x; σ) + w (D(x; σ) − D_guide(x; σ)),        w = 0: the model alone,

with the same convention as our CFG scale (their guidance weight is 1 + w). Both models err where the data is
hard to learn, the weaker one more, so the difference points away from those errors: the push sharpens what the
model is unsure of without pulling every sample towards one prototype, which is how it raises precision at less
cost in recall than a plain sharpening would. It needs no condition, so it serves an unconditional model.

The mix is taken on the networks' raw outputs: for two networks trained with the same objective the prediction
(x̂_0, or D = c_skip x + c_out F in the σ view) is affine in the output with coefficients that do not depend on
the network, so mixing outputs with weights 1 + w and −w mixes the predictions the same way. :func:`check_guide`
makes sure the two checkpoints share what those coefficients depend on.

A guidance *interval* (Kynkäänniemi et al. 2024, "Applying guidance in a limited interval improves sample and
distribution quality") applies the push only for σ in (σ_lo, σ_hi] and samples with D alone elsewhere: at high
noise guidance narrows where samples go (a cost in FID and recall), at low noise it has little left to fix, so
the push is spent where the digit's shape is decided. :func:`noise_input` turns the σ range into the range of
the network's own time input, which is what :class:`AutoGuided` sees.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from .conditioning import check_guidance, model_condition
from .errors import UsageError

__all__ = [
    "AutoGuided",
    "check_guide",
    "autoguided",
    "load_sampling_model",
    "noise_input",
    "check_interval",
    "limited_guidance",
]


def check_guide(main_ckpt: dict, guide_ckpt: dict) -> None:
    """Refuse a guide whose outputs do not mean what the main model's mean: the same objective (and, for DDPM
    ε-models, the same ᾱ schedule), both unconditional (a conditional model has classifier-free guidance)."""
    main, guide = main_ckpt["config"], guide_ckpt["config"]
    objective = main.get("objective", "ddpm")
    if guide.get("objective", "ddpm") != objective:
        raise UsageError(f"the guide checkpoint was trained with objective {guide.get('objective', 'ddpm')!r}, the "
                         f"model with {objective!r}: guide with a snapshot of the same kind of run")  # fmt: skip
    if objective == "ddpm" and main_ckpt["schedule"] != guide_ckpt["schedule"]:
        raise UsageError("the guide checkpoint has another noise schedule: guide with a snapshot of the same run")
    if main.get("condition", "none") != "none" or guide.get("condition", "none") != "none":
        raise UsageError("--guide-checkpoint is for unconditional checkpoints; a conditional one is guided by "
                         "--guidance alone (classifier-free guidance)")  # fmt: skip


def check_interval(interval) -> tuple[float, float] | None:
    """None, or (σ_lo, σ_hi) as floats with 0 <= σ_lo < σ_hi <= inf; anything else is a :class:`UsageError`."""
    if interval is None:
        return None
    lo, hi = (float(v) for v in interval)
    if not 0 <= lo < hi:
        raise UsageError(f"a guidance interval needs 0 <= sigma_lo < sigma_hi, got ({lo:g}, {hi:g})")
    return lo, hi


def noise_input(model: nn.Module, schedule, objective: str, sigma: float) -> float:
    """The time input t the checkpoint's network is given at noise level ``sigma`` (float; ±inf for σ = 0 or ∞).

    EDM: t_in(σ) of :class:`~tinydiff_lib.edm.EDMPrecond`; DDPM: t(σ) of :class:`~tinydiff_lib.edm.DDPMDenoiser`
    (σ_t = √((1 − ᾱ_t)/ᾱ_t), interpolated). Both grow with σ, so (σ_lo, σ_hi] maps to (t(σ_lo), t(σ_hi)].
    """
    from .sampling_io import sigma_denoiser

    if sigma <= 0 or math.isinf(sigma):
        return -math.inf if sigma <= 0 else math.inf
    denoiser, _, _ = sigma_denoiser(model, schedule, objective)
    s = torch.tensor([sigma], dtype=torch.float64)
    t = denoiser.noise_to_t(s.log() / 4) if objective == "edm" else denoiser.sigma_to_t(s)
    return float(t[0])


class AutoGuided(nn.Module):
    """The network of D̃ = D + w (D − D_guide) (module docstring), as one network: ``forward(x, t)``.

    x (B, 1, 28, 28), t (B,) or a scalar noise input -> (B, 1, 28, 28): (1 + w) F(x, t) − w F_guide(x, t).
    Two passes per call (one per network); w = 0 runs the main network only. ``t_range`` (t_lo, t_hi): push only
    the images whose t is in (t_lo, t_hi] (a guidance interval, from :func:`noise_input`), F alone for the others;
    the guide runs only when some image is inside. Unconditional: ``condition`` is "none", so the samplers treat
    it like any unconditional network.
    """

    condition = "none"

    def __init__(self, model: nn.Module, guide: nn.Module, guidance: float, t_range=None):
        super().__init__()
        if model_condition(model) != "none" or model_condition(guide) != "none":
            raise UsageError("autoguidance wraps unconditional networks; use classifier-free guidance otherwise")
        self.model, self.guide, self.guidance = model, guide, check_guidance(guidance)
        self.t_range = None if t_range is None else (float(t_range[0]), float(t_range[1]))

    def forward(self, x: torch.Tensor, t: torch.Tensor | float, cond: torch.Tensor | None = None) -> torch.Tensor:
        out = self.model(x, t)
        if self.guidance == 0:
            return out
        if self.t_range is None:
            return out + self.guidance * (out - self.guide(x, t))
        t_b = torch.as_tensor(t, device=x.device).float().expand(x.shape[0])  # (B,)
        inside = (t_b > self.t_range[0]) & (t_b <= self.t_range[1])
        if not inside.any():
            return out
        pushed = out + self.guidance * (out - self.guide(x, t))
        return torch.where(inside.view(-1, *([1] * (x.ndim - 1))), pushed, out)

    def extra_repr(self) -> str:
        return f"guidance={self.guidance}" + (f", t_range={self.t_range}" if self.t_range else "")


def limited_guidance(model: nn.Module, guide: nn.Module, guidance: float, schedule, objective: str,
                     interval=None) -> AutoGuided:  # fmt: skip
    """:class:`AutoGuided` that pushes only for σ in ``interval`` = (σ_lo, σ_hi] (None: at every σ), the σ range
    turned into the networks' time input by :func:`noise_input` for the checkpoint's ``objective``."""
    interval = check_interval(interval)
    t_range = None if interval is None else [noise_input(model, schedule, objective, s) for s in interval]
    return AutoGuided(model, guide, guidance, t_range)


def autoguided(path, guide_path, guidance: float, device="cpu", interval=None) -> tuple[AutoGuided, object, dict]:
    """(AutoGuided network, schedule, the main checkpoint) from two checkpoint files, checked by
    :func:`check_guide`; like :func:`~tinydiff_lib.checkpoint.load_model` for one. ``interval`` (σ_lo, σ_hi):
    push only for σ in (σ_lo, σ_hi] (module docstring); None: at every σ."""
    from .checkpoint import load_model

    model, schedule, ckpt = load_model(path, device=device)
    guide, _, guide_ckpt = load_model(guide_path, device=device)
    check_guide(ckpt, guide_ckpt)
    objective = ckpt["config"].get("objective", "ddpm")
    return limited_guidance(model, guide, guidance, schedule, objective, interval).eval(), schedule, ckpt


def load_sampling_model(path, guide=None, guidance: float = 0.0, device="cpu", interval=None) -> tuple:
    """(network, schedule, checkpoint, the w left for classifier-free guidance) for ``sample`` / ``evaluate``.

    ``guide`` (a checkpoint path): the :class:`AutoGuided` network with scale ``guidance`` (> 0), pushing for σ in
    ``interval`` (None: every σ), and 0 left for classifier-free guidance; None: the checkpoint's own network and
    ``guidance`` for classifier-free guidance.
    """
    from .checkpoint import load_model

    if guide is None:
        if interval is not None:
            raise UsageError("--guide-interval limits autoguidance: give --guide-checkpoint GUIDE with it")
        return (*load_model(path, device=device), guidance)
    if not guidance > 0:
        raise UsageError("--guide-checkpoint needs --guidance W > 0: the push away from the guide's prediction")
    return (*autoguided(path, guide, guidance, device, interval), 0.0)
