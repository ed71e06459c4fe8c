"""The GRID block of book/results.md: how many tiles of a 64-sample grid a reader may not name, from
results/grid.json (scripts/grid_study.py)."""

from __future__ import annotations

import json
import math
from pathlib import Path

from autoguidance_page import grid_command
from autoguidance_study import FID_TARGET, PRECISION_TARGET
from score_recipes import NEXT, NEXT_GUIDES

import tinydiff_lib as td

REPO = Path(__file__).resolve().parents[1]
RESULTS = REPO / "results" / "grid.json"
FIGURES = REPO / "book" / "figures"
CARD = REPO / "checkpoints" / "film_unet_best.json"
COMMAND = ".venv/bin/python scripts/grid_study.py --threads 2"
CONFIRM = REPO / "results" / "grid_confirm.json"
CONFIRM_COMMAND = ".venv/bin/python scripts/grid_study.py --confirm --threads 2"
CONFIRM_N = 10_000  # the cards' n, at which --confirm scores (grid_study.CONFIRM_N)
SETTING = ("model", "guide", "guidance", "sampler", "steps", "interval")
#: the run the capacity study points to (score_recipes.NEXT: the shipped model's recipe and minutes on another
#: preset), which the grid study scores at the shipped model's settings once it has finished
NEXT_RUN = next(iter(NEXT), None)
#: the weaker guide of the grid study's levers (the first 800 steps of the long run), shipped by make checkpoints
WEAK_GUIDE = "film_unet_best_guide800"
HEAD = [
    "| model | sampler | unsure | hesitant tiles per 64, expected | a grid with none, chance | in the grid drawn | "
    "FID (× floor) | precision |",
    "|---|---|---:|---:|---:|---:|---:|---:|",
]


#: the guide of the card's setting (its ``autoguidance``), left unnamed in the table; any other guide is named
CARD_GUIDE = (json.loads(CARD.read_text()).get("autoguidance") or {}).get("guide") if CARD.exists() else None


def _sampler(r: dict) -> str:
    by = f" by `{r['guide']}`" if r["guide"] and r["guide"] != CARD_GUIDE else ""
    guided = f", autoguided{by} w = {r['guidance']:g}" if r["guide"] else ""
    if r.get("interval"):
        guided += " for {:g} < σ ≤ {:g}".format(*r["interval"])
    return f"{r['sampler']}-{r['steps']}{guided}"


def _tiles(r: dict) -> str:
    where = ", ".join(f"r{i}c{j}" for i, j in r["grid_unsure_tiles"])
    return f"{len(r['grid_unsure_tiles'])} ({where})" if where else "0"


def _model(r: dict, steps: dict) -> str:
    return f"`{r['model']}` ({steps[r['model']]:,} steps)" if r["model"] in steps else f"`{r['model']}`"


def expected_range(share: float, n: int, size: int = 64) -> tuple[float, float]:
    """size × (share ± 2 standard errors of a share measured on n samples): the hesitant tiles a grid holds on
    average, with the uncertainty of the measured share."""
    se = math.sqrt(share * (1 - share) / n)
    return size * max(share - 2 * se, 0.0), size * (share + 2 * se)


def none_chance(share: float, size: int = 64) -> float:
    """(1 − share)^size: the chance that a grid of ``size`` independent samples holds no hesitant tile."""
    return (1 - share) ** size


def _percent(p: float) -> str:
    return "< 1 %" if p < 0.005 else f"{100 * p:.0f} %"


def row_line(r: dict, steps: dict) -> str:
    lo, hi = expected_range(r["unsure"], r["num_samples"])
    return (
        f"| {_model(r, steps)} | {_sampler(r)} | {100 * r['unsure']:.1f} % | {64 * r['unsure']:.1f} "
        f"({lo:.1f} to {hi:.1f}) | {_percent(none_chance(r['unsure']))} | {_tiles(r)} | "
        f"{r['fid']:.3g} ({r['fid'] / r['fid_floor']:.1f}×) | "
        f"{r['precision']:.3f} |"
    )


