import pytest
import torch

from tinydiff_lib import NoiseSchedule, ddim_sample, ddim_step, ddim_timesteps, ddpm_sample, ddpm_step, predict_eps


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


def test_trajectories_have_one_frame_per_step(setup):
    s, x0 = setup
    model = Oracle(s, x0)
    _, traj = ddpm_sample(model, s, x0.shape, generator=torch.Generator(), return_trajectory=True)
    assert traj["xt"].shape == (201, *x0.shape) and traj["x0_pred"].shape == (200, *x0.shape)
    _, traj = ddim_sample(model, s, x0.shape, num_steps=7, generator=torch.Generator(), return_trajectory=True)
    assert traj["xt"].shape == (8, *x0.shape) and traj["t"] == ddim_timesteps(200, 7)
    torch.testing.assert_close(traj["x0_pred"][0], x0, atol=1e-4, rtol=0)


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
