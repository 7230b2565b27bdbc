"""DDIM sampler for an x0-prediction network (Song et al. 2021), registered as `DDIMSampler`.

Owns the DDIM update between two visited indices; the number of steps is a test-time option
(`sample(num_steps=...)` or the `num_steps` default) and the visited indices follow `timestep_spacing`
(see `spaced_timesteps`; default 'trailing': starts at N - 1). Shapes: x (B, T, D); t int or (B,) long.
"""
from typing import Optional

import torch

from imagin4d.registry import DIFFUSION_SCHEDULERS

from .base import BaseSampler
from .schedules import Timestep

__all__ = ['DDIMSampler']


@DIFFUSION_SCHEDULERS.register_module()
class DDIMSampler(BaseSampler):
    """x_s = sqrt(abar_s) x0_pred + sqrt(1 - abar_s - sigma^2) eps_pred + sigma z   (Song et al., eq. 12)

    with eps_pred = (x_t - sqrt(abar_t) x0_pred) / sqrt(1 - abar_t), s = t_prev and
    sigma^2 = eta^2 (1 - abar_s) / (1 - abar_t) (1 - abar_t / abar_s).
    eta = 0: deterministic (a fixed x_T gives one x0; no generator draws after x_T). eta = 1: the DDPM
    posterior (same mean and variance as `DDPMSampler` 'fixed_small'). The last step (s = -1) returns x0_pred.

    Args: see `BaseSampler` (num_steps defaults to 50), plus
        eta: stochasticity in [0, 1] (any eta >= 0 is accepted).
    """

    def __init__(self, *args, eta: float = 0.0, num_steps: Optional[int] = 50, **kwargs):
        super().__init__(*args, num_steps=num_steps, **kwargs)
        if eta < 0:
            raise ValueError(f'eta must be >= 0, got {eta}')
        self.eta = float(eta)

    def sigma_sq(self, t: Timestep, t_prev: Timestep) -> torch.Tensor:
        """sigma^2 of the step (float64, shape of t)."""
        _, _, posterior_var = self.schedule.posterior_coefficients(t, t_prev)   # also validates t, t_prev
        return self.eta ** 2 * posterior_var

    def step(self, x_t: torch.Tensor, x0_pred: torch.Tensor, t: Timestep, t_prev: Timestep,
             generator: Optional[torch.Generator] = None, noise: Optional[torch.Tensor] = None) -> torch.Tensor:
        sigma_sq = self.sigma_sq(t, t_prev)
        abar_s = self.schedule.alpha_bar(t_prev)
        g = self.schedule.gather
        eps = self.schedule.predict_noise(x_t, x0_pred, t)
        out = g(abar_s.sqrt(), x_t) * x0_pred + g((1.0 - abar_s - sigma_sq).clamp_min(0).sqrt(), x_t) * eps
        if bool((sigma_sq > 0).any()):
            noise = self._randn(x_t, generator) if noise is None else noise
            out = out + g(sigma_sq.sqrt(), x_t) * noise
        clean = g(torch.as_tensor(t_prev) < 0, x_t)
        return torch.where(clean.bool(), x0_pred, out)

    def __repr__(self) -> str:
        return super().__repr__()[:-1] + f', eta={self.eta})'
