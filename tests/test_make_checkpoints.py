"""scripts/make_checkpoints.py: which scores a card gets (the sweep's, for this very file, at its chosen w)."""

import importlib.util
import json
import sys
from pathlib import Path

import pytest

import tinydiff_lib as td

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "scripts"))


@pytest.fixture()
def make(monkeypatch, tmp_path):
    spec = importlib.util.spec_from_file_location("make_checkpoints", REPO / "scripts" / "make_checkpoints.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    monkeypatch.setattr(module, "SWEEP", tmp_path / "guidance.json")
    return module


def _rows(sha: str, checkpoint: str) -> list[dict]:
    import guidance_sweep as gs

    rows = []
    for w in gs.SWEEP:  # the target is reached from w = 2 on; FID is lowest at w = 1, then at w = 2
        mine = sha if checkpoint == gs.CLASS else "other"
        rows.append(dict(checkpoint=gs.CLASS, guidance=w, prompts=None, n=gs.N, accuracy=0.9 if w < 2 else 0.99,
                         fid=abs(w - 1) + 1.0, checkpoint_sha256=mine))  # fmt: skip
    if checkpoint == gs.TEXT:
        for split in ("train", "held_out"):
            rows.append(dict(checkpoint=gs.TEXT, guidance=2.0, prompts=split, n=gs.N, accuracy=0.9, fid=5.0,
                             checkpoint_sha256=sha))  # fmt: skip
    return rows


def test_a_conditional_card_takes_the_sweep_row_of_its_own_file_at_the_chosen_w(make, tmp_path):
    shipped = tmp_path / "film_unet_class.pt"
    shipped.write_bytes(b"weights")
    make.SWEEP.write_text(json.dumps({"rows": _rows(td.file_sha256(shipped), "film_unet_class")}))
    m = make.sweep_metrics(shipped)
    assert m["guidance"] == 2.0 and m["fid"] == 2.0  # w = 2 reaches 0.98 first; its FID beats w = 4, 6
    shipped.write_bytes(b"other weights")  # a retrained file: the old scores are not its scores
    assert make.sweep_metrics(shipped) is None


def test_a_text_card_gets_both_phrasing_splits(make, tmp_path):
    shipped = tmp_path / "film_unet_text.pt"
    shipped.write_bytes(b"text weights")
    make.SWEEP.write_text(json.dumps({"rows": _rows(td.file_sha256(shipped), "film_unet_text")}))
    m = make.sweep_metrics(shipped)
    assert m["guidance"] == 2.0 and set(m) == {"guidance", "train", "held_out"}
    assert m["held_out"]["prompts"] == "held_out"


def test_no_sweep_yet_gives_no_scores(make, tmp_path, capsys):
    shipped = tmp_path / "film_unet_class.pt"
    shipped.write_bytes(b"weights")
    assert make.sweep_metrics(shipped) is None
    assert "guidance_sweep.py" in capsys.readouterr().out


def test_the_best_card_takes_the_autoguidance_row_of_its_own_two_files(make, tmp_path, monkeypatch):
    import autoguidance_study as ag

    main, guide = tmp_path / "film_unet_best.pt", tmp_path / "guide.pt"
    main.write_bytes(b"main weights")
    guide.write_bytes(b"guide weights")
    monkeypatch.setattr(ag, "guide_file", lambda name: guide)
    monkeypatch.setattr(make, "AUTOGUIDANCE", tmp_path / "autoguidance.json")
    shas = dict(checkpoint_sha256=td.file_sha256(main), guide_sha256=td.file_sha256(guide))
    # precision reaches the target from w = 0.25 on; FID falls with w and is lower for the first guide
    grid = [dict(c, n=ag.N_CHOOSE, fid=10 - c["guidance"] - (c["guide"] == ag.GUIDE), **shas,
                 precision=0.75 + 0.1 * (c["guidance"] >= 0.25)) for c in ag.cells()]  # fmt: skip
    assert ag.chosen(grid[1:]) is None  # not all the cells of the choice yet
    best = ag.chosen(grid)
    assert ag.cell(best) == dict(guide=ag.GUIDE, guidance=0.5, sampler="stochastic", steps=50)  # the largest w
    other = dict(best, sampler="dpmpp_2m", steps=20, n=ag.N_FULL, fid=1.0)  # another cell's n = 10,000 row
    full = dict(best, n=ag.N_FULL, fid=4.0)
    make.AUTOGUIDANCE.write_text(json.dumps({"rows": [*grid, other]}))
    assert make.autoguidance_metrics(main) is None  # the n = 10,000 row of the chosen cell is not there yet
    make.AUTOGUIDANCE.write_text(json.dumps({"rows": [*grid, full]}))
    assert make.autoguidance_metrics(main)["fid"] == 4.0
    guide.write_bytes(b"another guide")  # the guide was retrained: the row is not about these files
    assert make.autoguidance_metrics(main) is None


def test_a_card_keeps_its_scores_only_for_the_very_file_they_were_measured_on(make, tmp_path):
    shipped, card = tmp_path / "film_unet_best.pt", tmp_path / "film_unet_best.json"
    shipped.write_bytes(b"weights")
    assert make.earlier_metrics(shipped, card) is None  # no card yet
    card.write_text(json.dumps({"metrics": {"fid": 5.0}}))
    assert make.earlier_metrics(shipped, card) is None  # a card without the file's SHA-256: score again
    card.write_text(json.dumps({"metrics": {"fid": 5.0}, "sha256": td.file_sha256(shipped)}))
    assert make.earlier_metrics(shipped, card) == {"fid": 5.0}
    shipped.write_bytes(b"retrained weights")
    assert make.earlier_metrics(shipped, card) is None


def test_autoguidance_only_writes_the_rows_into_the_card_of_the_same_file_and_nothing_else(make, tmp_path, monkeypatch,
                                                                                           capsys):  # fmt: skip
    import autoguidance_study as ag

    (tmp_path / "checkpoints").mkdir()
    main, guide = tmp_path / "checkpoints" / "film_unet_best.pt", tmp_path / "guide.pt"
    main.write_bytes(b"main weights")
    guide.write_bytes(b"guide weights")
    monkeypatch.setattr(make, "REPO", tmp_path)
    monkeypatch.setattr(ag, "guide_file", lambda name: guide)
    monkeypatch.setattr(make, "AUTOGUIDANCE", tmp_path / "autoguidance.json")
    shas = dict(checkpoint_sha256=td.file_sha256(main), guide_sha256=td.file_sha256(guide))
    grid = [dict(c, n=ag.N_CHOOSE, fid=10 - c["guidance"], precision=0.85, **shas) for c in ag.cells()]
    full = dict(ag.chosen(grid), n=ag.N_FULL, fid=3.0)
    make.AUTOGUIDANCE.write_text(json.dumps({"rows": [*grid, full]}))
    card = tmp_path / "checkpoints" / "film_unet_best.json"
    card.write_text(json.dumps({"sha256": "another file", "metrics": {"fid": 5.0}, "autoguidance": None}))
    assert make.main(["--models", "film_unet_best", "--autoguidance-only"]) == 2  # the card is of another file
    assert "of another file" in capsys.readouterr().err
    assert json.loads(card.read_text())["autoguidance"] is None
    card.write_text(json.dumps({"sha256": shas["checkpoint_sha256"], "metrics": {"fid": 5.0}, "autoguidance": None}))
    assert make.main(["--models", "film_unet_best", "--autoguidance-only"]) == 0
    written = json.loads(card.read_text())
    assert written["autoguidance"]["fid"] == 3.0 and written["metrics"] == {"fid": 5.0}
    assert written["autoguidance_most_precise"] is None  # its n = 10,000 row is not there
    main.unlink()  # no shipped file: refused, not a crash
    assert make.main(["--models", "film_unet_best", "--autoguidance-only"]) == 2
