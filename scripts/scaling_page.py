"""The scaling curve's block of book/results.md (SCALING) and its figure: FID against minutes of training.

Read by scripts/render_results.py; every number comes from results/recipes.json (scripts/score_recipes.py, its
``scaling_rows``): the snapshots of the recipe run ``recipe_edm_high`` (14,000 steps) and of its long run
``recipe_edm_high_long`` (45,000 steps, same recipe, ``LONG_RUNS``), each scored with the recipe's best sampler
at about 20 passes. Minutes are training images divided by the long run's own measured speed between its first
and last scored snapshot, a stretch trained as the only job on both cores. Where the long run was trained again
from step 0 (``score_recipes.py --retrained``), the earlier run's scores stand beside the new run's.
"""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace

REPO = Path(__file__).resolve().parents[1]
RESULTS = REPO / "results" / "recipes.json"
FIGURE = REPO / "book" / "figures" / "fid_vs_minutes.png"
PY = ".venv/bin/python"


def _runs() -> dict[str, dict]:
    """The budget of every run on the curve: each recipe run, then the long run that extends it."""
    from score_recipes import ALL, SCALING

    return {name: ALL[name][1] for pair in SCALING.items() for name in reversed(pair)}


def _sampler(rows: list[dict]) -> tuple[str, int] | None:
    """The curve's sampler: the best ~20-pass sampler of the recipe run (score_recipes.best_short)."""
    from score_recipes import SCALING, best_short

    return best_short(next(iter(SCALING.values())), rows)


def _points(rows: list[dict], run: str, budget: dict, n: int, sampler: tuple | None = None) -> list[dict]:
    """The scored snapshots of ``run`` at n samples (main EMA, the curve's sampler unless ``sampler`` is given),
    in step order."""
    steps, sampler = (*budget["keep_at"], budget["steps"]), sampler or _sampler(rows)
    hits = [r for r in rows if r["run"] == run and r["step"] in steps and r["n"] == n and r["weights"] == "ema0.999"
            and r["bf16"] and (r["sampler"], r["steps"]) == sampler]  # fmt: skip
    return sorted(hits, key=lambda r: r["step"])


#: the long run's last snapshot of its first sitting (the only job on both cores of one machine); its second half
#: was resumed in another session on another machine, partly sharing the cores, so its wall time is not a speed
FIRST_SITTING_ENDS = {"recipe_edm_high_long": 22_680}


def measured_rate(rows: list[dict], long_run: str) -> tuple[float, dict, dict] | None:
    """Training images per second between the long run's first and last scored snapshots of its first sitting
    (FIRST_SITTING_ENDS; None below two)."""
    last = FIRST_SITTING_ENDS.get(long_run, float("inf"))
    snaps = sorted({r["step"]: r for r in rows if r["run"] == long_run and r["step"] <= last}.values(),
                   key=lambda r: r["step"])  # fmt: skip
    if len(snaps) < 2 or snaps[-1]["train_wall_s"] <= snaps[0]["train_wall_s"]:
        return None
    a, b = snaps[0], snaps[-1]
    return (b["images"] - a["images"]) / (b["train_wall_s"] - a["train_wall_s"]), a, b


def _later_sitting(rows: list[dict], long_run: str, last: int) -> str:
    """A sentence for snapshots beyond the first sitting, whose minutes are at that sitting's speed."""
    if not any(r["run"] == long_run and r["step"] > last for r in rows):
        return ""
    return (f" The steps after {last:,} were trained later, resumed from the committed run file on another "
            "machine, partly sharing its cores with other jobs; their minutes are at the same speed, so every row "
            "is in minutes of that first machine.")  # fmt: skip


def _lr(budget: dict, step: int) -> float:
    from tinydiff_lib.optim import lr_factor

    cfg = SimpleNamespace(steps=budget["steps"], warmup_steps=budget["warmup_steps"], lr_schedule="cosine")
    return lr_factor(step, cfg)


def _cell(r: dict | None) -> str:
    if r is None:
        return "– | – | –"
    return f"{r['fid']:.3g} ({r['fid'] / r['fid_floor']:.1f}×) | {r['precision']:.3f} | {r['recall']:.3f}"


