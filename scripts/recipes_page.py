"""The recipe study's block of book/results.md (RECIPES) and its FID-against-passes figure.

Read by scripts/render_results.py; every number comes from results/recipes.json (scripts/score_recipes.py).
"""

from __future__ import annotations

import json
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
RESULTS = REPO / "results" / "recipes.json"
FIGURE = REPO / "book" / "figures" / "fid_vs_passes.png"
PY = ".venv/bin/python"


SPEED = REPO / "results" / "cpu_speed_bf16.json"
NO_BF16 = REPO / "results" / "cpu_speed_no_bf16.json"


def _film_unet_speed(path: Path) -> tuple[dict, dict]:
    """The benchmark file at ``path`` (or {}) and film_unet's training images/s in it by variant."""
    speed = json.loads(path.read_text()) if path.exists() else {}
    return speed, {r["variant"]: r["train"] for r in speed.get("rows", []) if r["model"] == "film_unet"}


def _quiet_minutes(images: int) -> str:
    """'; at N images/s ... that is M min ...' from the measured bf16 training speed of film_unet, if any."""
    speed, rate = _film_unet_speed(SPEED)
    if "bf16" not in rate:
        return ""
    return (f"; at the {rate['bf16']:.0f} training images/s measured for one quiet job on both cores "
            f"(`{speed['command']}`) that is {images / rate['bf16'] / 60:.0f} min of the 2-core machine that trained"
            f" them, whose CPU computes bfloat16 ({_no_bf16_note(images)})")  # fmt: skip


def _no_bf16_note(images: int) -> str:
    """How the same images fare on a CPU without bfloat16 units (results/cpu_speed_no_bf16.json), if measured."""
    speed, rate = _film_unet_speed(NO_BF16)
    if not {"fp32", "bf16"} <= set(rate):
        return "a CPU without bfloat16 units emulates it: not measured here"
    return (f"on a 2-core CPU without bfloat16 units, `{speed['cpu_capability']}` only, bfloat16 trains at"
            f" {rate['bf16']:.0f} images/s and float32 at {rate['fp32']:.0f}, {images / rate['fp32'] / 60:.0f} min;"
            f" `{speed['command']}`")  # fmt: skip


def _training(budget: dict) -> str:
    if budget["objective"] == "ddpm":
        return f"DDPM ε, uniform t, {budget['schedule']} ᾱ"
    return f"EDM, ln σ ~ N({budget['sigma_p_mean']:g}, {budget['sigma_p_std']:g}²)"


def _score(r: dict | None) -> str:
    """``FID (×floor) | precision | recall`` cells of one row, or dashes."""
    if r is None:
        return "– | – | –"
    return f"{r['fid']:.3g} ({r['fid'] / r['fid_floor']:.1f}×) | {r['precision']:.3f} | {r['recall']:.3f}"


def _find(rows: list[dict], **want) -> dict | None:
    hits = [r for r in rows if all(r.get(k) == v for k, v in want.items())]
    return hits[-1] if hits else None


def _floor(rows: list[dict], n: int) -> str:
    r = _find(rows, n=n)
    return (
        f"FID {r['fid_floor']:.3g}, precision {r['precision_floor']:.3f}, recall {r['recall_floor']:.3f}" if r else ""
    )


def dtype_lines(rows: list[dict]) -> list[str]:
    """bfloat16 against float32 sampling: the last float32 row that has a bfloat16 twin (same run, step, weights,
    sampler and n); float32 rows of a study trained in float32 (no twin) are not this comparison."""
    same = ("run", "step", "weights", "sampler", "steps", "n")
    pairs = [(f, b) for f in rows if f.get("bf16") is False
             if (b := _find(rows, **{k: f[k] for k in same}, bf16=True))]  # fmt: skip
    if not pairs:
        return []
    fp32, bf16 = pairs[-1]
    return ["", f"bfloat16 against float32 sampling (`{fp32['run']}`, {fp32['sampler']}-{fp32['steps']}, "
            f"n = {fp32['n']:,}): FID {bf16['fid']:.3g} against {fp32['fid']:.3g}, precision "
            f"{bf16['precision']:.3f} against {fp32['precision']:.3f}."]  # fmt: skip


def _short(rows: list[dict], run: str, final: int, n_choose: int) -> dict | None:
    """The run's best ~20-pass sampler: the lowest-FID row of the comparison at n_choose."""
    want = (run, final, "ema0.999", n_choose, True)
    cands = [r for r in rows if (r["run"], r["step"], r["weights"], r["n"], r["bf16"]) == want and r["passes"] <= 20]
    return min(cands, key=lambda r: r["fid"]) if cands else None


