"""The scaling curve: its rows in the recipe study's plan (scripts/score_recipes.py), its block of the results
page (scripts/scaling_page.py) from synthetic rows, and the learning rate a snapshot was taken at."""

import json
import math
import sys
from pathlib import Path
from types import SimpleNamespace

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "scripts"))

import scaling_page as page  # noqa: E402
import score_recipes as study  # noqa: E402

from tinydiff_lib.experiments import (  # noqa: E402
    CAPACITY_BASE_STEPS,
    CAPACITY_MODELS,
    RUNS,
    best_on,
    capacity_runs,
    capacity_speed_command,
    guide_on,
)
from tinydiff_lib.optim import lr_factor  # noqa: E402

LONG, RECIPE = next(iter(study.SCALING.items()))


def _row(run, step, n, sampler="dpmpp_2m", steps=20, fid=10.0, wall=None):
    batch = study.ALL[run][1]["batch_size"]
    return dict(run=run, step=step, weights="ema0.999", sampler=sampler, steps=steps, n=n, bf16=True,
                passes=study.passes(sampler, steps), fid=fid, fid_floor=1.0 if n == study.N_FULL else 2.0,
                precision=0.75, precision_floor=0.87, recall=0.9, recall_floor=0.88, images=step * batch,
                train_wall_s=step / 4.0 if wall is None else wall)  # fmt: skip


def _chosen_sampler_rows():
    """The recipe's ~20-pass comparison, with dpmpp_2m-20 the best."""
    final = study.final_step(RECIPE)
    short = study.SHORT[study.ALL[RECIPE][1]["objective"]]
    return [_row(RECIPE, final, study.N_CHOOSE, s, k, fid=10.0 if s == "dpmpp_2m" else 12.0) for s, k in short]


def test_the_plan_scores_every_snapshot_of_the_long_run_once_its_recipe_has_a_sampler():
    assert study.scaling_rows([]) == []  # no sampler chosen yet: nothing to plan
    rows = study.scaling_rows(_chosen_sampler_rows())
    budget = study.ALL[LONG][1]
    snaps = {*budget["keep_at"], budget["steps"]}
    long_rows = [r for r in rows if r["run"] == LONG]
    assert {(r["step"], r["n"]) for r in long_rows} == {(s, n) for s in snaps for n in (study.N_CHOOSE, study.N_FULL)}
    assert {(r["sampler"], r["steps"]) for r in rows} == {("dpmpp_2m", 20)}
    recipe_rows = [r for r in rows if r["run"] == RECIPE]
    assert {r["step"] for r in recipe_rows} == set(study.ALL[RECIPE][1]["keep_at"])
    assert all(r["n"] == study.N_FULL for r in recipe_rows)
    assert study.final_step(LONG) == budget["steps"] != study.final_step(RECIPE)


def test_a_long_run_snapshot_is_read_from_its_own_file_and_only_once_written(tmp_path, monkeypatch):
    monkeypatch.setattr(study, "REPO", tmp_path)
    (tmp_path / "runs").mkdir()
    step = study.ALL[LONG][1]["keep_at"][0]
    assert study.weights_file(LONG, step, "ema0.999") is None  # not written yet: the worker skips it
    assert study.weights_file(LONG, study.final_step(LONG), "ema0.999") is None


def test_the_rate_comes_from_the_long_runs_own_snapshots():
    budget = study.ALL[LONG][1]
    a, b = budget["keep_at"][0], page.FIRST_SITTING_ENDS[LONG]
    rows = [_row(LONG, a, study.N_CHOOSE, wall=1000.0), _row(LONG, b, study.N_FULL, wall=2000.0)]
    rate, first, last = page.measured_rate(rows, LONG)
    assert (first["step"], last["step"]) == (a, b)
    assert math.isclose(rate, (b - a) * budget["batch_size"] / 1000.0)
    assert page.measured_rate(rows[:1], LONG) is None
    later = _row(LONG, budget["steps"], study.N_FULL, wall=2100.0)  # resumed elsewhere: its wall time is no speed
    assert page.measured_rate([*rows, later], LONG)[2]["step"] == b
    assert "trained later, resumed from the committed run file" in page._later_sitting([*rows, later], LONG, b)
    assert page._later_sitting(rows, LONG, b) == ""


