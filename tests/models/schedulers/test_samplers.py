"""DDPM / DDIM samplers: timestep spacing, exact recovery with a perfect x0 denoiser, the step formulas,
seeded reproducibility, inpainting and the guidance hook of the sampling loop."""
import math

import pytest
import torch

from imagin4d.models.schedulers import DDIMSampler, DDPMSampler, SamplingStep, spaced_timesteps

SHAPE = (2, 16, 220)


def perfect(x0):
    return lambda x_t, t: x0.clone()


def imperfect(x_t, t):
    """A deterministic stand-in network: depends on x_t and t."""
    return torch.tanh(0.5 * x_t) * (1.0 - t.to(x_t.dtype)[:, None, None] / 2000.0)


# ------------------------------------------------------------------------------------------------ spacing
def test_timestep_spacings():
    assert spaced_timesteps(1000, 10, 'trailing').tolist() == list(range(999, 0, -100))
    assert spaced_timesteps(1000, 10, 'leading').tolist() == list(range(900, -1, -100))
    assert spaced_timesteps(1000, 5, 'linspace').tolist() == [999, 749, 500, 250, 0]
    assert spaced_timesteps(1000, 1, 'trailing').tolist() == [999]
    # quadratic: 999 x (4/4, 3/4, 2/4, 1/4, 0)^2 = 999, 561.9, 249.75, 62.4, 0
    assert spaced_timesteps(1000, 5, 'quadratic').tolist() == [999, 562, 250, 62, 0]
    assert spaced_timesteps(1000, 1, 'quadratic').tolist() == spaced_timesteps(1000, 1, 'linspace').tolist() == [999]
    # 100 steps: 999 (1/99)^2 = 0.1 and (2/99)^2 x 999 = 0.4 round to 0: pushed up to stay distinct
    assert spaced_timesteps(1000, 100, 'quadratic').tolist()[-4:] == [3, 2, 1, 0]
    for spacing in ('trailing', 'linspace', 'leading', 'quadratic'):
        assert spaced_timesteps(1000, 1000, spacing).tolist() == list(range(999, -1, -1))
        for k in (2, 37, 300, 999):
            t = spaced_timesteps(1000, k, spacing)
            assert len(set(t.tolist())) == k and torch.all(t[1:] < t[:-1]) and int(t.max()) <= 999
    with pytest.raises(ValueError):
        spaced_timesteps(1000, 0)
    with pytest.raises(ValueError):
        spaced_timesteps(1000, 1001)
    with pytest.raises(ValueError, match='spacing'):
        spaced_timesteps(1000, 10, 'uniform')


def test_default_num_steps_and_test_time_override():
    assert DDPMSampler().timesteps().tolist() == list(range(999, -1, -1))     # CHOIS: full 1000-step DDPM
    ddim = DDIMSampler(num_steps=50)
    assert len(ddim.timesteps()) == 50 and ddim.timesteps(4).tolist() == [999, 749, 499, 249]
    seen = []
    ddim.sample(lambda x, t: (seen.append(t.tolist()), x * 0)[1], (3, 4, 5), num_steps=4,
                generator=torch.Generator().manual_seed(0))
    assert seen == [[999] * 3, [749] * 3, [499] * 3, [249] * 3]


# ------------------------------------------------------------------------------------------------ exactness
@pytest.mark.parametrize('sampler,num_steps', [
    (DDIMSampler(eta=0.0), 10), (DDIMSampler(eta=0.0, timestep_spacing='linspace'), 7),
    (DDIMSampler(eta=1.0), 10), (DDPMSampler(), 20), (DDPMSampler(), 1000),
    (DDPMSampler(variance_type='fixed_large'), 15), (DDPMSampler(schedule='linear', num_train_steps=100), 100)])
def test_perfect_denoiser_recovers_x0_exactly(sampler, num_steps):
    g = torch.Generator().manual_seed(0)
    x0 = torch.rand(SHAPE, generator=g) * 2 - 1
    x_T = torch.randn(SHAPE, generator=g) * 3 + 5          # any start, far from N(0, I)
    out = sampler.sample(perfect(x0), SHAPE, num_steps=num_steps, x_T=x_T, generator=g)
    assert torch.equal(out, x0)


def test_ddim_eta0_follows_the_deterministic_path():
    """With the true x0, DDIM (eta 0) keeps eps* = (x_T - sqrt(abar_T) x0) / sqrt(1 - abar_T):
    every visited state is x_t = sqrt(abar_t) x0 + sqrt(1 - abar_t) eps* (Song et al.)."""
    sampler = DDIMSampler(eta=0.0)
    g = torch.Generator().manual_seed(1)
    x0 = (torch.rand(SHAPE, generator=g) * 2 - 1).double()
    x_T = torch.randn(SHAPE, generator=g).double() * 2
    abar = sampler.alphas_cumprod
    eps = (x_T - abar[999].sqrt() * x0) / (1 - abar[999]).sqrt()
    states = []
    sampler.sample(perfect(x0), SHAPE, num_steps=8, x_T=x_T, callback=lambda step, x_t, x0p: states.append(
        (step.t, x_t.clone())))
    assert [t for t, _ in states] == spaced_timesteps(1000, 8).tolist()
    for t, x_t in states:
        torch.testing.assert_close(x_t, abar[t].sqrt() * x0 + (1 - abar[t]).sqrt() * eps, rtol=1e-9, atol=1e-9)


