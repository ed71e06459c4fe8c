"""Score the runs of the recipe study (scripts/run_recipes.py) into results/recipes.json, resumably.

    OMP_NUM_THREADS=1 python scripts/score_recipes.py &    # a worker (start two: one thread each)
    python scripts/score_recipes.py --list                 # the plan as far as it is known, and what is done

The plan (:func:`plan`) is a list of evaluations in priority order, each a row of the results file: a run,
a snapshot step, a set of weights (the main EMA, the extra EMAs, the raw weights), a sampler with its
steps and a number of samples, scored with ``evaluate_checkpoint`` next to the real-data floor at the same
n. Sampling runs under bfloat16 autocast (2x faster on this CPU; one float32 row measures the difference).
Rows already in the file are skipped, so an interrupted scoring resumes (``--release`` first, to forget
the rows a stopped worker had claimed); a run still training is skipped, and ``--retrained RUN`` retires the
scores of a run trained again from step 0. With ``--passes-for RUN`` the plan
adds RUN's FID-against-passes curve and then the curve's best setting at n = 10,000 (RUN may also be a shipped
checkpoint, SHIPPED: ``checkpoints/film_unet_best.pt`` itself, no run file needed; for it the plan adds the
model alone with the sampler of its card's autoguidance choice at n = 10,000). The scaling curve (SCALING)
scores every snapshot of a long run (``LONG_RUNS``) with its recipe's best short sampler, at n = 2,000 and 10,000,
and the recipe run's own snapshots at 10,000, as each snapshot is written. Each worker claims the next row under
a lock, so several can share the plan.
"""

from __future__ import annotations

import functools
import json
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

import tinydiff_lib as td  # noqa: E402
from tinydiff_lib.experiments import (  # noqa: E402
    LONG_RUNS,
    RECIPE_BUDGET,
    RECIPES,
    RUNS,
    best_on,
    capacity_runs,
    final_loss,
    guide_on,
)
from tinydiff_lib.ode_samplers import ODE_SAMPLERS, network_passes  # noqa: E402
from tinydiff_lib.sampling_io import generate, save_samples  # noqa: E402

sys.path.insert(0, str(REPO / "scripts"))
from row_file import RowFile, native_bf16  # noqa: E402

OUT = REPO / "results" / "recipes.json"
GRIDS = REPO / "results" / "recipes"
SCORED = REPO / "runs" / "scored"  # the exported weights of every scored row
SCORES = ("fid", "fid_floor", "precision", "precision_floor", "recall", "recall_floor", "kid", "kid_floor",
          "mean_confidence", "class_histogram", "num_samples", "sampling_dtype")  # fmt: skip

#: about 20 network passes per image, by objective (the study's "short" samplers)
SHORT = {
    "ddpm": [("ddim", 20), ("heun", 10), ("dpmpp_2m", 20)],
    "edm": [("heun", 10), ("dpmpp_2m", 20), ("euler", 20), ("stochastic", 10)],
}
REFERENCE = ("heun", 25)  # 49 passes: the long reference sampler of every run
N_CHOOSE, N_FULL = 2_000, 10_000
#: the capacity study's runs at equal minutes (experiments.capacity_runs), once their speeds are measured
SPEED = REPO / "results" / "cpu_speed_capacity.json"
CAPACITY = capacity_runs(json.loads(SPEED.read_text()) if SPEED.exists() else None)
#: shipped checkpoints whose passes curve may be scored too (``--passes-for``): checkpoints/<name>.pt, its EMA
SHIPPED = {"film_unet_best": RUNS["film_unet_best"]}
NEXT = best_on(json.loads(SPEED.read_text()) if SPEED.exists() else None)  # the shipped budget, another preset
NEXT_GUIDES = guide_on(NEXT)  # a guide of NEXT's own preset, trained only: the grid study samples with it
ALL = {**RECIPES, **LONG_RUNS, **CAPACITY, **SHIPPED, **NEXT, **NEXT_GUIDES}
#: the scaling curve: each long run, scored at its snapshots with the best short sampler of the recipe it extends
SCALING = {"recipe_edm_high_long": "recipe_edm_high"}


