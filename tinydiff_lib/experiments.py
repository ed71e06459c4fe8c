"""Settings shared by the shipped checkpoints, their cards, the studies and the book.

One place for the ladder of models, the one budget every rung trains under, the longer run of the best
FiLM U-Net, the evaluation setting of the cards and the window of the "final loss" that cards, the
command line and the progress bar report.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

__all__ = [
    "LADDER", "BUDGET", "RUNS", "CARD_EVAL", "FINAL_LOSS_WINDOW", "ABLATIONS", "ABLATION_EVAL", "final_loss",
    "train_command", "train_run", "RECIPE_BUDGET", "RECIPES", "LONG_RUNS", "COND_BUDGET", "CAPACITY_MODELS",
    "CAPACITY_BASE_STEPS", "capacity_speed_command", "capacity_variant", "capacity_runs", "best_on",
    "guide_on", "SMALL_GUIDES",
]  # fmt: skip

#: the ladder, in the order the book climbs it
LADDER = ["tiny_conv", "mini_unet", "mini_unet_v2", "film_unet", "batchnorm_unet", "dilated_convnet"]

#: one budget for every rung: same schedule, optimiser, batch size and number of steps
BUDGET = dict(steps=1500, batch_size=64, lr=1e-3, schedule="linear", seed=0, ema_decay=0.995)

#: checkpoint name -> (registered model, training budget)
RUNS = {name: (name, BUDGET) for name in LADDER}

#: how the cards score a checkpoint: samples, sampler, steps, seed
CARD_EVAL = dict(num_samples=10_000, sampler="ddim", steps=20, seed=0)

#: the "final loss" is the mean of the last this many training losses
FINAL_LOSS_WINDOW = 200


def final_loss(history: dict, window: int = FINAL_LOSS_WINDOW) -> float:
    """Mean of the last ``window`` losses of a training history ``{"step": [...], "loss": [...]}``."""
    recent = history["loss"][-window:]
    if not recent:
        raise ValueError("the history holds no losses yet")
    return round(sum(recent) / len(recent), 5)


#: optional budget keys -> their ``tinydiff train`` option (lists are joined with commas; True is a flag)
_OPTIONS = {"objective": "--objective", "warmup_steps": "--warmup-steps", "sigma_p_mean": "--sigma-p-mean",
            "sigma_p_std": "--sigma-p-std", "extra_ema": "--extra-ema", "cpu_bf16": "--cpu-bf16",
            "keep_at": "--keep-at", "condition": "--condition", "cond_drop_prob": "--cond-drop-prob",
            "stop_at": "--stop-at", "lr_horizon": "--lr-horizon", "cooldown_steps": "--cooldown-steps"}  # fmt: skip


def train_command(model: str, out: Path, budget: dict, resume: bool) -> list[str]:
    """The ``tinydiff train`` command line of one run under ``budget``."""
    cmd = [sys.executable, "-m", "tinydiff_lib", "train", "--model", model, "--out", str(out),
           "--steps", str(budget["steps"]), "--batch-size", str(budget["batch_size"]), "--lr", str(budget["lr"]),
           "--schedule", budget["schedule"], "--seed", str(budget["seed"]), "--ema-decay", str(budget["ema_decay"]),
           "--checkpoint-every", "200", "--device", "auto"]  # fmt: skip
    for key, option in _OPTIONS.items():
        value = budget.get(key)
        if value is True:
            cmd.append(option)
        elif isinstance(value, (list, tuple)):
            cmd += [option, ",".join(map(str, value))] if value else []
        elif value is not None and value is not False:
            cmd += [option, str(value)]
    return cmd + (["--resume"] if resume else [])


def train_run(name: str, model: str, budget: dict, runs: Path) -> Path:
    """Train (or resume) ``runs/<name>.pt`` up to the budget with the command line; skip a finished run."""
    from .checkpoint import load_checkpoint

    run, target = Path(runs) / f"{name}.pt", budget.get("stop_at", budget["steps"])  # stop_at: part of a schedule
    if run.exists() and load_checkpoint(run)["step"] >= target:
        print(f"[{name}] already trained to {target} steps", flush=True)
        return run
    subprocess.run(train_command(model, run, budget, resume=run.exists()), check=True)
    return run


#: the ablations of the results page: run name -> (registered model, budget); each differs from the
#: ladder's film_unet (or tiny_conv) in one thing only; the FiLM runs are scored with their EMA and their raw
#: weights (what the EMA buys at this budget)
ABLATIONS = {
    "film_unet_shift": ("film_unet_shift", BUDGET),  # an additive time bias instead of FiLM scale + shift
    "film_unet_no_time": ("film_unet_no_time", BUDGET),  # the same U-Net without its time input
    "film_unet_cosine": ("film_unet", dict(BUDGET, schedule="cosine")),
    "film_unet_sigmoid": ("film_unet", dict(BUDGET, schedule="sigmoid")),
    "tiny_conv_3x": ("tiny_conv", dict(BUDGET, steps=3 * BUDGET["steps"])),
}

#: the recipe study (issue 11): every run sees the same images (RECIPE_BUDGET: 14,000 steps of 64, bf16 on
#: the CPU, about 37 min of a quiet 2-core machine at its measured 403 images/s, or 73 min as one of two
#: one-thread jobs), with snapshots at 5,600 and 11,200 steps (a budget curve from one run) and three EMA lengths
RECIPE_BUDGET = dict(steps=14_000, batch_size=64, lr=1e-3, warmup_steps=300, schedule="cosine", seed=0,
                     ema_decay=0.999, extra_ema=(0.9995, 0.9999), cpu_bf16=True, keep_at=(5_600, 11_200))  # fmt: skip
RECIPES = {
    "recipe_ddpm": ("film_unet", dict(RECIPE_BUDGET, objective="ddpm")),  # ε-prediction, cosine ᾱ
    "recipe_edm_high": ("film_unet", dict(RECIPE_BUDGET, objective="edm", sigma_p_mean=0.0, sigma_p_std=1.2)),
    "recipe_edm": ("film_unet", dict(RECIPE_BUDGET, objective="edm", sigma_p_mean=-1.2, sigma_p_std=1.2)),
}

#: the study's DDPM ε-model (cosine ᾱ): the checkpoint of the chapters on DDPM / DDIM sampling (06, 07)
RUNS["film_unet_ddpm"] = RECIPES["recipe_ddpm"]

#: the long run of the study's better objective (EDM, high-noise σ): 45,000 steps × 64 images, the scaling curve
#: of the results page (scripts/scaling_page.py), with snapshots near the recipe run's own (5,670 ≈ 5,600,
#: 11,340 ≈ 11,200), at 22,680, about half way, and at 3,660 and 29,320 (the snapshots are copies of the run file
#: and do not change the run). The page gives the minutes each snapshot took at the loop's measured images/s: on
#: a quiet 2-core machine whose CPU computes bfloat16 (``native_bf16``) the loop (``tinydiff train``, two threads,
#: EMAs and checkpoints included) ran at 188 to 261 images/s on the CPUs tried, so 22,680 steps take 93 to 129
#: min; where bfloat16 is emulated it trains many times slower
LONG_RUNS = {
    "recipe_edm_high_long": (
        "film_unet",
        dict(RECIPES["recipe_edm_high"][1], steps=45_000, keep_at=(3_660, 5_670, 11_340, 22_680, 29_320)),
    ),  # fmt: skip
}

#: the shipped best unconditional FiLM U-Net: the long run's first 22,680 of 45,000 steps (its snapshot half
#: way, the scaling curve's best point inside issue 11's budget of about 150 CPU-minutes), where its learning rate
#: is still at half its peak, then a cool-down: the learning rate falls linearly to 0 over 2,520 more steps
#: (25,200 in all, about 145 min at the long run's measured loop speed). ``make checkpoints`` trains it from
#: scratch; its first 22,680 steps are the long run's, bit for bit (the same schedule up to there), so the long
#: run's snapshot at 22,680 can be resumed into it (``tinydiff train ... --resume``; the LR check allows it)
COOLDOWN = dict(steps=25_200, lr_horizon=45_000, cooldown_steps=2_520, keep_at=(3_660, 5_670, 11_340, 22_680))
RUNS["film_unet_best"] = ("film_unet", dict(LONG_RUNS["recipe_edm_high_long"][1], **COOLDOWN))

#: the capacity study (issue 11): the study's better recipe on the CPU preset changed in one dimension each
#: (FILM_UNET_PRESETS), every run given the same minutes: CAPACITY_BASE_STEPS steps of the preset, scaled for each
#: model by its training speed relative to the preset as measured by capacity_speed_command(); no snapshots, one
#: EMA. The speed file sets the precision: where the CPU computes bfloat16 the runs train under bf16 autocast like
#: the recipe (4,800 steps, about 20 min of a quiet 2-core machine at the long run's loop speed); where bf16 is
#: emulated (the file's ``native_bf16`` is False) they train in float32 from float32 speeds (800 steps, about
#: 13 min of a quiet 2-core AVX2 machine), a study of its own: minutes of one machine only compare with each other
CAPACITY_MODELS = ("film_unet", "film_unet_w16", "film_unet_w32", "film_unet_rb2", "film_unet_noattn")
CAPACITY_BASE_STEPS = {"bf16": 4_800, "fp32": 800}


def capacity_speed_command(variant: str) -> str:
    """The benchmark command whose JSON sets the capacity runs' steps (``variant``: bf16 or fp32)."""
    return (f"python scripts/benchmark_models.py --device cpu --models {','.join(CAPACITY_MODELS)} "
            f"--variants {variant} --steps 20 --max-seconds 40 --json results/cpu_speed_capacity.json")  # fmt: skip


