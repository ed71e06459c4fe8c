"""The learning-rate cool-down (``--lr-horizon``, ``--cooldown-steps``) and forking a run into one."""

from __future__ import annotations

import math
from types import SimpleNamespace

import pytest
import torch

import tinydiff_lib as td
from tinydiff_lib.cli import main
from tinydiff_lib.optim import first_difference, lr_factor
from tinydiff_lib.training import TrainConfig


def _cfg(**kw):
    return SimpleNamespace(**{"steps": 1_100, "warmup_steps": 100, "lr_schedule": "cosine", "lr_horizon": 0,
                              "cooldown_steps": 0, **kw})  # fmt: skip


def test_a_horizon_past_the_end_stops_part_way_down_the_same_cosine():
    full, part = _cfg(steps=2_100), _cfg(steps=1_100, lr_horizon=2_100)
    assert all(lr_factor(s, part) == lr_factor(s, full) for s in range(1_100))
    assert math.isclose(lr_factor(1_100, part), 0.5)  # half way: the horizon's mid-point, not zero


def test_the_cool_down_falls_linearly_to_zero_from_the_schedules_value():
    base, cool = _cfg(steps=1_100, lr_horizon=2_100), _cfg(steps=1_100, lr_horizon=2_100, cooldown_steps=200)
    start = lr_factor(900, base)  # where the cool-down begins
    assert all(lr_factor(s, cool) == lr_factor(s, base) for s in range(900))
    assert lr_factor(900, cool) == start
    assert math.isclose(lr_factor(1_000, cool), start / 2)  # linear: half way, half the value
    assert math.isclose(lr_factor(1_099, cool), start / 200)  # the last step: one 200th, then the run ends
    steps = [lr_factor(s, cool) for s in range(900, 1_100)]
    assert all(a > b for a, b in zip(steps, steps[1:]))


def test_first_difference_names_the_first_step_that_changes():
    base = _cfg(steps=1_100, lr_horizon=2_100)
    cool = _cfg(steps=1_100, lr_horizon=2_100, cooldown_steps=200)  # its first step keeps the schedule's value
    assert first_difference(base, cool, 901) is None
    assert first_difference(base, cool, 902) == 901


@pytest.mark.parametrize("kw, message", [({"cooldown_steps": 5}, "cooldown_steps must be in"),
                                         ({"lr_horizon": 2}, "lr_horizon must be 0 or past the warm-up")])  # fmt: skip
def test_bad_settings_are_refused(kw, message):
    with pytest.raises(td.UsageError, match=message):
        TrainConfig(steps=6, warmup_steps=2, **kw)


@pytest.fixture
def fake_mnist(monkeypatch):
    import tinydiff_lib.data as data_module

    fake = torch.rand(64, 1, 28, 28, generator=torch.Generator().manual_seed(0)) * 2 - 1
    monkeypatch.setattr(data_module, "mnist_tensor", lambda train=True, root=None: (fake, torch.zeros(64)))


COMMON = ["train", "--model", "tiny_conv", "--batch-size", "8", "--warmup-steps", "2", "--checkpoint-every", "2",
          "--quiet", "--device", "cpu"]  # fmt: skip
COOL = ["--steps", "8", "--lr-horizon", "12", "--cooldown-steps", "2"]  # the first 6 steps of the 12-step cosine


def test_a_run_forked_into_a_cool_down_equals_the_cooled_run_from_scratch(tmp_path, fake_mnist, capsys):
    assert main([*COMMON, *COOL, "--out", str(tmp_path / "scratch.pt")]) == 0
    assert main([*COMMON, "--steps", "12", "--stop-at", "6", "--out", str(tmp_path / "fork.pt")]) == 0
    assert main([*COMMON, *COOL, "--resume", "--out", str(tmp_path / "fork.pt")]) == 0
    scratch, fork = (td.load_checkpoint(tmp_path / f"{n}.pt") for n in ("scratch", "fork"))
    assert fork["step"] == scratch["step"] == 8
    assert fork["config"]["cooldown_steps"] == 2 and fork["config"]["lr_horizon"] == 12
    assert all(torch.equal(scratch["state_dict"][k], fork["state_dict"][k]) for k in scratch["state_dict"])
    trained_on = td.load_checkpoint(tmp_path / "fork.pt")["train_state"]["optimizer"]["param_groups"][0]["lr"]
    assert trained_on == 0.0  # the cool-down ends at zero


def test_a_fork_whose_schedule_would_change_steps_already_taken_is_refused(tmp_path, fake_mnist, capsys):
    out = tmp_path / "run.pt"
    assert main([*COMMON, "--steps", "12", "--stop-at", "6", "--out", str(out)]) == 0
    before = out.read_bytes()
    capsys.readouterr()
    late = ["--steps", "8", "--lr-horizon", "12", "--cooldown-steps", "4"]  # lower from step 5
    assert main([*COMMON, *late, "--resume", "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert "the new learning-rate schedule differs at step 5, which it has already taken" in err
    assert out.read_bytes() == before  # nothing lost