def longer_lines(rows: list[dict], steps: dict) -> list[str]:
    """One sentence per setting scored for both models: the shipped checkpoint against a longer run of its recipe
    (``steps``: model -> training steps; the first model is the shipped one)."""
    shipped, *longer = steps
    out = []
    for r in (r for r in rows if r["model"] in longer and r["model"] not in NEXT):
        if same := _same_setting(rows, shipped, r):
            out.append(f"With {_sampler(r)}, {steps[r['model']] / steps[shipped]:.1f}× the training steps "
                       f"(`{r['model']}` to its end, beyond the budget) take the share from "
                       f"{100 * same['unsure']:.1f} % to {100 * r['unsure']:.1f} % and FID at n = "
                       f"{r['num_samples']:,} from {same['fid']:.3g} to {r['fid']:.3g}.")  # fmt: skip
    return out


def _same_setting(rows: list[dict], shipped: str, r: dict) -> dict | None:
    """The shipped model's row at the setting of ``r`` (None if it has none)."""
    return next((b for b in rows if b["model"] == shipped and _sampler(b) == _sampler(r)), None)


def next_lines(rows: list[dict], shipped: str) -> list[str]:
    """The run the capacity study points to (score_recipes.NEXT: the shipped model's recipe and minutes on another
    preset) against the shipped model, a table row per setting scored for both ([] before any)."""

    def twin(r):  # a row with the run's own guide is read against the shipped model with the guide as weak
        return _same_setting(rows, shipped, {**r, "guide": WEAK_GUIDE} if r["guide"] in NEXT_GUIDES else r)

    pairs = [(r, same) for r in rows if r["model"] in NEXT if (same := twin(r))]
    if not pairs:
        return []
    run = pairs[0][0]["model"]
    own = [f"`{g}`" for g in NEXT_GUIDES if any(r["guide"] == g for r, _ in pairs)]
    mine = (f"; a row autoguided by {', '.join(own)}, a guide of `{run}`'s own preset (its first steps), reads "
            f"against `{shipped}` autoguided by `{WEAK_GUIDE}`, the guide as weak as it") if own else ""  # fmt: skip
    out = [f"**`{run}` against the shipped model.** `{run}` trains `{NEXT[run][0]}` for the shipped model's minutes "
           "(its reason: the capacity study, after the scaling curve); at the same settings, seed and n as the table "
           f"above, each cell reads `{run}` / `{shipped}`{mine}:", "",
           f"| sampler | unsure | FID (n = {pairs[0][0]['num_samples']:,}) | precision | recall | "
           "hesitant tiles, grid drawn |",
           "|---|---:|---:|---:|---:|---:|"]  # fmt: skip
    for r, same in pairs:
        out.append(f"| {_sampler(r)} | {100 * r['unsure']:.1f} % / {100 * same['unsure']:.1f} % | {r['fid']:.3g} / "
                   f"{same['fid']:.3g} | {r['precision']:.3f} / {same['precision']:.3f} | {r['recall']:.3f} / "
                   f"{same['recall']:.3f} | {len(r['grid_unsure_tiles'])} / "
                   f"{len(same['grid_unsure_tiles'])} |")  # fmt: skip
    if t := next_target_row(rows):
        out += ["", f"`{run}`'s lowest share among its settings that meet the card's targets at n = "
                f"{t['num_samples']:,}: {_sampler(t)} ({100 * t['unsure']:.1f} %). {confirm_line(t)}"]  # fmt: skip
    return out


def fewest_row(rows: list[dict], shipped: str) -> dict | None:
    """The shipped model's setting with the lowest share of hesitant samples, of two equal shares the one with the
    lower FID (None without rows of it)."""
    return td.lowest_share([r for r in rows if r["model"] == shipped])


def fid_cap() -> float | None:
    """FID_TARGET × the card's floor at its n (10,000): the highest FID that meets the card's FID target."""
    m = json.loads(CARD.read_text()).get("metrics", {}) if CARD.exists() else {}
    return FID_TARGET * m["fid_floor"] if "fid_floor" in m else None


