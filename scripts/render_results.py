"""Write the measured tables of book/results.md from the cards and studies the scripts wrote.

    .venv/bin/python scripts/render_results.py          # rewrites the blocks between the markers
    .venv/bin/python scripts/render_results.py --check  # exits 1 when the page is out of date with the cards

Every number is read from a file a script wrote: checkpoints/<name>.json (scripts/make_checkpoints.py),
results/library_unet.json
(scripts/compare_diffusers.py), results/ablations.json (scripts/run_ablations.py).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "scripts"))

from autoguidance_page import section as autoguidance_lines  # noqa: E402
from autoguidance_study import FID_AIM, FID_TARGET, PRECISION_TARGET  # noqa: E402
from grid_page import grid_section  # noqa: E402
from guidance_page import guidance_section  # noqa: E402
from recipes_page import recipe_section  # noqa: E402
from scaling_page import scaling_section  # noqa: E402
from score_recipes import NEXT  # noqa: E402

from tinydiff_lib.experiments import ABLATIONS, BUDGET, LADDER, LONG_RUNS  # noqa: E402

PAGE = REPO / "book" / "results.md"
PY = ".venv/bin/python"
CLIMB = LADDER[:4]  # the rungs along which FID must fall: TinyConv → MiniUNet → MiniUNetV2 → FiLM U-Net
BEST = "film_unet_best"


def _json(path: Path) -> dict | None:
    return json.loads(path.read_text()) if path.exists() else None


def _metric(m: dict | None, name: str, fmt: str) -> str:
    if not m or m.get(name) is None:
        return "–"
    floor = m.get(f"{name}_floor")
    return f"{m[name]:{fmt}} ({floor:{fmt}})" if floor is not None else f"{m[name]:{fmt}}"


def _card_row(name: str, card: dict) -> str:
    m = card.get("metrics")
    return (
        f"| `{name}` | {card['parameters']:,} | {card['train_images_per_s']:.0f} | "
        f"{card['wall_time_s'] / 60:.0f} min | {card['final_loss']:.4f} | {_metric(m, 'fid', '.3g')} | "
        f"{_metric(m, 'precision', '.3f')} | {_metric(m, 'recall', '.3f')} |"
    )


CARD_HEAD = [
    "| model | parameters | train images/s | wall time | final loss | FID (floor) | precision (floor) | "
    "recall (floor) |",
    "|---|---:|---:|---:|---:|---:|---:|---:|",
]


def _budget(card: dict) -> str:
    t = card["training"]
    return (
        f"Budget: {card['steps']} steps × {t['batch_size']} images, AdamW lr {t['lr']:g} with {t['lr_schedule']} "
        f"decay, EMA {t['ema_decay']}, {t['schedule']} schedule with T = {t['num_diffusion_steps']}, seed {t['seed']}. "
        "KID, its floor and everything else of a model are in its card `checkpoints/<model>.json`."
    )


def _sampling_note(m: dict) -> str:
    return (
        f"Sample quality: {m['num_samples']:,} samples per model, {m['sampler'].upper()} with {m['steps']} steps, "
        f"seed {m.get('seed', 0)}, scored against the MNIST test set; the floor is {m['num_floor']:,} real "
        "MNIST-train images scored the same way."
    )


def ladder_table() -> str:
    cards = {name: _json(REPO / "checkpoints" / f"{name}.json") for name in LADDER}
    if not any(cards.values()):
        return "No checkpoint cards yet: run `make checkpoints`."
    rows = list(CARD_HEAD)
    for name in LADDER:
        rows.append(_card_row(name, cards[name]) if cards[name] else f"| `{name}` | not trained yet |" + " |" * 8)
    trained = [c for c in cards.values() if c]
    evaluated = [c["metrics"] for c in trained if c.get("metrics")]
    rows += ["", _budget(trained[0])]
    if evaluated:
        rows += ["", _sampling_note(evaluated[0])]
    devices = sorted({c["device"] for c in trained})
    hours = sum(c["wall_time_s"] for c in trained) / 3600
    rows += ["", f"Trained on: {', '.join(devices)} (torch {trained[0]['torch_version']}); the whole ladder took "
             f"{hours:.1f} h of training wall time."]  # fmt: skip
    climb = [cards[n]["metrics"]["fid"] for n in CLIMB if cards.get(n) and cards[n].get("metrics")]
    if len(climb) == len(CLIMB):
        falls = all(a > b for a, b in zip(climb, climb[1:]))
        rows += ["", f"FID along {' → '.join(CLIMB)}: {' → '.join(f'{f:.3g}' for f in climb)} "
                 f"({'falls at every rung' if falls else '**does not fall at every rung**'})."]  # fmt: skip
    return "\n".join(rows)


def _venv(command: str) -> str:
    """A recorded ``python ...`` command as a reader runs it after the set-up: with the project's Python."""
    return PY + command.removeprefix("python") if command.startswith("python ") else command


