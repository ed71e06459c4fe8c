"""Generate many samples from a checkpoint in batches, and write them as .npy or .png.

A conditional checkpoint samples given digits (``labels``) or prompts, guided by a scale w
(:class:`~tinydiff_lib.conditioning.Guided`); every sampler runs through the same wrapper.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import torch
from tqdm.auto import tqdm

from .conditioning import guide, sampling_condition
from .data import to_uint8
from .edm import DDPMDenoiser, EDMPrecond, karras_sigmas, schedule_sigmas
from .errors import UsageError
from .objectives import recommended_sampling
from .ode_samplers import ODE_SAMPLERS, dpmpp_2m_sample, euler_sample, heun_sample, sample_x_T, stochastic_sample
from .samplers import ddim_sample, ddpm_sample
from .utils import native_bf16

__all__ = [
    "generate",
    "save_samples",
    "resolve_steps",
    "sampling_plan",
    "default_batch_size",
    "SAMPLERS",
    "sigma_denoiser",
    "sampling_bf16",
]

SAMPLERS = ("ddpm", "ddim", *ODE_SAMPLERS)
DEFAULT_STEPS = {"ddim": 50, "euler": 50, "heun": 18, "dpmpp_2m": 20, "stochastic": 40}
MAX_ODE_STEPS = 1000
PNG_SCALE = 4  # screen pixels per MNIST pixel in a PNG grid (nearest neighbour)
ODE_LOOPS = {"euler": euler_sample, "heun": heun_sample, "dpmpp_2m": dpmpp_2m_sample, "stochastic": stochastic_sample}
EDM_SIGMA_RANGE = (0.002, 80.0)  # Karras et al. 2022: the σ range an EDM model samples over


def resolve_steps(sampler: str, steps: int | None, num_train_steps: int) -> int:
    """The steps a sampler takes: all T for DDPM; ``steps`` (default per sampler) for DDIM and the σ samplers."""
    if sampler == "ddpm":
        return num_train_steps
    num_steps = DEFAULT_STEPS[sampler] if steps is None else steps
    limit = num_train_steps if sampler == "ddim" else MAX_ODE_STEPS
    if not 1 <= num_steps <= limit:
        raise UsageError(f"--steps must lie in [1, {limit}] for {sampler}, got {num_steps}")
    return num_steps


def sampling_plan(ckpt: dict, sampler: str | None = None, steps: int | None = None) -> tuple[str, int | None]:
    """(sampler, steps) to use: the checkpoint's recommendation when ``sampler`` is None (older files: DDIM-50)."""
    recommended = ckpt.get("sampling") or recommended_sampling(ckpt.get("config", {}))
    if sampler is None:
        return recommended["sampler"], recommended["steps"] if steps is None else steps
    return sampler, steps


def _check_sampler(sampler: str, objective: str) -> None:
    if sampler not in SAMPLERS:
        raise UsageError(f"unknown sampler {sampler!r}; choose one of {', '.join(SAMPLERS)}")
    if objective == "edm" and sampler not in ODE_SAMPLERS:
        raise UsageError(f"this checkpoint was trained in the σ view (EDM); use --sampler {'|'.join(ODE_SAMPLERS)}")


def sigma_denoiser(model, schedule, objective: str = "ddpm") -> tuple[torch.nn.Module, float, float]:
    """(D(x; σ), σ_min, σ_max) of a checkpoint's network: EDM's range for ``"edm"``, the schedule's σ_t for DDPM."""
    if objective == "edm":
        return EDMPrecond(model), *EDM_SIGMA_RANGE
    sigmas_t = schedule_sigmas(schedule)  # (T,), increasing
    return DDPMDenoiser(model, schedule), float(sigmas_t[0]), float(sigmas_t[-1])


def _sigma_sample(model, schedule, objective: str, sampler: str, num_steps: int, shape, gen, cond=None,
                  guidance: float = 0.0) -> torch.Tensor:  # fmt: skip
    """x_0 from a σ sampler on Karras ρ = 7 steps: over EDM's range, or over the DDPM schedule's σ_t.

    ``cond`` (B,) or (B, L): guide D(x; σ, c) with scale ``guidance``; None: the unconditional denoiser."""
    denoiser, sigma_min, sigma_max = sigma_denoiser(model, schedule, objective)
    denoiser = guide(denoiser, cond, guidance)
    sigmas = karras_sigmas(num_steps, sigma_min, sigma_max)  # (N + 1,), ending in 0
    x_T = sample_x_T(shape, sigma_max, generator=gen, device=next(model.parameters()).device)
    loop = ODE_LOOPS[sampler]
    if sampler == "stochastic":
        return loop(denoiser, x_T, sigmas, generator=gen, s_churn=40.0, s_tmin=0.05, s_tmax=50.0, clip_denoised=True)
    return loop(denoiser, x_T, sigmas, clip_denoised=True)


