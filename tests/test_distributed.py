"""``torchrun --nproc_per_node 2 -m tinydiff_lib train`` on the CPU (Gloo) takes the steps one process takes."""

import subprocess
import sys

import pytest
import torch

from .conftest import REPO, needs_mnist

pytestmark = [needs_mnist, pytest.mark.slow]

ARGS = ["--model", "tiny_conv", "--batch-size", "8", "--checkpoint-every", "2", "--device", "cpu", "--quiet"]


def _train(out, steps: int, procs: int, resume: bool = False) -> None:
    launcher = [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc_per_node={procs}"]
    cmd = (launcher if procs > 1 else [sys.executable]) + ["-m", "tinydiff_lib", "train", *ARGS]
    cmd += ["--steps", str(steps), "--out", str(out)] + (["--resume"] if resume else [])
    done = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]


def _max_weight_difference(a, b) -> float:
    wa = torch.load(a, weights_only=True)["train_state"]["model"]
    wb = torch.load(b, weights_only=True)["train_state"]["model"]
    return max((wa[k] - wb[k]).abs().max().item() for k in wa)


def test_two_gloo_processes_match_one_process_and_resume(tmp_path):
    (tmp_path / "one").mkdir()
    (tmp_path / "two").mkdir()
    one, two = tmp_path / "one" / "run.pt", tmp_path / "two" / "run.pt"
    _train(one, steps=4, procs=1)
    _train(two, steps=4, procs=2)
    assert [p.name for p in (tmp_path / "two").iterdir()] == ["run.pt"]  # one file, written by rank 0
    assert _max_weight_difference(one, two) < 1e-5
    ckpt_one, ckpt_two = (torch.load(p, weights_only=True) for p in (one, two))
    assert ckpt_two["runtime"]["world_size"] == 2 and ckpt_two["step"] == 4
    torch.testing.assert_close(torch.tensor(ckpt_two["history"]["loss"]), torch.tensor(ckpt_one["history"]["loss"]))

    _train(one, steps=6, procs=1, resume=True)
    _train(two, steps=6, procs=2, resume=True)
    assert torch.load(two, weights_only=True)["step"] == 6
    assert _max_weight_difference(one, two) < 1e-5
