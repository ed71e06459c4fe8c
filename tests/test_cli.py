import json
import subprocess
import sys

import numpy as np
import pytest
import torch

import tinydiff_lib as td
from tinydiff_lib.cli import main


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    out = tmp_path_factory.mktemp("ckpt") / "tiny.pt"
    data = torch.rand(32, 1, 28, 28, generator=torch.Generator().manual_seed(0)) * 2 - 1
    cfg = td.TrainConfig(model="tiny_conv", model_kwargs={"channels": 8}, num_diffusion_steps=50, steps=3, batch_size=8)
    td.train(cfg, data=data, out=out, device="cpu", progress=False)
    return out


def run_cli(*args):
    return subprocess.run([sys.executable, "-m", "tinydiff_lib", *args], capture_output=True, text=True, timeout=300)


def test_sample_writes_uint8_npy_and_png(checkpoint, tmp_path):
    assert main(["sample", "--checkpoint", str(checkpoint), "--num-samples", "5", "--steps", "3",
                 "--out", str(tmp_path / "x.npy"), "--quiet"]) == 0  # fmt: skip
    x = np.load(tmp_path / "x.npy")
    assert x.shape == (5, 28, 28) and x.dtype == np.uint8
    assert main(["sample", "--checkpoint", str(checkpoint), "--num-samples", "4", "--sampler", "ddpm",
                 "--out", str(tmp_path / "x.png"), "--quiet"]) == 0  # fmt: skip
    assert (tmp_path / "x.png").read_bytes()[:4] == b"\x89PNG"


def test_same_checkpoint_and_seed_give_the_same_samples(checkpoint, tmp_path):
    for name, seed in [("a", 1), ("b", 1), ("c", 2)]:
        main(["sample", "--checkpoint", str(checkpoint), "--num-samples", "3", "--steps", "4", "--eta", "1",
              "--seed", str(seed), "--out", str(tmp_path / f"{name}.npy"), "--quiet"])  # fmt: skip
    a, b, c = (np.load(tmp_path / f"{n}.npy") for n in "abc")
    assert np.array_equal(a, b) and not np.array_equal(a, c)


def test_train_then_resume_from_the_command_line(tmp_path, monkeypatch, capsys):
    import tinydiff_lib.data as data_module

    fake = torch.rand(64, 1, 28, 28, generator=torch.Generator().manual_seed(0)) * 2 - 1
    monkeypatch.setattr(data_module, "mnist_tensor", lambda train=True, root=None: (fake, torch.zeros(64)))
    out = tmp_path / "run.pt"
    assert main(["train", "--model", "tiny_conv", "--steps", "4", "--batch-size", "8", "--out", str(out),
                 "--checkpoint-every", "2", "--quiet", "--device", "cpu"]) == 0  # fmt: skip
    report = json.loads(capsys.readouterr().out)
    assert report["step"] == 4 and report["model"] == "tiny_conv"
    assert main(["train", "--model", "tiny_conv", "--steps", "6", "--batch-size", "8", "--out", str(out),
                 "--resume", "--quiet", "--device", "cpu"]) == 0  # fmt: skip
    assert td.load_checkpoint(out)["step"] == 6


def test_stop_at_pauses_a_schedule_that_resume_finishes_bit_identically(tmp_path, monkeypatch, capsys):
    import tinydiff_lib.data as data_module

    fake = torch.rand(64, 1, 28, 28, generator=torch.Generator().manual_seed(0)) * 2 - 1
    monkeypatch.setattr(data_module, "mnist_tensor", lambda train=True, root=None: (fake, torch.zeros(64)))
    common = ["train", "--model", "tiny_conv", "--steps", "6", "--batch-size", "8", "--warmup-steps", "2",
              "--checkpoint-every", "2", "--quiet", "--device", "cpu"]  # fmt: skip
    assert main([*common, "--out", str(tmp_path / "whole.pt")]) == 0
    assert main([*common, "--out", str(tmp_path / "part.pt"), "--stop-at", "3"]) == 0
    assert td.load_checkpoint(tmp_path / "part.pt")["step"] == 3
    assert main([*common, "--out", str(tmp_path / "part.pt"), "--resume", "--stop-at", "3"]) == 0  # nothing to do
    assert td.load_checkpoint(tmp_path / "part.pt")["step"] == 3
    assert main([*common, "--out", str(tmp_path / "part.pt"), "--resume"]) == 0
    whole, part = (td.load_checkpoint(tmp_path / f"{n}.pt")["state_dict"] for n in ("whole", "part"))
    assert all(torch.equal(whole[k], part[k]) for k in whole)
    capsys.readouterr()
    assert main([*common, "--out", str(tmp_path / "late.pt"), "--stop-at", "7"]) == 2
    assert "--stop-at 7 is past the run's end (--steps 6)" in capsys.readouterr().err