def key(row: dict) -> tuple:
    return row["run"], row["step"], row["weights"], row["sampler"], row["steps"], row["n"], row.get("bf16", True)


STUDY = RowFile(OUT, key, {"budget": RECIPE_BUDGET})


def final_step(run: str) -> int:
    """The last training step of ``run`` (its budget's ``steps``)."""
    return ALL[run][1]["steps"]


def scaling_rows(rows: list[dict]) -> list[dict]:
    """FID against training budget: every snapshot of each long run, its recipe's own snapshots at N_FULL, the
    capacity study's runs (equal minutes, the same sampler), and at N_FULL with that sampler the shipped model and
    the run the study points to (NEXT, its budget on another preset)."""
    out = []
    for run, recipe in SCALING.items():
        if (best := best_short(recipe, rows)) is None:
            continue
        snaps = (*ALL[run][1]["keep_at"], final_step(run))
        out += [dict(run=run, step=step, weights="ema0.999", sampler=best[0], steps=best[1], n=n)
                for n in (N_CHOOSE, N_FULL) for step in snaps]  # fmt: skip
        out += [dict(run=recipe, step=step, weights="ema0.999", sampler=best[0], steps=best[1], n=N_FULL)
                for step in ALL[recipe][1]["keep_at"]]  # fmt: skip
        out += [dict(run=run, step=final_step(run), weights="ema0.999", sampler=best[0], steps=best[1], n=n,
                     bf16=ALL[run][1]["cpu_bf16"]) for n in (N_CHOOSE, N_FULL) for run in CAPACITY]  # fmt: skip
        out += [dict(run=run, step=final_step(run), weights="ema0.999", sampler=best[0], steps=best[1], n=N_FULL)
                for run in (*SHIPPED, *NEXT)]  # the shipped model, and the run that may replace it  # fmt: skip
    return out


def passes(sampler: str, steps: int) -> int:
    return network_passes(sampler, steps) if sampler in ODE_SAMPLERS else steps


def best_short(run: str, rows: list[dict]) -> tuple[str, int] | None:
    """The ~20-pass sampler with the lowest FID at n = N_CHOOSE on the run's final EMA (None until all are scored)."""
    final = final_step(run)
    fids = {}
    for r in rows:
        if (r["run"], r["step"], r["weights"], r["n"], r["bf16"]) == (run, final, "ema0.999", N_CHOOSE, True):
            fids[(r["sampler"], r["steps"])] = r["fid"]
    candidates = SHORT[ALL[run][1]["objective"]]
    return min(candidates, key=fids.get) if all(c in fids for c in candidates) else None


#: the FID-against-passes curve: steps per sampler giving about 5, 10, 20, 50 and 100 network passes
PASSES_GRID = {"ddim": [5, 10, 20, 50, 100], "euler": [5, 10, 20, 50, 100], "dpmpp_2m": [5, 10, 20, 50, 100],
               "heun": [3, 5, 10, 25, 50], "stochastic": [3, 5, 10, 25, 50]}  # fmt: skip


def passes_rows(run: str) -> list[dict]:
    """FID against network passes for every sampler that suits ``run`` (n = N_CHOOSE)."""
    objective = ALL[run][1]["objective"]
    samplers = [s for s in PASSES_GRID if objective == "ddpm" or s in ODE_SAMPLERS]
    return [dict(run=run, step=final_step(run), weights="ema0.999", sampler=s, steps=k, n=N_CHOOSE)
            for s in samplers for k in PASSES_GRID[s]]  # fmt: skip


def best_passes(run: str, rows: list[dict]) -> dict | None:
    """The passes curve's row with the lowest FID (None until the whole curve of ``run`` is scored)."""
    curve = [dict(r, bf16=True) for r in passes_rows(run)]
    done = {key(r): r for r in rows}
    return min((done[key(r)] for r in curve), key=lambda r: r["fid"]) if all(key(r) in done for r in curve) else None