def recipe_section() -> str:
    from tinydiff_lib.experiments import RECIPE_BUDGET, RECIPES

    data = json.loads(RESULTS.read_text()) if RESULTS.exists() else None
    if not data or not data["rows"]:
        return f"Not measured yet: run `{PY} scripts/run_recipes.py`, then `{PY} scripts/score_recipes.py`."
    rows, final = data["rows"], RECIPE_BUDGET["steps"]
    n_full = max(r["n"] for r in rows)
    n_choose = min(r["n"] for r in rows)
    out = [f"Every run: the `film_unet` CPU preset, {final:,} steps × {RECIPE_BUDGET['batch_size']} images "
           f"({final * RECIPE_BUDGET['batch_size']:,} images), AdamW lr {RECIPE_BUDGET['lr']:g} with "
           f"{RECIPE_BUDGET['warmup_steps']} warm-up steps and cosine decay, EMA {RECIPE_BUDGET['ema_decay']}, "
           f"bfloat16 autocast on the CPU, seed 0{_quiet_minutes(final * RECIPE_BUDGET['batch_size'])}. The train "
           "times below are wall times of two such runs side by side, one thread each, on a machine shared with "
           "other work. Sampling under bfloat16 autocast, seed 0.", "",
           "| run | training | sampler (passes) | FID (× floor) | precision | recall | train time |",
           "|---|---|---|---:|---:|---:|---:|"]  # fmt: skip
    for run, (_, budget) in RECIPES.items():
        best = _short(rows, run, final, n_choose)
        if best is None:
            out.append(f"| `{run}` | {_training(budget)} | not scored yet | | | | |")
            continue
        for sampler, steps in ((best["sampler"], best["steps"]),):
            r = _find(rows, run=run, step=final, weights="ema0.999", sampler=sampler, steps=steps, n=n_full)
            if r:
                out.append(f"| `{run}` | {_training(budget)} | {sampler}-{steps} ({r['passes']}) | {_score(r)} | "
                           f"{r['train_wall_s'] / 60:.0f} min |")  # fmt: skip
    out += ["", f"At n = {n_full:,} samples; the floor (real MNIST-train images, same n): {_floor(rows, n_full)}. "
            "Each run with its best sampler at about 20 network passes per image (chosen below, where the long "
            "reference sampler, Heun with 25 steps, shows what more passes would buy)."]  # fmt: skip
    out += [
        "",
        f"**Which sampler at about 20 passes**, and the reference (n = {n_choose:,}; floor: {_floor(rows, n_choose)}):",
        "",
        "| run | sampler (passes) | FID (× floor) | precision | recall |",
        "|---|---|---:|---:|---:|",
    ]
    for r in rows:
        short_or_ref = r["passes"] <= 20 or (r["sampler"], r["steps"]) == ("heun", 25)
        if (r["step"], r["weights"], r["n"], r["bf16"]) == (final, "ema0.999", n_choose, True) and short_or_ref:
            out.append(f"| `{r['run']}` | {r['sampler']}-{r['steps']} ({r['passes']}) | {_score(r)} |")
    out += [
        "",
        f"**EMA length** (the same runs; n = {n_choose:,}, each run's best short sampler). After n updates the "
        "library's EMA uses the decay min(d, (1 + n)/(10 + n)) (`tinydiff_lib/ema.py`); the last column is the "
        "decay in force at the run's last step, so decays above it cannot be told apart in a run this short:",
        "",
        "| run | weights | FID (× floor) | precision | recall | decay at the last step |",
        "|---|---|---:|---:|---:|---:|",
    ]
    for run in RECIPES:
        best = _short(rows, run, final, n_choose)
        for weights in ("raw", "ema0.999", "ema0.9995", "ema0.9999"):
            r = best and _find(rows, run=run, step=final, weights=weights, sampler=best["sampler"],
                               steps=best["steps"], n=n_choose, bf16=True)  # fmt: skip
            if r:
                decay = "–" if weights == "raw" else f"{min(float(weights[3:]), (1 + final) / (10 + final)):.5f}"
                out.append(f"| `{run}` | {weights.replace('ema', 'EMA ')} | {_score(r)} | {decay} |")
    out += ["", f"**Budget** (snapshots of the same runs, so the learning rate had not decayed yet at the earlier "
            f"ones; n = {n_choose:,}):", "",
            "| run | steps | images | train time | FID (× floor) | precision | recall |",
            "|---|---:|---:|---:|---:|---:|---:|"]  # fmt: skip
    for run in RECIPES:
        best = _short(rows, run, final, n_choose)
        for step in (*RECIPE_BUDGET["keep_at"], final):
            r = best and _find(rows, run=run, step=step, weights="ema0.999", sampler=best["sampler"],
                               steps=best["steps"], n=n_choose, bf16=True)  # fmt: skip
            if r:
                out.append(f"| `{run}` | {step:,} | {r['images']:,} | {r['train_wall_s'] / 60:.0f} min | {_score(r)} |")
    out += dtype_lines(rows)
    if runs := passes_figure(rows, n_choose):
        out += ["", "```{figure} figures/fid_vs_passes.png", ":width: 90%", "",
                f"FID against network passes per image, every sampler, n = {n_choose:,} (lower is better; the dashed "
                f"line is the floor): {_panels(runs)}.", "```"]  # fmt: skip
    out += _passes_best(rows, runs, n_choose, n_full)
    out += [
        "",
        f"Made by `OMP_NUM_THREADS=1 {PY} scripts/run_recipes.py --runs NAME` (one job per core) and "
        f"`OMP_NUM_THREADS=1 {PY} scripts/score_recipes.py` (resumable; `--list` shows the plan).",
    ]
    return "\n".join(out)


