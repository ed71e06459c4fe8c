"""How many tiles of a 64-sample grid a reader may fail to name, measured, into results/grid.json, resumably.

    python scripts/grid_study.py --threads 2     # every setting not scored yet (one thread unless told)
    python scripts/grid_study.py --list          # the plan, and what is done
    python scripts/grid_study.py --confirm --threads 2   # the drawn grids' settings at n = 10,000

Issue 11 asks for a grid of 64 samples "in which a person names every digit". One grid is one draw; this study
gives the rate behind it: the share of samples the MNIST classifier of the project's metric hesitates to name
(``unsure``: top class probability below ``td.UNSURE_BELOW``, :func:`tinydiff_lib.evaluation.score_features`),
at n = 2,000 next to the same share for real MNIST-train digits, so that 64 × the share is the number of
hesitant tiles a grid holds on average. Each row also classifies the 64 tiles of that setting's grid as the
results page draws it (``sample --num-samples 64 --seed 0``) and lists the ones below the threshold.

The settings (SETTINGS): ``film_unet_best`` with its recommended sampler (the first grid of the results page),
alone with EDM's stochastic sampler at 100 steps, and with the card's autoguidance; then the end of the long run
it was cut from (``recipe_edm_high_long`` at 45,000 steps, beyond the 150-minute budget: what more training buys),
alone and with the same autoguidance, once that run has finished. Then the sampler's levers left on the shipped
checkpoint (``levers``): twice the passes (stochastic sampler at 200 steps, alone and with the card's guide),
stronger pushes of the card's guide (PUSHES; w = 0.5 is the autoguidance study's other row scored at n = 10,000)
and the same pushes from the weaker guide that ``make checkpoints`` ships (WEAK_GUIDE, its first
800 steps). Last, the weaker guide's pushes limited to a guidance interval (INTERVALS, σ_lo < σ <= σ_hi,
``sample --guide-interval``; Kynkäänniemi et al. 2024): guidance where the digit's shape is decided, the model
alone at the highest and lowest noise levels, where a push costs spread and has little left to fix. Then the
same interval pushed from guides that are smaller as well as shorter (SMALL_PUSHES: 800 and 400 steps of the
narrower preset, shipped by ``make checkpoints``), as Karras et al. 2024 found best. Then, once
it has finished, the run the capacity study points to (``score_recipes.NEXT``: the shipped model's recipe and
minutes on another preset) at the shipped model's settings that matter for the grid (:func:`next_settings`).

``--confirm`` scores the settings whose grids the results page draws again at n = 10,000, the cards' n, into
results/grid_confirm.json: the shipped model's lowest share (of equal shares the lower FID), and the lowest share
among the settings that already meet the card's targets at n = 2,000 (precision ≥ 0.8, FID ≤ 10 × the card's
floor at n = 10,000), where that is another setting; then the same lowest share for the capacity study's run.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "scripts"))

from autoguidance_study import guide_file  # noqa: E402
from grid_page import CONFIRM, SETTING, WEAK_GUIDE, confirmed, drawn_rows, next_target_row  # noqa: E402
from row_file import RowFile  # noqa: E402
from score_recipes import NEXT, NEXT_GUIDES, final_step, weights_file  # noqa: E402

import tinydiff_lib as td  # noqa: E402
from tinydiff_lib.autoguidance import load_sampling_model  # noqa: E402

OUT = REPO / "results" / "grid.json"
CONFIRM_N = 10_000  # the cards' n; the scores go to grid_page.CONFIRM
BEST, LONG = "film_unet_best", "recipe_edm_high_long"
N, GRID_SIZE = 2_000, 64
SCORES = ("unsure", "unsure_floor", "fid", "fid_floor", "precision", "precision_floor", "recall", "recall_floor",
          "mean_confidence", "mean_confidence_floor", "num_samples", "sampling_dtype")  # fmt: skip


def _card() -> dict:
    return json.loads((REPO / "checkpoints" / f"{BEST}.json").read_text())


def autoguidance() -> dict:
    """The card's autoguided setting {guide, guidance, sampler, steps} (the study's choice)."""
    m = _card()["autoguidance"]
    return {"guide": m["guide"], "guidance": m["guidance"], "sampler": m["sampler"], "steps": m["steps"]}


def settings() -> list[dict]:
    """Every (model, guide, guidance, sampler, steps) the study scores, in order (module docstring)."""
    alone = {"guide": None, "guidance": 0.0, "sampler": "stochastic", "steps": 100}
    card = _card()["metrics"]  # scored with the checkpoint's recommended sampler
    out = [{"model": BEST, "guide": None, "guidance": 0.0, "sampler": card["sampler"], "steps": card["steps"]}]
    return out + [{"model": model, **s} for model in (BEST, LONG) for s in (alone, autoguidance())] + levers()


PUSHES = (0.5, 1.0, 2.0)  # the pushes w of the card's guide and of WEAK_GUIDE (grid_page)
#: (w, (σ_lo, σ_hi)) of the weaker guide in a guidance interval: (0.28, 5.42], the middle of EDM's range
#: around σ_data (0.62 here), as implementations of Kynkäänniemi et al. default to; and (1, 10], higher
INTERVALS = ((1.0, (0.28, 5.42)), (2.0, (0.28, 5.42)), (1.0, (1.0, 10.0)), (2.0, (1.0, 10.0)))
#: guides smaller as well as shorter (experiments.SMALL_GUIDES) -> the pushes w of each, for 1 < σ <= 10
SMALL_PUSHES = {"film_unet_best_guide400_w16": (0.5, 1.0), "film_unet_best_guide800_w16": (0.5, 0.75, 1.0)}


def levers() -> list[dict]:
    """The shipped checkpoint's sampler levers after the card's settings (module docstring), each one change of the
    card's autoguided setting (or, for twice the passes alone, of the stochastic sampler alone)."""
    alone, guided = {"guide": None, "guidance": 0.0, "sampler": "stochastic", "steps": 200}, autoguidance()
    pushes = [{**guided, "guidance": w} for w in PUSHES] + [{**guided, "guide": WEAK_GUIDE, "guidance": w}
                                                            for w in PUSHES]  # fmt: skip
    limited = [{**guided, "guide": WEAK_GUIDE, "guidance": w, "interval": list(i)} for w, i in INTERVALS]
    small = [{**guided, "guide": g, "guidance": w, "interval": [1.0, 10.0]} for g, ws in SMALL_PUSHES.items()
             for w in ws]  # fmt: skip
    return [{"model": BEST, **s} for s in (alone, {**guided, "steps": 200}, *pushes, *limited, *small)]