def _verdict(ok: bool) -> str:
    return "met" if ok else "**not met**"


SAMPLER_NAMES = {"ddpm": "DDPM", "ddim": "DDIM", "euler": "Euler", "heun": "Heun", "dpmpp_2m": "DPM-Solver++(2M)",
                 "stochastic": "EDM's stochastic sampler"}  # fmt: skip
#: the 64-sample grid of the results page: the command that draws it, and where it goes
GRID = REPO / "book" / "figures" / f"{BEST}_64.png"
GRID_COMMAND = (f"{PY} -m tinydiff_lib sample --checkpoint checkpoints/{BEST}.pt --num-samples 64 --seed 0 "
                f"--quiet --out book/figures/{GRID.name}")  # fmt: skip


def _recipe(t: dict, done: int | None = None) -> str:
    """The training recipe of a card, in words (``done``: the steps trained, when a run stopped part-way
    through its schedule, ``--stop-at``)."""
    objective = t.get("objective", "ddpm")
    if objective == "edm":
        what = f"the σ view (EDM), ln σ ~ N({t['sigma_p_mean']:g}, {t['sigma_p_std']:g}²)"
    else:
        what = f"DDPM ε-prediction, {t['schedule']} ᾱ schedule"
    steps = f"{t['steps']:,} steps" if done in (None, t["steps"]) else f"the first {done:,} of {t['steps']:,} steps"
    return (f"{what}; {steps} × {t['batch_size']} images, AdamW lr {t['lr']:g} with "
            f"{t.get('warmup_steps', 0)} warm-up steps and {_lr_decay(t)}, EMA {t['ema_decay']}"
            f"{', bfloat16 autocast' if t.get('cpu_amp') else ''}")  # fmt: skip


def _lr_decay(t: dict) -> str:
    """The learning rate after the warm-up, in words: its schedule, horizon and cool-down."""
    decay = f"{t['lr_schedule']} decay"
    if t["lr_schedule"] == "cosine" and t.get("lr_horizon", 0) not in (0, t["steps"]):
        decay += f" towards 0 at step {t['lr_horizon']:,}"
    if cool := t.get("cooldown_steps", 0):
        decay += f", cut short by a linear cool-down to 0 over the last {cool:,} steps"
    return decay