def default_batch_size(device: torch.device) -> int:
    """Images per sampling batch: a large batch keeps a GPU busy; 256 is plenty for a CPU."""
    return 4096 if device.type == "cuda" else 256


def sampling_bf16(requested: bool, device: torch.device) -> bool:
    """Whether to sample under bfloat16 autocast: only where asked and the device has bf16 units
    (:func:`~tinydiff_lib.utils.native_bf16`); otherwise float32, which is faster there, with one warning."""
    if requested and not native_bf16(device):
        warnings.warn(f"bf16 sampling asked for, but this {device.type.upper()} has no bfloat16 units (emulated, "
                      "slower than float32): sampling in float32", RuntimeWarning, stacklevel=3)  # fmt: skip
        return False
    return requested


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
    objective: str = "ddpm",
    bf16: bool = False,
    labels=None,
    prompts=None,
    guidance: float = 0.0,
) -> torch.Tensor:
    """``num_samples`` images (N, 1, 28, 28) in [-1, 1] on the CPU, drawn batch by batch from one seeded generator.

    ``sampler``: ``ddpm``, ``ddim`` or a σ sampler (``euler``, ``heun``, ``dpmpp_2m``, ``stochastic``: see
    :mod:`tinydiff_lib.ode_samplers`), which serve an ε-model (``objective="ddpm"``) through
    :class:`~tinydiff_lib.edm.DDPMDenoiser` and a σ-view model (``"edm"``) through its preconditioning.
    ``steps``: default per sampler; DDPM always runs all T steps (``steps`` must be None or T). The noise
    comes from a generator on the model's device (on a GPU, a CPU generator would cost a host-to-device copy
    per step), so the same seed gives the same samples on the same device; the CPU and a GPU differ.
    ``bf16``: run the network under bfloat16 autocast (about 2x faster on a CPU with bf16 units; the sampler's
    own arithmetic stays float32); where the device has none, float32 (:func:`sampling_bf16`).

    Conditional models: ``labels`` (a digit, or (N,) digits) or ``prompts`` (a string, or N strings) pick what to
    draw; ``guidance`` is the classifier-free guidance scale w >= 0 (0: purely conditional; see
    :class:`~tinydiff_lib.conditioning.Guided`). The noise does not depend on them, so one seed gives the same x_T
    for every label, prompt and w. Neither given: unconditional samples (the null condition).
    """
    _check_sampler(sampler, objective)
    conds = sampling_condition(model, num_samples, labels, prompts, guidance)  # (N,), (N, L) or None
    if num_samples < 1:
        raise UsageError(f"--num-samples must be >= 1, got {num_samples}")
    if sampler == "ddpm" and steps not in (None, schedule.num_steps):
        raise UsageError(f"DDPM runs all {schedule.num_steps} steps; use --sampler ddim for --steps {steps}")
    num_steps = resolve_steps(sampler, steps, schedule.num_steps)
    device = next(model.parameters()).device
    bf16 = sampling_bf16(bf16, device)
    batch_size = batch_size or default_batch_size(device)
    gen = torch.Generator(device=device).manual_seed(seed)
    out = []
    bar = tqdm(total=num_samples, disable=not progress, desc=f"sampling ({sampler})")
    for start in range(0, num_samples, batch_size):
        shape = (min(batch_size, num_samples - start), 1, 28, 28)
        cond = conds[start : start + shape[0]].to(device) if conds is not None else None  # (b,) or (b, L)
        eps_model = guide(model, cond, guidance)  # ε̃(x_t, t) = (1 + w) ε(x_t, t, c) − w ε(x_t, t, ∅)
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=bf16):
            if sampler in ODE_SAMPLERS:
                x = _sigma_sample(model, schedule, objective, sampler, num_steps, shape, gen, cond, guidance)
            elif sampler == "ddpm":
                x = ddpm_sample(eps_model, schedule, shape, generator=gen)
            else:
                x = ddim_sample(eps_model, schedule, shape, num_steps=num_steps, eta=eta, generator=gen)
        x = x.float()
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