NEXT_RUN = next(iter(NEXT), None)  # the run the capacity study points to (as grid_page.NEXT_RUN)
#: a guide of NEXT_RUN's own preset, as weak as WEAK_GUIDE (score_recipes.NEXT_GUIDES: its first steps)
NEXT_GUIDE = next(iter(NEXT_GUIDES), None)


def next_settings(rows: list[dict]) -> list[dict]:
    """NEXT_RUN at the shipped model's settings that matter for the grid: EDM's stochastic sampler alone, the card's
    autoguided setting, and the settings whose grids the page draws (grid_page.drawn_rows of ``rows``); then those
    of WEAK_GUIDE again with NEXT_GUIDE, a guide of NEXT_RUN's own preset (autoguidance asks for a weaker model of
    the same kind)."""
    if NEXT_RUN is None:
        return []
    alone = {"guide": None, "guidance": 0.0, "sampler": "stochastic", "steps": 100}
    drawn = [{k: v for k, v in setting(r).items() if k != "model"} for r in drawn_rows(rows, BEST)]
    own = [{**s, "guide": NEXT_GUIDE} for s in drawn if NEXT_GUIDE and s["guide"] == WEAK_GUIDE]
    out = []
    for s in (alone, autoguidance(), *drawn, *own):
        out += [s] if s not in out else []
    return [{"model": NEXT_RUN, **s} for s in out]


def plan(rows: list[dict]) -> list[dict]:
    """Every row the study scores, in order: :func:`settings`, then :func:`next_settings`."""
    return settings() + next_settings(rows)


def key(row: dict) -> tuple:
    interval = ",".join(f"{v:g}" for v in row["interval"]) if row.get("interval") else None
    return row["model"], row["guide"], row["guidance"], row["sampler"], row["steps"], interval


STUDY = RowFile(OUT, key, {"n": N, "unsure_below": td.UNSURE_BELOW, "grid": f"{GRID_SIZE} samples, seed 0"})


def model_file(model: str) -> Path | None:
    """The checkpoint of ``model``: shipped, or a run's final EMA weights (the long run's, NEXT_RUN's; None until
    it has finished)."""
    return REPO / "checkpoints" / f"{model}.pt" if model == BEST else weights_file(model, final_step(model), "ema0.999")


