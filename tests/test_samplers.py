import dataclasses

import pytest
import torch

from tinydiff_lib import (
    NoiseSchedule,
    Trajectory,
    ddim_sample,
    ddim_step,
    ddim_timesteps,
    ddpm_sample,
    ddpm_step,
    predict_eps,
    predict_x0,
)


class Oracle(torch.nn.Module):
    """Returns the true noise for a known x_0: ε = (x_t − √ᾱ_t x_0) / √(1 − ᾱ_t)."""

    def __init__(self, schedule, x0):
        super().__init__()
        self.schedule, self.x0 = schedule, x0
        self.dummy = torch.nn.Parameter(torch.zeros(()))  # so next(model.parameters()) finds a device

    def forward(self, xt, t):
        return predict_eps(self.schedule, xt, t, self.x0)


@pytest.fixture
def setup():
    s = NoiseSchedule(name="linear", num_steps=200)
    x0 = torch.rand(4, 1, 6, 6, generator=torch.Generator().manual_seed(0)) * 1.6 - 0.8
    return s, x0


@pytest.mark.parametrize("variance", ["beta", "beta_tilde", "zero"])
def test_ddpm_with_oracle_lands_on_x0(setup, variance):
    s, x0 = setup
    out = ddpm_sample(Oracle(s, x0), s, x0.shape, generator=torch.Generator().manual_seed(1), variance=variance)
    torch.testing.assert_close(out, x0, atol=1e-4, rtol=0)


@pytest.mark.parametrize("num_steps", [1, 2, 10, 50, 200])
def test_ddim_eta0_with_oracle_lands_on_x0(setup, num_steps):
    s, x0 = setup
    out = ddim_sample(Oracle(s, x0), s, x0.shape, num_steps=num_steps, eta=0.0, generator=torch.Generator())
    torch.testing.assert_close(out, x0, atol=1e-4, rtol=0)


@pytest.mark.parametrize("clip", [False, True])
def test_ddim_eta1_full_steps_equals_ddpm_with_posterior_variance(clip):
    """DDIM with η = 1 and t_prev = t − 1 is DDPM with σ_t² = β̃_t (Song et al. 2021, §4.1)."""
    s = NoiseSchedule(num_steps=100)
    g = torch.Generator().manual_seed(3)
    for t in [99, 60, 10, 1]:
        xt, eps, z = (torch.randn(3, 1, 5, 5, generator=g) * 1.5 for _ in range(3))
        a, _ = ddpm_step(s, xt, t, eps, noise=z, variance="beta_tilde", clip_x0=clip)
        b, _ = ddim_step(s, xt, t, t - 1, eps, eta=1.0, noise=z, clip_x0=clip)
        torch.testing.assert_close(a, b, atol=1e-5, rtol=1e-5)


def test_full_ddim_eta1_loop_equals_ddpm_loop_given_the_same_noise():
    s = NoiseSchedule(num_steps=50)
    model = torch.nn.Conv2d(1, 1, 3, padding=1)
    wrapped = lambda x, t: model(x)  # noqa: E731
    wrapped.parameters = model.parameters
    wrapped.eval = lambda: None
    a = ddpm_sample(wrapped, s, (2, 1, 6, 6), generator=torch.Generator().manual_seed(5), variance="beta_tilde")
    b = ddim_sample(wrapped, s, (2, 1, 6, 6), num_steps=50, eta=1.0, generator=torch.Generator().manual_seed(5))
    torch.testing.assert_close(a, b, atol=1e-4, rtol=1e-4)


def test_timestep_spacing():
    assert ddim_timesteps(1000, 1) == [999]
    assert ddim_timesteps(1000, 2) == [999, 0]
    taus = ddim_timesteps(1000, 50)
    assert len(taus) == 50 and taus[0] == 999 and taus[-1] == 0
    assert all(a > b for a, b in zip(taus, taus[1:]))
    assert ddim_timesteps(10, 10) == list(range(9, -1, -1))
    for bad in (0, 11, 2.5):
        with pytest.raises(ValueError):
            ddim_timesteps(10, bad)


def test_trajectories_have_one_label_per_frame(setup):
    s, x0 = setup
    model = Oracle(s, x0)
    out, traj = ddpm_sample(model, s, x0.shape, generator=torch.Generator(), return_trajectory=True)
    assert isinstance(traj, Trajectory) and len(traj) == 201
    assert traj.t == tuple(range(199, -1, -1)) + (-1,)  # every step's t, then the clean image
    assert traj.xt.shape == traj.x0_pred.shape == (201, *x0.shape)
    torch.testing.assert_close(traj.xt[-1], out)
    torch.testing.assert_close(traj.x0_pred[-1], out)  # nothing left to predict at the clean image
    with pytest.raises(dataclasses.FrozenInstanceError):
        traj.t = ()

    x_T = torch.randn(x0.shape, generator=torch.Generator().manual_seed(2))
    out, traj = ddim_sample(model, s, x0.shape, num_steps=7, x_T=x_T, return_trajectory=True)
    assert traj.t == (*ddim_timesteps(200, 7), -1) and traj.xt.shape == traj.x0_pred.shape == (8, *x0.shape)
    assert traj.labels() == [f"t = {t}" for t in ddim_timesteps(200, 7)] + ["clean"]
    torch.testing.assert_close(traj.xt[0], x_T)  # frame 0 is x_T, labelled T − 1
    # frame i pairs x_t with the x̂_0 predicted from it at t[i]: recompute each from the frame itself
    for i, t in enumerate(traj.t[:-1]):
        tt = torch.full((len(x0),), t, dtype=torch.long)
        expect = predict_x0(s, traj.xt[i], tt, model(traj.xt[i], tt)).clamp(-1, 1)
        torch.testing.assert_close(traj.x0_pred[i], expect)
    torch.testing.assert_close(traj.x0_pred[0], x0, atol=1e-4, rtol=0)  # the oracle knows x_0 from the start


