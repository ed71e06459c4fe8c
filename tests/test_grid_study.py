"""The grid study (issue 11's grid target, measured): its settings, the tiles it reports and its results block."""

import json
import sys
from pathlib import Path

import pytest
import torch

from tinydiff_lib.experiments import RUNS, SMALL_GUIDES

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "scripts"))

import grid_page as page  # noqa: E402
import grid_study as study  # noqa: E402

CARD = json.loads((REPO / "checkpoints" / "film_unet_best.json").read_text())


def test_the_settings_follow_the_card_and_end_with_the_long_run():
    rows = study.settings()
    first = rows[0]
    assert (first["model"], first["guide"], first["sampler"], first["steps"]) == (
        study.BEST, None, CARD["metrics"]["sampler"], CARD["metrics"]["steps"],
    )  # fmt: skip
    card_rows = rows[: len(rows) - len(study.levers())]
    guided = [r for r in card_rows if r["guide"]]
    m = CARD["autoguidance"]
    assert guided and all((r["guide"], r["guidance"], r["sampler"], r["steps"]) ==
                          (m["guide"], m["guidance"], m["sampler"], m["steps"]) for r in guided)  # fmt: skip
    assert {r["model"] for r in card_rows} == {study.BEST, study.LONG}
    assert len({study.key(r) for r in rows}) == len(rows)  # every setting is its own row


def test_the_levers_change_one_thing_of_the_card_setting_each():
    m, levers = CARD["autoguidance"], study.levers()
    assert all(r["model"] == study.BEST and r["sampler"] == "stochastic" for r in levers)
    interval = lambda r: tuple(r["interval"]) if r.get("interval") else None  # noqa: E731
    assert {(r["guide"], r["guidance"], r["steps"], interval(r)) for r in levers} == {
        (None, 0.0, 2 * m["steps"], None), (m["guide"], m["guidance"], 2 * m["steps"], None),
        *((m["guide"], w, m["steps"], None) for w in study.PUSHES),
        *((study.WEAK_GUIDE, w, m["steps"], None) for w in study.PUSHES),
        *((study.WEAK_GUIDE, w, m["steps"], i) for w, i in study.INTERVALS),
        *((g, w, m["steps"], (1.0, 10.0)) for g, ws in study.SMALL_PUSHES.items() for w in ws),
    }  # fmt: skip
    assert len(levers) == 8 + len(study.INTERVALS) + sum(map(len, study.SMALL_PUSHES.values()))
    assert all((REPO / "checkpoints" / f"{r['guide']}.pt").exists() for r in levers if r["guide"])


def test_the_small_guides_are_the_weak_guides_run_on_a_narrower_preset_stopped_as_early_or_earlier():
    weak = RUNS[study.WEAK_GUIDE]
    n_params = lambda name: sum(p.numel() for p in study.td.build_model(name).parameters())  # noqa: E731
    assert set(study.SMALL_PUSHES) == set(SMALL_GUIDES)
    for name, (model, budget) in SMALL_GUIDES.items():
        assert {k: v for k, v in budget.items() if k != "stop_at"} == {
            k: v for k, v in weak[1].items() if k != "stop_at"
        }
        assert budget["stop_at"] <= weak[1]["stop_at"] and name.startswith(f"film_unet_best_guide{budget['stop_at']}_")
        assert n_params(model) < n_params(weak[0]) / 2  # smaller as well as shorter
        assert RUNS[name] == (model, budget)  # make checkpoints ships it


def test_the_grid_tiles_below_the_threshold_are_named_by_row_and_column(monkeypatch):
    top = torch.full((64,), 0.99)
    top[[0, 9, 63]] = study.td.UNSURE_BELOW - 0.01  # r1c1, r2c2, r8c8
    probs = torch.stack([top, 1 - top], dim=1)  # (64, 2)
    model = torch.nn.Linear(1, 1)
    monkeypatch.setattr(study, "load_sampling_model", lambda *a: (model, None, {"config": {}}, 0.0))
    monkeypatch.setattr(study.td, "generate", lambda *a, **k: torch.zeros(64, 1, 28, 28))
    monkeypatch.setattr(study.td, "load_feature_net", lambda: None)
    monkeypatch.setattr(study.td, "extract_features", lambda net, x: (None, probs))
    row = {"guide": None, "guidance": 0.0}
    assert study.grid_unsure(Path("x.pt"), row, "stochastic", 10) == [[1, 1], [2, 2], [8, 8]]