def _guide(row: dict) -> Path | None:
    """The row's guide: shipped, or a run's weights exported (autoguidance_study.guide_file); None: no guide."""
    return guide_file(row["guide"]) if row["guide"] else None


def grid_unsure(path: Path, row: dict, sampler: str, steps: int) -> list[list[int]]:
    """[row, column] (from 1) of the tiles of the setting's 64-sample grid (seed 0, 8 per row, float32 like the
    page's figures drawn by ``sample``) that the classifier names with top probability below the threshold."""
    model, schedule, ckpt, _ = load_sampling_model(path, _guide(row), row["guidance"], "cpu", row.get("interval"))
    objective = ckpt["config"].get("objective", "ddpm")  # float32 below, as `sample` draws the figures
    x = td.generate(model, schedule, GRID_SIZE, sampler, steps, seed=0, progress=False, objective=objective)
    _, probs = td.extract_features(td.load_feature_net(), x)  # (64, 10)
    hesitant = (probs.max(dim=1).values < td.UNSURE_BELOW).nonzero().flatten().tolist()
    return [[i // 8 + 1, i % 8 + 1] for i in hesitant]


def setting(row: dict) -> dict:
    """What a row samples with (grid_page.SETTING: model, guide, guidance, sampler, steps and, if it has one, the
    interval): what the results page matches the n = 10,000 score against."""
    return {k: row[k] for k in SETTING if k in row}


def confirm() -> list[dict]:
    """The settings of the grids the results page draws (grid_page.drawn_rows), then NEXT_RUN's lowest share among
    its settings that meet the card's targets (grid_page.next_target_row), each scored at CONFIRM_N samples unless
    results/grid_confirm.json holds it for the same checkpoint; each score is added to that file (a RowFile, keyed
    like the study) as soon as it is made. Returns the rows scored now."""
    rows = STUDY.rows()
    if not (drawn := drawn_rows(rows, BEST)):
        raise SystemExit(f"error: no row of {BEST} in {OUT.name} yet: run scripts/grid_study.py first")
    drawn += [r for r in [next_target_row(rows)] if r]
    scores, done, shas = RowFile(CONFIRM, key, {"n": CONFIRM_N}), [], {}
    for row in drawn:
        if (path := model_file(row["model"])) is None:
            continue
        sha = shas[path] = shas.get(path) or td.file_sha256(path)  # each file hashed once
        if (c := confirmed(row)) and c["checkpoint_sha256"] == sha:
            continue
        start = time.perf_counter()
        m = td.evaluate_checkpoint(path, num_samples=CONFIRM_N, sampler=row["sampler"], steps=row["steps"], seed=0,
                                   guidance=row["guidance"], guide=_guide(row), progress=False, bf16=True,
                                   guide_interval=row.get("interval"))  # fmt: skip
        done.append({**setting(row), **{k: m[k] for k in SCORES}, "eval_s": round(time.perf_counter() - start, 1),
                     "checkpoint_sha256": sha})  # fmt: skip
        scores.add(done[-1])
    return done


def score(row: dict) -> dict:
    start, path = time.perf_counter(), model_file(row["model"])
    m = td.evaluate_checkpoint(path, num_samples=N, sampler=row["sampler"], steps=row["steps"], seed=0,
                               guidance=row["guidance"], guide=_guide(row), progress=False, bf16=True,
                               guide_interval=row.get("interval"))  # fmt: skip
    tiles = grid_unsure(path, row, row["sampler"], row["steps"])
    return {**row, **{k: m[k] for k in SCORES}, "grid_unsure_tiles": tiles,
            "eval_s": round(time.perf_counter() - start, 1), "checkpoint_sha256": td.file_sha256(path)}  # fmt: skip


def main(argv=None) -> int:
    def options(p):
        p.add_argument("--confirm", action="store_true", help=f"score the drawn grids' settings at n = {CONFIRM_N:,}")

    if (args := STUDY.worker_args(__doc__, argv, lambda a: plan, options)) is None:
        return 0
    if args.confirm:
        for out in confirm():
            print(json.dumps(out), flush=True)
        return 0
    ready = lambda r: model_file(r["model"]) is not None and (not r["guide"] or _guide(r) is not None)  # noqa: E731
    while row := STUDY.claim_next(plan, ready):
        scored = score(row)
        STUDY.add(scored)
        print(json.dumps({k: scored[k] for k in ("model", "guidance", "sampler", "steps", "unsure", "unsure_floor",
                                                 "fid", "grid_unsure_tiles")}), flush=True)  # fmt: skip
    print("nothing left to score now", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
