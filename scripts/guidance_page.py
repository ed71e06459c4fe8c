"""The guidance sweep's block of book/results.md (GUIDANCE) and its FID-and-accuracy-against-w figure.

Read by scripts/render_results.py; every number comes from results/guidance.json (scripts/guidance_sweep.py)
and the cards checkpoints/film_unet_class.json, film_unet_text.json and film_unet_best.json.
"""

from __future__ import annotations

import json
from pathlib import Path

from guidance_sweep import ACCURACY_TARGET, CLASS, SWEEP, TEXT, N, chosen_guidance

REPO = Path(__file__).resolve().parents[1]
RESULTS = REPO / "results" / "guidance.json"
CARDS = REPO / "checkpoints"
FIGURE = REPO / "book" / "figures" / "guidance_tradeoff.png"
PY = ".venv/bin/python"
SWEEP_CMD = f"OMP_NUM_THREADS=1 {PY} scripts/guidance_sweep.py"
BEST = "film_unet_best"
HELD_OUT_TARGET = 0.95  # accuracy on captions of the held-out phrasings at the chosen w
PHRASINGS = {"train": "training", "held_out": "held-out"}


def _card(name: str) -> dict | None:
    path = CARDS / f"{name}.json"
    return json.loads(path.read_text()) if path.exists() else None


def _venv(command: str) -> str:
    return PY + command.removeprefix("python") if command.startswith("python ") else command


def _card_line(name: str) -> str:
    c = _card(name)
    if c is None:
        return f"- `{name}`: no card yet; run `{PY} scripts/make_checkpoints.py --models {name}`."
    t = c["training"]
    on = {"label": "digit label", "text": "caption"}.get(t.get("condition"), t.get("condition"))
    cond = f", conditioned on the {on} (dropped with probability {t['cond_drop_prob']:g})" if (
        "condition" in t and "cond_drop_prob" in t) else ""  # fmt: skip
    return (f"- `{name}`: {c['parameters']:,} parameters, {c['steps']:,} steps × {t['batch_size']} images{cond}, "
            f"{c['wall_time_s'] / 60:.0f} min at {c['train_images_per_s']:.0f} images/s; made by "
            f"`{_venv(c['made_by'])}`.")  # fmt: skip


def _find(rows: list[dict], checkpoint: str, w: float, prompts: str | None = None) -> dict | None:
    hits = [r for r in rows if (r["checkpoint"], r["guidance"], r["prompts"], r["n"]) == (checkpoint, w, prompts, N)]
    return hits[-1] if hits else None


def _worst(r: dict) -> str:
    """The lowest per-digit accuracy and its digit ("91.2 % (8)"); a list of 10 or a {digit: value} dict."""
    per = r["accuracy_per_digit"]
    pairs = [(v, int(d)) for d, v in (per.items() if isinstance(per, dict) else enumerate(per)) if v is not None]
    if not pairs:
        return "–"
    value, digit = min(pairs)
    return f"{100 * value:.1f} % ({digit})"


def _cells(r: dict | None) -> str:
    """``accuracy | worst digit | FID (× floor) | precision | recall`` of one row, or 'not scored yet'."""
    if r is None:
        return "not scored yet | | | |"
    return (f"{100 * r['accuracy']:.1f} % | {_worst(r)} | {r['fid']:.3g} ({r['fid'] / r['fid_floor']:.1f}×) | "
            f"{r['precision']:.3f} | {r['recall']:.3f}")  # fmt: skip


def _w(w: float, chosen: float | None) -> str:
    return f"**{w:g} (chosen)**" if w == chosen else f"{w:g}"


def _how(rows: list[dict]) -> str:
    """n, sampler and floors of the rows, from the rows."""
    samplers = sorted({f"{r['sampler']}-{r['steps']} under {r['sampling_dtype']}" for r in rows})
    r = rows[0]
    return (f"n = {r['n']:,} samples per row ({r['n'] // 10:,} per digit), the checkpoint's recommended sampler "
            f"({', '.join(samplers)}), seed 0. The floor (real MNIST-train images, same n): FID "
            f"{r['fid_floor']:.3g}, precision {r['precision_floor']:.3f}, recall {r['recall_floor']:.3f}.")  # fmt: skip


def _target(label: str, r: dict | None, key: str, limit: float | None, fmt) -> str:
    if r is None or limit is None:
        return f"- {label}: not judged yet."
    ok = r[key] >= limit if key == "accuracy" else r[key] <= limit
    return f"- {label}: {fmt(r[key])}, {'met' if ok else '**not met**'}."