def target_row(rows: list[dict], shipped: str, cap: float | None) -> dict | None:
    """The shipped model's lowest share (of equal shares the lower FID) among the settings that already meet the
    card's targets at the study's n: precision ≥ PRECISION_TARGET and FID ≤ ``cap`` (:func:`fid_cap`, a cap at
    n = 10,000). FID's upward bias shrinks as n grows (as the real-data floor's does), so such a setting is
    expected under the cap at 10,000 samples too, but sampling noise can move a score either way:
    ``grid_study.py --confirm`` measures it there. None where no setting qualifies."""
    own = [r for r in rows if r["model"] == shipped]
    return td.lowest_share(own, cap, PRECISION_TARGET) if cap else None


def next_target_row(rows: list[dict]) -> dict | None:
    """The run the capacity study points to (NEXT) at its lowest share among its settings that meet the card's
    targets at the study's n (:func:`target_row`); None before it has such a row."""
    return target_row(rows, NEXT_RUN, fid_cap()) if NEXT_RUN else None


def drawn_rows(rows: list[dict], shipped: str) -> list[dict]:
    """The settings whose grids the page draws: the lowest share, then the lowest that meets the targets (once)."""
    out = [r for r in (fewest_row(rows, shipped), target_row(rows, shipped, fid_cap())) if r]
    return [r for i, r in enumerate(out) if r not in out[:i]]


def confirm_rows() -> list[dict]:
    """The rows of results/grid_confirm.json (none before ``grid_study.py --confirm`` has scored one)."""
    return json.loads(CONFIRM.read_text())["rows"] if CONFIRM.exists() else []


def confirmed(r: dict) -> dict | None:
    """The n = 10,000 score of setting ``r`` in results/grid_confirm.json (None where it has none)."""
    rows = confirm_rows()
    return next((c for c in rows if all(c.get(k) == r.get(k) for k in SETTING)), None)


def fewest_figure(r: dict) -> tuple[Path, str]:
    """Where the grid of setting ``r`` goes (the name spells the setting) and the command that draws it."""
    guide = f"_{r['guide']}_w{r['guidance']:g}" if r["guide"] else ""
    if r.get("interval"):
        guide += "_sigma{:g}-{:g}".format(*r["interval"])
    out = FIGURES / f"grid_{r['model']}{guide}_{r['sampler']}{r['steps']}.png"
    return out, grid_command(r, out)


def confirm_line(r: dict) -> str:
    """Setting ``r`` scored again at the cards' n (results/grid_confirm.json), or the command that does it."""
    if (c := confirmed(r)) is None:
        return f"Not scored at n = 10,000 yet: `{CONFIRM_COMMAND}`."
    ratio, meets = c["fid"] / c["fid_floor"], lambda ok: "met" if ok else "missed"
    return (f"At n = {c['num_samples']:,}, the cards' n (`{CONFIRM_COMMAND}`), the same setting scores FID "
            f"{c['fid']:.3g}, {ratio:.1f}× the floor of {c['fid_floor']:.2f} (the card's target, at most "
            f"{FID_TARGET:g}×: {meets(ratio <= FID_TARGET)}), precision {c['precision']:.3f} (target ≥ "
            f"{PRECISION_TARGET:g}: {meets(c['precision'] >= PRECISION_TARGET)}; floor {c['precision_floor']:.3f}), "
            f"recall {c['recall']:.3f} (floor {c['recall_floor']:.3f}), and the classifier hesitates on "
            f"{100 * c['unsure']:.1f} % of the samples (real digits: {100 * c['unsure_floor']:.1f} %).")  # fmt: skip


def grid_lines(r: dict, what: str) -> list[str]:
    """Setting ``r``'s grid under the sentence ``what`` (or the command that draws it) and its n = 10,000 line."""
    out, command = fewest_figure(r)
    what += (f", {_sampler(r)} ({100 * r['unsure']:.1f} %, FID {r['fid']:.3g}, precision {r['precision']:.3f}, "
             f"recall {r['recall']:.3f} against a floor of {r['recall_floor']:.3f})")  # fmt: skip
    if not out.exists():
        return ["", f"{what}: its grid is not drawn yet (`{command}`).", "", confirm_line(r)]
    caption = f"{what}: its 64 samples, seed 0, drawn by `{command}`."
    return ["", f"```{{figure}} figures/{out.name}", ":width: 100%", "", caption, "```", "", confirm_line(r)]