def capacity_variant(speed: dict | None) -> str:
    """The precision the capacity runs of this speed file train in: bf16 unless it was measured without bf16 units."""
    return "fp32" if (speed or {}).get("native_bf16") is False else "bf16"


def capacity_runs(speed: dict | None) -> dict[str, tuple[str, dict]]:
    """``cap_<model>`` -> (model, budget) at equal minutes, from the benchmark's JSON; {} until every model's speed
    is measured in the precision the runs train in (:func:`capacity_variant`)."""
    variant = capacity_variant(speed)
    rates = {r["model"]: r["train"] for r in (speed or {}).get("rows", []) if r["variant"] == variant}
    if not all(m in rates for m in CAPACITY_MODELS):
        return {}
    base = dict(RECIPES["recipe_edm_high"][1], keep_at=(), extra_ema=(), cpu_bf16=variant == "bf16")
    base_steps = CAPACITY_BASE_STEPS[variant]
    steps = {m: int(round(base_steps * rates[m] / rates["film_unet"], -2)) for m in CAPACITY_MODELS}
    return {f"cap_{m}": (m, dict(base, steps=steps[m])) for m in CAPACITY_MODELS}


def best_on(speed: dict | None, model: str = "film_unet_noattn") -> dict[str, tuple[str, dict]]:
    """``best_<preset>`` -> (model, budget): film_unet_best's recipe and schedule on another capacity preset for
    the same minutes, the lever the capacity study points to. Every step count of its schedule (steps, the LR
    horizon, the cool-down) is multiplied by the preset's capacity-run steps over film_unet's (its measured speed
    ratio, :func:`capacity_runs`); no snapshots. {} until those speeds are measured."""
    runs = capacity_runs(speed)
    if not runs:
        return {}
    ratio = runs[f"cap_{model}"][1]["steps"] / runs["cap_film_unet"][1]["steps"]
    best = RUNS["film_unet_best"][1]
    scaled = {k: int(round(best[k] * ratio, -1)) for k in ("steps", "lr_horizon", "cooldown_steps")}
    return {f"best_{model.removeprefix('film_unet_')}": (model, dict(best, **scaled, keep_at=()))}