def test_a_grid_without_a_hesitant_tile_is_the_chance_of_64_confident_draws():
    assert page.none_chance(0.0) == 1.0 and page.none_chance(1.0) == 0.0
    assert page.none_chance(0.05) == pytest.approx(0.95**64) and page.none_chance(0.5, size=2) == 0.25


def test_expected_hesitant_tiles_carry_the_uncertainty_of_the_share():
    assert page.expected_range(0.0, 2000) == (0.0, 0.0)
    lo, hi = page.expected_range(0.1, 2000)
    se = (0.1 * 0.9 / 2000) ** 0.5
    assert lo == pytest.approx(64 * (0.1 - 2 * se)) and hi == pytest.approx(64 * (0.1 + 2 * se))


def _row(model="film_unet_best", guide=None, unsure=0.05, tiles=((1, 2),)):
    return dict(model=model, guide=guide, guidance=0.15 if guide else 0.0, sampler="stochastic", steps=100,
                unsure=unsure, unsure_floor=0.0115, fid=3.0, fid_floor=2.0, precision=0.83, precision_floor=0.874,
                recall=0.85, recall_floor=0.89, num_samples=2000,
                grid_unsure_tiles=[list(t) for t in tiles])  # fmt: skip


def test_the_block_reads_the_study_file(tmp_path, monkeypatch):
    monkeypatch.setattr(page, "RESULTS", tmp_path / "grid.json")
    assert page.grid_section({}).startswith("Not measured yet")
    rows = [_row(), _row(model="recipe_edm_high_long", guide="film_unet_best_guide", unsure=0.02, tiles=())]
    page.RESULTS.write_text(json.dumps({"unsure_below": 0.9, "rows": rows}))
    text = page.grid_section({"film_unet_best": 25200, "recipe_edm_high_long": 45000})
    assert "real MNIST-train digits, 1.1 % (0.7 per 64; a grid of real digits has none with a chance of 48 %)" in text
    assert "| `film_unet_best` (25,200 steps) | stochastic-100 | 5.0 % | 3.2 (" in text and "| 4 % | 1 (r1c2) |" in text
    assert "| `recipe_edm_high_long` (45,000 steps) | stochastic-100, autoguided w = 0.15 | 2.0 % | 1.3 (" in text
    assert "| 0 | 3 (1.5×) | 0.830 |" in text


def test_the_longer_run_is_read_against_the_shipped_model_at_the_same_sampler():
    rows = [_row(unsure=0.06), _row(guide="film_unet_best_guide", unsure=0.05),
            _row(model="recipe_edm_high_long", unsure=0.03)]  # fmt: skip
    lines = page.longer_lines(rows, {"film_unet_best": 25200, "recipe_edm_high_long": 45000})
    assert lines == ["With stochastic-100, 1.8× the training steps (`recipe_edm_high_long` to its end, beyond the "
                     "budget) take the share from 6.0 % to 3.0 % and FID at n = 2,000 from 3 to 3."]  # fmt: skip


def test_a_guide_other_than_the_cards_is_named_in_the_sampler_column():
    assert page._sampler(_row(guide=page.CARD_GUIDE)) == "stochastic-100, autoguided w = 0.15"
    weak = page._sampler(_row(guide="film_unet_best_guide800"))
    assert weak == "stochastic-100, autoguided by `film_unet_best_guide800` w = 0.15"
    assert page.CARD_GUIDE == CARD["autoguidance"]["guide"]


