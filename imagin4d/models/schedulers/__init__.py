"""Diffusion noise schedules and reverse samplers (registry `DIFFUSION_SCHEDULERS`), pure torch.

- `CosineSchedule`, `LinearSchedule` (`schedules.py`): the forward process, `add_noise`, posterior.
- `DDPMSampler` (`ddpm.py`), `DDIMSampler` (`ddim.py`), `DPMSolverPPSampler` (`dpm_solver.py`): `timesteps(k)`,
  `step(x_t, x0_pred, t, t_prev, generator)` and the shared loop `sample(denoise_fn, shape, num_steps, generator,
  guidance_fn, inpaint)` (`base.py`), for an x0-prediction network. Motion tensors are (B, T, D).
- `test_cfg.py`: a model's test-time sampling options (`model.test_cfg`), the sampler names users give and the
  sampler they build.

Config example: `scheduler=dict(type='DDPMSampler', schedule='cosine', num_train_steps=1000)`,
`test_scheduler=dict(type='DDIMSampler', schedule='cosine', num_steps=50, eta=0.0)`.
"""
from .base import TIMESTEP_SPACINGS, BaseSampler, SamplingStep, spaced_timesteps
from .ddim import DDIMSampler
from .ddpm import DDPMSampler
from .dpm_solver import DPMSolverPPSampler
from .schedules import (
                        CosineSchedule,
                        LinearSchedule,
                        NoiseSchedule,
                        build_schedule,
                        cosine_alpha_bar,
                        cosine_betas,
                        linear_betas,
)

__all__ = ['TIMESTEP_SPACINGS', 'BaseSampler', 'SamplingStep', 'spaced_timesteps', 'DDIMSampler',
           'DDPMSampler', 'DPMSolverPPSampler', 'CosineSchedule', 'LinearSchedule', 'NoiseSchedule', 'build_schedule',
           'cosine_alpha_bar', 'cosine_betas', 'linear_betas']
