import os
import signal
import subprocess
import sys
import textwrap
import time

import pytest
import torch

import tinydiff_lib as td
from tinydiff_lib.utils import atomic_torch_save

SMALL = dict(model="tiny_conv", model_kwargs={"channels": 16}, num_diffusion_steps=100)


def small_data(n=64, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.rand(n, 1, 28, 28, generator=g) * 2 - 1


def blobs(n=16, seed=0):
    """Smooth images (one Gaussian blob each) in [-1, 1]: structure a 7×7 receptive field can learn."""
    g = torch.Generator().manual_seed(seed)
    yy, xx = torch.meshgrid(torch.arange(28.0), torch.arange(28.0), indexing="ij")
    c = torch.rand(n, 2, generator=g) * 16 + 6
    d2 = (xx - c[:, 0, None, None]) ** 2 + (yy - c[:, 1, None, None]) ** 2
    return (torch.exp(-d2 / 18) * 2 - 1)[:, None]  # (n, 1, 28, 28)


def test_overfits_one_small_batch():
    data = blobs(16)
    cfg = td.TrainConfig(**SMALL, steps=200, batch_size=16, lr=3e-3, lr_schedule="constant", ema_decay=0)
    result = td.train(cfg, data=data, device="cpu", progress=False)
    first, last = sum(result.history["loss"][:20]) / 20, sum(result.history["loss"][-20:]) / 20
    assert last < 0.5 * first, (first, last)


def test_checkpoint_loads_with_weights_only_and_rebuilds_the_model(tmp_path):
    out = tmp_path / "run.pt"
    cfg = td.TrainConfig(**SMALL, steps=4, batch_size=8, checkpoint_every=2)
    result = td.train(cfg, data=small_data(), out=out, device="cpu", progress=False)
    ckpt = torch.load(out, weights_only=True)
    assert ckpt["step"] == 4 and ckpt["model"] == {"name": "tiny_conv", "kwargs": {"channels": 16}}
    assert ckpt["schedule"] == {"name": "linear", "num_steps": 100}
    assert len(ckpt["history"]["loss"]) == 4 and ckpt["ema"] is True
    model, schedule, _ = td.load_model(out)
    x, t = small_data(2), torch.tensor([3, 50])
    torch.testing.assert_close(model(x, t), result.ema_model(x, t))
    assert schedule.num_steps == 100
    small = tmp_path / "small.pt"
    td.export_checkpoint(out, small)
    assert torch.load(small, weights_only=True)["train_state"] is None
    assert small.stat().st_size < out.stat().st_size
    with pytest.raises(ValueError, match="no training state"):
        td.train(cfg, data=small_data(), out=small, resume=True, device="cpu", progress=False)


def test_resume_in_slices_is_bit_identical(tmp_path):
    cfg = td.TrainConfig(**SMALL, steps=12, batch_size=8, checkpoint_every=3)
    full = td.train(cfg, data=small_data(), out=tmp_path / "a.pt", device="cpu", progress=False)
    td.train(cfg, data=small_data(), out=tmp_path / "b.pt", device="cpu", progress=False, stop_after=5)
    resumed = td.train(cfg, data=small_data(), out=tmp_path / "b.pt", resume=True, device="cpu", progress=False)
    for a, b in zip(full.model.state_dict().values(), resumed.model.state_dict().values()):
        assert torch.equal(a, b)
    for a, b in zip(full.ema_model.state_dict().values(), resumed.ema_model.state_dict().values()):
        assert torch.equal(a, b)
    assert full.history == resumed.history


def test_resume_after_kill_9_is_bit_identical(tmp_path):
    """Kill a training process with SIGKILL after its second checkpoint, resume, compare with an unbroken run."""
    script = textwrap.dedent(
        f"""
        import torch, tinydiff_lib as td
        torch.set_num_threads(1)
        data = torch.rand(64, 1, 28, 28, generator=torch.Generator().manual_seed(0)) * 2 - 1
        cfg = td.TrainConfig(**{SMALL!r}, steps=300, batch_size=8, checkpoint_every=5)
        td.train(cfg, data=data, out={str(tmp_path / "killed.pt")!r}, device="cpu", progress=False)
        """
    )
    proc = subprocess.Popen([sys.executable, "-c", script])
    out = tmp_path / "killed.pt"
    deadline = time.time() + 120
    while time.time() < deadline:
        if out.exists() and td.load_checkpoint(out)["step"] >= 10:
            break
        time.sleep(0.05)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    killed_at = td.load_checkpoint(out)["step"]
    assert 10 <= killed_at < 300, "the run finished before it could be killed"
    n = 300  # the same N as the killed run: the cosine LR schedule depends on it
    cfg = td.TrainConfig(**SMALL, steps=n, batch_size=8, checkpoint_every=5)
    resumed = td.train(cfg, data=small_data(), out=out, resume=True, device="cpu", progress=False)
    full = td.train(cfg, data=small_data(), out=tmp_path / "full.pt", device="cpu", progress=False)
    assert resumed.step == full.step == n
    for a, b in zip(full.model.state_dict().values(), resumed.model.state_dict().values()):
        assert torch.equal(a, b)
    for a, b in zip(full.ema_model.state_dict().values(), resumed.ema_model.state_dict().values()):
        assert torch.equal(a, b)


def test_resume_refuses_changed_settings(tmp_path):
    cfg = td.TrainConfig(**SMALL, steps=2, batch_size=8)
    td.train(cfg, data=small_data(), out=tmp_path / "a.pt", device="cpu", progress=False)
    other = td.TrainConfig(**SMALL, steps=4, batch_size=8, lr=5e-4)
    with pytest.raises(ValueError, match="lr"):
        td.train(other, data=small_data(), out=tmp_path / "a.pt", resume=True, device="cpu", progress=False)
    with pytest.raises(FileNotFoundError):
        td.train(cfg, data=small_data(), out=tmp_path / "missing.pt", resume=True, device="cpu", progress=False)


def test_interrupted_checkpoint_write_keeps_the_previous_file(tmp_path, monkeypatch):
    path = tmp_path / "ckpt.pt"
    atomic_torch_save({"format": "tinydiff", "step": 1}, path)

    def broken_save(obj, f, *args, **kwargs):
        f.write(b"half a checkpoint")
        raise OSError("disk full")

    monkeypatch.setattr(torch, "save", broken_save)
    with pytest.raises(OSError):
        atomic_torch_save({"format": "tinydiff", "step": 2}, path)
    monkeypatch.undo()
    assert torch.load(path, weights_only=True)["step"] == 1
    assert [p.name for p in tmp_path.iterdir()] == ["ckpt.pt"]  # no temporary file left behind


def test_non_finite_loss_stops_and_keeps_the_last_good_checkpoint(tmp_path):
    out = tmp_path / "run.pt"
    cfg = td.TrainConfig(**SMALL, steps=3, batch_size=8, checkpoint_every=1)
    td.train(cfg, data=small_data(), out=out, device="cpu", progress=False)
    before = out.read_bytes()
    bad = small_data()
    bad[:] = float("nan")
    cfg = td.TrainConfig(**SMALL, steps=6, batch_size=8, checkpoint_every=1)
    with pytest.raises(td.NonFiniteLossError, match="step 4"):
        td.train(cfg, data=bad, out=out, resume=True, device="cpu", progress=False)
    assert out.read_bytes() == before


@pytest.mark.parametrize(
    "kwargs",
    [dict(steps=0), dict(batch_size=0), dict(lr=-1.0), dict(ema_decay=1.0), dict(schedule="quadratic"),
     dict(lr_schedule="step"), dict(grad_clip=0.0)],
)  # fmt: skip
def test_bad_config_raises(kwargs):
    with pytest.raises(ValueError):
        td.TrainConfig(**kwargs)


def test_batch_larger_than_data_is_a_clear_error():
    with pytest.raises(ValueError, match="larger than the data"):
        td.train(td.TrainConfig(**SMALL, steps=1, batch_size=100), data=small_data(10), device="cpu", progress=False)


def test_device_selection():
    assert td.get_device("cpu").type == "cpu"
    assert td.get_device("auto").type in ("cpu", "cuda", "mps")
    if not torch.cuda.is_available():
        with pytest.raises(ValueError, match="no CUDA"):
            td.get_device("cuda")
    with pytest.raises(ValueError):
        td.get_device("tpu")


def test_export_raw_weights_and_bfloat16(tmp_path):
    """raw=True ships the optimiser's weights (not their EMA); a bfloat16 export loads back as float32."""
    out = tmp_path / "run.pt"
    cfg = td.TrainConfig(**SMALL, steps=6, batch_size=8, ema_decay=0.9, checkpoint_every=3)
    result = td.train(cfg, data=small_data(), out=out, device="cpu", progress=False)
    raw, _, ckpt = td.load_model(td.export_checkpoint(out, tmp_path / "raw.pt", raw=True))
    assert ckpt["ema"] is False and ckpt["train_state"] is None
    for a, b in zip(raw.state_dict().values(), result.model.state_dict().values()):
        assert torch.equal(a, b)
    ema, _, _ = td.load_model(td.export_checkpoint(out, tmp_path / "ema.pt"))
    assert any(not torch.equal(a, b) for a, b in zip(ema.state_dict().values(), raw.state_dict().values()))
    half, _, ckpt = td.load_model(td.export_checkpoint(out, tmp_path / "bf16.pt", dtype=torch.bfloat16))
    assert ckpt["weights_dtype"] == "bfloat16" and next(half.parameters()).dtype == torch.float32
    for a, b in zip(half.state_dict().values(), ema.state_dict().values()):
        torch.testing.assert_close(a, b, rtol=2**-7, atol=1e-6)  # bfloat16 keeps 8 significant bits
    with pytest.raises(td.CheckpointError, match="no separate raw weights"):
        td.export_checkpoint(tmp_path / "ema.pt", tmp_path / "again.pt", raw=True)


def test_export_recommends_the_current_sampler_and_is_byte_identical(tmp_path):
    """A shipped copy carries the library's recommendation for its objective, even when the run file holds an
    older one; exporting twice gives the same bytes (the guidance sweep keys its scores by the file's SHA-256)."""
    from tinydiff_lib.objectives import recommended_sampling

    out = tmp_path / "run.pt"
    cfg = td.TrainConfig(**SMALL, steps=2, batch_size=8)
    td.train(cfg, data=small_data(), out=out, device="cpu", progress=False)
    stale = dict(td.load_checkpoint(out), sampling={"sampler": "ddim", "steps": 7})
    atomic_torch_save(stale, tmp_path / "stale.pt")
    a = td.export_checkpoint(tmp_path / "stale.pt", tmp_path / "a.pt")
    b = td.export_checkpoint(tmp_path / "stale.pt", tmp_path / "b.pt")
    assert td.load_checkpoint(a)["sampling"] == recommended_sampling(cfg.to_dict()) != stale["sampling"]
    assert td.file_sha256(a) == td.file_sha256(b)