def test_the_grid_of_the_fewest_hesitant_samples_is_the_shipped_models_lowest_share(tmp_path, monkeypatch):
    monkeypatch.setattr(page, "FIGURES", tmp_path)
    rows = [_row(unsure=0.06), _row(guide="film_unet_best_guide800", unsure=0.03),
            _row(model="recipe_edm_high_long", unsure=0.01)]  # fmt: skip
    assert page.fewest_row(rows, "film_unet_best") is rows[1] and page.fewest_row(rows, "other") is None
    out, command = page.fewest_figure(rows[1])
    assert out == tmp_path / "grid_film_unet_best_film_unet_best_guide800_w0.15_stochastic100.png"
    assert ("--guide-checkpoint checkpoints/film_unet_best_guide800.pt --guidance 0.15 --sampler stochastic "
            f"--steps 100 --num-samples 64 --seed 0 --quiet --out book/figures/{out.name}") in command  # fmt: skip
    assert "not drawn yet" in page.fewest_lines(rows, "film_unet_best")[1]
    out.write_bytes(b"png")
    lines = page.fewest_lines(rows, "film_unet_best")
    assert lines[1] == f"```{{figure}} figures/{out.name}" and "(3.0 %, FID 3, precision 0.830" in lines[4]


def test_an_interval_row_is_its_own_setting_and_its_grid_command_limits_the_push(tmp_path, monkeypatch):
    monkeypatch.setattr(page, "FIGURES", tmp_path)
    everywhere = _row(guide="film_unet_best_guide800")
    limited = {**everywhere, "interval": [0.28, 5.42]}
    assert study.key(everywhere)[-1] is None and study.key(limited)[-1] == "0.28,5.42"
    assert study.key(json.loads(json.dumps(limited))) == study.key(limited)  # the same after the results file
    assert page._sampler(limited).endswith("w = 0.15 for 0.28 < σ ≤ 5.42")
    out, command = page.fewest_figure(limited)
    assert out.name == "grid_film_unet_best_film_unet_best_guide800_w0.15_sigma0.28-5.42_stochastic100.png"
    assert "--guidance 0.15 --guide-interval 0.28,5.42 --sampler stochastic" in command


def test_an_interval_setting_is_scored_with_its_interval(monkeypatch):
    seen = {}
    monkeypatch.setattr(
        study.td, "evaluate_checkpoint", lambda path, **kw: seen.update(kw) or {k: 0.0 for k in study.SCORES}
    )
    monkeypatch.setattr(study, "grid_unsure", lambda path, row, sampler, steps: seen.update(grid=row) or [])
    monkeypatch.setattr(study.td, "file_sha256", lambda path: "0")
    row = {**study.levers()[-1]}
    scored = study.score(row)
    assert seen["guide_interval"] == row["interval"] and seen["grid"]["interval"] == row["interval"]
    assert scored["interval"] == row["interval"]


def test_of_two_equal_lowest_shares_the_grid_is_the_lower_fids():
    rows = [{**_row(unsure=0.015), "fid": 20.0}, {**_row(unsure=0.015), "fid": 18.0}, _row(unsure=0.02)]
    assert page.fewest_row(rows, "film_unet_best") is rows[1]


def test_the_drawn_setting_at_the_cards_n_is_read_only_for_that_setting(tmp_path, monkeypatch):
    monkeypatch.setattr(page, "CONFIRM", tmp_path / "grid_confirm.json")
    drawn = {**_row(guide="film_unet_best_guide800", unsure=0.015), "interval": [1.0, 10.0]}
    assert page.confirm_line(drawn).startswith("Not scored at n = 10,000 yet: `")
    scores = dict(fid=9.5, fid_floor=0.95, precision=0.86, precision_floor=0.87, recall=0.8, recall_floor=0.88,
                  unsure=0.016, unsure_floor=0.012, num_samples=10000)  # fmt: skip
    page.CONFIRM.write_text(json.dumps({"n": 10000, "rows": [{**study.setting(drawn), **scores}]}))
    line = page.confirm_line(drawn)
    assert line.startswith("At n = 10,000, the cards' n (`") and "FID 9.5, 10.0× the floor of 0.95" in line
    assert "(the card's target, at most 10×: met), precision 0.860 (target ≥ 0.8: met; floor 0.870)" in line
    assert "hesitates on 1.6 % of the samples (real digits: 1.2 %)" in line
    assert page.confirm_line({**drawn, "guidance": 1.0}).startswith("Not scored")  # another setting's file
    assert page.confirm_line({k: v for k, v in drawn.items() if k != "interval"}).startswith("Not scored")