@functools.lru_cache(maxsize=4)
def _card(path: str, mtime_ns: int) -> dict:
    """A checkpoint's card, read once per version of the file."""
    return json.loads(Path(path).read_text())


def control_rows(run: str) -> list[dict]:
    """The shipped ``run`` alone with the sampler of its card's autoguidance choice, at n = N_FULL: what the guide
    adds with the sampler held fixed (scripts/autoguidance_page.py); [] where the card has no such choice."""
    card = REPO / "checkpoints" / f"{run}.json"
    m = _card(str(card), card.stat().st_mtime_ns).get("autoguidance") if card.exists() else None
    return [dict(run=run, step=final_step(run), weights="ema0.999", sampler=m["sampler"], steps=m["steps"],
                 n=N_FULL)] if m else []  # fmt: skip


def plan(rows: list[dict], passes_for: str | None = None) -> list[dict]:
    """Every evaluation of the study that can be planned now, most important first (module docstring).

    A run's headline row (n = N_FULL), EMA-length rows and budget rows use its best short sampler, so they
    appear once the sampler comparison of that run is scored; the budget, EMA and reference-sampler rows are
    at n = N_CHOOSE (each next to its floor at that n), to fit the study into a session on 2 cores.
    """
    out = []
    final = RECIPE_BUDGET["steps"]
    for run, (_, budget) in RECIPES.items():
        for sampler, steps in SHORT[budget["objective"]]:  # which ~20-pass sampler suits this run
            out.append(dict(run=run, step=final, weights="ema0.999", sampler=sampler, steps=steps, n=N_CHOOSE))
    for run, (_, budget) in RECIPES.items():
        if best_short(run, rows) is None:
            continue
        sampler, steps = best_short(run, rows)
        out.append(dict(run=run, step=final, weights="ema0.999", sampler=sampler, steps=steps, n=N_FULL))
        for weights in ("raw", "ema0.9995", "ema0.9999"):  # the EMA length
            out.append(dict(run=run, step=final, weights=weights, sampler=sampler, steps=steps, n=N_CHOOSE))
        for step in budget["keep_at"]:  # the budget curve: snapshots of the same run
            out.append(dict(run=run, step=step, weights="ema0.999", sampler=sampler, steps=steps, n=N_CHOOSE))
        out.append(dict(run=run, step=final, weights="ema0.999", sampler=REFERENCE[0], steps=REFERENCE[1], n=N_CHOOSE))
        if run == next(iter(RECIPES)):  # what bfloat16 sampling changes: the same row in float32
            out.append(dict(run=run, step=final, weights="ema0.999", sampler=sampler, steps=steps, n=N_CHOOSE,
                            bf16=False))  # fmt: skip
    out += scaling_rows(rows)
    out += passes_rows(passes_for) if passes_for else []
    if passes_for and (best := best_passes(passes_for, rows)):  # the curve's best setting, at the cards' n
        out.append({**{k: best[k] for k in ("run", "step", "weights", "sampler", "steps")}, "n": N_FULL})
    out += control_rows(passes_for) if passes_for in SHIPPED else []
    return [{**r, "bf16": r.get("bf16", True)} for r in out]


def saved_step(path: Path) -> int:
    """The training step a checkpoint file holds, read once per version of the file (the plan asks per row)."""
    return _step_of(str(path), path.stat().st_mtime_ns)


@functools.lru_cache(maxsize=16)
def _step_of(path: str, mtime_ns: int) -> int:
    return td.load_checkpoint(path)["step"]


def weights_file(run: str, step: int, weights: str) -> Path | None:
    """The exported checkpoint of one row (None while the run has not reached ``step``); a shipped one as it is."""
    if run in SHIPPED:
        path = REPO / "checkpoints" / f"{run}.pt"
        return path if weights == "ema0.999" and path.exists() and saved_step(path) == step else None
    src = REPO / "runs" / (f"{run}.pt" if step == final_step(run) else f"{run}.step{step}.pt")
    if not src.exists() or saved_step(src) < step:
        return None
    dst = SCORED / f"{run}.step{step}.{weights}.pt"
    dst.parent.mkdir(exist_ok=True)
    if not dst.exists():
        decay = float(weights.removeprefix("ema")) if weights.startswith("ema") else None
        main = decay == RECIPE_BUDGET["ema_decay"]
        td.export_checkpoint(src, dst, raw=weights == "raw", ema=None if main or decay is None else decay)
    return dst


