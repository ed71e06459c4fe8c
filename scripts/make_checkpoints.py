"""Train the ladder of models under one budget with the CLI, ship small checkpoints, and write their cards.

    python scripts/make_checkpoints.py                       # the ladder and the best FiLM U-Net (resumes)
    python scripts/make_checkpoints.py --models tiny_conv    # just one
    python scripts/make_checkpoints.py --skip-eval           # train and export only
    python scripts/make_checkpoints.py --rescore             # score again files whose cards have their scores
    python scripts/make_checkpoints.py --autoguidance-only   # film_unet_best's card: its autoguidance rows only

Each checkpoint trains into ``runs/<name>.pt`` (resumable, git-ignored) with ``python -m tinydiff_lib train``;
when it reaches its budget, its sampling weights (EMA) are exported to ``checkpoints/<name>.pt`` and scored
with :func:`tinydiff_lib.evaluate_checkpoint` at n = 10,000 next to the real-data floor at the same n;
``checkpoints/<name>.json`` is its card. Every rung of the ladder gets the same BUDGET and is scored with
DDIM-20; ``film_unet_best`` is the FiLM U-Net (CPU preset) trained with the recipe study's winner (EDM,
high-noise σ) for longer: the first 22,680 steps of the long run ``recipe_edm_high_long`` of
scripts/run_recipes.py, then a linear cool-down of the learning rate over 2,520 steps (``RUNS``), scored with the
sampler it recommends.
The conditional checkpoints ``film_unet_class`` / ``film_unet_text`` take their card's scores from the guidance
sweep (scripts/guidance_sweep.py, results/guidance.json) at its chosen guidance scale, for the same file: run
the sweep after training them, then this script again to write their cards. ``film_unet_best``'s card also
holds its scores under autoguidance by ``film_unet_best_guide`` (scripts/autoguidance_study.py), likewise.
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

AUTOGUIDED = ("film_unet_best",)  # checkpoints whose card also reports sampling with autoguidance

SWEEP = REPO / "results" / "guidance.json"
AUTOGUIDANCE = REPO / "results" / "autoguidance.json"


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
        "sha256": td.file_sha256(shipped),
        "made_by": "python scripts/make_checkpoints.py --models " + shipped.stem,
        "metrics": metrics,
    }


def sweep_metrics(shipped: Path) -> dict | None:
    """The guidance sweep's rows for this very file (by its SHA-256) at the sweep's chosen w, or None."""
    sys.path.insert(0, str(REPO / "scripts"))
    from guidance_sweep import chosen_guidance

    rows = json.loads(SWEEP.read_text())["rows"] if SWEEP.exists() else []
    w, sha = chosen_guidance(rows), td.file_sha256(shipped)
    mine = [r for r in rows if r.get("checkpoint_sha256") == sha and r["guidance"] == w]
    if w is None or not mine:
        print(f"[{shipped.stem}] no guidance-sweep scores for this file yet: run scripts/guidance_sweep.py, "
              "then this script again", flush=True)  # fmt: skip
        return None
    return {"guidance": w, **({r["prompts"]: r for r in mine} if mine[0]["prompts"] else mine[0])}


def autoguidance_metrics(shipped: Path, pick: str = "chosen") -> dict | None:
    """The autoguidance study's n = 10,000 row for this very file (by SHA-256, and the guide's too), or None: how
    the checkpoint samples with ``--guide-checkpoint``. ``pick``: the study's ``chosen`` (guide, w), or its
    ``most_precise`` one, the other end of the trade-off between FID and precision."""
    sys.path.insert(0, str(REPO / "scripts"))
    import autoguidance_study as study

    rows = json.loads(AUTOGUIDANCE.read_text())["rows"] if AUTOGUIDANCE.exists() else []
    best = getattr(study, pick)(rows)
    guide = best and study.guide_file(best["guide"])
    if not guide:
        return None
    shas = (td.file_sha256(shipped), td.file_sha256(guide))  # each file hashed once, not once per row
    mine = [r for r in rows if r["n"] == study.N_FULL and study.cell(r) == study.cell(best)
            and (r["checkpoint_sha256"], r["guide_sha256"]) == shas]  # fmt: skip
    return mine[0] if mine else None


def autoguidance_entries(shipped: Path) -> dict:
    """The card's two autoguidance entries for this very file: the study's choice and its most precise cell."""
    return {"autoguidance": autoguidance_metrics(shipped),
            "autoguidance_most_precise": autoguidance_metrics(shipped, "most_precise")}  # fmt: skip


def earlier_metrics(shipped: Path, card_path: Path) -> dict | None:
    """The scores of the card already there when it was written for this very file (by its SHA-256): an unchanged
    checkpoint is not sampled again (``--rescore`` samples it anyway)."""
    old = json.loads(card_path.read_text()) if card_path.exists() else {}
    same = old.get("sha256") is not None and old["sha256"] == td.file_sha256(shipped)
    return old.get("metrics") if same else None


def card_metrics(shipped: Path, budget: dict, args) -> dict:
    """Scores for the card: the sweep's (conditional), else a fresh evaluation at n = --num-samples."""
    if budget.get("condition", "none") != "none":
        return sweep_metrics(shipped)
    edm = budget.get("objective") == "edm"  # σ-view checkpoints: the sampler they recommend
    metrics = td.evaluate_checkpoint(
        shipped, num_samples=args.num_samples, sampler=None if edm else args.sampler,
        steps=None if edm else args.sampling_steps, seed=CARD_EVAL["seed"], progress=False,
        bf16=budget.get("cpu_bf16", False),
    )  # fmt: skip
    metrics.pop("checkpoint", None)
    return metrics