def earlier_run_lines(data: dict | None, long_run: str, budget: dict, n_full: int) -> list[str]:
    """The long run's scores from an earlier training of the same command (its rows retired to ``superseded`` by
    ``score_recipes.py --retrained``) next to this run's at the same steps: what two runs of one command differ
    by; [] when there is no earlier run."""
    old = [r for r in (data or {}).get("superseded", [])
           if r["run"] == long_run and "trained again from step 0" in r.get("superseded_because", "")]  # fmt: skip
    if not old:
        return []
    then = {r["step"]: r for r in _points(old, long_run, budget, n_full, _sampler(data["rows"]))}
    now = {r["step"]: r for r in _points(data["rows"], long_run, budget, n_full)}
    rate = measured_rate(old, long_run)
    speed = f", whose loop ran at {rate[0]:.0f} images/s" if rate else ""
    out = ["", f"**The same run trained twice.** `{long_run}` was trained once before, from the same command and "
           f"seed on another 2-core CPU{speed}; its scores at n = {n_full:,} (kept under `superseded` in "
           "`results/recipes.json`) next to this run's at the same steps:", "",
           "| step | FID then | FID now | precision then | precision now |", "|---:|---:|---:|---:|---:|"]  # fmt: skip
    for step in sorted(then):
        a, b = then[step], now.get(step)
        out.append(f"| {step:,} | {a['fid']:.3g} | {b['fid']:.3g} | {a['precision']:.3f} | {b['precision']:.3f} |"
                   if b else f"| {step:,} | {a['fid']:.3g} | not scored yet | {a['precision']:.3f} | – |")  # fmt: skip
    return out