def retrained(run: str) -> int:
    """Forget the scores of ``run``, trained again from step 0: its rows move to ``superseded`` (with a note) and
    its exported weights are deleted, so the plan scores the new run's snapshots afresh; returns how many rows."""
    for stale in SCORED.glob(f"{run}.step*.pt"):
        stale.unlink()
    return STUDY.retire(lambda r: r["run"] == run, f"{run} was trained again from step 0")


def score(row: dict, path: Path) -> dict:
    start = time.perf_counter()
    bf16 = row.get("bf16", True)
    m = td.evaluate_checkpoint(path, num_samples=row["n"], sampler=row["sampler"], steps=row["steps"], seed=0,
                               progress=False, bf16=bf16)  # fmt: skip
    snap = td.load_checkpoint(path)
    ckpt = snap if row["run"] in SHIPPED else td.load_checkpoint(REPO / "runs" / f"{row['run']}.pt")
    out = {**row, "bf16": bf16, "passes": passes(row["sampler"], row["steps"]), **{k: m[k] for k in SCORES}}
    out.update(objective=ckpt["config"]["objective"], images=row["step"] * ckpt["config"]["batch_size"],
               train_wall_s=round(snap["wall_time_s"], 1), final_loss=final_loss(snap["history"]),
               eval_s=round(time.perf_counter() - start, 1))  # fmt: skip
    short = (row["sampler"], row["steps"]) in SHORT[out["objective"]]  # the headline row, not the passes curve's
    if row["n"] == N_FULL and row["step"] == final_step(row["run"]) and short:
        GRIDS.mkdir(parents=True, exist_ok=True)
        x = generate(*td.load_model(path)[:2], 64, row["sampler"], row["steps"], seed=0, progress=False,
                        objective=out["objective"])  # fmt: skip
        save_samples(x, GRIDS / f"{row['run']}.png", nrow=8)
    return out


def add(row: dict) -> None:
    STUDY.add(row)
    print(json.dumps({k: row[k] for k in ("run", "step", "weights", "sampler", "steps", "n", "fid", "fid_floor",
                                          "precision")}), flush=True)  # fmt: skip


def main(argv=None) -> int:
    def options(p):
        p.add_argument("--passes-for", choices=[*RECIPES, *SHIPPED], help="also score FID against passes for this "
                       "run or shipped checkpoint")  # fmt: skip
        p.add_argument("--retrained", choices=list(ALL), metavar="RUN",
                       help="RUN was trained again from step 0: retire its scores (nothing else is done)")  # fmt: skip

    plan_for = lambda a: lambda rows: plan(rows, a.passes_for)  # noqa: E731
    if (args := STUDY.worker_args(__doc__, argv, plan_for, options, float32_rows=True)) is None:
        return 0
    if args.retrained:
        print(f"{retrained(args.retrained)} rows of {args.retrained} moved to 'superseded' in {OUT.name}")
        return 0
    bf16_ok = native_bf16()  # where bfloat16 is emulated, only the float32 rows (the float32 capacity study)

    def ready(row: dict) -> bool:
        return (bf16_ok or not row["bf16"]) and weights_file(row["run"], row["step"], row["weights"]) is not None

    while (row := STUDY.claim_next(plan_for(args), ready)) is not None:
        add(score(row, weights_file(row["run"], row["step"], row["weights"])))
    print("nothing left to score now (runs still training are scored when they finish)", flush=True)
    if not bf16_ok:
        print("the rows sampled under bfloat16 were left alone: this CPU only emulates it (td.native_bf16() is "
              "False); score them on a CPU with AVX-512 BF16 or AMX, or a GPU", flush=True)  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
