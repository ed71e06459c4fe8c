import math

import torch

from tinydiff_lib import NoiseSchedule, diffusion_loss, predict_eps, predict_x0, q_posterior, q_sample


def test_closed_form_matches_iterating_the_chain():
    """q(x_t | x_0) (Eq. 4) equals t + 1 steps of q(x_s | x_{s−1}) = N(√α_s x_{s−1}, β_s I) in mean and variance."""
    s = NoiseSchedule(name="linear", num_steps=300)
    g = torch.Generator().manual_seed(0)
    n, t = 40_000, 149
    x0 = torch.full((n, 1), 0.7, dtype=torch.float64)
    x = x0.clone()
    for k in range(t + 1):
        x = s.alphas[k].double().sqrt() * x + s.betas[k].double().sqrt() * torch.randn(
            n, 1, generator=g, dtype=torch.float64
        )
    closed = q_sample(s, x0.float(), torch.full((n,), t)).double()
    mean, var = 0.7 * s.sqrt_alpha_bar[t].item(), 1 - s.alpha_bar[t].item()
    # the sample mean has std √(var/n); the sample variance has std ≈ var·√(2/n): allow 5 of each
    for sample in (x, closed):
        assert abs(sample.mean().item() - mean) < 5 * math.sqrt(var / n)
        assert abs(sample.var().item() - var) < 5 * var * math.sqrt(2 / n)


def test_eps_x0_round_trips():
    s = NoiseSchedule(num_steps=1000)
    g = torch.Generator().manual_seed(1)
    x0 = torch.rand(8, 1, 28, 28, generator=g) * 2 - 1
    eps = torch.randn(8, 1, 28, 28, generator=g)
    t = torch.tensor([0, 1, 10, 100, 500, 800, 990, 999])
    xt = q_sample(s, x0, t, eps)
    torch.testing.assert_close(predict_eps(s, xt, t, x0), eps, rtol=1e-4, atol=2e-4)
    torch.testing.assert_close(predict_x0(s, xt, t, eps), x0, rtol=1e-4, atol=2e-3)


def test_posterior_mean_equals_eps_form():
    """μ̃(x_t, x̂_0(ε)) = (x_t − β_t/√(1−ᾱ_t) ε) / √α_t (Ho et al. Eq. 11)."""
    s = NoiseSchedule(num_steps=1000)
    g = torch.Generator().manual_seed(2)
    xt, eps = torch.randn(6, 1, 4, 4, generator=g), torch.randn(6, 1, 4, 4, generator=g)
    t = torch.tensor([1, 5, 50, 300, 700, 999])
    mean, var = q_posterior(s, predict_x0(s, xt, t, eps), xt, t)
    b, a, ab = (s.gather(v, t) for v in (s.betas, s.alphas, s.alpha_bar))
    torch.testing.assert_close(mean, (xt - b / (1 - ab).sqrt() * eps) / a.sqrt(), rtol=1e-4, atol=1e-4)
    torch.testing.assert_close(var, s.gather(s.posterior_variance, t))


def test_loss_is_zero_for_the_oracle_and_positive_otherwise():
    s = NoiseSchedule(num_steps=100)
    x0 = torch.zeros(4, 1, 8, 8)

    class Oracle(torch.nn.Module):  # x0 = 0, so x_t = √(1−ᾱ_t) ε and ε = x_t / √(1−ᾱ_t)
        def forward(self, xt, t):
            return xt / s.gather(s.sqrt_one_minus_alpha_bar, t)

    g = torch.Generator().manual_seed(0)
    assert diffusion_loss(Oracle(), s, x0, generator=g).item() < 1e-10
    zero = lambda xt, t: torch.zeros_like(xt)  # noqa: E731
    assert 0.5 < diffusion_loss(zero, s, torch.zeros(256, 1, 8, 8), generator=g).item() < 1.5  # E‖ε‖²/d = 1