def scaling_section() -> str:
    data = json.loads(RESULTS.read_text()) if RESULTS.exists() else None
    rows = data["rows"] if data else []
    runs = _runs()
    long_run = list(runs)[-1]
    n_full = max((r["n"] for r in rows), default=0)
    n_small = min((r["n"] for r in rows), default=0)
    if not any(r["run"] == long_run for r in rows):
        todo = (f"Not measured yet: `{PY} scripts/run_recipes.py --runs {long_run}` (resumable), then "
                f"`OMP_NUM_THREADS=1 {PY} scripts/score_recipes.py`.")  # fmt: skip
        return "\n".join([todo, *capacity_lines(rows, n_full, n_small)])
    rate = measured_rate(rows, long_run)
    out = []
    if rate:
        r, a, b = rate
        wall = (b["train_wall_s"] - a["train_wall_s"]) / 60
        out += [f"Minutes are training images ÷ {r:.0f} images/s, the speed `{long_run}` measured between its "
                f"snapshots at steps {a['step']:,} and {b['step']:,} ({wall:.0f} min of wall time as the only job on "
                "both cores: the training loop itself, with its EMAs and "
                "checkpoints)." + _later_sitting(rows, long_run, b["step"]), ""]  # fmt: skip
    out += [
        f"| run | step of | images | minutes | learning rate (of peak) | FID n = {n_full:,} (× floor) | "
        f"precision | recall | FID n = {n_small:,} (× floor) |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for run, budget in runs.items():
        full = {r["step"]: r for r in _points(rows, run, budget, n_full)}
        small = {r["step"]: r for r in _points(rows, run, budget, n_small)}
        for step in (*budget["keep_at"], budget["steps"]):
            if step not in full and step not in small:
                out.append(f"| `{run}` | {step:,} of {budget['steps']:,} | | | | not scored yet | | | |")
                continue
            images = step * budget["batch_size"]
            minutes = f"{images / rate[0] / 60:.0f}" if rate else "–"
            s = small.get(step)
            s_text = f"{s['fid']:.3g} ({s['fid'] / s['fid_floor']:.1f}×)" if s else "–"
            out.append(f"| `{run}` | {step:,} of {budget['steps']:,} | {images:,} | {minutes} | "
                       f"{_lr(budget, step):.2f} | {_cell(full.get(step))} | {s_text} |")  # fmt: skip
    some = next((r for r in rows if r["run"] == long_run and r["n"] == n_full), None)
    if some:
        out += ["", f"Floor (real MNIST-train images, n = {n_full:,}): FID {some['fid_floor']:.3g}, precision "
                f"{some['precision_floor']:.3f}, recall {some['recall_floor']:.3f}. Every row: the main EMA "
                f"(decay {runs[long_run]['ema_decay']}), {some['sampler']}-{some['steps']} ({some['passes']} passes), "
                "seed 0."]  # fmt: skip
    out += earlier_run_lines(data, long_run, runs[long_run], n_full)
    if figure(rows, runs, n_full, rate):
        out += ["", "```{figure} figures/fid_vs_minutes.png", ":width: 90%", "",
                f"FID (left) and precision (right) at n = {n_full:,} against minutes of training: each line is one "
                "run's snapshots; the dashed lines are the real-data floor.", "```"]  # fmt: skip
    out += capacity_lines(rows, n_full, n_small)
    out += [
        "",
        f"Made by `{PY} scripts/run_recipes.py --runs {long_run}` and "
        f"`OMP_NUM_THREADS=1 {PY} scripts/score_recipes.py` (`--list` shows what is still to score).",
    ]
    return "\n".join(out)


def figure(rows: list[dict], runs: dict[str, dict], n: int, rate) -> bool:
    """Draw FID and precision against minutes, one line per run; False without a measured rate or two points."""
    lines = {run: _points(rows, run, budget, n) for run, budget in runs.items()}
    if not rate or sum(len(v) for v in lines.values()) < 2:
        return False
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import matplotlib.ticker

    fig, (ax_f, ax_p) = plt.subplots(1, 2, figsize=(8.4, 3.4))
    for run, pts in lines.items():
        if pts:
            minutes = [r["images"] / rate[0] / 60 for r in pts]
            label = f"{run} ({runs[run]['steps']:,} steps)"
            ax_f.plot(minutes, [r["fid"] for r in pts], marker="o", label=label)
            ax_p.plot(minutes, [r["precision"] for r in pts], marker="o", label=label)
    any_row = next(r for pts in lines.values() for r in pts)
    ax_f.axhline(any_row["fid_floor"], color="grey", linestyle="--", label="floor")
    ax_p.axhline(any_row["precision_floor"], color="grey", linestyle="--", label="floor")
    ax_f.set(xscale="log", yscale="log", xlabel="minutes of training (2 CPU cores)", ylabel="FID")
    ax_p.set(xscale="log", xlabel="minutes of training (2 CPU cores)", ylabel="precision")
    ticks = [
        m
        for m in (15, 30, 60, 120, 240)
        if m <= 1.2 * max(r["images"] for v in lines.values() for r in v) / rate[0] / 60
    ]
    for ax in (ax_f, ax_p):  # plain minutes on the log axis
        ax.set_xticks(ticks, [str(m) for m in ticks])
        ax.xaxis.set_minor_formatter(matplotlib.ticker.NullFormatter())
    ax_f.legend(fontsize=8)
    fig.tight_layout()
    FIGURE.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(FIGURE, dpi=120, bbox_inches="tight")
    plt.close(fig)
    return True


def _bf16_sentence(rows: list[dict], speed_file: dict, base_steps: int) -> str:
    """Where the bfloat16 capacity runs sit on the curve: the preset's run is the curve's recipe, shorter."""
    from score_recipes import ALL, SCALING

    long_run = next(iter(SCALING))
    cpu = f" ({speed_file['cpu_capability']})" if speed_file.get("cpu_capability") else ""
    text = (f" These runs train and sample under bfloat16 on a CPU that computes it{cpu}, like the curve above: "
            f"`film_unet`'s row is the curve's recipe trained for {base_steps:,} steps")  # fmt: skip
    if got := measured_rate(rows, long_run):
        batch = ALL[long_run][1]["batch_size"]
        text += f", {base_steps * batch / got[0] / 60:.0f} min at the long run's measured speed"
    before = [s for s in ALL[long_run][1]["keep_at"] if s < base_steps]
    after = [s for s in ALL[long_run][1]["keep_at"] if s > base_steps]
    if before and after:
        text += f" (between its snapshots at {max(before):,} and {min(after):,} steps)"
    return text + (", with its learning rate annealed to zero by its last step, where the long run's is still "
                   "near its peak.")  # fmt: skip


def next_lines(rows: list[dict], n_full: int, sampler: tuple | None) -> list[str]:
    """The run the capacity study points to (score_recipes.NEXT: the shipped model's recipe, schedule and minutes on
    film_unet_noattn, the preset of this study's lowest FID), and how far it is: scored next to the shipped model,
    or the step its run file holds; [] until a capacity run is scored."""
    from score_recipes import CAPACITY, NEXT, SHIPPED, final_step, saved_step

    def got(run):
        want = dict(run=run, step=final_step(run), n=n_full, weights="ema0.999", bf16=True)
        hits = (r for r in rows if all(r[k] == v for k, v in want.items()) and (r["sampler"], r["steps"]) == sampler)
        return next(hits, None)

    scored = {CAPACITY[run][0]: r for run in CAPACITY if (r := got(run))}
    if not NEXT or not scored:
        return []
    (run, (model, budget)), shipped = next(iter(NEXT.items())), next(iter(SHIPPED))
    lowest = min(scored, key=lambda m: scored[m]["fid"])
    command = f"`{PY} scripts/run_recipes.py --runs {run}`"
    text = (f"**The next run.** The lowest FID at these minutes is `{lowest}`'s. `{run}` trains the shipped "
            f"model's recipe and schedule on `{model}` for the shipped model's minutes: each step count of "
            f"`{shipped}`'s schedule times the ratio of the capacity runs' steps, `{model}`'s over `film_unet`'s "
            f"({budget['steps']:,} steps instead of {SHIPPED[shipped][1]['steps']:,}), by {command}")  # fmt: skip
    mine, theirs = got(run), got(shipped)
    if mine and theirs:
        text += (f". At n = {n_full:,} with the same sampler it scores FID {mine['fid']:.3g} and precision "
                 f"{mine['precision']:.3f}, against {theirs['fid']:.3g} and {theirs['precision']:.3f} for "
                 f"`{shipped}`.")  # fmt: skip
    elif (path := REPO / "runs" / f"{run}.pt").exists():
        step = saved_step(path)
        text += (f"; its run file (`runs/{run}.pt`, committed) holds step {step:,} of {budget['steps']:,}, and the "
                 "same command resumes it; `score_recipes.py` then scores it next to the shipped model.")  # fmt: skip
    else:
        text += "; not trained yet."
    return ["", text]


def capacity_lines(rows: list[dict], n_full: int, n_small: int) -> list[str]:
    """The capacity study's table (equal minutes: experiments.capacity_runs), or how to measure it."""
    from score_recipes import CAPACITY, SPEED, passes

    from tinydiff_lib.experiments import CAPACITY_BASE_STEPS, CAPACITY_MODELS, capacity_speed_command, capacity_variant

    speed_file = json.loads(SPEED.read_text()) if SPEED.exists() else None
    variant = capacity_variant(speed_file)
    out = [
        "",
        f"**Capacity at equal minutes.** The same recipe on the `film_unet` preset changed in one dimension "
        f"each ({', '.join(f'`{m}`' for m in CAPACITY_MODELS[1:])}), each trained for the minutes "
        f"{CAPACITY_BASE_STEPS[variant]:,} steps of the preset take, so a model twice as slow sees half the images.",
    ]
    if not CAPACITY:
        return out + ["", f"Not measured yet: `{capacity_speed_command('bf16')}` on a quiet CPU with bfloat16 units "
                      f"(the speeds that set each run's steps; on a CPU without them, `--variants fp32`, and the "
                      f"runs train in float32 for {CAPACITY_BASE_STEPS['fp32']:,} steps of the preset), "
                      f"then `{PY} scripts/run_recipes.py --runs NAME` for each `cap_` run and "
                      f"`OMP_NUM_THREADS=1 {PY} scripts/score_recipes.py`."]  # fmt: skip
    if variant == "fp32":
        out[-1] += (f" These runs train in float32, their steps set from float32 speeds measured on a CPU that "
                    f"only emulates bfloat16 ({speed_file.get('cpu_capability', 'unknown')}), so their minutes "
                    "compare with each other, not with the curve above, whose runs trained under bfloat16 on a "
                    "CPU that computes it.")  # fmt: skip
    else:
        out[-1] += _bf16_sentence(rows, speed_file, CAPACITY_BASE_STEPS["bf16"])
    speed = {r["model"]: r for r in speed_file["rows"] if r["variant"] == variant}
    out += ["", f"| model | parameters | train images/s (benchmark) | steps | images | FID n = {n_full:,} (× floor) | "
            f"precision | recall | FID n = {n_small:,} (× floor) | train time |",
            "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]  # fmt: skip
    sampler = _sampler(rows)
    for run, (model, budget) in CAPACITY.items():
        got = {r["n"]: r for r in rows if r["run"] == run and r["weights"] == "ema0.999"
               and (r["sampler"], r["steps"]) == sampler and r["bf16"] == budget["cpu_bf16"]}  # fmt: skip
        small, full = got.get(n_small), got.get(n_full)
        s_text = f"{small['fid']:.3g} ({small['fid'] / small['fid_floor']:.1f}×)" if small else "not scored yet"
        wall = next((f"{r['train_wall_s'] / 60:.0f} min" for r in got.values()), "–")
        out.append(f"| `{model}` | {speed[model]['parameters']:,} | {speed[model]['train']:.0f} | "
                   f"{budget['steps']:,} | {budget['steps'] * budget['batch_size']:,} | {_cell(full)} | {s_text} | "
                   f"{wall} |")  # fmt: skip
    floors = {r["n"]: r["fid_floor"] for r in rows if r["run"] in CAPACITY}
    footnote = (
        f"Every row: {'bfloat16' if variant == 'bf16' else 'float32'} training and sampling, the main EMA "
        f"(decay {next(iter(CAPACITY.values()))[1]['ema_decay']}), "
        f"{sampler[0]}-{sampler[1]} ({passes(*sampler)} passes), seed 0; FID floors "
        + (", ".join(f"{floors[n]:.3g} at n = {n:,}" for n in sorted(floors)) or "as above")
        + f". Speeds by `{capacity_speed_command(variant)}`, each run by `{PY} scripts/run_recipes.py --runs "
        "cap_<model>` (two one-thread jobs can share the runs); the train times are the runs' own wall "
        "times, which depend on what else the machine ran: the steps, set from the benchmark's speeds, are what "
        "holds the minutes equal."
    )
    return [*out, "", footnote, *next_lines(rows, n_full, sampler)]