@pytest.mark.parametrize(
    "args, message",
    [
        (["train", "--model", "nope", "--steps", "1"], "unknown model 'nope'; known models:"),
        (["train", "--model", "tiny_conv", "--steps", "-3"], "expected a positive integer"),
        (["train", "--model", "tiny_conv", "--steps", "ten"], "expected a positive integer"),
        (["sample", "--checkpoint", "missing.pt", "--num-samples", "2", "--out", "x.npy"], "checkpoint not found"),
        (["sample", "--checkpoint", "x.pt", "--num-samples", "2", "--out", "x.jpg"], "must end in .npy or .png"),
        (["sample", "--checkpoint", "x.pt", "--num-samples", "0", "--out", "x.npy"], "expected a positive integer"),
        (
            ["sample", "--checkpoint", "x.pt", "--num-samples", "2", "--eta", "-1", "--out", "x.npy"],
            "expected a finite",
        ),
        (["fly"], "invalid choice"),
    ],
)
def test_user_mistakes_print_one_line_and_exit_non_zero(args, message, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    assert main(args) == 2
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and message in lines[0], lines


def test_a_mistake_in_a_real_process_has_no_traceback(tmp_path):
    result = run_cli("train", "--model", "nope")
    assert result.returncode == 2 and result.stderr.startswith("error: unknown model")
    assert len(result.stderr.strip().splitlines()) == 1 and "Traceback" not in result.stderr


def test_a_file_that_is_not_a_checkpoint(tmp_path, capsys):
    (tmp_path / "notes.pt").write_text("hello")
    torch.save({"weights": torch.zeros(2)}, tmp_path / "other.pt")
    for name, message in [("notes.pt", "not a readable PyTorch checkpoint"), ("other.pt", "not a TinyDiff checkpoint")]:
        args = ["sample", "--checkpoint", str(tmp_path / name), "--num-samples", "1", "--out", str(tmp_path / "x.npy")]
        assert main(args) == 2
        err = capsys.readouterr().err
        assert message in err and len(err.strip().splitlines()) == 1


def test_ddpm_refuses_a_step_count(checkpoint, tmp_path, capsys):
    args = ["sample", "--checkpoint", str(checkpoint), "--num-samples", "1", "--sampler", "ddpm", "--steps", "10",
            "--out", str(tmp_path / "x.npy")]  # fmt: skip
    assert main(args) == 2 and "use --sampler ddim" in capsys.readouterr().err


def test_train_refuses_to_overwrite_without_resume(checkpoint, capsys):
    assert main(["train", "--model", "tiny_conv", "--out", str(checkpoint)]) == 2
    assert "--resume" in capsys.readouterr().err


def test_training_the_library_unet_without_diffusers_is_a_one_line_error(tmp_path, monkeypatch, capsys):
    import tinydiff_lib.data as data_module

    fake = torch.rand(16, 1, 28, 28, generator=torch.Generator().manual_seed(0)) * 2 - 1
    monkeypatch.setattr(data_module, "mnist_tensor", lambda train=True, root=None: (fake, torch.zeros(16)))
    monkeypatch.setitem(sys.modules, "diffusers", None)  # as on a machine without the optional package
    code = main(["train", "--model", "diffusers_unet", "--steps", "1", "--out", str(tmp_path / "r.pt"), "--quiet"])
    lines = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(lines) == 1 and "pip install" in lines[0]
