"""Autoguidance (tinydiff_lib.autoguidance): D̃ = D + w (D − D_guide), from the maths and at the command line."""

import json

import numpy as np
import pytest
import torch

import tinydiff_lib as td
from tinydiff_lib.autoguidance import AutoGuided, autoguided, check_guide, load_sampling_model, noise_input
from tinydiff_lib.cli import main
from tinydiff_lib.edm import EDMPrecond, schedule_sigmas
from tinydiff_lib.errors import UsageError


def _train(path, seed, **kw):
    data = torch.rand(32, 1, 28, 28, generator=torch.Generator().manual_seed(0)) * 2 - 1
    cfg = td.TrainConfig(model="tiny_conv", model_kwargs={"channels": 8}, num_diffusion_steps=50, steps=2,
                         batch_size=8, seed=seed, **kw)  # fmt: skip
    td.train(cfg, data=data, out=path, device="cpu", progress=False)
    return path


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("autoguide")
    return {"edm": _train(tmp / "edm.pt", 0, objective="edm"), "ddpm": _train(tmp / "ddpm.pt", 2),
            "edm_guide": _train(tmp / "edm_g.pt", 1, objective="edm")}  # fmt: skip


def _nets():
    torch.manual_seed(0)
    return td.build_model("tiny_conv", channels=8).eval(), td.build_model("tiny_conv", channels=8).eval()


def test_the_mix_is_one_plus_w_minus_w_of_the_two_outputs():
    model, guide = _nets()
    x, t = torch.randn(3, 1, 28, 28), torch.tensor([5, 200, 900])
    with torch.no_grad():
        f, g = model(x, t), guide(x, t)
        for w in (0.0, 0.5, 2.0):
            assert torch.allclose(AutoGuided(model, guide, w)(x, t), (1 + w) * f - w * g, atol=1e-5)
        assert torch.equal(AutoGuided(model, guide, 0.0)(x, t), f)  # w = 0: the model alone
        assert torch.allclose(AutoGuided(model, model, 3.0)(x, t), f, atol=1e-5)  # a guide equal to it: no push


def test_mixing_network_outputs_mixes_the_sigma_view_denoisers():
    """D = c_skip x + c_out F is affine in F with coefficients free of the network: D̃ = D + w (D − D_guide)."""
    model, guide = _nets()
    x, sigma, w = torch.randn(4, 1, 28, 28), torch.tensor([0.01, 0.5, 3.0, 60.0]), 1.5
    with torch.no_grad():
        d, d_guide = EDMPrecond(model)(x, sigma), EDMPrecond(guide)(x, sigma)
        mixed = EDMPrecond(AutoGuided(model, guide, w))(x, sigma)
    assert torch.allclose(mixed, d + w * (d - d_guide), atol=1e-4)


def test_a_guide_of_another_kind_or_a_conditional_model_is_refused(runs, tmp_path):
    ckpt = td.load_checkpoint(runs["edm"])
    with pytest.raises(UsageError, match="objective 'ddpm'"):
        check_guide(ckpt, td.load_checkpoint(runs["ddpm"]))
    label = {**ckpt, "config": {**ckpt["config"], "condition": "label"}}  # what a label run records
    with pytest.raises(UsageError, match="unconditional"):
        check_guide(label, ckpt)
    with pytest.raises(UsageError, match="needs --guidance W > 0"):
        load_sampling_model(runs["edm"], runs["edm_guide"], 0.0)
    with pytest.raises(UsageError, match="guidance scale must be a number >= 0"):
        AutoGuided(*_nets(), -1.0)


def test_sample_with_a_guide_from_the_command_line(runs, tmp_path, capsys):
    common = ["sample", "--checkpoint", str(runs["edm"]), "--num-samples", "3", "--steps", "3", "--quiet"]
    assert main([*common, "--out", str(tmp_path / "plain.npy")]) == 0
    assert main([*common, "--guide-checkpoint", str(runs["edm_guide"]), "--guidance", "2",
                 "--out", str(tmp_path / "auto.npy")]) == 0  # fmt: skip
    report = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert report["autoguidance"] == 2.0 and report["guide"] == str(runs["edm_guide"])
    plain, auto = np.load(tmp_path / "plain.npy"), np.load(tmp_path / "auto.npy")
    assert auto.shape == plain.shape == (3, 28, 28) and not np.array_equal(plain, auto)


