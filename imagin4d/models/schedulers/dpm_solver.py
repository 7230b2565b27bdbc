"""DPM-Solver++(2M) for an x0-prediction network (Lu et al. 2022, "DPM-Solver++"), registered as
`DPMSolverPPSampler`: a training-free few-step solver of the probability-flow ODE.

Owns the multistep update in log-SNR time, λ_t = log(α_t / σ_t) with α_t = sqrt(abar_t), σ_t = sqrt(1 - abar_t).
From x_t to x_s (s = t_prev, h = λ_s - λ_t > 0):

    x_s = (σ_s / σ_t) x_t + α_s (1 - e^{-h}) D
    D   = x0_t                                               first step (this is exactly DDIM with eta = 0)
    D   = (1 + 1 / (2r)) x0_t - 1 / (2r) x0_u,  r = h_u / h   later steps: u is the previous step's index,
                                                              h_u = λ_t - λ_u its log-SNR step

The last step (s = -1) returns x0_t, as the other samplers do. Deterministic: a fixed x_T gives one sample.
Shapes: x (B, T, D); t int or (B,) long.
"""
from typing import Optional

import torch

from imagin4d.registry import DIFFUSION_SCHEDULERS

from .base import BaseSampler
from .schedules import Timestep

__all__ = ['DPMSolverPPSampler']


@DIFFUSION_SCHEDULERS.register_module()
class DPMSolverPPSampler(BaseSampler):
    """Second-order multistep DPM-Solver++ on the visited indices of `timestep_spacing`.

    The sampler remembers the previous step's x0 prediction within one `sample` loop; `step` called on its own
    uses it only when the call continues the previous one (its t is the previous call's t_prev), otherwise it
    takes the first-order (DDIM) step. `reset()` forgets it.

    Args: see `BaseSampler` (num_steps defaults to 20).
    """

    def __init__(self, *args, num_steps: Optional[int] = 20, **kwargs):
        super().__init__(*args, num_steps=num_steps, **kwargs)
        self._previous = None   # (x0 prediction, its log-SNR, the t_prev it stepped to)

    def reset(self) -> None:
        self._previous = None

    def log_snr(self, t: Timestep) -> torch.Tensor:
        """λ_t = log(α_t / σ_t) = 0.5 log(abar_t / (1 - abar_t)), float64 with the shape of t (t >= 0)."""
        abar = self.schedule.alpha_bar(t)
        return 0.5 * (abar.log() - (1.0 - abar).log())

    def sample(self, *args, **kwargs) -> torch.Tensor:
        """`BaseSampler.sample`, starting and ending with no remembered step."""
        self.reset()
        try:
            return super().sample(*args, **kwargs)
        finally:
            self.reset()

    def step(self, x_t: torch.Tensor, x0_pred: torch.Tensor, t: Timestep, t_prev: Timestep,
             generator: Optional[torch.Generator] = None, noise: Optional[torch.Tensor] = None) -> torch.Tensor:
        t_tensor, s_tensor = torch.as_tensor(t), torch.as_tensor(t_prev)
        previous, self._previous = self._previous, None
        if bool((s_tensor < 0).all()):
            return x0_pred
        if bool((s_tensor < 0).any()):
            raise ValueError('t_prev = -1 (the clean data) must be the last step of every sample of the batch')
        g = self.schedule.gather
        abar_t, abar_s = self.schedule.alpha_bar(t), self.schedule.alpha_bar(t_prev)
        lam_t, lam_s = self.log_snr(t), self.log_snr(t_prev)
        h = lam_s - lam_t
        if bool((h <= 0).any()):
            raise ValueError(f't_prev must be smaller than t (got t={t_tensor.tolist()}, t_prev={s_tensor.tolist()})')
        data = x0_pred
        if previous is not None and torch.equal(previous[2].cpu(), t_tensor.cpu()):
            x0_u, lam_u = previous[0], previous[1]
            r = (lam_t - lam_u) / h
            data = g(1.0 + 0.5 / r, x0_pred) * x0_pred - g(0.5 / r, x0_pred) * x0_u
        self._previous = (x0_pred, lam_t, s_tensor)
        ratio = ((1.0 - abar_s) / (1.0 - abar_t)).sqrt()         # σ_s / σ_t
        return g(ratio, x_t) * x_t + g(abar_s.sqrt() * -torch.expm1(-h), x_t) * data