def test_every_setting_scored_at_the_cards_n_is_listed_drawn_or_not(tmp_path, monkeypatch):
    monkeypatch.setattr(page, "CONFIRM", tmp_path / "grid_confirm.json")
    assert page.confirm_table() == []  # nothing scored: no table
    scores = dict(fid=7.6, fid_floor=0.95, precision=0.875, recall=0.84, unsure=0.022, unsure_floor=0.013)
    old = {**_row(guide="film_unet_best_guide800"), "interval": [1.0, 10.0], **scores}
    new = {**old, "model": "best_noattn", "fid": 4.8}
    page.CONFIRM.write_text(json.dumps({"n": 10000, "rows": [old, new]}))
    table = page.confirm_table()
    assert table[1].startswith("Every setting scored again at n = 10,000 (`") and len(table) == 7
    assert table[5] == ("| `film_unet_best` | stochastic-100, autoguided by `film_unet_best_guide800` "
                        "w = 0.15 for 1 < σ ≤ 10 | 2.2 % (1.3 %) | 7.6 (8.0×) | 0.875 | 0.840 |")  # fmt: skip
    assert table[6].startswith("| `best_noattn` | ") and "| 4.8 (5.1×) |" in table[6]
    assert page.CONFIRM_N == study.CONFIRM_N


def _target_rows():
    """The fewest hesitant samples miss the FID cap; of the two that meet both targets the lower share wins."""
    return [{**_row(guide="film_unet_best_guide800", unsure=0.015), "fid": 18.0},
            {**_row(guide="film_unet_best_guide800", unsure=0.027), "fid": 8.5, "interval": [1.0, 10.0]},
            {**_row(guide="film_unet_best_guide800", unsure=0.02), "fid": 8.0, "precision": 0.79},
            {**_row(unsure=0.03), "fid": 5.9}, _row(model="recipe_edm_high_long", unsure=0.01)]  # fmt: skip


def test_the_target_grid_is_the_lowest_share_that_meets_both_targets():
    rows = _target_rows()
    assert page.target_row(rows, "film_unet_best", 9.46) is rows[1]
    assert page.target_row(rows, "film_unet_best", 8.4) is rows[3]  # a lower cap leaves the next one
    assert page.target_row(rows, "film_unet_best", None) is None and page.target_row(rows, "other", 9.46) is None
    assert page.fid_cap() == pytest.approx(10 * CARD["metrics"]["fid_floor"])


def test_the_page_draws_the_fewest_and_the_target_grid_once_each(tmp_path, monkeypatch):
    monkeypatch.setattr(page, "FIGURES", tmp_path)
    monkeypatch.setattr(page, "fid_cap", lambda: 9.46)
    rows = _target_rows()
    assert page.drawn_rows(rows, "film_unet_best") == [rows[0], rows[1]]
    text = "\n".join(page.fewest_lines(rows, "film_unet_best"))
    assert text.count("not drawn yet") == 2 and "meet the card's targets at n = 2,000 (precision ≥ 0.8 and FID" in text
    assert "w = 0.15 for 1 < σ ≤ 10 (2.7 %, FID 8.5, precision 0.830" in text
    monkeypatch.setattr(page, "fid_cap", lambda: 20.0)  # the fewest meets the targets too: one grid
    assert page.drawn_rows(rows, "film_unet_best") == [rows[0]]
    assert "\n".join(page.fewest_lines(rows, "film_unet_best")).count("not drawn yet") == 1


