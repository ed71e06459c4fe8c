"""Autoguidance of film_unet_best by its own earlier snapshots, into results/autoguidance.json, resumably.

    OMP_NUM_THREADS=1 python scripts/autoguidance_study.py &     # a worker (one thread; start two if cores allow)
    python scripts/autoguidance_study.py --list                  # the plan as far as it is known, and what is done

Autoguidance (tinydiff_lib/autoguidance.py; Karras et al. 2024) samples D̃ = D + w (D − D_guide) with a
weaker model of the same kind as the guide. The choice of w (:func:`chosen`) is made on the sampler the
FID-against-passes curve found best (EDM's stochastic sampler, at 50 and at 100 steps) with the guide
``film_unet_best_guide``, the first 1,600 steps of the long run of the same recipe (LONG_GRID): the
lowest FID among those cells whose precision reaches PRECISION_TARGET (the highest precision if none does). The
choice is scored again at n = 10,000 for ``film_unet_best``'s card. Then, for the trade-off between FID and
precision, GRID scores two guides with the checkpoint's recommended sampler (RECOMMENDED): ``film_unet_best_guide``
and ``film_unet_best_guide800`` (its first 800 steps; ``make checkpoints`` ships both). A guide named
``<run>.step<K>`` is a snapshot a run kept (``runs/<run>.step<K>.pt``, exported to ``runs/scored/``);
the most precise cell of both grids (:func:`most_precise`) is scored at
n = 10,000 too. Every cell is at n = 2,000 (the project's metric, floor at the same n) under bfloat16 autocast,
as in the recipe study. ``make checkpoints`` reads the two n = 10,000 rows from here, for the same two files.
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

OUT = REPO / "results" / "autoguidance.json"
BEST = "film_unet_best"
GUIDE = "film_unet_best_guide"
#: guide -> guidance scales w: the shipped guide (1,600 steps) and a weaker one (800 steps)
GRID = {GUIDE: [0.5, 1.0, 1.5, 2.0], "film_unet_best_guide800": [1.0, 1.5]}
#: the sampler of GRID: film_unet_best's recommended one
RECOMMENDED = ("dpmpp_2m", 20)
#: the cells the choice is made from, all with GUIDE: (sampler, steps) -> w. EDM's stochastic sampler, the
#: passes curve's best (50 steps: 99 passes, 198 with a guide). The previous film_unet_best's best w was the
#: smallest tried (0.25 of 0.25, 0.5, 1), so this grid goes lower, to 0.1; 0.5 shows what a larger push costs and
#: buys. At 100 steps (199 passes, 398 with the guide) the two best w of 50 steps: does doubling the passes pay?
LONG_GRID = {("stochastic", 50): [0.1, 0.15, 0.25, 0.5], ("stochastic", 100): [0.15, 0.25]}
N_CHOOSE, N_FULL = 2_000, 10_000
#: issue 11's targets for the shipped unconditional model at n = N_FULL: precision at least 0.8, FID at most 10×
#: the real-data floor (aim: 2×)
PRECISION_TARGET, FID_TARGET, FID_AIM = 0.8, 10.0, 2.0
SCORES = ("fid", "fid_floor", "precision", "precision_floor", "recall", "recall_floor", "kid", "kid_floor",
          "num_samples", "sampler", "steps", "sampling_dtype")  # fmt: skip


def cells() -> list[dict]:
    """Every (guide, w, sampler, steps) the study scores: LONG_GRID, then GRID with RECOMMENDED."""
    return choice_cells() + [dict(guide=g, guidance=w, sampler=RECOMMENDED[0], steps=RECOMMENDED[1])
                             for g, ws in GRID.items() for w in ws]  # fmt: skip


def choice_cells() -> list[dict]:
    """The cells :func:`chosen` picks from: LONG_GRID."""
    return [dict(guide=GUIDE, guidance=w, sampler=sampler, steps=steps)
            for (sampler, steps), ws in LONG_GRID.items() for w in ws]  # fmt: skip


def cell(row: dict) -> dict:
    """The (guide, w, sampler, steps) of a row."""
    return {k: row[k] for k in ("guide", "guidance", "sampler", "steps")}


def key(row: dict) -> tuple:
    return row["guide"], row["guidance"], row["n"], row["sampler"], row["steps"]


STUDY = RowFile(OUT, key, {"checkpoint": BEST, "grid": GRID, "guide": GUIDE,
                           "long_grid": {f"{s}-{k}": ws for (s, k), ws in LONG_GRID.items()},
                           "precision_target": PRECISION_TARGET})  # fmt: skip


def _grid(rows: list[dict], study: list[dict] | None = None) -> list[dict]:
    """The rows of the study's cells (or of ``study``) at n = N_CHOOSE."""
    study = cells() if study is None else study
    return [r for r in rows if r["n"] == N_CHOOSE and cell(r) in study]


