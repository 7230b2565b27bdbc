"""DPM-Solver++(2M): its step against the written formulas (the first step is DDIM's), exact recovery with a
perfect denoiser, and accuracy on Gaussian data, whose exact denoiser and probability-flow ODE solution are known in
closed form."""
import pytest
import torch

from imagin4d.models.schedulers import DDIMSampler, DPMSolverPPSampler

SHAPE = (2, 16, 220)
MU, S = 0.3, 0.5    # data x0 ~ N(MU, S^2) per value


def gaussian_denoiser(abar):
    """E[x0 | x_t] for x0 ~ N(MU, S^2): MU + S^2 sqrt(abar_t) / (abar_t S^2 + 1 - abar_t) (x_t - sqrt(abar_t) MU)."""
    def denoise(x_t, t):
        a = abar[t].to(x_t.dtype)[:, None, None]
        return MU + S * S * a.sqrt() / (a * S * S + 1 - a) * (x_t - a.sqrt() * MU)
    return denoise


def exact_output(sampler, x_T, num_steps):
    """What a loop that solved the ODE exactly returns: the flow keeps u = (x_t - sqrt(abar_t) MU) / std_t, std_t^2 =
    abar_t S^2 + 1 - abar_t, from the first visited index to the last, whose x0 prediction the loop returns."""
    abar, ts = sampler.alphas_cumprod, sampler.timesteps(num_steps)
    first, last = abar[ts[0]], abar[ts[-1]]
    u = (x_T - first.sqrt() * MU) / (first * S * S + 1 - first).sqrt()
    return MU + S * S * last.sqrt() * u / (last * S * S + 1 - last).sqrt()


def solver_error(cls, num_steps, x_T):
    sampler = cls(num_steps=num_steps)
    out = sampler.sample(gaussian_denoiser(sampler.alphas_cumprod), x_T.shape, x_T=x_T, dtype=torch.float64)
    return (out - exact_output(sampler, x_T, num_steps)).abs().max().item()


def test_first_step_is_ddim_and_second_step_follows_the_formula():
    g = torch.Generator().manual_seed(1)
    x_t, x0_a, x0_b = (torch.randn(SHAPE, generator=g, dtype=torch.float64) for _ in range(3))
    solver, ddim = DPMSolverPPSampler(), DDIMSampler(eta=0.0)
    abar = solver.alphas_cumprod
    first = solver.step(x_t, x0_a, 900, 700)
    torch.testing.assert_close(first, ddim.step(x_t, x0_a, 900, 700))
    # the second step continues the first (its t is the first's t_prev): the multistep data term
    lam = lambda t: 0.5 * torch.log(abar[t] / (1 - abar[t]))  # noqa: E731
    h, h_prev = lam(500) - lam(700), lam(700) - lam(900)
    data = (1 + h / (2 * h_prev)) * x0_b - h / (2 * h_prev) * x0_a
    expected = ((1 - abar[500]) / (1 - abar[700])).sqrt() * first + abar[500].sqrt() * (1 - torch.exp(-h)) * data
    torch.testing.assert_close(solver.step(first, x0_b, 700, 500), expected)
    # a call that does not continue the last one is a first-order step again; the clean step returns x0
    torch.testing.assert_close(solver.step(x_t, x0_b, 300, 100), ddim.step(x_t, x0_b, 300, 100))
    assert torch.equal(solver.step(x_t, x0_a, 100, -1), x0_a)
    with pytest.raises(ValueError, match='last step of every sample'):
        solver.step(x_t, x0_a, torch.tensor([100, 100]), torch.tensor([-1, 50]))


@pytest.mark.parametrize('num_steps', [1, 2, 7, 20])
def test_perfect_denoiser_recovers_x0_exactly(num_steps):
    g = torch.Generator().manual_seed(0)
    x0 = torch.rand(SHAPE, generator=g) * 2 - 1
    x_T = torch.randn(SHAPE, generator=g) * 3 + 5
    assert torch.equal(DPMSolverPPSampler().sample(lambda x, t: x0.clone(), SHAPE, num_steps=num_steps, x_T=x_T), x0)


def test_few_steps_are_far_closer_to_the_ode_solution_than_ddim():
    """On Gaussian data (exact denoiser) the loop's output is known exactly; DDIM's error shrinks as 1/k, the
    second-order solver's faster and is several times smaller at every step count (measured: 10 steps 0.0068 vs
    0.17, 20 steps 0.023 vs 0.11, 100 steps 0.0030 vs 0.026)."""
    x_T = torch.randn((4, 32, 16), generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    for k in (10, 20, 100):
        assert solver_error(DPMSolverPPSampler, k, x_T) < solver_error(DDIMSampler, k, x_T) / 4
    # convergence: 4x the steps cut DDIM's error by about 4x (first order), the solver's by more than 6x
    assert solver_error(DDIMSampler, 100, x_T) / solver_error(DDIMSampler, 400, x_T) < 4.5
    assert solver_error(DPMSolverPPSampler, 100, x_T) / solver_error(DPMSolverPPSampler, 400, x_T) > 6


def test_sampling_is_deterministic_and_forgets_between_calls():
    x_T = torch.randn(SHAPE, generator=torch.Generator().manual_seed(3))
    net = lambda x, t: torch.tanh(0.5 * x) * (1.0 - t.to(x.dtype)[:, None, None] / 2000.0)  # noqa: E731
    solver = DPMSolverPPSampler(num_steps=6)
    a, b = solver.sample(net, SHAPE, x_T=x_T), solver.sample(net, SHAPE, x_T=x_T)
    assert torch.equal(a, b) and torch.isfinite(a).all() and solver._previous is None