def test_the_block_tabulates_scored_snapshots_and_lists_the_rest(tmp_path, monkeypatch):
    monkeypatch.setattr(page, "RESULTS", tmp_path / "recipes.json")
    monkeypatch.setattr(page, "FIGURE", tmp_path / "fid_vs_minutes.png")
    budget = study.ALL[LONG][1]
    first, last = budget["keep_at"][0], page.FIRST_SITTING_ENDS[LONG]
    rows = _chosen_sampler_rows() + [_row(LONG, s, n, fid=20.0 - s / 2000) for s in (first, last)
                                     for n in (study.N_CHOOSE, study.N_FULL)]  # fmt: skip
    rows.append(_row(RECIPE, study.final_step(RECIPE), study.N_FULL, fid=9.0))
    page.RESULTS.write_text(json.dumps({"rows": rows}))
    text = page.scaling_section()
    rate = (last - first) * budget["batch_size"] / ((last - first) / 4.0)
    assert f"÷ {rate:.0f} images/s" in text
    minutes = last * budget["batch_size"] / rate / 60
    assert f"| `{LONG}` | {last:,} of {budget['steps']:,} | {last * budget['batch_size']:,} | {minutes:.0f} |" in text
    assert f"| `{LONG}` | {budget['steps']:,} of {budget['steps']:,} | | | | not scored yet |" in text
    assert f"{20.0 - last / 2000:.3g} ({20.0 - last / 2000:.1f}×)" in text  # the floor is 1 at n = N_FULL
    assert "| 9 (9.0×) | 0.750 | 0.900 | 10 (5.0×) |" in text  # the recipe's end: the chosen sampler's row only
    assert page.FIGURE.exists() and "figures/fid_vs_minutes.png" in text


def test_the_block_says_how_to_measure_when_nothing_is_scored(tmp_path, monkeypatch):
    monkeypatch.setattr(page, "RESULTS", tmp_path / "recipes.json")
    page.RESULTS.write_text(json.dumps({"rows": _chosen_sampler_rows()}))
    assert page.scaling_section().startswith("Not measured yet")


def test_the_learning_rate_warms_up_then_follows_half_a_cosine_to_zero():
    cfg = SimpleNamespace(steps=1_100, warmup_steps=100, lr_schedule="cosine")
    assert math.isclose(lr_factor(0, cfg), 0.01) and math.isclose(lr_factor(99, cfg), 1.0)
    assert math.isclose(lr_factor(100, cfg), 1.0)
    assert math.isclose(lr_factor(600, cfg), 0.5)  # half way through the decay
    assert math.isclose(lr_factor(1_100, cfg), 0.0, abs_tol=1e-12)
    assert lr_factor(5_000, SimpleNamespace(**(cfg.__dict__ | {"lr_schedule": "constant"}))) == 1.0


def _speeds(slow=2.0, variant="bf16"):
    """A benchmark JSON in which film_unet_w32 trains ``slow`` times slower than the preset."""
    rate = {m: 400.0 for m in CAPACITY_MODELS} | {"film_unet_w32": 400.0 / slow}
    return {"rows": [dict(model=m, variant=variant, parameters=1000 + i, train=rate[m], sample=1.0)
                     for i, m in enumerate(CAPACITY_MODELS)]}  # fmt: skip


def test_capacity_runs_get_equal_minutes_from_the_measured_speeds():
    assert capacity_runs(None) == {} and capacity_runs({"rows": []}) == {}
    assert capacity_runs({**_speeds(), "native_bf16": False}) == {}  # emulated bf16: not the runs' speeds
    assert capacity_runs({**_speeds(), "native_bf16": True}) == capacity_runs(_speeds())
    assert capacity_runs({**_speeds(variant="fp32"), "native_bf16": True}) == {}  # bf16 units: bf16 speeds
    runs = capacity_runs(_speeds(slow=2.0))
    assert set(runs) == {f"cap_{m}" for m in CAPACITY_MODELS}
    assert runs["cap_film_unet"][1]["steps"] == CAPACITY_BASE_STEPS["bf16"]
    assert runs["cap_film_unet_w32"][1]["steps"] == CAPACITY_BASE_STEPS["bf16"] // 2  # half as fast: half the images
    recipe = study.ALL[RECIPE][1]
    for _model, budget in runs.values():
        assert {k: v for k, v in budget.items() if k not in ("steps", "keep_at", "extra_ema")} == {
            k: v for k, v in recipe.items() if k not in ("steps", "keep_at", "extra_ema")}  # fmt: skip


def test_without_bf16_units_the_capacity_runs_train_in_float32_from_float32_speeds():
    runs = capacity_runs({**_speeds(slow=2.0, variant="fp32"), "native_bf16": False})
    assert runs["cap_film_unet"][1]["steps"] == CAPACITY_BASE_STEPS["fp32"]
    assert runs["cap_film_unet_w32"][1]["steps"] == CAPACITY_BASE_STEPS["fp32"] // 2
    assert not any(budget["cpu_bf16"] for _, budget in runs.values())
    recipe = study.ALL[RECIPE][1]
    for _model, budget in runs.values():  # the recipe in all else
        skip = ("steps", "keep_at", "extra_ema", "cpu_bf16")
        assert {k: v for k, v in budget.items() if k not in skip} == {k: v for k, v in recipe.items() if k not in skip}