def chosen(rows: list[dict]) -> dict | None:
    """The cell to ship: among :func:`choice_cells` at n = N_CHOOSE, the lowest FID of those reaching the
    precision target, else the most precise; None until all of them are scored."""
    grid = _grid(rows, choice_cells())
    if len(grid) < len(choice_cells()):
        return None
    good = [r for r in grid if r["precision"] >= PRECISION_TARGET]
    return min(good, key=lambda r: r["fid"]) if good else max(grid, key=lambda r: r["precision"])


def most_precise(rows: list[dict]) -> dict | None:
    """The cell with the highest precision at n = N_CHOOSE (None until every cell is scored)."""
    grid = _grid(rows)
    return max(grid, key=lambda r: r["precision"]) if chosen(rows) and len(grid) == len(cells()) else None


def plan(rows: list[dict]) -> list[dict]:
    """In order: the choice's cells at n = N_CHOOSE, the chosen one at n = N_FULL (the card's row), GRID at
    N_CHOOSE, and the most precise cell at n = N_FULL (the other end of the trade-off between FID and precision)."""
    out = [dict(c, n=N_CHOOSE) for c in choice_cells()]
    out += [dict(cell(best), n=N_FULL)] if (best := chosen(rows)) else []
    out += [dict(c, n=N_CHOOSE) for c in cells() if c not in choice_cells()]
    if (precise := most_precise(rows)) and dict(cell(precise), n=N_FULL) not in out:
        out.append(dict(cell(precise), n=N_FULL))
    return out


def guide_file(guide: str) -> Path | None:
    """The guide's checkpoint: shipped (``checkpoints/``) or a snapshot exported from ``runs/`` (None: not there)."""
    shipped, src = REPO / "checkpoints" / f"{guide}.pt", REPO / "runs" / f"{guide}.pt"
    if shipped.exists() or not src.exists():
        return shipped if shipped.exists() else None
    dst = REPO / "runs" / "scored" / f"{guide}.pt"
    if not dst.exists():
        dst.parent.mkdir(exist_ok=True)
        td.export_checkpoint(src, dst)
    return dst


def score(row: dict) -> dict:
    start, main_path, guide = time.perf_counter(), REPO / "checkpoints" / f"{BEST}.pt", guide_file(row["guide"])
    m = td.evaluate_checkpoint(main_path, num_samples=row["n"], sampler=row["sampler"], steps=row["steps"],
                               guidance=row["guidance"], guide=guide, seed=0, progress=False, bf16=True)  # fmt: skip
    return {**row, **{k: m[k] for k in SCORES}, "eval_s": round(time.perf_counter() - start, 1),
            "checkpoint_sha256": td.file_sha256(main_path), "guide_sha256": td.file_sha256(guide)}  # fmt: skip


def main(argv=None) -> int:
    def options(p):
        p.add_argument("--max-rows", type=int, default=10**9, help="stop after scoring this many rows")

    if (args := STUDY.worker_args(__doc__, argv, lambda a: plan, options)) is None:
        return 0
    shas = {BEST: td.file_sha256(REPO / "checkpoints" / f"{BEST}.pt")}  # each file hashed once
    shas.update({g: td.file_sha256(path) for g in GRID if (path := guide_file(g)) is not None})

    def stale(r: dict) -> bool:
        return r["checkpoint_sha256"] != shas[BEST] or r["guide_sha256"] != shas.get(r["guide"], r["guide_sha256"])

    if retired := STUDY.retire(stale, "the checkpoint or its guide was replaced (its SHA-256 changed)"):
        print(f"moved {retired} rows of replaced files to 'superseded'", flush=True)
    done = 0
    while done < args.max_rows and (row := STUDY.claim_next(plan, lambda r: guide_file(r["guide"]) is not None)):
        scored, done = score(row), done + 1
        STUDY.add(scored)
        print(json.dumps({k: scored[k] for k in ("guide", "guidance", "sampler", "n", "fid", "precision")}),
              flush=True)  # fmt: skip
    print("nothing left to score now" if done < args.max_rows else f"stopped after {done} rows", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
