"""The autoguidance part of book/results.md's BEST block: the study's table, the card's verdicts, a 64-sample grid.

Read by scripts/render_results.py; every number comes from results/autoguidance.json
(scripts/autoguidance_study.py) and the card checkpoints/film_unet_best.json (its ``autoguidance`` entry).
"""

from __future__ import annotations

import json
from pathlib import Path

from autoguidance_study import (
    BEST,
    GUIDE,
    LONG_GRID,
    N_CHOOSE,
    PRECISION_TARGET,
    RECOMMENDED,
    cell,
    cells,
    chosen,
    most_precise,
)

from tinydiff_lib.experiments import RUNS
from tinydiff_lib.ode_samplers import network_passes

REPO = Path(__file__).resolve().parents[1]
RESULTS = REPO / "results" / "autoguidance.json"
PY = ".venv/bin/python"
STUDY_CMD = f"OMP_NUM_THREADS=1 {PY} scripts/autoguidance_study.py"
FIGURE = REPO / "book" / "figures" / f"{BEST}_autoguided_64.png"


def sampler_options(m: dict) -> str:
    """The command-line options of a row's sampler ("" for the checkpoint's recommended one)."""
    return "" if (m["sampler"], m["steps"]) == RECOMMENDED else f" --sampler {m['sampler']} --steps {m['steps']}"


def grid_command(m: dict, out: Path = FIGURE) -> str:
    """The command that draws the 64-sample grid (seed 0) of row ``m`` of the best checkpoint into ``out``."""
    guide = f" --guide-checkpoint checkpoints/{m['guide']}.pt --guidance {m['guidance']:g}" if m.get("guide") else ""
    if m.get("interval"):
        guide += " --guide-interval " + ",".join(f"{v:g}" for v in m["interval"])
    return (f"{PY} -m tinydiff_lib sample --checkpoint checkpoints/{BEST}.pt{guide}{sampler_options(m)} "
            f"--num-samples 64 --seed 0 --quiet --out book/figures/{out.name}")  # fmt: skip


def _guide_name(guide: str) -> str:
    if ".step" in guide:  # a snapshot the best run kept
        name, step = guide.split(".step")
        return f"`{name}` at step {int(step):,}"
    return f"`{guide}` ({RUNS[guide][1]['stop_at']:,} steps)"


def study_table(rows: list[dict]) -> list[str]:
    """The (guide, w) grid at n = N_CHOOSE next to the floor, the chosen row marked."""
    best = chosen(rows)
    order = cells()
    grid = sorted((r for r in rows if r["n"] == N_CHOOSE and cell(r) in order), key=lambda r: order.index(cell(r)))
    out = ["| guide | w | sampler (passes) | FID (× floor) | precision | recall |", "|---|---:|---|---:|---:|---:|"]
    for r in grid:
        mark = " (chosen)" if best and cell(r) == cell(best) else ""
        passes = 2 * network_passes(r["sampler"], r["steps"])  # the model and its guide at every step
        out.append(f"| {_guide_name(r['guide'])} | {r['guidance']:g}{mark} | {r['sampler']}-{r['steps']} ({passes}) | "
                   f"{r['fid']:.2f} ({r['fid'] / r['fid_floor']:.1f}×) | {r['precision']:.3f} | "
                   f"{r['recall']:.3f} |")  # fmt: skip
    if grid:
        r = grid[0]
        out += ["", f"n = {N_CHOOSE:,} per row under {r['sampling_dtype']}, seed 0; passes per image count the "
                f"guide's. The floor at that n: FID {r['fid_floor']:.2f}, precision {r['precision_floor']:.3f}, "
                f"recall {r['recall_floor']:.3f}. The choice: the lowest FID among the "
                f"{' and '.join(f'{k[0]}-{k[1]}' for k in LONG_GRID)} rows with precision ≥ {PRECISION_TARGET}; "
                f"the {RECOMMENDED[0]}-{RECOMMENDED[1]} "
                "rows show the trade-off of FID and precision with the guide and w."]  # fmt: skip
    if missing := len(order) - len(grid):
        out += ["", f"Not scored yet: {missing} of the {len(order)} cells (`{STUDY_CMD}` scores them)."]
    return out


def _aim(ratio: float, aim: float | None) -> str:
    """The verdict on the aim for FID (a multiple of the floor; none: "")."""
    if aim is None:
        return ""
    return f"; aim {aim:g}×: " + ("reached" if ratio <= aim else f"missed by {ratio / aim - 1:.0%}")


def _full_row(m: dict, entry: str, what: str, fid_target: float, verdict, aim: float | None = None) -> str:
    """One n = 10,000 row of the card, its verdicts against the targets (and the aim), and the command that
    measures it."""
    ratio = m["fid"] / m["fid_floor"]
    return (f"At n = {m['num_samples']:,}, {what} (card `checkpoints/{BEST}.json`, entry `{entry}`), guide "
            f"{_guide_name(m['guide'])}, w = {m['guidance']:g}, {m['sampler']}-{m['steps']}: FID {m['fid']:.2f}, "
            f"{ratio:.1f}× the floor "
            f"(target ≤ {fid_target:g}×: {verdict(ratio <= fid_target)}{_aim(ratio, aim)}); precision "
            f"{m['precision']:.3f} (target ≥ "
            f"{PRECISION_TARGET}: {verdict(m['precision'] >= PRECISION_TARGET)}, real digits "
            f"{m['precision_floor']:.3f}); recall {m['recall']:.3f}. Sampled by `{PY} -m tinydiff_lib evaluate "
            f"--checkpoint checkpoints/{BEST}.pt --guide-checkpoint checkpoints/{m['guide']}.pt --guidance "
            f"{m['guidance']:g}{sampler_options(m)} --num-samples {m['num_samples']}`.")  # fmt: skip


