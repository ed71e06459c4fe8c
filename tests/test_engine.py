"""The device-safe parts of the training engine: EMA, optimiser groups, batches, loss reads, errors."""

import re

import pytest
import torch

import tinydiff_lib as td
from tinydiff_lib.batching import BatchSource, batch_indices
from tinydiff_lib.checkpoint import read_train_state
from tinydiff_lib.cli import main
from tinydiff_lib.ema import make_ema
from tinydiff_lib.experiments import final_loss
from tinydiff_lib.sampling_io import resolve_steps, save_samples

SMALL = dict(model="tiny_conv", model_kwargs={"channels": 16}, num_diffusion_steps=100)


def small_data(n=64, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.rand(n, 1, 28, 28, generator=g) * 2 - 1


def test_ema_averages_floats_with_warm_up_and_copies_integer_buffers():
    model = td.build_model("batchnorm_unet")
    ema = make_ema(model, decay=0.9)
    assert ema.avg_fn is None and ema.multi_avg_fn is not None  # the foreach form
    ema.update_parameters(model)  # n = 0: a copy
    before = {k: v.clone() for k, v in ema.module.state_dict().items()}
    with torch.no_grad():
        for p in model.parameters():
            p.add_(1.0)
    for m in model.modules():
        if isinstance(m, torch.nn.BatchNorm2d):
            m.num_batches_tracked += 7
    ema.update_parameters(model)  # n = 1: d = min(0.9, 2/11)
    d = 2 / 11
    after, now = ema.module.state_dict(), model.state_dict()
    for k, v in after.items():
        if v.is_floating_point():
            torch.testing.assert_close(v, d * before[k] + (1 - d) * now[k])
        else:  # integer buffers are not averages of anything: they follow the model
            assert torch.equal(v, now[k]), k


def test_weight_decay_spares_biases_and_norm_gains():
    model = td.build_model("film_unet")
    cfg = td.TrainConfig(model="film_unet", weight_decay=0.5, lr=0.1)
    opt = td.make_optimizer(model, cfg)
    before = {n: p.detach().clone() for n, p in model.named_parameters()}
    for p in model.parameters():
        p.grad = torch.zeros_like(p)  # Adam's step is 0: only the decay moves a weight
    opt.step()
    for name, p in model.named_parameters():
        if p.ndim <= 1:  # biases, GroupNorm weights
            assert torch.equal(p, before[name]), name
        else:  # p ← p (1 − lr · wd)
            torch.testing.assert_close(p, before[name] * (1 - 0.1 * 0.5))
    assert sum(len(g["params"]) for g in opt.param_groups) == len(list(model.parameters()))


def test_batch_source_gives_each_rank_its_rows_of_the_global_batch():
    data = small_data(40)
    whole = BatchSource(data, 8, seed=3, device=torch.device("cpu"))
    halves = [BatchSource(data, 8, 3, torch.device("cpu"), rows=slice(r * 4, (r + 1) * 4)) for r in (0, 1)]
    for step in range(12):  # crosses epochs (5 batches per epoch)
        expected = data[batch_indices(step, 40, 8, 3)]
        assert torch.equal(whole[step], expected)
        assert torch.equal(torch.cat([h[step] for h in halves]), expected)


def test_reading_losses_every_few_steps_changes_nothing(tmp_path):
    cfg = td.TrainConfig(**SMALL, steps=9, batch_size=8, checkpoint_every=4)
    every = td.train(cfg, data=small_data(), out=tmp_path / "a.pt", device="cpu", progress=False, log_every=1)
    batched = td.train(cfg, data=small_data(), out=tmp_path / "b.pt", device="cpu", progress=False, log_every=5)
    assert batched.history == every.history and batched.history["step"] == list(range(1, 10))
    for a, b in zip(every.model.state_dict().values(), batched.model.state_dict().values()):
        assert torch.equal(a, b)


def test_non_finite_loss_names_its_step_when_losses_are_read_late():
    data = small_data()
    data[8:16] = float("nan")  # eight bad images: the first epoch meets them at some step
    cfg = td.TrainConfig(**SMALL, steps=8, batch_size=8, checkpoint_every=100)
    bad = next(s for s in range(8) if torch.isnan(data[batch_indices(s, 64, 8, cfg.seed)]).any())
    with pytest.raises(td.NonFiniteLossError, match=f"step {bad + 1}"):
        td.train(cfg, data=data, device="cpu", progress=False, log_every=8)


def test_progress_loss_is_seeded_from_the_history(tmp_path, capsys):
    cfg = td.TrainConfig(**SMALL, steps=6, batch_size=8, checkpoint_every=3)
    out = tmp_path / "run.pt"
    td.train(cfg, data=small_data(), out=out, device="cpu", stop_after=3)
    capsys.readouterr()
    result = td.train(cfg, data=small_data(), out=out, device="cpu", resume=True)
    shown = re.findall(r"loss=([0-9.]+)", capsys.readouterr().err)
    ckpt = td.load_checkpoint(out)
    first_half = {k: v[:3] for k, v in ckpt["history"].items()}
    assert shown[0] == f"{final_loss(first_half):.4f}"  # right after the resume: not restarted from zero
    assert shown[-1] == f"{final_loss(result.history):.4f}"


def test_resume_refuses_an_old_format_run_file(tmp_path):
    cfg = td.TrainConfig(**SMALL, steps=2, batch_size=8)
    out = tmp_path / "run.pt"
    td.train(cfg, data=small_data(), out=out, device="cpu", progress=False)
    ckpt = torch.load(out, weights_only=True)
    ckpt["format_version"] = 1
    torch.save(ckpt, out)
    with pytest.raises(td.CheckpointError, match="older TinyDiff"):
        read_train_state(out, cfg.to_dict())
    assert main(["train", "--model", "tiny_conv", "--out", str(out), "--resume", "--steps", "2"]) == 2


def test_sampling_steps_are_checked_not_replaced():
    assert resolve_steps("ddim", None, 1000) == 50
    assert resolve_steps("ddim", 7, 1000) == 7
    for bad in (0, -1, 1001):
        with pytest.raises(td.UsageError, match="--steps"):
            resolve_steps("ddim", bad, 1000)


def test_png_grid_is_upscaled_for_viewing(tmp_path):
    from PIL import Image

    path = save_samples(torch.zeros(64, 1, 28, 28), tmp_path / "grid.png")
    assert Image.open(path).size == (4 * (8 * 30 + 2), 4 * (8 * 30 + 2))  # 4 screen pixels per MNIST pixel


def test_cli_shows_internal_errors_as_tracebacks(monkeypatch, capsys):
    def broken(args):
        raise ValueError("a bug deep inside")

    import tinydiff_lib.cli as cli

    monkeypatch.setattr(cli, "cmd_params", broken)
    with pytest.raises(ValueError, match="a bug deep inside"):
        cli.main(["params"])
    monkeypatch.setattr(cli, "cmd_params", lambda args: (_ for _ in ()).throw(td.UsageError("your fault")))
    assert cli.main(["params"]) == 2
    assert capsys.readouterr().err == "error: your fault\n"


cuda = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")


@cuda
def test_a_cpu_run_resumes_on_cuda_and_back(tmp_path):
    cfg = td.TrainConfig(**SMALL, steps=6, batch_size=8, checkpoint_every=2)
    out = tmp_path / "run.pt"
    td.train(cfg, data=small_data(), out=out, device="cpu", progress=False, stop_after=2)
    td.train(cfg, data=small_data(), out=out, device="cuda", progress=False, resume=True, stop_after=2)
    result = td.train(cfg, data=small_data(), out=out, device="cpu", progress=False, resume=True)
    assert result.step == 6 and td.load_checkpoint(out)["step"] == 6


@cuda
def test_bf16_training_step_and_sampling_on_cuda(tmp_path):
    cfg = td.TrainConfig(model="film_unet", steps=20, batch_size=32, checkpoint_every=10)
    result = td.train(cfg, data=small_data(256), out=tmp_path / "run.pt", device="cuda", progress=False)
    assert all(torch.isfinite(torch.tensor(result.history["loss"])))
    assert td.load_checkpoint(tmp_path / "run.pt")["runtime"]["amp"] is True
    model, schedule, _ = td.load_model(tmp_path / "run.pt", device="cuda")
    from tinydiff_lib.sampling_io import generate

    x = generate(model, schedule, 64, "ddim", 10, progress=False)
    assert x.shape == (64, 1, 28, 28) and x.device.type == "cpu" and torch.isfinite(x).all()


def test_the_cli_offers_exactly_the_librarys_samplers():
    from tinydiff_lib.cli import SAMPLER_CHOICES
    from tinydiff_lib.sampling_io import SAMPLERS

    assert sorted(SAMPLER_CHOICES) == sorted(SAMPLERS)