@pytest.mark.parametrize(
    "extra, message",
    [(["--guidance", "1"], "--guidance needs a condition"),
     (["--guide-checkpoint", "GUIDE"], "--guide-checkpoint needs --guidance W > 0"),
     (["--guide-checkpoint", "DDPM", "--guidance", "1"], "trained with objective 'ddpm'")],
)  # fmt: skip
def test_autoguidance_mistakes_are_one_line(runs, tmp_path, capsys, extra, message):
    extra = [{"GUIDE": str(runs["edm_guide"]), "DDPM": str(runs["ddpm"])}.get(a, a) for a in extra]
    args = ["sample", "--checkpoint", str(runs["edm"]), "--num-samples", "2", "--steps", "2", "--quiet",
            "--out", str(tmp_path / "x.npy"), *extra]  # fmt: skip
    assert main(args) == 2
    err = capsys.readouterr().err.strip()
    assert message in err and err.startswith("error:") and len(err.splitlines()) == 1


def test_an_interval_pushes_inside_it_and_leaves_the_model_alone_outside():
    model, guide = _nets()
    x, t = torch.randn(4, 1, 28, 28), torch.tensor([5.0, 200.0, 500.0, 900.0])
    w, net = 2.0, AutoGuided(model, guide, 2.0, t_range=(100.0, 500.0))  # (100, 500]: images 1 and 2
    with torch.no_grad():
        f, g, out = model(x, t), guide(x, t), net(x, t)
        assert torch.allclose(out[1:3], (1 + w) * f[1:3] - w * g[1:3], atol=1e-5)
        assert torch.equal(out[[0, 3]], f[[0, 3]])
        late = torch.full((4,), 950.0)
        assert torch.equal(net(x, late), model(x, late))  # all outside: F alone, no guide pass


def test_the_interval_is_given_in_sigma_and_maps_to_each_objectives_time_input(runs):
    for kind in ("edm", "ddpm"):
        model, schedule, _ = td.load_model(runs[kind])
        inside = schedule_sigmas(schedule)[[5, 20, 40]].tolist()  # levels the DDPM run has (50 steps)
        t = [noise_input(model, schedule, kind, s) for s in (0.0, *inside, float("inf"))]
        assert t[0] == -float("inf") and t[-1] == float("inf") and t[1] < t[2] < t[3]
        if kind == "ddpm":  # σ_t -> t itself
            assert t[1:4] == pytest.approx([5.0, 20.0, 40.0], abs=1e-4)
    model, schedule, _ = td.load_model(runs["edm"])
    pre = EDMPrecond(model)  # the time input EDMPrecond feeds its network at σ = 1 (ln σ = 0)
    assert noise_input(model, schedule, "edm", 1.0) == pytest.approx(float(pre.noise_to_t(torch.tensor(0.0))))
    guided, _, _ = autoguided(runs["edm"], runs["edm_guide"], 1.0, interval=(0.5, 5.0))
    assert guided.t_range == pytest.approx([noise_input(model, schedule, "edm", s) for s in (0.5, 5.0)])


def test_a_guided_interval_samples_between_the_model_alone_and_guided_everywhere(runs, tmp_path, capsys):
    common = ["sample", "--checkpoint", str(runs["edm"]), "--num-samples", "3", "--steps", "4", "--quiet",
              "--sampler", "euler"]  # fmt: skip
    guided = [*common, "--guide-checkpoint", str(runs["edm_guide"]), "--guidance", "2"]
    assert main([*common, "--out", str(tmp_path / "plain.npy")]) == 0
    assert main([*guided, "--out", str(tmp_path / "all.npy")]) == 0
    assert main([*guided, "--guide-interval", "1,10", "--out", str(tmp_path / "mid.npy")]) == 0
    assert json.loads(capsys.readouterr().out.strip().splitlines()[-1])["guide_interval"] == [1.0, 10.0]
    assert main([*guided, "--guide-interval", "0,inf", "--out", str(tmp_path / "every.npy")]) == 0
    plain, every, mid = (np.load(tmp_path / f"{n}.npy") for n in ("plain", "every", "mid"))
    assert np.array_equal(every, np.load(tmp_path / "all.npy"))  # (0, ∞]: every step of the grid
    assert not np.array_equal(mid, plain) and not np.array_equal(mid, every)


def test_a_bad_interval_is_one_line_and_exit_2(runs, tmp_path, capsys):
    out = ["--out", str(tmp_path / "x.npy"), "--num-samples", "2", "--steps", "2", "--quiet"]
    for bad, said in (("5,1", "sigma_lo < sigma_hi"), ("1", "two noise levels"), ("a,b", "two noise levels")):
        code = main(["sample", "--checkpoint", str(runs["edm"]), "--guide-checkpoint", str(runs["edm_guide"]),
                     "--guidance", "1", "--guide-interval", bad, *out])  # fmt: skip
        assert code == 2 and said in capsys.readouterr().err
    assert main(["sample", "--checkpoint", str(runs["edm"]), "--guide-interval", "1,2", *out]) == 2
    assert "give --guide-checkpoint" in capsys.readouterr().err
