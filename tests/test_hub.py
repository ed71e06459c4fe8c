from pathlib import Path

import pytest
import yaml

import tinydiff_lib as td

REPO = Path(__file__).resolve().parents[1]


def test_repo_url_matches_the_book_config():
    config = yaml.safe_load((REPO / "_config.yml").read_text())
    assert td.REPO_URL == config["repository"]["url"]


def test_checkpoint_path_prefers_the_checkout(monkeypatch, tmp_path):
    (tmp_path / "m.pt").write_bytes(b"x")
    monkeypatch.setenv("TINYDIFF_CHECKPOINTS", str(tmp_path))
    assert td.checkpoint_path("m") == tmp_path / "m.pt"


def test_missing_checkpoint_says_how_to_make_it(monkeypatch, tmp_path):
    monkeypatch.setenv("TINYDIFF_CHECKPOINTS", str(tmp_path))
    monkeypatch.setenv("HOME", str(tmp_path))
    with pytest.raises(td.CheckpointError, match="make checkpoints"):
        td.checkpoint_path("nothing_here", download=False)
