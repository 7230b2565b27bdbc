"""Noise schedules of the forward diffusion process q(x_t | x_0) (registered in `DIFFUSION_SCHEDULERS`).

Owns the beta schedules (cosine of Nichol & Dhariwal 2021, and linear of Ho et al. 2020), the cumulative
products alpha_bar, and everything that depends on the schedule only: `add_noise` (training), random
training timesteps, the noise implied by an x0 prediction, and the posterior q(x_s | x_t, x_0) between
any two timesteps s < t. Samplers (`DDPMSampler`, `DDIMSampler`) hold one schedule and add the reverse step.

Conventions (shared by every sampler):

- N = `num_train_steps` (1000 by default); a timestep is an integer index t in {0, ..., N-1}.
  Index t is the state after t+1 noising steps, so x_t = sqrt(alpha_bar_t) x_0 + sqrt(1 - alpha_bar_t) eps
  with alpha_bar_t = prod_{i<=t} (1 - beta_i) (the guided-diffusion / CHOIS / diffusers indexing).
- t = -1 is the clean data: alpha_bar_{-1} = 1. A sampler's last step goes to t_prev = -1 and returns x_0.
- Tensors: motion x is (B, T, D) (any (B, ...) works); t is an int or a LongTensor (B,).
- Schedule tables are float64 on the CPU; coefficients are gathered in float64 and then cast to x's
  dtype and device.
"""
import math
from typing import Optional, Union

import torch

from imagin4d.registry import DIFFUSION_SCHEDULERS

__all__ = ['cosine_alpha_bar', 'cosine_betas', 'linear_betas', 'NoiseSchedule', 'CosineSchedule',
           'LinearSchedule', 'build_schedule']

Timestep = Union[int, torch.Tensor]


def cosine_alpha_bar(u: torch.Tensor, s: float = 0.008) -> torch.Tensor:
    """Continuous cosine alpha_bar(u) = f(u) / f(0), f(u) = cos(((u + s) / (1 + s)) * pi / 2)^2, u in [0, 1]."""
    u = torch.as_tensor(u, dtype=torch.float64)
    f = torch.cos((u + s) / (1.0 + s) * (math.pi / 2.0)) ** 2
    f0 = math.cos(s / (1.0 + s) * math.pi / 2.0) ** 2
    return f / f0


def cosine_betas(num_steps: int, s: float = 0.008, max_beta: float = 0.999) -> torch.Tensor:
    """Nichol & Dhariwal (2021, eq. 17): beta_t = min(1 - alpha_bar((t+1)/N) / alpha_bar(t/N), max_beta).

    Hence, unclipped, alpha_bar_t (index t) = alpha_bar((t+1)/N). Only the last betas hit `max_beta` (the
    final one would be exactly 1 because f(1) = 0). Returns (N,) float64.
    """
    u = torch.arange(num_steps + 1, dtype=torch.float64) / num_steps
    abar = cosine_alpha_bar(u, s)
    return (1.0 - abar[1:] / abar[:-1]).clamp(max=max_beta)


def linear_betas(num_steps: int, beta_start: float = 1e-4, beta_end: float = 0.02,
                 scale_to_num_steps: bool = True) -> torch.Tensor:
    """Ho et al. (2020): betas evenly spaced in [beta_start, beta_end]. With `scale_to_num_steps` both ends are
    multiplied by 1000 / N (Nichol & Dhariwal's rule, so that other N keep a similar total noise).
    Returns (N,) float64."""
    scale = 1000.0 / num_steps if scale_to_num_steps else 1.0
    return torch.linspace(scale * beta_start, scale * beta_end, num_steps, dtype=torch.float64)