def test_ddim_eta0_is_deterministic():
    sampler = DDIMSampler(eta=0.0, num_steps=6)
    x_T = torch.randn(SHAPE, generator=torch.Generator().manual_seed(2))
    a = sampler.sample(imperfect, SHAPE, x_T=x_T, generator=torch.Generator().manual_seed(0))
    b = sampler.sample(imperfect, SHAPE, x_T=x_T, generator=torch.Generator().manual_seed(123))
    c = sampler.sample(imperfect, SHAPE, x_T=x_T)
    assert torch.equal(a, b) and torch.equal(a, c)


# ------------------------------------------------------------------------------------------------ step formulas
def test_ddpm_step_is_mean_plus_std_noise():
    sampler = DDPMSampler()
    g = torch.Generator().manual_seed(3)
    x_t, x0, z = (torch.randn(SHAPE, generator=g, dtype=torch.float64) for _ in range(3))
    abar = sampler.alphas_cumprod
    for t in (1, 400, 999):
        beta = 1 - abar[t] / abar[t - 1]
        mean = (abar[t - 1].sqrt() * beta * x0 + (1 - beta).sqrt() * (1 - abar[t - 1]) * x_t) / (1 - abar[t])
        std = (beta * (1 - abar[t - 1]) / (1 - abar[t])).sqrt()
        torch.testing.assert_close(sampler.step(x_t, x0, t, t - 1, noise=z), mean + std * z)
    large = DDPMSampler(variance_type='fixed_large')
    beta = 1 - abar[400] / abar[399]
    torch.testing.assert_close(large.step(x_t, x0, 400, 399, noise=z) - sampler.posterior_mean(x_t, x0, 400, 399),
                               beta.sqrt() * z)


def test_ddim_step_formula_and_eta1_equals_ddpm():
    g = torch.Generator().manual_seed(4)
    x_t, x0, z = (torch.randn(SHAPE, generator=g, dtype=torch.float64) for _ in range(3))
    ddim0, ddim1, ddpm = DDIMSampler(eta=0.0), DDIMSampler(eta=1.0), DDPMSampler()
    abar = ddim0.alphas_cumprod
    t, s = 700, 500
    eps = (x_t - abar[t].sqrt() * x0) / (1 - abar[t]).sqrt()
    torch.testing.assert_close(ddim0.step(x_t, x0, t, s), abar[s].sqrt() * x0 + (1 - abar[s]).sqrt() * eps)
    # eta = 1: the DDPM posterior of the respaced chain, mean and noise scale
    torch.testing.assert_close(ddim1.step(x_t, x0, t, s, noise=z), ddpm.step(x_t, x0, t, s, noise=z))
    half = DDIMSampler(eta=0.5)
    var = ddpm.schedule.posterior_variance(t, s)
    assert half.sigma_sq(t, s).item() == pytest.approx(0.25 * var.item(), rel=1e-12)


def test_per_sample_timesteps_match_scalar_steps():
    g = torch.Generator().manual_seed(5)
    x_t, x0, z = (torch.randn(SHAPE, generator=g) for _ in range(3))
    for sampler in (DDPMSampler(), DDIMSampler(eta=0.3)):
        t, s = torch.tensor([900, 10]), torch.tensor([700, -1])
        out = sampler.step(x_t, x0, t, s, noise=z)
        torch.testing.assert_close(out[0], sampler.step(x_t[:1], x0[:1], 900, 700, noise=z[:1])[0])
        torch.testing.assert_close(out[1], x0[1])


# ------------------------------------------------------------------------------------------------ sampling loop
@pytest.mark.parametrize('sampler,num_steps', [(DDIMSampler(eta=0.0), 5), (DDIMSampler(eta=0.7), 5),
                                               (DDPMSampler(), 5), (DDPMSampler(clip_x0=1.0), 3)])
def test_few_step_sampling_is_finite_and_shaped(sampler, num_steps):
    out = sampler.sample(imperfect, SHAPE, num_steps=num_steps, generator=torch.Generator().manual_seed(0))
    assert out.shape == SHAPE and out.dtype == torch.float32 and torch.isfinite(out).all()


@pytest.mark.parametrize('sampler', [DDPMSampler(num_steps=8), DDIMSampler(eta=0.5, num_steps=8)])
def test_seeded_sampling_is_reproducible(sampler):
    run = lambda seed: sampler.sample(imperfect, SHAPE, generator=torch.Generator().manual_seed(seed))  # noqa: E731
    a, b, c = run(7), run(7), run(8)
    assert torch.equal(a, b) and not torch.allclose(a, c)