def _same_start(m: dict) -> str:
    """How the autoguided grid relates to the plain one above: the same x_T; a stochastic sampler then adds noise."""
    same = "from the same seed, hence the same x_T, as the grid above"
    if m["sampler"] != "stochastic":
        return same
    return (f"{same}; EDM's stochastic sampler adds fresh noise on the way down, so most of the 64 become other "
            "digits than their namesakes above, and the two grids compare as sets, not tile by tile")  # fmt: skip


def equal_sampler(rows: list[dict], m: dict, plain_rows: list[dict]) -> list[str]:
    """What the guide adds with the sampler held fixed: each n = 10,000 row of the chosen (guide, w) on this very
    file next to the model alone with the same sampler at the same n (``plain_rows``: the passes curve's rows of
    results/recipes.json, scripts/score_recipes.py --passes-for film_unet_best)."""
    same = (m["guide"], m["guidance"], m["num_samples"], m.get("checkpoint_sha256"))
    out = []
    for r in rows:
        if (r["guide"], r["guidance"], r["n"], r.get("checkpoint_sha256")) != same:
            continue
        alone = [p for p in plain_rows if (p["run"], p["sampler"], p["steps"], p["n"]) ==
                 (BEST, r["sampler"], r["steps"], r["n"]) and p["bf16"]]  # fmt: skip
        scores = f"FID {alone[-1]['fid']:.2f}, precision {alone[-1]['precision']:.3f}" if alone else "not scored"
        out.append(f"with {r['sampler']}-{r['steps']}, the model alone {scores}, guided FID {r['fid']:.2f}, "
                   f"precision {r['precision']:.3f}")  # fmt: skip
    if not out:
        return []
    return ["", f"**What the guide adds with the sampler held fixed** (n = {m['num_samples']:,}, w = "
            f"{m['guidance']:g}; the model alone from the passes curve's rows): " + "; ".join(out) + "."]  # fmt: skip


def section(card: dict, fid_target: float, verdict, fid_aim: float | None = None) -> list[str]:
    """Lines for the BEST block: what autoguidance is, the study, the card's n = 10,000 row and its verdicts
    (against ``fid_target`` and, for the choice, ``fid_aim``; both multiples of the floor)."""
    data = json.loads(RESULTS.read_text()) if RESULTS.exists() else {"rows": []}
    out = ["", "**With autoguidance** (`tinydiff_lib/autoguidance.py`, Karras et al. 2024): the same checkpoint, "
           f"sampled as D + w (D − D_guide) with a weaker model of the same recipe as the guide, `{GUIDE}`, the "
           f"first {RUNS[GUIDE][1]['stop_at']:,} steps of the long run (two network passes per sampler step). The "
           f"study, from `{STUDY_CMD}`:", "", *study_table(data["rows"])]  # fmt: skip
    m = card.get("autoguidance")
    if not m:
        return [*out, "", f"No n = 10,000 score in the card yet: finish `{STUDY_CMD}`, then "
                f"`{PY} scripts/make_checkpoints.py --models {BEST} --autoguidance-only`."]  # fmt: skip
    out += ["", _full_row(m, "autoguidance", "the study's choice", fid_target, verdict, fid_aim)]
    recipes = REPO / "results" / "recipes.json"
    out += equal_sampler(data["rows"], m, json.loads(recipes.read_text())["rows"] if recipes.exists() else [])
    precise = card.get("autoguidance_most_precise")
    if precise and cell(precise) == cell(m):
        out[-1] += (f" The same cell is also the study's most precise at n = {N_CHOOSE:,}: here the lowest FID and "
                    "the highest precision coincide.")  # fmt: skip
    elif not precise and (cand := most_precise(data["rows"])) and cell(cand) != cell(m):
        out += ["", f"Not scored at n = 10,000 yet: the study's most precise cell, w = {cand['guidance']:g} with "
                f"{cand['sampler']}-{cand['steps']} (precision {cand['precision']:.3f} at n = {N_CHOOSE:,}); "
                f"`{STUDY_CMD}` scores it."]  # fmt: skip
    elif precise:
        out += [
            "",
            _full_row(
                precise,
                "autoguidance_most_precise",
                "the grid's most precise row, the other end of the trade-off",
                fid_target,
                verdict,
            ),
        ]
    if FIGURE.exists():
        out += ["", f"```{{figure}} figures/{FIGURE.name}", ":width: 100%", "",
                f"64 samples of `{BEST}` with autoguidance, {_same_start(m)}, drawn by `{grid_command(m)}`.",
                "```"]  # fmt: skip
    return out