def fewest_lines(rows: list[dict], shipped: str) -> list[str]:
    """The grids of the shipped model's settings in :func:`drawn_rows`, each with its n = 10,000 line."""
    fewest, out = fewest_row(rows, shipped), []
    for r in drawn_rows(rows, shipped):
        what = (f"The setting of `{shipped}` with the lowest share in the table (of equal shares, the lower FID)"
                if r is fewest else
                f"The lowest share among the settings that already meet the card's targets at n = "
                f"{r['num_samples']:,} (precision ≥ {PRECISION_TARGET:g} and FID ≤ {FID_TARGET:g} × the floor at "
                f"n = 10,000, {fid_cap():.2f})")  # fmt: skip
        out += grid_lines(r, what)
    return out


def confirm_row(c: dict) -> str:
    unsure = f"{100 * c['unsure']:.1f} % ({100 * c['unsure_floor']:.1f} %)"
    fid = f"{c['fid']:.3g} ({c['fid'] / c['fid_floor']:.1f}×)"
    return f"| `{c['model']}` | {_sampler(c)} | {unsure} | {fid} | {c['precision']:.3f} | {c['recall']:.3f} |"


def confirm_table() -> list[str]:
    """Every setting scored again at the cards' n (results/grid_confirm.json), the ones no longer drawn included."""
    rows = confirm_rows()
    head = [
        "| model | sampler | unsure (real) | FID (× floor) | precision | recall |",
        "|---|---|---:|---:|---:|---:|",
    ]
    intro = f"Every setting scored again at n = {CONFIRM_N:,} (`{CONFIRM_COMMAND}`), in the order scored:"
    return ["", intro, "", *head, *(confirm_row(c) for c in rows)] if rows else []


def grid_section(steps: dict) -> str:
    """The block: what the measure is, the table (``steps``: model -> training steps, for the labels), the floor."""
    if not RESULTS.exists() or not (rows := json.loads(RESULTS.read_text())["rows"]):
        return f"Not measured yet: `{COMMAND}`."
    head = json.loads(RESULTS.read_text())
    floor = rows[0]
    lines = [
        "**How many tiles a reader may not name.** One grid is one draw of 64 samples. The rate behind it: the share "
        f"of samples that the metric's MNIST classifier names with a top class probability below "
        f"{head['unsure_below']:g} (`unsure`, in every report of `evaluate`), at n = {floor['num_samples']:,} next to "
        f"the same share of as many real MNIST-train digits, {100 * floor['unsure_floor']:.1f} % "
        f"({64 * floor['unsure_floor']:.1f} per 64; a grid of real digits has none with a chance of "
        f"{100 * none_chance(floor['unsure_floor']):.0f} %). Sixty-four times the share is how many hesitant tiles "
        "a grid holds on average (in brackets: ± two standard errors of the share), and (1 − share)^64 the chance "
        "that a grid holds none; the next column classifies the 64 tiles of that setting's grid, drawn again as "
        "this page's figures are (seed 0, float32; r = row, c = column). From "
        f"`{COMMAND}`:",
        "",
        *HEAD,
        *(row_line(r, steps) for r in rows),
        "",
        "The shares: seed 0, sampled under bfloat16 like every study on this page; the floors at that n: FID "
        f"{floor['fid_floor']:.2f}, precision {floor['precision_floor']:.3f}. The classifier is not a reader: "
        "it hesitates on some tiles a person names at once and names some a person would not, so the share "
        "measures the target, a grid in which a person names every digit, only approximately.",
    ]
    if more := longer_lines(rows, steps):
        lines += ["", " ".join(more)]
    shipped = next(iter(steps), "")
    other = next_lines(rows, shipped)
    return "\n".join(lines + fewest_lines(rows, shipped) + (["", *other] if other else []) + confirm_table())