def test_trajectory_rejects_labels_that_do_not_match_the_frames():
    with pytest.raises(ValueError):
        Trajectory((2, 1, 0), torch.zeros(4, 1, 1, 2, 2), torch.zeros(4, 1, 1, 2, 2))


class _SpyApply:
    """Replaces ``module._apply`` (what ``.to``, ``.cuda``, ``.float`` call) and records every call."""

    def __init__(self, module):
        self.calls, self.inner = [], module._apply
        module._apply = self

    def __call__(self, fn, *args, **kwargs):
        self.calls.append(fn)
        return self.inner(fn, *args, **kwargs)


@pytest.mark.parametrize("sampler", ["ddpm", "ddim", "ddpm_step", "ddim_step"])
def test_samplers_never_move_the_callers_schedule(setup, sampler):
    """The package rule: no function moves an object it was given (here: ``schedule.to(device)``)."""
    s, x0 = setup
    spy = _SpyApply(s)
    buffers = {name: b for name, b in s.named_buffers()}
    model = Oracle(NoiseSchedule(name="linear", num_steps=200), x0)
    if sampler == "ddpm":
        ddpm_sample(model, s, x0.shape, generator=torch.Generator(), return_trajectory=True)
    elif sampler == "ddim":
        ddim_sample(model, s, x0.shape, num_steps=5, generator=torch.Generator())
    elif sampler == "ddpm_step":
        ddpm_step(s, x0, 10, torch.zeros_like(x0))
    else:
        ddim_step(s, x0, 10, 5, torch.zeros_like(x0))
    assert spy.calls == [], "the caller's schedule was converted in place"
    assert all(b is buffers[name] for name, b in s.named_buffers())


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_sampling_a_cuda_model_leaves_a_cpu_schedule_on_the_cpu(setup):
    s, x0 = setup
    model = Oracle(NoiseSchedule(name="linear", num_steps=200).cuda(), x0.cuda()).cuda()
    out = ddim_sample(model, s, x0.shape, num_steps=10, generator=torch.Generator())
    out2, traj = ddpm_sample(model, s, x0.shape, generator=torch.Generator(), return_trajectory=True)
    assert s.betas.device.type == "cpu" and out.device.type == "cuda" and traj.xt.device.type == "cpu"
    torch.testing.assert_close(out.cpu(), x0, atol=1e-4, rtol=0)
    x_prev, _ = ddim_step(s, x0.cuda(), 10, 5, torch.zeros_like(x0).cuda())
    assert x_prev.device.type == "cuda" and s.betas.device.type == "cpu"


def test_seeded_sampling_is_repeatable_and_seeds_differ():
    s = NoiseSchedule(num_steps=20)
    model = torch.nn.Conv2d(1, 1, 1)
    net = lambda x, t: model(x)  # noqa: E731
    net.parameters, net.eval = model.parameters, lambda: None
    run = lambda seed, **kw: ddpm_sample(net, s, (2, 1, 4, 4), generator=torch.Generator().manual_seed(seed), **kw)  # noqa: E731
    torch.testing.assert_close(run(0), run(0))
    assert not torch.allclose(run(0), run(1))


def test_deterministic_ddpm_collapses_diversity():
    """σ = 0 from the same x_T gives the same image; the seed-002 lesson is that noise brings diversity."""
    s = NoiseSchedule(num_steps=20)
    model = torch.nn.Conv2d(1, 1, 1)
    net = lambda x, t: model(x)  # noqa: E731
    net.parameters, net.eval = model.parameters, lambda: None
    x_T = torch.randn(1, 1, 4, 4).repeat(2, 1, 1, 1)
    det = ddpm_sample(net, s, x_T.shape, variance="zero", x_T=x_T)
    sto = ddpm_sample(net, s, x_T.shape, variance="beta", x_T=x_T, generator=torch.Generator().manual_seed(0))
    torch.testing.assert_close(det[0], det[1])
    assert not torch.allclose(sto[0], sto[1])


def test_bad_sampler_arguments():
    s = NoiseSchedule(num_steps=10)
    with pytest.raises(ValueError):
        ddpm_step(s, torch.zeros(1, 1, 2, 2), 5, torch.zeros(1, 1, 2, 2), variance="large")
    with pytest.raises(ValueError):
        ddim_step(s, torch.zeros(1, 1, 2, 2), 5, 4, torch.zeros(1, 1, 2, 2), eta=-1)