def guide_on(best: dict[str, tuple[str, dict]], steps: int = 800) -> dict[str, tuple[str, dict]]:
    """``<run>_guide<K>`` -> (model, budget): the first K steps of each run of :func:`best_on`, a guide for
    autoguidance of the run's own preset, as weak as film_unet_best_guide800 (the first ``steps`` steps of the long
    run of the same recipe): K = ``steps`` times the run's steps over film_unet_best's, the same minutes."""
    out = {}
    for run, (model, budget) in best.items():
        stop = int(round(steps * budget["steps"] / RUNS["film_unet_best"][1]["steps"], -1))
        out[f"{run}_guide{stop}"] = (model, dict(budget, stop_at=stop))
    return out


#: the guide of film_unet_best under autoguidance (tinydiff_lib/autoguidance.py): the long run's first 1,600 of
#: 45,000 steps (its learning rate still near its peak), a far weaker model of the same kind (about 9 min of a
#: quiet 2-core machine)
RUNS["film_unet_best_guide"] = ("film_unet", dict(LONG_RUNS["recipe_edm_high_long"][1], stop_at=1_600))
#: a still weaker guide of the autoguidance study: the same run's first 800 steps (about 5 min)
RUNS["film_unet_best_guide800"] = ("film_unet", dict(LONG_RUNS["recipe_edm_high_long"][1], stop_at=800))
#: guides smaller as well as shorter (Karras et al. 2024 found the best guide degraded in capacity and in training
#: time both, not in training time alone): the weak guide's first 800 steps on the narrower preset film_unet_w16
#: (300k parameters against 672k; about 3 min of one thread), and its first 400; the grid study samples
#: film_unet_best with each, ``make checkpoints`` ships them
SMALL_GUIDES = {
    f"film_unet_best_guide{k}_w16": ("film_unet_w16", dict(LONG_RUNS["recipe_edm_high_long"][1], stop_at=k))
    for k in (800, 400)
}
RUNS.update(SMALL_GUIDES)

#: the conditional checkpoints (issue 12): the recipe study's better objective (EDM, high-noise σ) at 10,000
#: steps × 64 images, each image's condition dropped with probability 0.1 (classifier-free guidance); about 30
#: min of a quiet 2-core machine, or 61 min as one of two one-thread jobs
COND_BUDGET = dict(RECIPES["recipe_edm_high"][1], steps=10_000, keep_at=(), extra_ema=(), cond_drop_prob=0.1)
RUNS["film_unet_class"] = ("film_unet_class", dict(COND_BUDGET, condition="label"))
RUNS["film_unet_text"] = ("film_unet_text", dict(COND_BUDGET, condition="text"))

#: how the ablations are scored (smaller than the cards' n, to fit a session; the floor is at the same n)
ABLATION_EVAL = dict(num_samples=2_000, sampler="ddim", steps=20, seed=0)
