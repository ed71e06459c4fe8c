import math

import pytest
import torch

from tinydiff_lib import NoiseSchedule, cosine_betas, linear_betas, make_betas, sigmoid_betas


@pytest.mark.parametrize("name", ["linear", "cosine", "sigmoid"])
def test_derived_quantities_follow_their_definitions(name):
    s = NoiseSchedule(name=name, num_steps=200)
    b = make_betas(name, 200)  # float64; the schedule stores float32 copies
    torch.testing.assert_close(s.betas, b.float())
    alpha_bar = torch.cumprod(1 - b, 0)
    torch.testing.assert_close(s.alpha_bar.double(), alpha_bar, rtol=1e-5, atol=1e-7)
    torch.testing.assert_close(s.alpha_bar_prev[1:], s.alpha_bar[:-1])
    assert s.alpha_bar_prev[0] == 1
    # posterior variance β̃_t = β_t (1 − ᾱ_{t−1}) / (1 − ᾱ_t) (Ho et al. Eq. 7)
    alpha_bar_prev = torch.cat([torch.ones(1, dtype=torch.float64), alpha_bar[:-1]])
    expected = b * (1 - alpha_bar_prev) / (1 - alpha_bar)
    torch.testing.assert_close(s.posterior_variance.double(), expected, rtol=1e-5, atol=1e-9)
    assert torch.all(s.posterior_variance <= s.betas + 1e-7)  # β̃_t ≤ β_t
    assert torch.all(s.alpha_bar[1:] < s.alpha_bar[:-1])  # signal decreases monotonically
    torch.testing.assert_close(s.snr(), s.alpha_bar / (1 - s.alpha_bar))


def test_edge_timesteps():
    s = NoiseSchedule(name="linear", num_steps=1000)
    # t = 0: one step of noise, no clean-image mixing in the posterior (β̃_0 = 0, μ̃ = x_0)
    assert s.posterior_variance[0] == 0
    assert s.posterior_coef_x0[0] == pytest.approx(1.0, abs=1e-6)
    assert s.posterior_coef_xt[0] == 0
    assert s.alpha_bar[0] == pytest.approx(1 - 1e-4)
    # t = T−1: almost pure noise for the linear schedule of Ho et al. (ᾱ_T ≈ 4e-5)
    assert 0 < s.alpha_bar[-1] < 1e-4
    assert math.isfinite(s.posterior_log_variance[0].item())
    t = torch.tensor([0, 999])
    assert s.gather(s.sqrt_alpha_bar, t).shape == (2, 1, 1, 1)


def test_cosine_matches_nichol_dhariwal_closed_form():
    T = 1000
    betas = cosine_betas(T)
    alpha_bar = torch.cumprod(1 - betas, 0)
    f = lambda t: math.cos((t / T + 0.008) / 1.008 * math.pi / 2) ** 2  # noqa: E731
    for t in [0, 100, 500, 900]:
        assert alpha_bar[t].item() == pytest.approx(f(t + 1) / f(0), rel=1e-6)


def test_sigmoid_is_monotone_between_its_ends():
    b = sigmoid_betas(500, 1e-4, 0.02)
    assert torch.all(b[1:] >= b[:-1])
    assert 1e-4 <= b[0] < 1e-3 and 0.019 < b[-1] <= 0.02


@pytest.mark.parametrize(
    "call",
    [
        lambda: linear_betas(0),
        lambda: linear_betas(-5),
        lambda: linear_betas(10, 0.0, 0.02),
        lambda: linear_betas(10, 0.1, 1.0),
        lambda: linear_betas(10, 0.05, 0.01),
        lambda: cosine_betas(0),
        lambda: make_betas("quadratic", 10),
        lambda: NoiseSchedule(torch.tensor([0.1, 1.2])),
        lambda: NoiseSchedule(torch.tensor([])),
    ],
)
def test_bad_arguments_raise_value_error(call):
    with pytest.raises(ValueError):
        call()


def test_timesteps_out_of_range_raise():
    s = NoiseSchedule(num_steps=10)
    with pytest.raises(ValueError, match=r"\[0, 10\)"):
        s.gather(s.betas, torch.tensor([10]))
    with pytest.raises(ValueError, match="integer"):
        s.gather(s.betas, torch.tensor([1.0]))


def test_buffers_follow_to_but_stay_out_of_state_dict():
    s = NoiseSchedule(num_steps=10).to(torch.float64)
    assert s.state_dict() == {}
    assert s.betas.dtype == torch.float64
