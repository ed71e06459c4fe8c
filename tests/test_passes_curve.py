"""FID against network passes (issue 11): the curve of the shipped film_unet_best in the recipe study's plan
(scripts/score_recipes.py --passes-for) and its figure and lines on the results page (scripts/recipes_page.py)."""

import json
import os
import shutil
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "scripts"))

import recipes_page as page  # noqa: E402
import score_recipes as study  # noqa: E402

BEST = "film_unet_best"


def _row(run, sampler, steps, n=study.N_CHOOSE, fid=5.0):
    return dict(run=run, step=study.final_step(run), weights="ema0.999", sampler=sampler, steps=steps, n=n,
                bf16=True, passes=study.passes(sampler, steps), fid=fid, fid_floor=2.0 if n == study.N_CHOOSE else 1.0,
                precision=0.8, precision_floor=0.87, recall=0.9, recall_floor=0.88)  # fmt: skip


def test_the_shipped_checkpoint_has_a_curve_of_every_sigma_sampler_at_its_own_step():
    rows = study.passes_rows(BEST)
    assert {r["sampler"] for r in rows} == set(study.ODE_SAMPLERS)  # an EDM model: no DDPM samplers
    assert {r["step"] for r in rows} == {study.ALL[BEST][1]["steps"]} and {r["n"] for r in rows} == {study.N_CHOOSE}
    plan = study.plan([], passes_for=BEST)
    assert all(r in plan for r in ({**r, "bf16": True} for r in rows))
    done = [{**r, "bf16": True, "fid": 9.0 - r["steps"] / 100} for r in rows]  # most steps: lowest FID
    best = study.best_passes(BEST, done)
    assert (best["sampler"], best["steps"]) in {("euler", 100), ("dpmpp_2m", 100)}
    setting = {k: best[k] for k in ("run", "step", "weights", "sampler", "steps")}
    assert {**setting, "n": study.N_FULL, "bf16": True} in study.plan(done, passes_for=BEST)  # at the cards' n


def test_the_shipped_checkpoint_is_scored_as_it_is_and_only_at_its_own_step(tmp_path, monkeypatch):
    monkeypatch.setattr(study, "REPO", tmp_path)
    assert study.weights_file(BEST, study.final_step(BEST), "ema0.999") is None  # not there
    (tmp_path / "checkpoints").mkdir()
    shipped = shutil.copy(REPO / "checkpoints" / f"{BEST}.pt", tmp_path / "checkpoints")
    assert study.weights_file(BEST, study.final_step(BEST), "ema0.999") == Path(shipped)
    assert study.weights_file(BEST, study.final_step(BEST) - 1, "ema0.999") is None  # another step: not this file
    assert study.weights_file(BEST, study.final_step(BEST), "raw") is None  # its raw weights were not shipped


def test_the_shipped_step_is_read_once_per_version_of_the_file(tmp_path, monkeypatch):
    """The plan asks for every row; the 3 MB checkpoint is loaded again only when the file changes."""
    monkeypatch.setattr(study, "REPO", tmp_path)
    (tmp_path / "checkpoints").mkdir()
    shipped = Path(shutil.copy(REPO / "checkpoints" / f"{BEST}.pt", tmp_path / "checkpoints"))
    loads = []
    monkeypatch.setattr(study.td, "load_checkpoint", lambda path: loads.append(path) or {"step": 7})
    study._step_of.cache_clear()
    assert [study.weights_file(BEST, 7, "ema0.999") for _ in range(3)] == [shipped] * 3 and len(loads) == 1
    shipped.touch()
    os.utime(shipped, ns=(shipped.stat().st_atime_ns, shipped.stat().st_mtime_ns + 10**9))  # a new version
    assert study.weights_file(BEST, 7, "ema0.999") == shipped and len(loads) == 2


def test_the_figure_draws_the_shipped_curve_next_to_the_recipe_runs(tmp_path, monkeypatch):
    monkeypatch.setattr(page, "FIGURE", tmp_path / "fid_vs_passes.png")
    recipe = [_row("recipe_edm_high", s, k, fid=8.0 - k / 50) for s in ("heun", "euler") for k in (5, 25, 50)]
    assert page.passes_figure(recipe, study.N_CHOOSE) == ["recipe_edm_high"] and page.FIGURE.exists()
    assert page._passes_best(recipe, ["recipe_edm_high"], study.N_CHOOSE, study.N_FULL) == []  # not at n_full yet
    shipped = [
        _row(BEST, s, k, fid=4.0 - k / 50 - (s == "dpmpp_2m")) for s in ("stochastic", "dpmpp_2m") for k in (10, 50)
    ]
    runs = page.passes_figure(recipe + shipped, study.N_CHOOSE)
    assert runs == [BEST, "recipe_edm_high"]
    assert "top `film_unet_best`, the shipped checkpoint (25,200 steps)" in page._panels(runs)
    full = _row(BEST, "dpmpp_2m", 50, n=study.N_FULL, fid=1.5)  # the curve's lowest, scored again at n = 10,000
    text = "\n".join(page._passes_best(recipe + shipped + [full], runs, study.N_CHOOSE, study.N_FULL))
    assert "`film_unet_best`'s curve, dpmpp_2m-50 (50 passes), at n = 10,000: FID 1.5 (1.5× the floor)" in text


def test_the_shipped_checkpoint_is_also_scored_alone_with_its_autoguided_sampler(tmp_path, monkeypatch):
    monkeypatch.setattr(study, "REPO", tmp_path)
    assert study.control_rows(BEST) == []  # no card: nothing to hold fixed
    (tmp_path / "checkpoints").mkdir()
    card = tmp_path / "checkpoints" / f"{BEST}.json"
    card.write_text(json.dumps({"autoguidance": {"sampler": "stochastic", "steps": 100, "guidance": 0.15}}))
    want = dict(run=BEST, step=study.final_step(BEST), weights="ema0.999", sampler="stochastic", steps=100,
                n=study.N_FULL)  # fmt: skip
    assert study.control_rows(BEST) == [want]
    assert {**want, "bf16": True} in study.plan([], passes_for=BEST)
    assert all(r["run"] != BEST for r in study.plan([], passes_for="recipe_edm_high"))


def test_the_dtype_line_pairs_a_float32_row_with_its_bfloat16_twin_and_skips_float32_only_studies():
    pair = [_row("recipe_ddpm", "ddim", 20, fid=15.5), dict(_row("recipe_ddpm", "ddim", 20, fid=16.5), bf16=False)]
    alone = dict(_row("recipe_edm_high", "dpmpp_2m", 20, fid=70.0), bf16=False)  # no bfloat16 twin
    text = "\n".join(page.dtype_lines(pair + [alone]))
    assert "bfloat16 against float32 sampling (`recipe_ddpm`, ddim-20, n = 2,000): FID 15.5 against 16.5" in text
    assert page.dtype_lines([alone, pair[0]]) == []
