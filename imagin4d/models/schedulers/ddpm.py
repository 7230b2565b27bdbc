"""DDPM ancestral sampler for an x0-prediction network (Ho et al. 2020), registered as `DDPMSampler`.

Owns the ancestral step x_{t_prev} ~ q(x_{t_prev} | x_t, x0 = x0_pred): the posterior mean and variance of
`NoiseSchedule.posterior_coefficients`. With fewer steps than N the same formula on the visited indices is
the respaced DDPM of Nichol & Dhariwal (2021). Shapes: x (B, T, D); t int or (B,) long.
"""
from typing import Optional

import torch

from imagin4d.registry import DIFFUSION_SCHEDULERS

from .base import BaseSampler
from .schedules import Timestep

__all__ = ['DDPMSampler']


@DIFFUSION_SCHEDULERS.register_module()
class DDPMSampler(BaseSampler):
    """Ancestral sampling: x_s = coef_x0 * x0_pred + coef_xt * x_t + sqrt(var) * z, z ~ N(0, I).

    With abar the cumulative alphas, s = t_prev and a = abar_t / abar_s:
        coef_x0 = sqrt(abar_s) (1 - a) / (1 - abar_t),  coef_xt = sqrt(a) (1 - abar_s) / (1 - abar_t)
        var     = (1 - abar_s) (1 - a) / (1 - abar_t)   ('fixed_small', the true posterior variance;
                  for s = t - 1 it is beta_tilde_t = beta_t (1 - abar_{t-1}) / (1 - abar_t))
             or   1 - a                                  ('fixed_large', beta of the jump; 0 on the last step)
    The last step (s = -1) returns x0_pred exactly (coef_x0 = 1, coef_xt = var = 0).

    Args: see `BaseSampler` (num_steps defaults to N = 1000: CHOIS's full ancestral sampling), plus
        variance_type: 'fixed_small' (default) | 'fixed_large'.
    """

    VARIANCE_TYPES = ('fixed_small', 'fixed_large')

    def __init__(self, *args, variance_type: str = 'fixed_small', **kwargs):
        super().__init__(*args, **kwargs)
        if variance_type not in self.VARIANCE_TYPES:
            raise ValueError(f'unknown variance_type {variance_type!r}; use one of {self.VARIANCE_TYPES}')
        self.variance_type = variance_type

    def step_variance(self, t: Timestep, t_prev: Timestep) -> torch.Tensor:
        """The variance of the noise added by `step` (float64, shape of t)."""
        coef_x0, coef_xt, var = self.schedule.posterior_coefficients(t, t_prev)
        if self.variance_type == 'fixed_large':
            s = torch.as_tensor(t_prev, dtype=torch.long).cpu()
            var = torch.where(s >= 0, 1.0 - self.schedule.alpha_bar(t) / self.schedule.alpha_bar(s),
                              torch.zeros_like(var))
        return var

    def posterior_mean(self, x_t: torch.Tensor, x0_pred: torch.Tensor, t: Timestep,
                       t_prev: Timestep) -> torch.Tensor:
        """Mean of q(x_{t_prev} | x_t, x0_pred).  (B, T, D)."""
        coef_x0, coef_xt, _ = self.schedule.posterior_coefficients(t, t_prev)
        g = self.schedule.gather
        return g(coef_x0, x_t) * x0_pred + g(coef_xt, x_t) * x_t

    def step(self, x_t: torch.Tensor, x0_pred: torch.Tensor, t: Timestep, t_prev: Timestep,
             generator: Optional[torch.Generator] = None, noise: Optional[torch.Tensor] = None) -> torch.Tensor:
        mean = self.posterior_mean(x_t, x0_pred, t, t_prev)
        std = self.step_variance(t, t_prev).sqrt()
        if bool((std > 0).any()):
            noise = self._randn(x_t, generator) if noise is None else noise
            mean = mean + self.schedule.gather(std, x_t) * noise
        clean = self.schedule.gather(torch.as_tensor(t_prev) < 0, x_t)
        return torch.where(clean.bool(), x0_pred, mean)

    def __repr__(self) -> str:
        return super().__repr__()[:-1] + f', variance_type={self.variance_type!r})'