def best_section() -> str:
    cards = {name: _json(REPO / "checkpoints" / f"{name}.json") for name in (BEST, "film_unet_ddpm")}
    card = cards[BEST]
    if not card or not card.get("metrics"):
        return f"No card yet: run `{PY} scripts/make_checkpoints.py --models {BEST}`."
    m = card["metrics"]
    ratio = m["fid"] / m["fid_floor"]
    rows = [*CARD_HEAD] + [_card_row(name, c) for name, c in cards.items() if c and c.get("metrics")] + [""]
    for name, c in cards.items():
        if c and c.get("metrics"):
            cm = c["metrics"]
            dtype = cm.get("sampling_dtype", "float32")
            rows.append(f"- `{name}`: {_recipe(c['training'], c['steps'])}; made by `{_venv(c['made_by'])}` on "
                        f"{c['device']}. Scored with {SAMPLER_NAMES[cm['sampler']]}, {cm['steps']} steps "
                        f"({dtype}), {cm['num_samples']:,} samples, seed {cm.get('seed', 0)}; the floor is "
                        f"{cm['num_floor']:,} real MNIST-train images.")  # fmt: skip
    rows += ["", f"`{BEST}`: FID is {ratio:.1f}× the floor (target ≤ {FID_TARGET:g}×: "
             f"{_verdict(ratio <= FID_TARGET)}; aim {FID_AIM:g}×); precision {m['precision']:.3f} (target ≥ "
             f"{PRECISION_TARGET}: {_verdict(m['precision'] >= PRECISION_TARGET)}, real digits "
             f"{m['precision_floor']:.3f}), recall {m['recall']:.3f}."]  # fmt: skip
    t = card["training"]
    rung = _json(REPO / "checkpoints" / f"{t['model']}.json")
    if rung and rung.get("metrics"):
        r = rung["metrics"]
        rows += ["", f"Against its ladder rung `{t['model']}` ({rung['steps']:,} steps, DDPM): "
                 f"{card['steps'] / rung['steps']:.1f}× the steps; FID {r['fid']:.3g} → {m['fid']:.3g}, precision "
                 f"{r['precision']:.3f} → {m['precision']:.3f}, recall {r['recall']:.3f} → {m['recall']:.3f} "
                 f"(both at {m['num_samples']:,} samples)."]  # fmt: skip
    if GRID.exists():
        caption = f"64 samples of `{BEST}` (seed 0, its recommended sampler), drawn by `{GRID_COMMAND}`."
        rows += ["", f"```{{figure}} figures/{GRID.name}", ":width: 100%", "", caption, "```"]
    else:
        rows += ["", f"The 64-sample grid is drawn by `{GRID_COMMAND}`."]
    rows += autoguidance_lines(card, FID_TARGET, _verdict, FID_AIM)
    return "\n".join(rows)


def library_section() -> str:
    result = _json(REPO / "results" / "library_unet.json")
    if not result:
        return f"Not measured yet: run `{PY} scripts/compare_diffusers.py`."
    rows = ["| model | parameters | train images/s | sampling images/s per pass | final loss | FID (floor) | "
            "precision | recall |", "|---|---:|---:|---:|---:|---:|---:|---:|"]  # fmt: skip
    for name, r in result["models"].items():
        rows.append(
            f"| `{name}` | {r['parameters']:,} | {r['train_images_per_s']:.0f} | {r['sample_images_per_s']:.0f} | "
            f"{r['final_loss']:.4f} | {r['fid']:.2f} ({r['fid_floor']:.2f}) | {r['precision']:.3f} | "
            f"{r['recall']:.3f} |"
        )
    b = result["budget"]
    n = next(iter(result["models"].values()))["num_samples"]
    ours, lib = result["models"].get("film_unet"), result["models"].get("diffusers_unet")
    if ours and lib:
        rows += ["", f"`diffusers_unet` has {lib['parameters'] / ours['parameters']:.1f}× the parameters of "
                 f"`film_unet`, trains at {lib['train_images_per_s'] / ours['train_images_per_s']:.2f}× its "
                 f"images/s and scores {lib['fid'] / ours['fid']:.1f}× its FID."]  # fmt: skip
    rows += ["", f"Both trained by our loop with the ladder budget ({b['steps']} steps × {b['batch_size']}, lr "
             f"{b['lr']:g}, EMA {b['ema_decay']}, {b['schedule']} schedule); {n:,} samples each, "
             f"{result['sampling']}. Speeds: {result['speed_probe']}; "
             f"made by `{_venv(result['made_by'])}`."]  # fmt: skip
    return "\n".join(rows)


def speed_section() -> str:
    result = _json(REPO / "results" / "cpu_speed.json")
    if not result:
        return f"Not measured yet: run `{PY} scripts/benchmark_models.py --device cpu --json results/cpu_speed.json`."
    rows = [f"| model | parameters | training images/s (batch {result['train_batch']}) | sampling images/s per "
            f"network pass (batch {result['sample_batch']}) | 1000-step DDPM images/min |",
            "|---|---:|---:|---:|---:|"]  # fmt: skip
    for r in result["rows"]:
        rows.append(f"| `{r['model']}` | {r['parameters']:,} | {r['train']:,.0f} | {r['sample']:,.0f} | "
                    f"{r['sample'] * 60 / 1000:,.1f} |")  # fmt: skip
    rows += ["", f"Measured on {result['date']}: {result['device']}, torch {result['torch_version']}, "
             f"`{_venv(result['command'])}`."]  # fmt: skip
    return "\n".join(rows)


