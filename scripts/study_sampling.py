"""How the best FiLM U-Net's sample quality depends on the sampler, the step count, the EMA and the weight dtype.

    python scripts/study_sampling.py                          # writes results/film_unet_best_study.json
    python scripts/study_sampling.py --sampler-samples 2000   # tighter, slower: DDPM-1000 is 1000 passes/image

Every entry samples with seed 0 (the same starting noise x_T for every sampler) and is scored with
:func:`tinydiff_lib.evaluate_checkpoint` next to the real-data floor at the same sample count:

- **samplers**: DDPM with all T = 1000 steps against DDIM (η = 0) with 10, 20, 50 and 100 steps;
- **weights**: the shipped EMA weights (float32), the raw optimiser weights of the same run, and the EMA
  weights stored as bfloat16 (loaded back to float32), each with DDIM-20.

It needs the resumable run file ``runs/<name>.pt`` (for the raw weights), which ``make checkpoints`` writes.
The file is rewritten after every entry, and entries already in it are skipped, so an interrupted study
resumes where it stopped.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import torch

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

import tinydiff_lib as td  # noqa: E402

SAMPLERS = [("ddim", 10), ("ddim", 20), ("ddim", 50), ("ddim", 100), ("ddpm", 1000)]
WEIGHTS = ["ema_float32", "raw_float32", "ema_bfloat16"]


def weight_files(name: str) -> dict[str, Path]:
    """Export the three weight variants of ``runs/<name>.pt`` next to it (git-ignored)."""
    runs = REPO / "runs"
    run = runs / f"{name}.pt"
    if not run.exists():
        raise SystemExit(f"{run} not found: train it first with `python scripts/make_checkpoints.py --models {name}`")
    return {
        "ema_float32": td.export_checkpoint(run, runs / f"{name}.ema_float32.pt"),
        "raw_float32": td.export_checkpoint(run, runs / f"{name}.raw_float32.pt", raw=True),
        "ema_bfloat16": td.export_checkpoint(run, runs / f"{name}.ema_bfloat16.pt", dtype=torch.bfloat16),
    }


def score(path: Path, num_samples: int, sampler: str, steps: int) -> dict:
    m = td.evaluate_checkpoint(path, num_samples=num_samples, sampler=sampler, steps=steps, seed=0, progress=False)
    keep = ("fid", "fid_floor", "kid", "kid_floor", "precision", "precision_floor", "recall", "recall_floor",
            "num_samples", "sampler", "steps", "seconds")  # fmt: skip
    return {k: m[k] for k in keep}


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--checkpoint", default="film_unet_best", help="name of a run in runs/ (default film_unet_best)")
    p.add_argument("--sampler-samples", type=int, default=400, help="samples per sampler setting")
    p.add_argument("--weight-samples", type=int, default=500, help="samples per weight variant (DDIM-20)")
    p.add_argument("--only", choices=["samplers", "weights"], help="run one part only")
    args = p.parse_args(argv)

    out = REPO / "results" / f"{args.checkpoint}_study.json"
    study = json.loads(out.read_text()) if out.exists() else {"checkpoint": args.checkpoint}
    study.setdefault("samplers", {})
    study.setdefault("weights", {})
    files = weight_files(args.checkpoint)
    todo = []
    if args.only in (None, "weights"):
        todo += [("weights", w, files[w], args.weight_samples, "ddim", 20) for w in WEIGHTS]
    if args.only in (None, "samplers"):
        todo += [("samplers", f"{s}-{k}", files["ema_float32"], args.sampler_samples, s, k) for s, k in SAMPLERS]
    for part, key, path, n, sampler, steps in todo:
        done = study[part].get(key)
        if done and done["num_samples"] == n:
            print(f"[{part}] {key}: already measured (FID {done['fid']:.2f})", flush=True)
            continue
        study[part][key] = score(path, n, sampler, steps)
        study["torch_version"] = torch.__version__
        study["made_by"] = "python scripts/study_sampling.py " + " ".join(argv if argv is not None else sys.argv[1:])
        out.parent.mkdir(exist_ok=True)
        out.write_text(json.dumps(study, indent=2) + "\n")
        r = study[part][key]
        print(f"[{part}] {key}: FID {r['fid']:.2f} (floor {r['fid_floor']:.2f}), {r['seconds']:.0f} s", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
