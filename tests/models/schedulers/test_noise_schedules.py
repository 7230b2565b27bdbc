"""Noise schedules against hand-computed values: cosine/linear betas, add_noise, the DDPM posterior."""
import math

import pytest
import torch

from imagin4d.models.schedulers import (
    CosineSchedule,
    DDIMSampler,
    DDPMSampler,
    LinearSchedule,
    NoiseSchedule,
    build_schedule,
)
from imagin4d.registry import DIFFUSION_SCHEDULERS


def hand_cosine_abar(t, N=1000, s=0.008):
    """Nichol & Dhariwal: index t is after t+1 noising steps -> f((t+1)/N) / f(0)."""
    f = lambda u: math.cos((u + s) / (1 + s) * math.pi / 2) ** 2   # noqa: E731
    return f((t + 1) / N) / f(0.0)


@pytest.mark.parametrize('t', [0, 1, 99, 249, 499, 750, 900, 990])
def test_cosine_alpha_bar_matches_the_formula(t):
    sched = CosineSchedule(1000)
    assert sched.alphas_cumprod[t].item() == pytest.approx(hand_cosine_abar(t), rel=1e-9, abs=1e-15)
    assert sched.alpha_bar(t).item() == pytest.approx(hand_cosine_abar(t), rel=1e-9, abs=1e-15)


def test_cosine_numbers_and_clipping():
    sched = CosineSchedule(1000)
    # alpha_bar_0 = f(0.001)/f(0): about 1 - 4.1e-5 (beta_0 tiny)
    assert sched.alphas_cumprod[0].item() == pytest.approx(0.999959, abs=2e-6)
    assert sched.alphas_cumprod[499].item() == pytest.approx(hand_cosine_abar(499), rel=1e-12)
    assert 0.49 < sched.alphas_cumprod[499].item() < 0.51     # about half way: cos^2 of ~ pi/4
    # f(1) = 0 so the last unclipped beta is 1: it is clipped to 0.999
    assert sched.betas.max().item() == pytest.approx(0.999)
    assert sched.betas[-1].item() == pytest.approx(0.999)
    assert sched.alphas_cumprod[999].item() == pytest.approx(sched.alphas_cumprod[998].item() * 1e-3, rel=1e-9)
    assert sched.alpha_bar(-1).item() == 1.0
    assert torch.all(sched.betas[1:] >= sched.betas[:-1])    # increasing
    assert sched.betas.dtype == torch.float64


def test_linear_schedule_ends_and_scaling():
    sched = LinearSchedule(1000)
    assert sched.betas[0].item() == pytest.approx(1e-4) and sched.betas[-1].item() == pytest.approx(0.02)
    short = LinearSchedule(100)                       # Nichol & Dhariwal: both ends scaled by 1000 / N
    assert short.betas[0].item() == pytest.approx(1e-3) and short.betas[-1].item() == pytest.approx(0.2)
    abar = 1.0
    for i in range(10):
        abar *= 1.0 - (1e-4 + i * (0.02 - 1e-4) / 999)
    assert sched.alphas_cumprod[9].item() == pytest.approx(abar, rel=1e-12)


def test_build_by_name_dict_and_registry():
    by_name = build_schedule('cosine', 50)
    assert isinstance(by_name, CosineSchedule) and by_name.num_train_steps == 50
    assert isinstance(build_schedule(dict(type='LinearSchedule', num_train_steps=100)), LinearSchedule)
    with pytest.raises(KeyError, match='unknown noise schedule'):
        build_schedule('cosin')
    sampler = DIFFUSION_SCHEDULERS.build(dict(type='DDPMSampler', schedule=dict(type='CosineSchedule',
                                                                                 num_train_steps=100, s=0.008)))
    assert isinstance(sampler, DDPMSampler) and sampler.num_train_steps == 100 and sampler.num_steps == 100
    ddim = DIFFUSION_SCHEDULERS.build(dict(type='DDIMSampler', schedule='linear', num_steps=25, eta=0.5))
    assert isinstance(ddim.schedule, LinearSchedule) and ddim.num_steps == 25 and ddim.eta == 0.5
    with pytest.raises(ValueError):
        NoiseSchedule(torch.tensor([0.1, 1.0]))