class NoiseSchedule:
    """A discrete variance-preserving forward process given by its betas (N,).

    Attributes (all (N,) float64, CPU): `betas`, `alphas` = 1 - betas, `alphas_cumprod` (alpha_bar_t).
    `alpha_bar(t)` also accepts t = -1 (returns 1).
    """

    def __init__(self, betas: torch.Tensor):
        betas = torch.as_tensor(betas, dtype=torch.float64).reshape(-1).cpu()
        if betas.numel() < 1 or not bool(((betas > 0) & (betas < 1)).all()):
            raise ValueError('betas must be a non-empty 1-D sequence with every value in (0, 1)')
        self.betas = betas
        self.alphas = 1.0 - betas
        self.alphas_cumprod = torch.cumprod(self.alphas, 0)
        # index t + 1 of this table is alpha_bar_t, with alpha_bar_{-1} = 1 in front
        self._abar_padded = torch.cat([betas.new_ones(1), self.alphas_cumprod])

    @property
    def num_train_steps(self) -> int:
        """N, the number of training timesteps."""
        return self.betas.numel()

    # ------------------------------------------------------------------ tables
    def _check(self, t: torch.Tensor, allow_clean: bool) -> torch.Tensor:
        lo = -1 if allow_clean else 0
        if t.numel() and (int(t.min()) < lo or int(t.max()) >= self.num_train_steps):
            raise ValueError(f'timesteps must lie in [{lo}, {self.num_train_steps - 1}], got '
                             f'[{int(t.min())}, {int(t.max())}]')
        return t

    def alpha_bar(self, t: Timestep) -> torch.Tensor:
        """alpha_bar_t in float64 (CPU) with the shape of t; t = -1 gives 1."""
        t = self._check(torch.as_tensor(t, dtype=torch.long).cpu(), allow_clean=True)
        return self._abar_padded[t + 1]

    def gather(self, values: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        """Per-sample float64 coefficients (scalar or (B,)) -> x's dtype/device, shaped (B, 1, ..., 1) to
        broadcast against x (B, ...)."""
        values = values.to(dtype=x.dtype).to(device=x.device)   # cast on the CPU first (no float64 on MPS)
        if values.dim() == 0:
            return values
        if values.shape[0] != x.shape[0]:
            raise ValueError(f'{values.shape[0]} timesteps for a batch of {x.shape[0]}')
        return values.reshape(-1, *([1] * (x.dim() - 1)))

    # ------------------------------------------------------------------ forward process
    def add_noise(self, x0: torch.Tensor, noise: torch.Tensor, t: Timestep) -> torch.Tensor:
        """q(x_t | x_0) sample: sqrt(alpha_bar_t) x0 + sqrt(1 - alpha_bar_t) noise.

        x0, noise: (B, T, D) (or any (B, ...)); t: int or (B,) long in [0, N-1]. Returns (B, T, D).
        """
        t = self._check(torch.as_tensor(t, dtype=torch.long).cpu(), allow_clean=False)
        abar = self.alpha_bar(t)
        return self.gather(abar.sqrt(), x0) * x0 + self.gather((1.0 - abar).sqrt(), x0) * noise

    def sample_timesteps(self, batch_size: int, generator: Optional[torch.Generator] = None,
                         device: Optional[Union[str, torch.device]] = None) -> torch.Tensor:
        """Uniform training timesteps (B,) long in [0, N-1] (drawn on `generator`'s device, then moved)."""
        gen_device = generator.device if generator is not None else 'cpu'
        t = torch.randint(0, self.num_train_steps, (batch_size,), generator=generator, device=gen_device)
        return t.to(device) if device is not None else t

    def predict_noise(self, x_t: torch.Tensor, x0: torch.Tensor, t: Timestep) -> torch.Tensor:
        """The eps implied by an x0 prediction: (x_t - sqrt(abar_t) x0) / sqrt(1 - abar_t).  (B, T, D)."""
        abar = self.alpha_bar(t)
        return (x_t - self.gather(abar.sqrt(), x_t) * x0) / self.gather((1.0 - abar).sqrt(), x_t)

    def snr(self, t: Timestep) -> torch.Tensor:
        """Signal-to-noise ratio abar_t / (1 - abar_t), float64 with the shape of t (for loss weighting)."""
        abar = self.alpha_bar(t)
        return abar / (1.0 - abar)

    # ------------------------------------------------------------------ posterior
    def posterior_coefficients(self, t: Timestep, t_prev: Timestep):
        """q(x_s | x_t, x_0) for s = t_prev < t, as float64 (coef_x0, coef_xt, variance).

        With a = abar_t / abar_s (the product of the alphas from s+1 to t) and b = 1 - a:
            mean     = sqrt(abar_s) b / (1 - abar_t) * x_0 + sqrt(a) (1 - abar_s) / (1 - abar_t) * x_t
            variance = (1 - abar_s) / (1 - abar_t) * b
        For s = t - 1 this is Ho et al. (2020) eq. 7 (beta_tilde_t = beta_t (1 - abar_{t-1}) / (1 - abar_t));
        for s < t - 1 it is the posterior of the respaced chain (Nichol & Dhariwal, sec. 4). s = -1 gives
        (1, 0, 0): the posterior is a point mass at x_0.
        """
        t = self._check(torch.as_tensor(t, dtype=torch.long).cpu(), allow_clean=False)
        s = self._check(torch.as_tensor(t_prev, dtype=torch.long).cpu(), allow_clean=True)
        if bool((s >= t).any()):
            raise ValueError(f't_prev must be smaller than t (got t={t.tolist()}, t_prev={s.tolist()})')
        abar_t, abar_s = self.alpha_bar(t), self.alpha_bar(s)
        a = abar_t / abar_s
        b = 1.0 - a
        coef_x0 = abar_s.sqrt() * b / (1.0 - abar_t)
        coef_xt = a.sqrt() * (1.0 - abar_s) / (1.0 - abar_t)
        variance = (1.0 - abar_s) / (1.0 - abar_t) * b
        return coef_x0, coef_xt, variance

    def posterior_variance(self, t: Timestep, t_prev: Optional[Timestep] = None) -> torch.Tensor:
        """Variance of q(x_{t_prev} | x_t, x_0) (t_prev defaults to t - 1), float64 with the shape of t."""
        if t_prev is None:
            t_prev = torch.as_tensor(t, dtype=torch.long) - 1
        return self.posterior_coefficients(t, t_prev)[2]

    def __repr__(self) -> str:
        return f'{type(self).__name__}(num_train_steps={self.num_train_steps})'


@DIFFUSION_SCHEDULERS.register_module()
class CosineSchedule(NoiseSchedule):
    """Cosine schedule (Nichol & Dhariwal 2021): alpha_bar_t = f((t+1)/N) / f(0) until beta hits `max_beta`.

    Args:
        num_train_steps: N (1000 in CHOIS).
        s: small offset so that beta_0 is not vanishingly small (0.008).
        max_beta: clip of beta near t = N - 1 (0.999).
    """

    def __init__(self, num_train_steps: int = 1000, s: float = 0.008, max_beta: float = 0.999):
        self.s, self.max_beta = s, max_beta
        super().__init__(cosine_betas(num_train_steps, s, max_beta))


@DIFFUSION_SCHEDULERS.register_module()
class LinearSchedule(NoiseSchedule):
    """Linear beta schedule (Ho et al. 2020), see `linear_betas`."""

    def __init__(self, num_train_steps: int = 1000, beta_start: float = 1e-4, beta_end: float = 0.02,
                 scale_to_num_steps: bool = True):
        super().__init__(linear_betas(num_train_steps, beta_start, beta_end, scale_to_num_steps))


_BY_NAME = {'cosine': CosineSchedule, 'linear': LinearSchedule}


def build_schedule(schedule: Union[str, dict, NoiseSchedule] = 'cosine',
                   num_train_steps: int = 1000) -> NoiseSchedule:
    """A schedule from a name ('cosine' | 'linear', with `num_train_steps`), a registry config dict
    (`dict(type='CosineSchedule', num_train_steps=1000, s=0.008)`) or an instance (returned as is)."""
    if isinstance(schedule, NoiseSchedule):
        return schedule
    if isinstance(schedule, str):
        if schedule not in _BY_NAME:
            raise KeyError(f"unknown noise schedule {schedule!r}; use one of {sorted(_BY_NAME)} or a config dict")
        return _BY_NAME[schedule](num_train_steps=num_train_steps)
    if isinstance(schedule, dict):
        built = DIFFUSION_SCHEDULERS.build(dict(schedule))
        if not isinstance(built, NoiseSchedule):
            raise TypeError(f'{schedule!r} built a {type(built).__name__}, not a NoiseSchedule')
        return built
    raise TypeError(f'schedule must be a name, a config dict or a NoiseSchedule, got {type(schedule).__name__}')
