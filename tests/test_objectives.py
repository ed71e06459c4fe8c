"""`train --objective edm`: the σ-view objective in the training loop, its checkpoints and their samplers."""

import json

import pytest
import torch

import tinydiff_lib as td
from tinydiff_lib.cli import main
from tinydiff_lib.sampling_io import generate, sampling_plan

from .test_training import blobs, small_data

SMALL = dict(model="tiny_conv", model_kwargs={"channels": 16}, num_diffusion_steps=100)


def test_edm_training_learns_and_resumes_bit_identically(tmp_path):
    cfg = td.TrainConfig(**SMALL, objective="edm", steps=150, batch_size=16, lr=3e-3, lr_schedule="constant",
                         ema_decay=0)  # fmt: skip
    result = td.train(cfg, data=blobs(16), device="cpu", progress=False)
    losses = result.history["loss"]
    assert sum(losses[-20:]) / 20 < 0.7 * sum(losses[:20]) / 20  # starts near 1 (F = 0: λ = 1/c_out²)
    short = td.TrainConfig(**SMALL, objective="edm", steps=6, batch_size=8, checkpoint_every=2)
    straight = td.train(short, data=small_data(), out=tmp_path / "a.pt", device="cpu", progress=False)
    td.train(short, data=small_data(), out=tmp_path / "b.pt", device="cpu", progress=False, stop_after=3)
    resumed = td.train(short, data=small_data(), out=tmp_path / "b.pt", device="cpu", progress=False, resume=True)
    for a, b in zip(straight.model.state_dict().values(), resumed.model.state_dict().values()):
        assert torch.equal(a, b)
    ckpt = td.load_checkpoint(tmp_path / "b.pt")
    assert ckpt["config"]["objective"] == "edm" and ckpt["sampling"] == {"sampler": "dpmpp_2m", "steps": 20}


@pytest.fixture(scope="module")
def edm_checkpoint(tmp_path_factory):
    out = tmp_path_factory.mktemp("edm") / "run.pt"
    cfg = td.TrainConfig(**SMALL, objective="edm", steps=4, batch_size=8)
    td.train(cfg, data=small_data(), out=out, device="cpu", progress=False)
    return out


def test_an_edm_checkpoint_samples_with_sigma_samplers_only(edm_checkpoint):
    model, schedule, ckpt = td.load_model(edm_checkpoint)
    assert sampling_plan(ckpt) == ("dpmpp_2m", 20)
    for sampler in ("euler", "heun", "dpmpp_2m", "stochastic"):
        x = generate(model, schedule, 3, sampler, 4, progress=False, objective="edm")
        assert x.shape == (3, 1, 28, 28) and torch.isfinite(x).all() and x.abs().max() <= 1
    with pytest.raises(td.UsageError, match="σ view"):
        generate(model, schedule, 3, "ddim", 4, progress=False, objective="edm")


def test_sample_without_sampler_uses_the_checkpoints_recommendation(edm_checkpoint, tmp_path, capsys):
    assert main(["sample", "--checkpoint", str(edm_checkpoint), "--num-samples", "2", "--steps", "3",
                 "--out", str(tmp_path / "x.npy"), "--quiet"]) == 0  # fmt: skip
    assert json.loads(capsys.readouterr().out) | {"out": None} == {"out": None, "num_samples": 2, "sampler": "dpmpp_2m",
                                                                     "steps": 3}  # fmt: skip
    assert main(["sample", "--checkpoint", str(edm_checkpoint), "--num-samples", "2", "--sampler", "ddpm",
                 "--out", str(tmp_path / "x.npy")]) == 2  # fmt: skip
    assert "σ view" in capsys.readouterr().err


def test_a_ddpm_checkpoint_also_serves_the_sigma_samplers(tmp_path):
    out = tmp_path / "run.pt"
    td.train(td.TrainConfig(**SMALL, steps=2, batch_size=8), data=small_data(), out=out, device="cpu", progress=False)
    model, schedule, ckpt = td.load_model(out)
    assert sampling_plan(ckpt) == ("ddim", 50)  # the DDPM recommendation
    x = generate(model, schedule, 2, "heun", 5, progress=False)
    assert x.shape == (2, 1, 28, 28) and torch.isfinite(x).all()
