"""The autoguidance lines of the results page (scripts/autoguidance_page.py), from synthetic rows and cards."""

import json
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "scripts"))

import autoguidance_page as page  # noqa: E402
import autoguidance_study as study  # noqa: E402


def _row(c, n=study.N_CHOOSE, fid=6.0, precision=0.79):
    return dict(c, n=n, fid=fid, fid_floor=2.0, precision=precision, precision_floor=0.87, recall=0.9,
                recall_floor=0.88, sampling_dtype="bfloat16", num_samples=n)  # fmt: skip


def _verdict(ok):
    return "met" if ok else "**not met**"


def test_the_table_marks_the_choice_and_the_card_row_gets_verdicts(tmp_path, monkeypatch):
    rows = [_row(c, fid=8 - c["guidance"] - (c["sampler"] != "dpmpp_2m"), precision=0.79 + 0.05 * c["guidance"])
            for c in study.cells()]  # fmt: skip
    monkeypatch.setattr(page, "RESULTS", tmp_path / "autoguidance.json")
    monkeypatch.setattr(page, "FIGURE", tmp_path / "missing.png")
    page.RESULTS.write_text(json.dumps({"rows": rows}))
    best = study.chosen(rows)
    assert best["precision"] >= study.PRECISION_TARGET
    lines = page.section({"metrics": {}}, 10.0, _verdict)
    text = "\n".join(lines)
    assert text.count("(chosen)") == 1 and f"| {best['guidance']:g} (chosen) |" in text
    for steps, passes in ((50, 198), (100, 398)):  # 2 k - 1 passes of a k-step Heun-like sampler, the guide's too
        assert text.count(f"| stochastic-{steps} ({passes}) |") == len(study.LONG_GRID[("stochastic", steps)])
    assert "No n = 10,000 score in the card yet" in text
    card = {"autoguidance": _row(study.cell(best), n=study.N_FULL, fid=30.0, precision=0.81)}
    text = "\n".join(page.section(card, 10.0, _verdict))
    assert "15.0× the floor (target ≤ 10×: **not met**)" in text and "(target ≥ 0.8: met" in text
    text = "\n".join(page.section(card, 10.0, _verdict, fid_aim=2.0))
    assert "15.0× the floor (target ≤ 10×: **not met**; aim 2×: missed by 650%)" in text
    card["autoguidance"]["fid"] = 3.9  # 1.95× the floor
    assert "(target ≤ 10×: met; aim 2×: reached)" in "\n".join(page.section(card, 10.0, _verdict, fid_aim=2.0))
    card["autoguidance_most_precise"] = dict(card["autoguidance"])  # the same cell: one row, said once
    text = "\n".join(page.section(card, 10.0, _verdict))
    assert text.count("At n = 10,000") == 1 and "the lowest FID and the highest precision coincide" in text
    del card["autoguidance_most_precise"]  # the study's most precise cell is another, not scored at 10,000
    precise = study.most_precise(rows)
    assert study.cell(precise) != study.cell(best)
    assert f"Not scored at n = 10,000 yet: the study's most precise cell, w = {precise['guidance']:g}" in "\n".join(
        page.section(card, 10.0, _verdict)
    )
    card["autoguidance_most_precise"] = _row(study.cells()[-1], n=study.N_FULL, fid=9.0, precision=0.9)
    text = "\n".join(page.section(card, 10.0, _verdict))
    assert text.count("At n = 10,000") == 2 and "coincide" not in text
    sampler = "" if best["sampler"] == "dpmpp_2m" else f" --sampler {best['sampler']} --steps {best['steps']}"
    assert f"--guidance {best['guidance']:g}{sampler} --num-samples 10000" in text


def test_the_study_chooses_from_its_choice_cells_before_the_trade_off_grid_is_scored():
    rows = []
    plan = study.plan(rows)
    assert plan[: len(study.choice_cells())] == [dict(c, n=study.N_CHOOSE) for c in study.choice_cells()]
    assert all(r["n"] == study.N_CHOOSE for r in plan)  # nothing at n = 10,000 before a choice

    def fid(c):  # the smallest w has the lowest FID, and 100 steps beat 50
        return 5 + c["guidance"] - c["steps"] / 100

    rows = [_row(c, fid=fid(c), precision=0.85) for c in study.choice_cells()]
    best = study.chosen(rows)
    assert study.cell(best) == dict(guide=study.GUIDE, guidance=0.15, sampler="stochastic", steps=100)
    plan = study.plan(rows)
    assert plan[len(study.choice_cells())] == dict(study.cell(best), n=study.N_FULL)  # the card's row next
    assert study.most_precise(rows) is None  # it waits for the whole grid
    rows += [_row(c, precision=0.9 if c["guidance"] == 2.0 else 0.8) for c in study.cells()
             if c not in study.choice_cells()]  # fmt: skip
    precise = study.most_precise(rows)
    assert precise["guidance"] == 2.0 and study.plan(rows)[-1] == dict(study.cell(precise), n=study.N_FULL)
    low = [_row(c, fid=fid(c), precision=0.7 + c["guidance"] / 10) for c in study.choice_cells()]
    assert study.chosen(low)["guidance"] == 0.5  # none reaches the target: the most precise (the largest w)


def test_what_the_guide_adds_is_read_against_the_model_alone_with_the_same_sampler():
    m = _row(dict(guide=study.GUIDE, guidance=0.15, sampler="stochastic", steps=100), n=study.N_FULL, fid=1.5)
    m["checkpoint_sha256"] = "abc"
    at_50 = dict(m, steps=50, fid=2.0)
    other_file = dict(m, steps=25, checkpoint_sha256="old")  # a replaced checkpoint's row: left out
    alone = [dict(run=study.BEST, sampler="stochastic", steps=50, n=study.N_FULL, bf16=True, fid=2.4, precision=0.84),
             dict(run="recipe_edm_high", sampler="stochastic", steps=100, n=study.N_FULL, bf16=True, fid=9.0,
                  precision=0.7)]  # fmt: skip
    text = "\n".join(page.equal_sampler([m, at_50, other_file], m, alone))
    assert "with stochastic-100, the model alone not scored, guided FID 1.50" in text
    assert "with stochastic-50, the model alone FID 2.40, precision 0.840, guided FID 2.00" in text
    assert "stochastic-25" not in text and "9.00" not in text
    assert page.equal_sampler([other_file], m, alone) == []