def test_the_capacity_runs_are_planned_and_tabulated_once_measured(tmp_path, monkeypatch):
    runs = capacity_runs(_speeds())
    monkeypatch.setattr(study, "CAPACITY", runs)
    monkeypatch.setattr(study, "ALL", {**study.ALL, **runs})
    monkeypatch.setattr(study, "SPEED", tmp_path / "speed.json")
    study.SPEED.write_text(json.dumps(_speeds()))
    planned = [r for r in study.scaling_rows(_chosen_sampler_rows()) if r["run"].startswith("cap_")]
    assert {(r["run"], r["step"], r["n"]) for r in planned} == {
        (run, b["steps"], n) for run, (_, b) in runs.items() for n in (study.N_CHOOSE, study.N_FULL)}  # fmt: skip
    w32 = runs["cap_film_unet_w32"][1]["steps"]
    rows = _chosen_sampler_rows() + [_row("cap_film_unet_w32", w32, study.N_FULL, fid=5.0, wall=1200.0)]
    text = "\n".join(page.capacity_lines(rows, study.N_FULL, study.N_CHOOSE))
    assert f"| `film_unet_w32` | 1,002 | 200 | {w32:,} | {w32 * 64:,} | 5 (5.0×) | 0.750 | 0.900 |" in text
    assert "| not scored yet | 20 min |" in text  # its n = 2,000 row is still missing
    assert text.count("| – | – | – | not scored yet | – |") == len(runs) - 1
    assert "float32" not in text and "Every row: bfloat16 training and sampling" in text
    base = runs["cap_film_unet"][1]["steps"]
    where = f"like the curve above: `film_unet`'s row is the curve's recipe trained for {base:,} steps"
    assert f"on a CPU that computes it, {where}" in text


def test_the_float32_capacity_study_is_planned_scored_and_tabulated_as_float32(tmp_path, monkeypatch):
    speeds = {**_speeds(variant="fp32"), "native_bf16": False, "cpu_capability": "AVX2"}
    runs = capacity_runs(speeds)
    monkeypatch.setattr(study, "CAPACITY", runs)
    monkeypatch.setattr(study, "ALL", {**study.ALL, **runs})
    monkeypatch.setattr(study, "SPEED", tmp_path / "speed.json")
    study.SPEED.write_text(json.dumps(speeds))
    planned = [r for r in study.plan(_chosen_sampler_rows()) if r["run"].startswith("cap_")]
    assert planned and all(r["bf16"] is False for r in planned)  # sampled as they were trained
    base = runs["cap_film_unet"][1]["steps"]
    bf16_row = _row("cap_film_unet", base, study.N_FULL, fid=5.0, wall=600.0)  # a bf16 score: not this study's
    fp32_row = dict(_row("cap_film_unet", base, study.N_CHOOSE, fid=8.0, wall=600.0), bf16=False)
    text = "\n".join(page.capacity_lines(_chosen_sampler_rows() + [bf16_row, fp32_row], study.N_FULL, study.N_CHOOSE))
    assert f"| `film_unet` | 1,000 | 400 | {base:,} | {base * 64:,} | – | – | – | 8 (4.0×) | 10 min |" in text
    assert "their steps set from float32 speeds measured on a CPU that only emulates bfloat16 (AVX2)" in text
    assert "Every row: float32 training and sampling" in text and "--variants fp32" in text


def test_without_speeds_the_capacity_block_says_how_to_measure_them(monkeypatch):
    monkeypatch.setattr(study, "CAPACITY", {})
    text = "\n".join(page.capacity_lines([], study.N_FULL, study.N_CHOOSE))
    assert "Not measured yet" in text and capacity_speed_command("bf16") in text