def test_add_noise_exact_and_statistics():
    sched = CosineSchedule(1000)
    x0 = torch.full((4, 128, 64), 0.7)
    g = torch.Generator().manual_seed(0)
    noise = torch.randn(x0.shape, generator=g)
    t = torch.tensor([0, 300, 700, 999])
    x_t = sched.add_noise(x0, noise, t)
    for b, tb in enumerate(t.tolist()):
        abar = hand_cosine_abar(tb) if tb < 999 else sched.alphas_cumprod[999].item()
        expected = math.sqrt(abar) * x0[b] + math.sqrt(1 - abar) * noise[b]
        torch.testing.assert_close(x_t[b], expected, rtol=1e-6, atol=1e-6)
        # statistics over 8192 values: mean sqrt(abar) * 0.7, std sqrt(1 - abar)
        assert x_t[b].mean().item() == pytest.approx(math.sqrt(abar) * 0.7, abs=0.035)
        assert x_t[b].std().item() == pytest.approx(math.sqrt(1 - abar), rel=0.05, abs=1e-3)
    # an int t broadcasts; the dtype of x is kept
    assert sched.add_noise(x0.double(), noise.double(), 10).dtype == torch.float64
    with pytest.raises(ValueError, match='timesteps'):
        sched.add_noise(x0, noise, 1000)
    with pytest.raises(ValueError, match='timesteps'):
        sched.add_noise(x0, noise, -1)


def test_sample_timesteps_uniform_and_seeded():
    sched = CosineSchedule(10)
    t1 = sched.sample_timesteps(5000, torch.Generator().manual_seed(3))
    t2 = sched.sample_timesteps(5000, torch.Generator().manual_seed(3))
    assert torch.equal(t1, t2) and t1.dtype == torch.long
    assert t1.min() == 0 and t1.max() == 9
    counts = torch.bincount(t1, minlength=10).double() / 5000
    assert torch.all((counts - 0.1).abs() < 0.03)


@pytest.mark.parametrize('t', [1, 2, 10, 500, 998])
def test_ddpm_posterior_matches_closed_form(t):
    """Ho et al. eq. 7 with betas recomputed by hand from the cosine formula."""
    sched = CosineSchedule(1000)
    abar_t, abar_p = hand_cosine_abar(t), hand_cosine_abar(t - 1)
    beta_t = 1 - abar_t / abar_p
    coef_x0, coef_xt, var = sched.posterior_coefficients(t, t - 1)
    assert var.item() == pytest.approx(beta_t * (1 - abar_p) / (1 - abar_t), rel=1e-9)
    assert coef_x0.item() == pytest.approx(math.sqrt(abar_p) * beta_t / (1 - abar_t), rel=1e-9)
    assert coef_xt.item() == pytest.approx(math.sqrt(1 - beta_t) * (1 - abar_p) / (1 - abar_t), rel=1e-9)
    assert sched.posterior_variance(t).item() == pytest.approx(var.item(), rel=1e-12)
    # DDIM with eta = 1 uses the same variance
    assert DDIMSampler(eta=1.0).sigma_sq(t, t - 1).item() == pytest.approx(var.item(), rel=1e-12)


def test_posterior_at_t0_is_a_point_mass():
    sched = CosineSchedule(1000)
    coef_x0, coef_xt, var = sched.posterior_coefficients(0, -1)
    assert (coef_x0.item(), coef_xt.item(), var.item()) == (1.0, 0.0, 0.0)
    with pytest.raises(ValueError, match='smaller'):
        sched.posterior_coefficients(5, 5)


def test_respaced_posterior_by_monte_carlo():
    """q(x_s | x_t, x0) for s = 200 < t = 600: regress x_s on x_t over joint forward samples."""
    sched = CosineSchedule(1000)
    s, t, x0 = 200, 600, 0.5
    abar_s, abar_t = sched.alpha_bar(s).item(), sched.alpha_bar(t).item()
    g = torch.Generator().manual_seed(1)
    n = 400_000
    x_s = math.sqrt(abar_s) * x0 + math.sqrt(1 - abar_s) * torch.randn(n, generator=g, dtype=torch.float64)
    a = abar_t / abar_s
    x_t = math.sqrt(a) * x_s + math.sqrt(1 - a) * torch.randn(n, generator=g, dtype=torch.float64)
    slope = torch.cov(torch.stack([x_s, x_t]))[0, 1] / x_t.var()
    intercept = x_s.mean() - slope * x_t.mean()
    resid_var = (x_s - intercept - slope * x_t).var()
    coef_x0, coef_xt, var = sched.posterior_coefficients(t, s)
    assert slope.item() == pytest.approx(coef_xt.item(), abs=5e-3)
    assert intercept.item() == pytest.approx(coef_x0.item() * x0, abs=5e-3)
    assert resid_var.item() == pytest.approx(var.item(), rel=1e-2)
