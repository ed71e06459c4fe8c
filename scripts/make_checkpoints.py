"""Train the ladder of models under one budget with the CLI, ship small checkpoints, and write their cards.

    python scripts/make_checkpoints.py                       # the ladder and the best FiLM U-Net (resumes)
    python scripts/make_checkpoints.py --models tiny_conv    # just one
    python scripts/make_checkpoints.py --skip-eval           # train and export only

Each checkpoint trains into ``runs/<name>.pt`` (resumable, git-ignored) with ``python -m tinydiff_lib train``;
when it reaches its budget, its sampling weights (EMA) are exported to ``checkpoints/<name>.pt`` and scored
with :func:`tinydiff_lib.evaluate_checkpoint` at n = 10,000 next to the real-data floor at the same n;
``checkpoints/<name>.json`` is its card. Every rung of the ladder gets the same BUDGET; ``film_unet_best`` is
the FiLM U-Net (CPU preset) trained longer, the one the later notebooks sample from.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

import tinydiff_lib as td  # noqa: E402

#: the ladder, in the order the book climbs it
LADDER = ["tiny_conv", "mini_unet", "mini_unet_v2", "film_unet", "batchnorm_unet", "dilated_convnet"]

#: one budget for every rung: same schedule, optimiser, batch size and number of steps
BUDGET = dict(steps=1500, batch_size=64, lr=1e-3, schedule="linear", seed=0, ema_decay=0.995)

#: checkpoint name -> (registered model, training budget)
RUNS = {name: (name, BUDGET) for name in LADDER}
RUNS["film_unet_best"] = ("film_unet", dict(BUDGET, steps=5000, ema_decay=0.999))  # about 50 min on one core


def train_command(model: str, out: Path, budget: dict, resume: bool) -> list[str]:
    """The ``tinydiff train`` command line of one run."""
    cmd = [sys.executable, "-m", "tinydiff_lib", "train", "--model", model, "--out", str(out),
           "--steps", str(budget["steps"]), "--batch-size", str(budget["batch_size"]), "--lr", str(budget["lr"]),
           "--schedule", budget["schedule"], "--seed", str(budget["seed"]), "--ema-decay", str(budget["ema_decay"]),
           "--checkpoint-every", "200", "--device", "auto"]  # fmt: skip
    return cmd + (["--resume"] if resume else [])


def train(name: str, model: str, budget: dict) -> Path:
    """Train (or resume) ``runs/<name>.pt`` up to the budget; skip when it is already there."""
    run = REPO / "runs" / f"{name}.pt"
    if run.exists() and td.load_checkpoint(run)["step"] >= budget["steps"]:
        print(f"[{name}] already trained to {budget['steps']} steps", flush=True)
        return run
    subprocess.run(train_command(model, run, budget, resume=run.exists()), check=True, cwd=REPO)
    return run


def final_loss(history: dict) -> float:
    """The training loss the cards report: the mean of the last 200 steps."""
    recent = history["loss"][-200:]
    return round(sum(recent) / len(recent), 5)


def card(run: Path, shipped: Path, metrics: dict | None) -> dict:
    """Everything needed to judge and reproduce a shipped checkpoint (see the results page)."""
    ckpt = td.load_checkpoint(run)
    model, _, _ = td.load_model(shipped)
    config = ckpt["config"]
    return {
        "model": ckpt["model"],
        "parameters": td.count_parameters(model),
        "schedule": ckpt["schedule"],
        "training": config,
        "steps": ckpt["step"],
        "wall_time_s": round(ckpt["wall_time_s"], 1),
        "train_images_per_s": round(ckpt["step"] * config["batch_size"] / ckpt["wall_time_s"], 1),
        "device": ckpt["device"],
        "torch_version": ckpt["torch_version"],
        "library_version": ckpt["library_version"],
        "final_loss": final_loss(ckpt["history"]),
        "weights": "EMA" if ckpt["ema"] else "raw",
        "file_bytes": shipped.stat().st_size,
        "made_by": "python scripts/make_checkpoints.py --models " + shipped.stem,
        "metrics": metrics,
    }


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--models", default=",".join(RUNS), help=f"comma-separated, from: {', '.join(RUNS)}")
    p.add_argument("--num-samples", type=int, default=10_000, help="samples scored per checkpoint")
    p.add_argument("--sampler", default="ddim")
    p.add_argument("--sampling-steps", type=int, default=20)
    p.add_argument("--skip-eval", action="store_true")
    args = p.parse_args(argv)
    names = args.models.split(",")
    unknown = [n for n in names if n not in RUNS]
    if unknown:
        p.error(f"unknown checkpoint {', '.join(unknown)}; choose from {', '.join(RUNS)}")
    for name in names:
        model, budget = RUNS[name]
        run = train(name, model, budget)
        shipped = td.export_checkpoint(run, REPO / "checkpoints" / f"{name}.pt")
        metrics = None
        if not args.skip_eval:
            metrics = td.evaluate_checkpoint(shipped, num_samples=args.num_samples, sampler=args.sampler,
                                             steps=args.sampling_steps, seed=0, progress=False)  # fmt: skip
            metrics.pop("checkpoint", None)
        info = card(run, shipped, metrics)
        (REPO / "checkpoints" / f"{name}.json").write_text(json.dumps(info, indent=2) + "\n")
        print(json.dumps({"checkpoint": name, "fid": metrics and metrics["fid"], "file": str(shipped)}), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