def test_an_earlier_training_of_the_long_run_is_set_beside_the_new_one(tmp_path, monkeypatch):
    """After ``score_recipes.py --retrained``, the retired scores stand next to the new run's at the same steps
    (the rate of the earlier run from its own snapshots); a step the new run has not reached says so."""
    monkeypatch.setattr(page, "RESULTS", tmp_path / "recipes.json")
    monkeypatch.setattr(page, "FIGURE", tmp_path / "fid_vs_minutes.png")
    first, mid = study.ALL[LONG][1]["keep_at"][:2]
    old = [dict(_row(LONG, s, study.N_FULL, fid=f, wall=w), superseded_because=f"{LONG} was trained again from step 0")
           for s, f, w in ((first, 14.0, 1000.0), (mid, 9.0, 2000.0))]  # fmt: skip
    rows = _chosen_sampler_rows() + [_row(LONG, first, study.N_FULL, fid=15.0)]
    page.RESULTS.write_text(json.dumps({"rows": rows, "superseded": old}))
    text = page.scaling_section()
    rate = (mid - first) * study.ALL[LONG][1]["batch_size"] / 1000.0
    assert (
        f"trained once before, from the same command and seed on another 2-core CPU, whose loop ran at {rate:.0f}"
        in text
    )
    assert f"| {first:,} | 14 | 15 | 0.750 | 0.750 |" in text
    assert f"| {mid:,} | 9 | not scored yet | 0.750 | – |" in text
    page.RESULTS.write_text(json.dumps({"rows": rows}))  # no earlier run: no such block
    assert "trained twice" not in page.scaling_section()


def test_the_next_run_is_the_shipped_schedule_on_a_faster_preset_for_the_same_minutes():
    assert best_on(None) == {}
    speeds = _speeds() | {"rows": [dict(r, train=800.0) if r["model"] == "film_unet_noattn" else r
                                   for r in _speeds()["rows"]]}  # fmt: skip
    ((run, (model, budget)),) = best_on(speeds).items()
    shipped = RUNS["film_unet_best"][1]
    assert (run, model) == ("best_noattn", "film_unet_noattn")  # twice as fast: twice the steps
    assert [budget[k] for k in ("steps", "lr_horizon", "cooldown_steps")] == [
        2 * shipped[k] for k in ("steps", "lr_horizon", "cooldown_steps")]  # fmt: skip
    assert budget["keep_at"] == () and {k: v for k, v in budget.items() if k not in _SCALED} == {
        k: v for k, v in shipped.items() if k not in _SCALED}  # fmt: skip


_SCALED = ("steps", "lr_horizon", "cooldown_steps", "keep_at")


def test_the_next_runs_guide_is_its_first_steps_as_weak_as_the_shipped_weak_guide():
    best = {"best_x": ("film_unet_x", dict(RUNS["film_unet_best"][1], steps=2 * RUNS["film_unet_best"][1]["steps"]))}
    ((name, (model, budget)),) = guide_on(best).items()
    assert (name, model, budget["stop_at"]) == ("best_x_guide1600", "film_unet_x", 1600)  # 800 × twice the steps
    assert {k: v for k, v in budget.items() if k != "stop_at"} == best["best_x"][1]  # the same run, stopped early
    assert RUNS["film_unet_best_guide800"][1]["stop_at"] == 800 and guide_on({}) == {}
    assert set(study.NEXT_GUIDES) <= set(study.ALL)  # run_recipes.py trains it


def test_the_page_names_the_lowest_preset_and_how_far_the_next_run_is(tmp_path, monkeypatch):
    runs = capacity_runs(_speeds())
    nxt = best_on(_speeds())
    monkeypatch.setattr(study, "CAPACITY", runs)
    monkeypatch.setattr(study, "NEXT", nxt)
    monkeypatch.setattr(study, "ALL", {**study.ALL, **runs, **nxt})
    monkeypatch.setattr(page, "REPO", tmp_path)  # no run file
    cap = [_row(run, b["steps"], study.N_FULL, fid=9.0 if m == "film_unet_w16" else 12.0)
           for run, (m, b) in runs.items()]  # fmt: skip
    assert page.next_lines(cap[:0], study.N_FULL, ("dpmpp_2m", 20)) == []  # nothing to point to yet
    text = "\n".join(page.next_lines(cap, study.N_FULL, ("dpmpp_2m", 20)))
    assert "The lowest FID at these minutes is `film_unet_w16`'s" in text and text.endswith("not trained yet.")
    ((run, (_, budget)),) = nxt.items()
    mine = _row(run, budget["steps"], study.N_FULL, fid=3.0)
    theirs = _row("film_unet_best", study.final_step("film_unet_best"), study.N_FULL, fid=5.0)
    text = "\n".join(page.next_lines([*cap, mine, theirs], study.N_FULL, ("dpmpp_2m", 20)))
    assert "it scores FID 3 and precision 0.750, against 5 and 0.750 for `film_unet_best`" in text
    planned = {r["run"] for r in study.scaling_rows(_chosen_sampler_rows()) if r["n"] == study.N_FULL}
    assert {run, "film_unet_best"} <= planned