def _panels(runs: list[str]) -> str:
    """The figure's panels in words: the shipped checkpoint first, then the recipe run."""
    from score_recipes import SHIPPED, final_step

    what = [f"`{run}`, the shipped checkpoint ({final_step(run):,} steps)" if run in SHIPPED else
            f"`{run}` of the recipe table ({final_step(run):,} steps)" for run in runs]  # fmt: skip
    return ("top " + what[0] + ", bottom " + what[1]) if len(what) == 2 else what[0]


def _curve(rows: list[dict], run: str, n: int) -> list[dict]:
    """The run's rows of the passes curve: its final EMA, bfloat16, at n, one row per (sampler, steps)."""
    from score_recipes import final_step

    want = (run, final_step(run), "ema0.999", n, True)
    return [r for r in rows if (r["run"], r["step"], r["weights"], r["n"], r["bf16"]) == want]


def _passes_best(rows: list[dict], runs: list[str], n_choose: int, n_full: int) -> list[str]:
    """Each curve's best setting scored again at n_full (score_recipes --passes-for), if it has been."""
    out = []
    for run in runs:
        best = min(_curve(rows, run, n_choose), key=lambda r: r["fid"])
        full = _find(rows, run=run, step=best["step"], weights=best["weights"], sampler=best["sampler"],
                     steps=best["steps"], n=n_full, bf16=True)  # fmt: skip
        if full:
            out += ["", f"The best setting of `{run}`'s curve, {full['sampler']}-{full['steps']} ({full['passes']} "
                    f"passes), at n = {n_full:,}: FID {full['fid']:.3g} ({full['fid'] / full['fid_floor']:.1f}× "
                    f"the floor), precision {full['precision']:.3f}, recall {full['recall']:.3f} (floor: "
                    f"{_floor(rows, n_full)})."]  # fmt: skip
    return out


def passes_figure(rows: list[dict], n: int) -> list[str]:
    """Draw FID against passes at n, one panel per run with a curve (two samplers or more past 20 passes): the
    shipped checkpoint's, then the recipe run with the most samplers. Returns the runs drawn ([]: none)."""
    from score_recipes import SHIPPED

    from tinydiff_lib.experiments import RECIPES

    def samplers(run):
        return {r["sampler"] for r in _curve(rows, run, n) if r["passes"] > 20}

    shipped = [run for run in SHIPPED if len(samplers(run)) >= 2]
    recipe = max(RECIPES, key=lambda run: len(samplers(run)))
    runs = shipped + ([recipe] if len(samplers(recipe)) >= 2 else [])
    if not runs:
        return []
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(len(runs), 1, figsize=(6.4, 3.4 * len(runs)), sharex=True, squeeze=False)
    for ax, run in zip(axes[:, 0], runs):  # one above the other: each readable at the column's width
        curve = _curve(rows, run, n)
        for sampler in sorted({r["sampler"] for r in curve}):
            pts = sorted((r["passes"], r["fid"]) for r in curve if r["sampler"] == sampler)
            ax.plot(*zip(*pts), marker="o", label=sampler)
        ax.axhline(curve[0]["fid_floor"], color="grey", linestyle="--", label="floor")
        ax.set(xscale="log", yscale="log", ylabel="FID", title=run)
        ax.legend(fontsize=9)
    axes[-1][0].set_xlabel("network passes per image")
    FIGURE.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(FIGURE, dpi=120, bbox_inches="tight")
    plt.close(fig)
    return runs