def update_autoguidance(name: str) -> int:
    """Write the autoguidance study's n = 10,000 rows into the card of the shipped ``name``, nothing else: no run
    file, training or sampling is needed (the run file of a shipped checkpoint may be gone). 2: the card is of
    another file than ``checkpoints/<name>.pt`` (its SHA-256 differs) or missing."""
    shipped, card_path = REPO / "checkpoints" / f"{name}.pt", REPO / "checkpoints" / f"{name}.json"
    info = json.loads(card_path.read_text()) if card_path.exists() and shipped.exists() else {}
    if not info or info.get("sha256") != td.file_sha256(shipped):
        print(f"make_checkpoints: the card of {name} is missing or of another file; run this script without "
              "--autoguidance-only to train and score it", file=sys.stderr)  # fmt: skip
        return 2
    info.update(autoguidance_entries(shipped))
    card_path.write_text(json.dumps(info, indent=2) + "\n")
    found = {k: info[k] and round(info[k]["fid"], 3) for k in ("autoguidance", "autoguidance_most_precise")}
    print(json.dumps({"checkpoint": name, **found}), flush=True)
    return 0


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--models", default=",".join(RUNS), help=f"comma-separated, from: {', '.join(RUNS)}")
    p.add_argument("--num-samples", type=int, default=CARD_EVAL["num_samples"], help="samples scored per checkpoint")
    p.add_argument("--sampler", default=CARD_EVAL["sampler"], help="the ladder's (DDPM) cards")
    p.add_argument("--sampling-steps", type=int, default=CARD_EVAL["steps"], help="the ladder's (DDPM) cards")
    p.add_argument("--skip-eval", action="store_true")
    p.add_argument("--rescore", action="store_true", help="score a checkpoint again although its card has its scores")
    p.add_argument(
        "--autoguidance-only",
        action="store_true",
        help=f"only write the autoguidance study's rows into the cards of {', '.join(AUTOGUIDED)}",
    )
    args = p.parse_args(argv)
    names = args.models.split(",")
    unknown = [n for n in names if n not in RUNS]
    if unknown:
        p.error(f"unknown checkpoint {', '.join(unknown)}; choose from {', '.join(RUNS)}")
    if args.autoguidance_only:
        return max([update_autoguidance(n) for n in names if n in AUTOGUIDED], default=0)
    for name in names:
        model, budget = RUNS[name]
        run = train_run(name, model, budget, REPO / "runs")
        shipped = td.export_checkpoint(run, REPO / "checkpoints" / f"{name}.pt")
        card_path = REPO / "checkpoints" / f"{name}.json"
        conditional = budget.get("condition", "none") != "none"  # its scores: the sweep's, read every time
        reused = None if args.rescore or conditional else earlier_metrics(shipped, card_path)
        if reused:
            print(f"[{name}] unchanged since its card was scored: its scores are kept (--rescore samples again)")
        metrics = reused or (None if args.skip_eval else card_metrics(shipped, budget, args))
        info = card(run, shipped, metrics)
        if name in AUTOGUIDED:  # scores with autoguidance (scripts/autoguidance_study.py), when measured
            info.update(autoguidance_entries(shipped))
        card_path.write_text(json.dumps(info, indent=2) + "\n")
        print(json.dumps({"checkpoint": name, "fid": metrics and metrics.get("fid"), "file": str(shipped)}), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
