"""Train and score the ablations of the results page, each under the ladder's budget (resumable).

    OMP_NUM_THREADS=1 .venv/bin/python scripts/run_ablations.py     # every ablation not yet in the results file
    OMP_NUM_THREADS=1 .venv/bin/python scripts/run_ablations.py --only tiny_conv_3x   # e.g. a second worker

Each run trains into ``runs/<name>.pt`` with ``python -m tinydiff_lib train`` (a half-finished run is
resumed), then its EMA weights, and for the FiLM runs also their raw weights, are scored with
``evaluate_checkpoint`` at ``ABLATION_EVAL`` next to the real-data floor at the same n, as is the shipped
``film_unet`` (the baseline every FiLM ablation changes in one thing). Rows are appended to
``results/ablations.json`` as they finish.
"""

from __future__ import annotations

import argparse
import fcntl
import json
import sys
import time
from pathlib import Path

import torch

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

import tinydiff_lib as td  # noqa: E402
from tinydiff_lib.experiments import ABLATION_EVAL, ABLATIONS, BUDGET, final_loss, train_run  # noqa: E402

OUT = REPO / "results" / "ablations.json"
SCORES = ("fid", "fid_floor", "precision", "precision_floor", "recall", "recall_floor", "num_samples")


def score(path: Path) -> dict:
    start = time.perf_counter()
    m = td.evaluate_checkpoint(path, progress=False, **ABLATION_EVAL)
    return {**{k: m[k] for k in SCORES}, "eval_s": round(time.perf_counter() - start, 1)}


def row(name: str, model: str, budget: dict, weights: str, shipped: Path, run: Path | None) -> dict:
    ckpt = td.load_checkpoint(run or shipped)
    return {
        "name": name, "model": model, "weights": weights, "schedule": budget["schedule"], "steps": ckpt["step"],
        "parameters": td.count_parameters(td.load_model(shipped)[0]), "wall_time_s": round(ckpt["wall_time_s"], 1),
        "final_loss": final_loss(ckpt["history"]), **score(shipped),
    }  # fmt: skip


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--only", help=f"comma-separated, from: {', '.join(ABLATIONS)}")
    args = p.parse_args(argv)
    torch.set_num_threads(1)
    done = json.loads(OUT.read_text()) if OUT.exists() else {"eval": ABLATION_EVAL, "rows": []}
    have = {(r["name"], r["weights"]) for r in done["rows"]}

    def add(r: dict) -> None:  # re-read under a lock: several workers (one thread each) may share the file
        OUT.parent.mkdir(exist_ok=True)
        with open(OUT.with_suffix(".lock"), "w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            now = json.loads(OUT.read_text()) if OUT.exists() else {"eval": ABLATION_EVAL, "rows": []}
            now["rows"].append(r)
            tmp = OUT.with_suffix(".tmp")
            tmp.write_text(json.dumps(now, indent=2) + "\n")
            tmp.replace(OUT)
        print(json.dumps({k: r[k] for k in ("name", "weights", "fid", "fid_floor", "precision")}), flush=True)

    if ("film_unet", "EMA") not in have:
        add(row("film_unet", "film_unet", BUDGET, "EMA", REPO / "checkpoints" / "film_unet.pt", None))
    for name in args.only.split(",") if args.only else ABLATIONS:
        model, budget = ABLATIONS[name]
        run = train_run(name, model, budget, REPO / "runs")
        for weights in ("EMA", "raw") if model.startswith("film_unet") else ("EMA",):
            if (name, weights) in have:
                continue
            shipped = td.export_checkpoint(run, REPO / "runs" / f"{name}.{weights.lower()}.pt", raw=weights == "raw")
            add(row(name, model, budget, weights, shipped, run))
    return 0


if __name__ == "__main__":
    sys.exit(main())
