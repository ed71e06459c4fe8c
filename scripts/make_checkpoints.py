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
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

import tinydiff_lib as td  # noqa: E402
from tinydiff_lib.experiments import CARD_EVAL, RUNS, final_loss, train_run  # noqa: E402


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
    p.add_argument("--num-samples", type=int, default=CARD_EVAL["num_samples"], help="samples scored per checkpoint")
    p.add_argument("--sampler", default=CARD_EVAL["sampler"])
    p.add_argument("--sampling-steps", type=int, default=CARD_EVAL["steps"])
    p.add_argument("--skip-eval", action="store_true")
    args = p.parse_args(argv)
    names = args.models.split(",")
    unknown = [n for n in names if n not in RUNS]
    if unknown:
        p.error(f"unknown checkpoint {', '.join(unknown)}; choose from {', '.join(RUNS)}")
    for name in names:
        model, budget = RUNS[name]
        run = train_run(name, model, budget, REPO / "runs")
        shipped = td.export_checkpoint(run, REPO / "checkpoints" / f"{name}.pt")
        metrics = None
        if not args.skip_eval:
            metrics = td.evaluate_checkpoint(
                shipped, num_samples=args.num_samples, sampler=args.sampler, steps=args.sampling_steps,
                seed=CARD_EVAL["seed"], progress=False,
            )  # fmt: skip
            metrics.pop("checkpoint", None)
        info = card(run, shipped, metrics)
        (REPO / "checkpoints" / f"{name}.json").write_text(json.dumps(info, indent=2) + "\n")
        print(json.dumps({"checkpoint": name, "fid": metrics and metrics["fid"], "file": str(shipped)}), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
