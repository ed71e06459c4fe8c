"""The guidance sweep of the conditional checkpoints into results/guidance.json, resumably.

    OMP_NUM_THREADS=1 python scripts/guidance_sweep.py &     # a worker (start two: one thread each)
    python scripts/guidance_sweep.py --list                  # the plan as far as it is known, and what is done

The class-conditional checkpoint is scored at every guidance scale w of SWEEP (n = 10,000: 1,000 per digit,
the project's classifier's accuracy on the requested digit, FID / precision / recall over all classes next
to the real-data floor); the chosen w (:func:`chosen_guidance`) is the one with the lowest FID among those
whose accuracy reaches ACCURACY_TARGET (the most accurate one if none does). The text checkpoint is then
scored at the chosen w on captions from the training phrasings and from the held-out ones (each row at
n = 10,000 takes about 14 minutes of one core under guidance, so w = 0 is left to the chapter's small check).
The checkpoint's recommended sampler is used throughout, under bfloat16 autocast (as the recipe study).
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "scripts"))

from row_file import RowFile  # noqa: E402

import tinydiff_lib as td  # noqa: E402

OUT = REPO / "results" / "guidance.json"
SWEEP = [0.0, 0.25, 0.5, 1.0, 2.0, 6.0]
N = 10_000
ACCURACY_TARGET = 0.98
CLASS, TEXT = "film_unet_class", "film_unet_text"
SCORES = ("fid", "fid_floor", "precision", "precision_floor", "recall", "recall_floor", "accuracy",
          "accuracy_per_digit", "num_samples", "sampler", "steps", "sampling_dtype")  # fmt: skip


def key(row: dict) -> tuple:
    return row["checkpoint"], row["guidance"], row["prompts"], row["n"]


STUDY = RowFile(OUT, key, {"sweep": SWEEP, "accuracy_target": ACCURACY_TARGET})


def chosen_guidance(rows: list[dict]) -> float | None:
    """The sweep's choice: lowest FID among the w whose accuracy reaches the target (None until all are scored)."""
    sweep = {r["guidance"]: r for r in rows if r["checkpoint"] == CLASS and r["n"] == N}
    if not all(w in sweep for w in SWEEP):
        return None
    good = [r for r in sweep.values() if r["accuracy"] >= ACCURACY_TARGET]
    return (
        min(good, key=lambda r: r["fid"])["guidance"]
        if good
        else max(sweep.values(), key=lambda r: r["accuracy"])["guidance"]
    )  # noqa: E501


def plan(rows: list[dict]) -> list[dict]:
    out = [dict(checkpoint=CLASS, guidance=w, prompts=None, n=N) for w in SWEEP]
    w = chosen_guidance(rows)
    if w is not None:
        out += [dict(checkpoint=TEXT, guidance=w, prompts=split, n=N) for split in ("train", "held_out")]
    return out


def score(row: dict) -> dict:
    start, path = time.perf_counter(), REPO / "checkpoints" / f"{row['checkpoint']}.pt"
    m = td.evaluate_checkpoint(path, num_samples=row["n"],
                               guidance=row["guidance"], prompts=row["prompts"], seed=0, progress=False,
                               bf16=True)  # fmt: skip
    return {**row, **{k: m[k] for k in SCORES}, "eval_s": round(time.perf_counter() - start, 1),
            "checkpoint_sha256": td.file_sha256(path)}  # fmt: skip


def main(argv=None) -> int:
    if STUDY.worker_args(__doc__, argv, lambda a: plan) is None:
        return 0

    def ready(row: dict) -> bool:
        return (REPO / "checkpoints" / f"{row['checkpoint']}.pt").exists()

    def stale(row: dict) -> bool:
        path = REPO / "checkpoints" / f"{row['checkpoint']}.pt"
        return path.exists() and row.get("checkpoint_sha256") != td.file_sha256(path)

    if retired := STUDY.retire(stale, "the checkpoint file was replaced (its SHA-256 changed)"):
        print(f"moved {retired} rows of replaced checkpoints to 'superseded'", flush=True)
    while (row := STUDY.claim_next(plan, ready)) is not None:
        scored = score(row)
        STUDY.add(scored)
        print(json.dumps({k: scored[k] for k in ("checkpoint", "guidance", "prompts", "fid", "accuracy")}), flush=True)
    print("nothing left to score now (a checkpoint not shipped yet is scored once it is)", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