def test_confirm_scores_each_drawn_setting_once_per_checkpoint(tmp_path, monkeypatch):
    monkeypatch.setattr(page, "CONFIRM", tmp_path / "grid_confirm.json")
    monkeypatch.setattr(study, "CONFIRM", page.CONFIRM)
    monkeypatch.setattr(page, "fid_cap", lambda: 9.46)
    rows, calls = _target_rows(), []
    monkeypatch.setattr(study.STUDY, "rows", lambda: rows)
    monkeypatch.setattr(study.td, "file_sha256", lambda path: "abc")
    monkeypatch.setattr(study.td, "evaluate_checkpoint", lambda path, **kw: calls.append(kw) or
                        {k: 0.5 for k in study.SCORES})  # fmt: skip
    assert [r["guidance"] for r in study.confirm()] == [0.15, 0.15] and len(calls) == 2
    assert calls[1]["guide_interval"] == [1.0, 10.0] and calls[0]["num_samples"] == study.CONFIRM_N
    assert [page.confirmed(r)["checkpoint_sha256"] for r in rows[:2]] == ["abc", "abc"]
    assert study.confirm() == [] and len(calls) == 2  # both held for this checkpoint: nothing scored again
    monkeypatch.setattr(study.td, "file_sha256", lambda path: "new")
    assert len(study.confirm()) == 2 and len(json.loads(page.CONFIRM.read_text())["rows"]) == 2


def test_the_next_run_is_scored_at_the_shipped_models_drawn_settings(monkeypatch):
    rows = [_row(unsure=0.06), {**_row(guide="film_unet_best_guide800", unsure=0.02), "interval": [1.0, 10.0]}]
    mine = study.next_settings(rows)
    assert mine and {r["model"] for r in mine} == {study.NEXT_RUN} == {next(iter(study.NEXT))}
    what = [{k: v for k, v in r.items() if k != "model"} for r in mine]
    assert what[:2] == [{"guide": None, "guidance": 0.0, "sampler": "stochastic", "steps": 100},
                        study.autoguidance()]  # fmt: skip
    drawn = {"guide": "film_unet_best_guide800", "guidance": 0.15, "sampler": "stochastic", "steps": 100,
             "interval": [1.0, 10.0]}  # fmt: skip
    assert drawn in what and len({study.key(r) for r in mine}) == len(mine)  # each setting once
    assert what[-1] == {**drawn, "guide": study.NEXT_GUIDE}  # the weak guide's setting again with the run's own
    assert study.plan(rows) == study.settings() + mine
    monkeypatch.setattr(study, "NEXT_RUN", None)
    assert study.next_settings(rows) == [] and study.plan(rows) == study.settings()


def test_the_next_run_is_read_against_the_shipped_model_not_as_a_longer_run():
    run = next(iter(page.NEXT))
    rows = [_row(unsure=0.06), _row(model=run, unsure=0.03), _row(model=run, guide="film_unet_best_guide800")]
    rows[1]["fid"], rows[1]["precision"] = 2.5, 0.845
    steps = {"film_unet_best": 25200, "recipe_edm_high_long": 45000, run: 34650}
    assert page.longer_lines(rows, steps) == []
    lines = page.next_lines(rows, "film_unet_best")
    assert lines[0].startswith(f"**`{run}` against the shipped model.** `{run}` trains `{page.NEXT[run][0]}` for")
    assert lines[2].startswith("| sampler | unsure | FID (n = 2,000) | precision |")
    # one table row: the guided row has no shipped twin
    assert lines[4] == "| stochastic-100 | 3.0 % / 6.0 % | 2.5 / 3 | 0.845 / 0.830 | 0.850 / 0.850 | 1 / 1 |"
    assert len(lines) == 5 or lines[6].startswith(f"`{run}`'s lowest share among its settings that meet the card's")
    assert page.next_lines(rows, "other") == []