#: what each ablation changes, against the ladder's film_unet (or tiny_conv)
CHANGES = {
    "film_unet": "none: the shipped ladder checkpoint",
    "film_unet_shift": "an additive time bias h + β(t) instead of FiLM's h·(1 + γ(t)) + β(t)",
    "film_unet_no_time": "no time input at all",
    "film_unet_cosine": "cosine β schedule instead of linear",
    "film_unet_sigmoid": "sigmoid β schedule instead of linear",
    "tiny_conv_3x": "TinyConv, 3× the ladder's steps",
}


def ablation_section() -> str:
    result = _json(REPO / "results" / "ablations.json")
    if not result or not result["rows"]:
        return f"Not measured yet: run `OMP_NUM_THREADS=1 {PY} scripts/run_ablations.py`."
    rows = ["| run | what changes | weights | parameters | steps | final loss | FID (floor) | precision (floor) | "
            "recall (floor) |", "|---|---|---|---:|---:|---:|---:|---:|---:|"]  # fmt: skip
    for r in result["rows"]:
        rows.append(
            f"| `{r['name']}` | {CHANGES.get(r['name'], '')} | {r['weights']} | {r['parameters']:,} | {r['steps']} | "
            f"{r['final_loss']:.4f} | {_metric(r, 'fid', '.3g')} | {_metric(r, 'precision', '.3f')} | "
            f"{_metric(r, 'recall', '.3f')} |"
        )
    e = result["eval"]
    missing = [name for name in ABLATIONS if name not in {r["name"] for r in result["rows"]}]
    rows += ["", f"Budget: the ladder's ({BUDGET['steps']} steps × {BUDGET['batch_size']}, EMA {BUDGET['ema_decay']}) "
             f"unless the row says otherwise; {e['num_samples']:,} samples each, {e['sampler'].upper()} with "
             f"{e['steps']} steps, seed {e['seed']}, next to the floor at the same n. Made by "
             f"`OMP_NUM_THREADS=1 {PY} scripts/run_ablations.py` (resumable)."]  # fmt: skip
    if missing:
        rows += ["", f"Not measured yet: {', '.join(f'`{m}`' for m in missing)}."]
    return "\n".join(rows)


#: marker name -> the function that writes what goes between its markers
BLOCKS = {"LADDER": ladder_table, "BEST": best_section, "LIBRARY": library_section, "SPEED": speed_section,
          "ABLATIONS": ablation_section, "RECIPES": recipe_section, "SCALING": scaling_section,
          "GUIDANCE": guidance_section, "GRID": lambda: grid_section(_trained_steps())}  # fmt: skip


def _trained_steps() -> dict:
    """Training steps of the models the grid study samples: the shipped card's, then the planned ends of the long
    run and of the run the capacity study points to (NEXT)."""
    card = _json(REPO / "checkpoints" / f"{BEST}.json") or {}
    planned = {n: b["steps"] for n, (_, b) in {**LONG_RUNS, **NEXT}.items()}
    return {**({BEST: card["steps"]} if "steps" in card else {}), **planned}


def _markers(name: str) -> tuple[str, str]:
    return f"<!-- {name}:BEGIN (scripts/render_results.py) -->", f"<!-- {name}:END -->"


def render() -> str:
    page = PAGE.read_text()
    for name, write in BLOCKS.items():
        begin, end = _markers(name)
        if begin not in page or end not in page:
            raise SystemExit(f"{PAGE} lacks the markers {begin} ... {end}")
        before, rest = page.split(begin, 1)
        _, after = rest.split(end, 1)
        page = f"{before}{begin}\n{write()}\n{end}{after}"
    return page


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--check", action="store_true")
    args = p.parse_args(argv)
    new = render()
    if args.check:
        if new != PAGE.read_text():
            print(f"book/results.md is out of date: run `{PY} scripts/render_results.py`", file=sys.stderr)
            return 1
        return 0
    PAGE.write_text(new)
    print(f"wrote {PAGE}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