def test_clip_x0():
    sampler = DDIMSampler(clip_x0=1.0)
    out = sampler.sample(lambda x, t: torch.full_like(x, 3.0), (1, 2, 3), num_steps=3,
                         generator=torch.Generator().manual_seed(0))
    assert torch.equal(out, torch.ones(1, 2, 3))


def test_inpainting_fixes_the_known_values():
    g = torch.Generator().manual_seed(6)
    value = torch.randn(SHAPE, generator=g)
    mask = torch.zeros(SHAPE, dtype=torch.bool)
    mask[:, 0] = True             # the whole first frame
    mask[:, -1, :3] = True        # the last object centre
    for sampler in (DDPMSampler(num_steps=6), DDIMSampler(num_steps=6)):
        out = sampler.sample(imperfect, SHAPE, generator=torch.Generator().manual_seed(0),
                             inpaint=dict(mask=mask, value=value),
                             guidance_fn=lambda x0, step: x0 + 10.0)     # guidance cannot move known values
        assert torch.equal(out[mask], value[mask])
        assert not torch.allclose(out[~mask], value[~mask])
    out = DDIMSampler(num_steps=3).sample(imperfect, SHAPE, generator=torch.Generator().manual_seed(0),
                                          inpaint=(mask[0, :, :], value))    # broadcast mask, tuple form
    assert torch.equal(out[mask], value[mask])


def test_guidance_fn_sees_each_step():
    sampler = DDPMSampler()
    calls = []

    def guidance(x0, step):
        assert isinstance(step, SamplingStep)
        calls.append((step.index, step.t, step.t_prev, step.steps_left, step.posterior_variance))
        return x0

    sampler.sample(imperfect, (1, 4, 3), num_steps=4, guidance_fn=guidance, generator=torch.Generator().manual_seed(0))
    assert [c[:4] for c in calls] == [(0, 999, 749, 4), (1, 749, 499, 3), (2, 499, 249, 2), (3, 249, -1, 1)]
    assert calls[1][4] == pytest.approx(sampler.schedule.posterior_variance(749, 499).item())
    assert calls[-1][4] == 0.0


def test_x_T_shape_is_checked():
    with pytest.raises(ValueError, match='x_T'):
        DDIMSampler().sample(imperfect, SHAPE, x_T=torch.zeros(1, 2, 3), num_steps=2)
    with pytest.raises(ValueError, match='denoise_fn'):
        DDIMSampler().sample(lambda x, t: x[:, :1], SHAPE, num_steps=2)
    assert math.isfinite(float(DDPMSampler().schedule.snr(500)))


@pytest.mark.parametrize('sampler', [DDPMSampler(), DDIMSampler(eta=1.0), DDIMSampler(eta=0.0)])
def test_marginals_with_the_true_x0(sampler):
    """Starting from x_T ~ N(0, I) and given the true x0, every visited x_t is distributed as q(x_t | x0) =
    N(sqrt(abar_t) x0, (1 - abar_t) I) (ancestral DDPM, and DDIM for any eta): checked over 64k values."""
    g = torch.Generator().manual_seed(9)
    shape = (4, 128, 128)
    x0 = torch.rand(shape, generator=g, dtype=torch.float64) * 2 - 1
    abar = sampler.alphas_cumprod
    seen = []

    def check(step, x_t, x0p):
        resid = x_t - abar[step.t].sqrt() * x0
        seen.append(step.t)
        assert resid.mean().item() == pytest.approx(0.0, abs=0.02)
        assert resid.std().item() == pytest.approx((1 - abar[step.t]).sqrt().item(), rel=0.02)

    sampler.sample(perfect(x0), shape, num_steps=10, generator=g, dtype=torch.float64, callback=check)
    assert len(seen) == 10


@pytest.mark.gpu
def test_sampling_on_cuda_matches_the_formulas():
    if not torch.cuda.is_available():
        pytest.skip('needs a CUDA device')
    x0 = torch.rand(SHAPE, device='cuda') * 2 - 1
    for sampler in (DDPMSampler(variance_type='fixed_large'), DDIMSampler(eta=0.5)):
        g = torch.Generator(device='cuda').manual_seed(0)
        out = sampler.sample(perfect(x0), SHAPE, num_steps=6, generator=g)
        assert out.device.type == 'cuda' and torch.equal(out, x0)
        a = sampler.sample(imperfect, SHAPE, num_steps=6, generator=torch.Generator(device='cuda').manual_seed(1))
        b = sampler.sample(imperfect, SHAPE, num_steps=6, generator=torch.Generator(device='cuda').manual_seed(1))
        assert torch.equal(a, b) and torch.isfinite(a).all()
        t = torch.tensor([900, 10], device='cuda')
        s = torch.tensor([700, -1], device='cuda')
        z = torch.randn(SHAPE, device='cuda')
        cpu = sampler.step(a.cpu(), x0.cpu(), t.cpu(), s.cpu(), noise=z.cpu())
        torch.testing.assert_close(sampler.step(a, x0, t, s, noise=z).cpu(), cpu, rtol=1e-5, atol=1e-5)