def _targets(rows: list[dict], w: float | None) -> list[str]:
    best = _card(BEST)
    fid = best["metrics"]["fid"] if best and best.get("metrics") else None
    at = f"w = {w:g}" if w is not None else "the chosen w"
    pct, num = (lambda v: f"{100 * v:.1f} %"), (lambda v: f"FID {v:.3g}")
    pick = (lambda *a: _find(rows, *a)) if w is not None else (lambda *a: None)
    out = [f"**Targets** (at the chosen w; the FID target is `{BEST}`'s card, "
           + (f"FID {fid:.3g} at n = {best['metrics']['num_samples']:,}):" if fid is not None
              else f"not scored yet: run `{PY} scripts/make_checkpoints.py --models {BEST}`):"), "",
           _target(f"requested-digit accuracy of `{CLASS}` at {at} ≥ {100 * ACCURACY_TARGET:g} %",
                   pick(CLASS, w), "accuracy", ACCURACY_TARGET, pct),
           _target(f"accuracy of `{TEXT}` on held-out phrasings at {at} ≥ {100 * HELD_OUT_TARGET:g} %",
                   pick(TEXT, w, "held_out"), "accuracy", HELD_OUT_TARGET, pct),
           _target(f"FID of `{CLASS}` at {at} no worse than `{BEST}`'s", pick(CLASS, w), "fid", fid, num)]  # fmt: skip
    for split, name in PHRASINGS.items():
        out.append(_target(f"FID of `{TEXT}` ({name} phrasings) at {at} no worse than `{BEST}`'s",
                           pick(TEXT, w, split), "fid", fid, num))  # fmt: skip
    return out


def guidance_section() -> str:
    out = ["Checkpoints:", "", *(_card_line(name) for name in (CLASS, TEXT)), ""]
    data = json.loads(RESULTS.read_text()) if RESULTS.exists() else None
    rows = [r for r in (data or {}).get("rows", []) if r.get("n") == N]
    if not rows:
        return "\n".join(out + [f"Not measured yet: run `{SWEEP_CMD}` in two workers (one per core; resumable, "
                                "`--list` shows the plan)."])  # fmt: skip
    w = chosen_guidance(rows)
    class_ws = sorted(set(SWEEP) | {r["guidance"] for r in rows if r["checkpoint"] == CLASS})
    out += [f"**Guidance sweep of `{CLASS}`** (the chosen w: the lowest FID among those with accuracy ≥ "
            f"{100 * ACCURACY_TARGET:g} %):", "",
            "| w | accuracy | worst digit | FID (× floor) | precision | recall |", "|---:|---:|---:|---:|---:|---:|",
            *(f"| {_w(g, w)} | {_cells(_find(rows, CLASS, g))} |" for g in class_ws)]  # fmt: skip
    text_ws = sorted({*([w] if w is not None else [])} | {r["guidance"] for r in rows if r["checkpoint"] == TEXT})
    out += ["", f"**`{TEXT}`**, captions of the training and the held-out phrasings:", "",
            "| phrasings | w | accuracy | worst digit | FID (× floor) | precision | recall |",
            "|---|---:|---:|---:|---:|---:|---:|",
            *(f"| {name} | {_w(g, w)} | {_cells(_find(rows, TEXT, g, split))} |"
              for split, name in PHRASINGS.items() for g in text_ws)]  # fmt: skip
    out += ["", "Accuracy: how often the project's MNIST classifier sees the requested digit; worst digit: the "
            "digit with the lowest accuracy. " + _how(rows)]  # fmt: skip
    missing = [f"`{c}` w = {g:g}" + (f" ({PHRASINGS[p]})" if p else "") for c, gs, ps in
               ((CLASS, class_ws, [None]), (TEXT, text_ws, list(PHRASINGS))) for g in gs for p in ps
               if _find(rows, c, g, p) is None]  # fmt: skip
    if missing:
        out += ["", f"Not measured yet: {', '.join(missing)}; run `{SWEEP_CMD}` in two workers (resumable)."]
    out += ["", *_targets(rows, w)]
    if w is not None and tradeoff_figure(rows, w):
        out += ["", "```{figure} figures/guidance_tradeoff.png", ":width: 90%", "",
                f"`{CLASS}` against the guidance scale w, n = {N:,}: FID as a multiple of the floor (left, lower is "
                "better) and requested-digit accuracy (right, the dotted line is the target); the dashed line "
                "marks the chosen w.", "```"]  # fmt: skip
    hours = sum(r.get("eval_s", 0) for r in rows) / 3600
    out += ["", f"Made by `{SWEEP_CMD}` (two workers, one per core; resumable, `--list` shows the plan; "
            f"{hours:.1f} h of evaluation wall time so far); the figure is drawn by `{PY} scripts/render_results.py` "
            "from results/guidance.json."]  # fmt: skip
    return "\n".join(out)


def tradeoff_figure(rows: list[dict], chosen: float) -> bool:
    """FID (× floor) and accuracy of the class model against w, chosen w marked; False without the sweep."""
    pts = sorted((r["guidance"], r["fid"] / r["fid_floor"], 100 * r["accuracy"]) for r in rows
                 if r["checkpoint"] == CLASS and r["n"] == N)  # fmt: skip
    if len(pts) < 2:
        return False
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    ws, fid, acc = zip(*pts)
    fig, (left, right) = plt.subplots(1, 2, figsize=(7, 3))
    left.plot(ws, fid, marker="o")
    left.set(xlabel="guidance scale w", ylabel="FID (× floor)")
    right.plot(ws, acc, marker="o", color="tab:green")
    right.axhline(100 * ACCURACY_TARGET, color="grey", linestyle=":")
    right.set(xlabel="guidance scale w", ylabel="requested-digit accuracy (%)")
    for ax in (left, right):
        ax.axvline(chosen, color="grey", linestyle="--")
    fig.tight_layout()
    FIGURE.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(FIGURE, dpi=120, metadata={"Software": None})
    plt.close(fig)
    return True