def test_the_next_runs_table_closes_the_block_after_the_shipped_models_grids(tmp_path, monkeypatch):
    monkeypatch.setattr(page, "RESULTS", tmp_path / "grid.json")
    monkeypatch.setattr(page, "FIGURES", tmp_path)  # no grid drawn: the block says how to draw it
    monkeypatch.setattr(page, "CONFIRM", tmp_path / "grid_confirm.json")  # none scored at n = 10,000
    run = next(iter(page.NEXT))
    rows = [_row(unsure=0.06), _row(model=run, unsure=0.03)]
    page.RESULTS.write_text(json.dumps({"unsure_below": 0.9, "rows": rows}))
    text = page.grid_section({"film_unet_best": 25200, run: 34650})
    assert text.index("grid is not drawn yet") < text.index(f"**`{run}` against the shipped model.**")
    table = "| stochastic-100 | 3.0 % / 6.0 % | 3 / 3 | 0.830 / 0.830 | 0.850 / 0.850 | 1 / 1 |"
    assert text.index("grid is not drawn yet") < text.index(table)
    monkeypatch.setattr(page, "fid_cap", lambda: None)  # no card: no setting meets its targets, no line after it
    assert page.grid_section({"film_unet_best": 25200, run: 34650}).endswith(table)


def test_a_row_with_the_runs_own_guide_is_read_against_the_shipped_models_weak_guide():
    run, own = next(iter(page.NEXT)), next(iter(page.NEXT_GUIDES))
    rows = [_row(guide=page.WEAK_GUIDE, unsure=0.04), _row(model=run, guide=own, unsure=0.02)]
    lines = page.next_lines(rows, "film_unet_best")
    assert f"a row autoguided by `{own}`, a guide of `{run}`'s own preset" in lines[0]
    assert lines[4].startswith(f"| stochastic-100, autoguided by `{own}` w = 0.15 | 2.0 % / 4.0 % |")
    assert page.next_lines(rows[1:], "film_unet_best") == []  # no shipped row with the weak guide: nothing to read


def test_confirm_also_scores_the_next_runs_target_setting_and_the_page_reads_it(tmp_path, monkeypatch):
    monkeypatch.setattr(page, "CONFIRM", tmp_path / "grid_confirm.json")
    monkeypatch.setattr(study, "CONFIRM", page.CONFIRM)
    monkeypatch.setattr(page, "fid_cap", lambda: 9.46)
    run, own = next(iter(page.NEXT)), next(iter(page.NEXT_GUIDES))
    mine = [
        {**_row(model=run, guide=own, unsure=0.016), "fid": 6.5, "interval": [1.0, 10.0]},
        {**_row(model=run, guide=own, unsure=0.012), "fid": 11.0},
    ]  # the lower share misses the FID cap
    rows, calls = _target_rows() + mine, []
    assert page.next_target_row(rows) is mine[0] and page.next_target_row(_target_rows()) is None
    monkeypatch.setattr(study.STUDY, "rows", lambda: rows)
    monkeypatch.setattr(study, "model_file", lambda model: Path(f"{model}.pt"))
    monkeypatch.setattr(study, "_guide", lambda row: Path(f"{row['guide']}.pt"))
    monkeypatch.setattr(study.td, "file_sha256", lambda path: str(path))
    monkeypatch.setattr(study.td, "evaluate_checkpoint", lambda path, **kw: calls.append(path) or
                        {k: 0.5 for k in study.SCORES} | {"num_samples": kw["num_samples"]})  # fmt: skip
    assert [r["model"] for r in study.confirm()] == ["film_unet_best", "film_unet_best", run]
    assert calls[-1] == Path(f"{run}.pt") and page.confirmed(mine[0])["checkpoint_sha256"] == f"{run}.pt"
    line = page.next_lines(rows, "film_unet_best")[-1]
    assert line.startswith(
        f"`{run}`'s lowest share among its settings that meet the card's targets at n = 2,000: "
        f"stochastic-100, autoguided by `{own}` w = 0.15 for 1 < σ ≤ 10 (1.6 %). At n = 10,000"
    )
