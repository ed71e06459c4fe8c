"""RowFile (scripts/row_file.py): the resumable results file that the study workers share."""

import json
import sys
from pathlib import Path
from types import SimpleNamespace

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "scripts"))

import pytest  # noqa: E402
import row_file  # noqa: E402
from row_file import RowFile  # noqa: E402


def key(row):
    return row["name"], row["w"]


def test_claim_add_and_resume(tmp_path):
    study = RowFile(tmp_path / "study.json", key, {"sweep": [0, 1]})

    def plan(rows):
        return [{"name": "a", "w": w} for w in (0, 1)]

    first = study.claim_next(plan, lambda row: True)
    second = study.claim_next(plan, lambda row: True)  # a second worker gets the other row
    assert (first["w"], second["w"]) == (0, 1) and study.claim_next(plan, lambda row: True) is None
    study.add({**first, "fid": 3.0})
    study.release()  # the second worker stopped: its row is planned again
    assert study.claim_next(plan, lambda row: True) == second
    data = json.loads((tmp_path / "study.json").read_text())
    assert data["sweep"] == [0, 1] and data["rows"] == [{"name": "a", "w": 0, "fid": 3.0}]


def test_retire_moves_stale_rows_out_of_the_plan(tmp_path):
    study = RowFile(tmp_path / "study.json", key, {})
    for w, sha in ((0, "old"), (1, "new")):
        study.add({"name": "a", "w": w, "sha": sha})
    assert study.retire(lambda row: row["sha"] == "old", "file replaced") == 1
    assert [r["w"] for r in study.rows()] == [1]
    data = json.loads((tmp_path / "study.json").read_text())
    assert data["superseded"] == [{"name": "a", "w": 0, "sha": "old", "superseded_because": "file replaced"}]
    plan = [{"name": "a", "w": 0}, {"name": "a", "w": 1}]
    assert study.claim_next(lambda rows: plan, lambda row: True) == {"name": "a", "w": 0}  # to score again
    assert study.retire(lambda row: row["sha"] == "old", "again") == 0


def test_worker_args_carry_out_list_and_release(tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(row_file, "native_bf16", lambda: True)
    study = RowFile(tmp_path / "study.json", key, {})
    study.add({"name": "a", "w": 0})
    plan = [{"name": "a", "w": 0}, {"name": "a", "w": 1}]
    assert study.worker_args("doc", ["--list"], lambda args: lambda rows: plan) is None
    assert capsys.readouterr().out.splitlines() == ['done {"name": "a", "w": 0}', 'todo {"name": "a", "w": 1}']
    study.claim_next(lambda rows: plan, lambda row: True)
    assert study.worker_args("doc", ["--release"], lambda args: plan) is None
    assert json.loads((tmp_path / "study.claims").read_text()) == []
    args = study.worker_args("doc", ["--extra", "3"], lambda a: plan, lambda p: p.add_argument("--extra", type=int))
    assert args.extra == 3 and not args.list


def test_a_worker_stops_with_one_line_where_bfloat16_is_emulated(tmp_path, capsys, monkeypatch):
    """The rows say bf16: a CPU that would quietly sample them in float32 must not score them (listing is fine)."""
    monkeypatch.setattr(row_file, "native_bf16", lambda: False)
    study = RowFile(tmp_path / "study.json", key, {})
    plan = [{"name": "a", "w": 0}]
    assert study.worker_args("doc", ["--list"], lambda args: lambda rows: plan) is None
    capsys.readouterr()
    with pytest.raises(SystemExit) as stop:
        study.worker_args("doc", [], lambda args: plan)
    err = capsys.readouterr().err.strip().splitlines()
    assert stop.value.code == 2 and len(err) == 1 and err[0].startswith("error: study.json is scored under bfloat16")
    assert not (tmp_path / "study.claims").exists()  # nothing claimed, nothing lost
    assert study.worker_args("doc", [], lambda args: plan, float32_rows=True) is not None  # a study with fp32 rows


def test_score_recipes_scores_only_float32_rows_where_bfloat16_is_emulated(monkeypatch, capsys):
    """Its float32 rows (the float32 capacity study) are scored there; the bf16 ones are left, said in one line."""
    import score_recipes

    plan = [dict(run=run, step=1, weights="ema0.999", bf16=bf16) for run, bf16 in (("a", True), ("b", False))]
    scored = []
    monkeypatch.setattr(score_recipes, "native_bf16", lambda: False)
    args = SimpleNamespace(passes_for=None, retrained=None)
    monkeypatch.setattr(score_recipes.STUDY, "worker_args", lambda *a, **k: args)
    monkeypatch.setattr(score_recipes, "weights_file", lambda *a: Path("w.pt"))

    def claim_next(plan_of, ready):  # the first ready row not yet scored (no file, no lock)
        return next((r for r in plan if ready(r) and r not in scored), None)

    monkeypatch.setattr(score_recipes.STUDY, "claim_next", claim_next)
    monkeypatch.setattr(score_recipes, "score", lambda row, path: row)
    monkeypatch.setattr(score_recipes, "add", scored.append)
    assert score_recipes.main([]) == 0
    assert [r["run"] for r in scored] == ["b"]
    assert "rows sampled under bfloat16 were left alone" in capsys.readouterr().out


def test_run_recipes_refuses_bf16_runs_where_bfloat16_is_emulated(monkeypatch, capsys, tmp_path):
    """Training a bf16 study run on such a CPU would take many times as long: one line, exit 2, nothing started."""
    import run_recipes

    started = []
    monkeypatch.setattr(run_recipes, "train_run", lambda *a: started.append(a))
    monkeypatch.setattr(run_recipes, "REPO", tmp_path)
    monkeypatch.setattr(run_recipes, "native_bf16", lambda: False)
    assert run_recipes.main(["--runs", "recipe_edm_high_long"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: these runs train under bfloat16") and not started
    monkeypatch.setattr(run_recipes, "native_bf16", lambda: True)
    assert run_recipes.main(["--runs", "recipe_edm_high_long"]) == 0 and len(started) == 1


def test_score_recipes_retrained_retires_one_runs_scores_and_exports(monkeypatch, tmp_path, capsys):
    """``--retrained RUN``: RUN's rows move to ``superseded`` with a note, its exported weights go (a fresh
    export of the new run's snapshot is scored, not the old file), other runs' rows and exports stay."""
    import score_recipes

    study = RowFile(tmp_path / "recipes.json", score_recipes.key, {})
    for run in ("recipe_edm_high_long", "recipe_edm_high"):
        study.add(dict(run=run, step=5_670, weights="ema0.999", sampler="dpmpp_2m", steps=20, n=2_000, fid=9.0))
    scored = tmp_path / "scored"
    scored.mkdir()
    for name in ("recipe_edm_high_long.step5670.ema0.999.pt", "recipe_edm_high.step5600.ema0.999.pt"):
        (scored / name).write_bytes(b"")
    monkeypatch.setattr(score_recipes, "STUDY", study)
    monkeypatch.setattr(score_recipes, "SCORED", scored)
    assert score_recipes.main(["--retrained", "recipe_edm_high_long"]) == 0
    data = json.loads((tmp_path / "recipes.json").read_text())
    assert [r["run"] for r in data["rows"]] == ["recipe_edm_high"]
    (old,) = data["superseded"]
    assert old["run"] == "recipe_edm_high_long" and "trained again from step 0" in old["superseded_because"]
    assert sorted(p.name for p in scored.iterdir()) == ["recipe_edm_high.step5600.ema0.999.pt"]
    assert "1 rows of recipe_edm_high_long moved" in capsys.readouterr().out
