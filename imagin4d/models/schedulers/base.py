"""Base class of the reverse-process samplers: timestep spacing and the generic x0-prediction sampling loop.

Owns `spaced_timesteps` (which N-step training indices a k-step sampler visits), `SamplingStep` (what a
guidance callback is told about the current step) and `BaseSampler.sample`, the loop shared by DDPM and
DDIM:

    x_T ~ N(0, I) (seeded)                                   x: (B, T, D)
    for t, t_prev in pairs(timesteps(k)) (t_prev = -1 last):
        x0 = denoise_fn(x_t, t)                              the network predicts x0 (B, T, D); t (B,) long
        x0 = clip(x0); x0[known] = value                     optional clip and inpainting
        x0 = guidance_fn(x0, step); x0[known] = value        optional (reconstruction guidance)
        x_{t_prev} = step(x_t, x0, t, t_prev, generator)     sampler-specific
    return x_{-1} (= the last x0)

Classifier-free guidance lives inside `denoise_fn` (the model combines its conditional and dropped-source
predictions with `imagin4d.models.guidance.ClassifierFreeGuidance`).
"""
from dataclasses import dataclass
from typing import Callable, Dict, Optional, Sequence, Tuple, Union

import torch

from .schedules import NoiseSchedule, Timestep, build_schedule

__all__ = ['TIMESTEP_SPACINGS', 'spaced_timesteps', 'SamplingStep', 'BaseSampler', 'batch_randn']

TIMESTEP_SPACINGS = ('trailing', 'linspace', 'leading', 'quadratic')


def spaced_timesteps(num_train_steps: int, num_steps: int, spacing: str = 'trailing') -> torch.Tensor:
    """k = `num_steps` distinct training indices, in decreasing order, (k,) long.

    - 'trailing' (default): t_i = round(N - i N / k) - 1, i = 0..k-1. Starts at N - 1 (the noisiest state,
      where x_T ~ N(0, I) is correct) and ends at N / k - 1. Recommended by Lin et al. (2024, "Common
      diffusion noise schedules and sample steps are flawed").
    - 'linspace': round(linspace(N - 1, 0, k)): starts at N - 1 and ends at 0.
    - 'leading': (k - 1 - i) * (N // k) (DDIM paper / diffusers default): ends at 0 but starts at
      (k - 1) (N // k) < N - 1, so the first state is not pure noise for small k.
    - 'quadratic': round((N - 1) ((k - 1 - i) / (k - 1))^2), each at least one above the next: from N - 1 to 0,
      dense near t = 0 where the fine detail is made (the DDIM paper's 'quad' skip, here starting from pure noise).
    For k = N every spacing gives N - 1, ..., 0. The loop appends t_prev = -1 (the clean data) after the last.
    """
    N, k = int(num_train_steps), int(num_steps)
    if not 1 <= k <= N:
        raise ValueError(f'num_steps must be in [1, {N}], got {num_steps}')
    i = torch.arange(k, dtype=torch.float64)
    if spacing == 'trailing':
        t = torch.round(N - i * N / k) - 1
    elif spacing == 'linspace':
        t = torch.round(torch.linspace(N - 1, 0, k, dtype=torch.float64)) if k > 1 else torch.tensor([N - 1.0])
    elif spacing == 'leading':
        t = (k - 1 - i) * (N // k)
    elif spacing == 'quadratic':
        t = torch.round((N - 1) * ((k - 1 - i) / (k - 1)) ** 2) if k > 1 else torch.tensor([N - 1.0])
        for j in range(k - 2, -1, -1):              # distinct: near t = 0 the squares of large k collide
            t[j] = max(t[j], t[j + 1] + 1)
    else:
        raise ValueError(f'unknown timestep spacing {spacing!r}; use one of {TIMESTEP_SPACINGS}')
    return t.long()


@dataclass
class SamplingStep:
    """The current step of a sampling loop, passed to `guidance_fn(x0, step)`.

    index: 0-based step number; num_steps: steps in the loop; t / t_prev: training indices (t_prev = -1 on
    the last step); sampler: the running sampler.
    """
    index: int
    num_steps: int
    t: int
    t_prev: int
    sampler: 'BaseSampler'

    @property
    def steps_left(self) -> int:
        """Steps left including this one: num_steps on the first step, 1 on the last."""
        return self.num_steps - self.index

    @property
    def posterior_variance(self) -> float:
        """Variance of the DDPM posterior q(x_{t_prev} | x_t, x0) of this jump (0 on the last step). CHOIS
        scales its reconstruction-guidance step by it."""
        return float(self.sampler.schedule.posterior_variance(self.t, self.t_prev))


Inpaint = Union[Tuple[torch.Tensor, torch.Tensor], Dict[str, torch.Tensor]]
#: One generator for the whole batch, or one per sample (index 0 of the batch axis).
Generators = Union[torch.Generator, Sequence[torch.Generator]]


def batch_randn(shape: Sequence[int], generator: Optional[Generators], device=None,
                dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """Standard normal (B, ...) noise; with a list of B generators, sample b is drawn from generator b alone."""
    if not isinstance(generator, (list, tuple)):
        return torch.randn(tuple(shape), generator=generator, device=device, dtype=dtype)
    if len(generator) != shape[0]:
        raise ValueError(f'{len(generator)} generators for a batch of {shape[0]}')
    return torch.stack([torch.randn(tuple(shape[1:]), generator=g, device=device, dtype=dtype) for g in generator])


class BaseSampler:
    """Reverse sampler with an x0-prediction network, on one `NoiseSchedule`.

    Args:
        schedule: 'cosine' | 'linear' | a `DIFFUSION_SCHEDULERS` config dict | a `NoiseSchedule`.
        num_train_steps: N when `schedule` is a name.
        num_steps: default number of sampling steps (None: N).
        timestep_spacing: 'trailing' | 'linspace' | 'leading' (see `spaced_timesteps`).
        clip_x0: clamp the predicted x0 to [-clip_x0, clip_x0] before each step (CHOIS: 1.0); None: off.

    Subclasses implement `step`. The network is parameterised to predict x0 (`prediction_type`): its
    training target is x0 itself, and every step takes an x0 prediction (the implied noise is
    `schedule.predict_noise`).
    """

    prediction_type = 'x0'

    def __init__(self, schedule: Union[str, dict, NoiseSchedule] = 'cosine', num_train_steps: int = 1000,
                 num_steps: Optional[int] = None, timestep_spacing: str = 'trailing',
                 clip_x0: Optional[float] = None):
        self.schedule = build_schedule(schedule, num_train_steps)
        if timestep_spacing not in TIMESTEP_SPACINGS:
            raise ValueError(f'unknown timestep spacing {timestep_spacing!r}; use one of {TIMESTEP_SPACINGS}')
        self.timestep_spacing = timestep_spacing
        self.num_steps = self.num_train_steps if num_steps is None else int(num_steps)
        spaced_timesteps(self.num_train_steps, self.num_steps, timestep_spacing)   # validates num_steps
        self.clip_x0 = clip_x0

    # ------------------------------------------------------------------ schedule pass-through
    @property
    def num_train_steps(self) -> int:
        return self.schedule.num_train_steps

    @property
    def alphas_cumprod(self) -> torch.Tensor:
        return self.schedule.alphas_cumprod

    def add_noise(self, x0: torch.Tensor, noise: torch.Tensor, t: Timestep) -> torch.Tensor:
        """q(x_t | x_0) sample (training).  x0, noise: (B, T, D); t: int or (B,) long -> (B, T, D)."""
        return self.schedule.add_noise(x0, noise, t)

    def sample_timesteps(self, batch_size: int, generator: Optional[torch.Generator] = None,
                         device=None) -> torch.Tensor:
        """Uniform training timesteps (B,) long."""
        return self.schedule.sample_timesteps(batch_size, generator, device)

    # ------------------------------------------------------------------ reverse process
    def timesteps(self, num_steps: Optional[int] = None) -> torch.Tensor:
        """The training indices visited by a `num_steps`-step loop, decreasing, (k,) long."""
        return spaced_timesteps(self.num_train_steps, self.num_steps if num_steps is None else num_steps,
                                self.timestep_spacing)

    def step(self, x_t: torch.Tensor, x0_pred: torch.Tensor, t: Timestep, t_prev: Timestep,
             generator: Optional[torch.Generator] = None, noise: Optional[torch.Tensor] = None) -> torch.Tensor:
        """One reverse step x_t -> x_{t_prev} given the predicted x0.  (B, T, D) -> (B, T, D).

        t: int or (B,) long; t_prev < t, -1 for the clean data (then x0_pred is returned). `noise`
        overrides the Gaussian draw from `generator`."""
        raise NotImplementedError

    @staticmethod
    def _randn(like: torch.Tensor, generator: Optional[Generators]) -> torch.Tensor:
        return batch_randn(like.shape, generator, like.device, like.dtype)

    @staticmethod
    def _inpaint_parts(inpaint: Optional[Inpaint], like: torch.Tensor):
        if inpaint is None:
            return None
        if isinstance(inpaint, dict):
            mask, value = inpaint['mask'], inpaint['value']
        else:
            mask, value = inpaint
        mask = torch.as_tensor(mask, device=like.device).bool()
        value = torch.as_tensor(value, device=like.device, dtype=like.dtype)
        torch.broadcast_shapes(mask.shape, like.shape)
        torch.broadcast_shapes(value.shape, like.shape)
        return mask, value

    @torch.no_grad()
    def sample(self, denoise_fn: Callable[[torch.Tensor, torch.Tensor], torch.Tensor], shape: Sequence[int],
               num_steps: Optional[int] = None, generator: Optional[Generators] = None,
               guidance_fn: Optional[Callable[[torch.Tensor, SamplingStep], torch.Tensor]] = None,
               inpaint: Optional[Inpaint] = None, x_T: Optional[torch.Tensor] = None,
               device: Optional[Union[str, torch.device]] = None, dtype: torch.dtype = torch.float32,
               callback: Optional[Callable[[SamplingStep, torch.Tensor, torch.Tensor], None]] = None
               ) -> torch.Tensor:
        """Run the reverse process from x_T ~ N(0, I) to x_0.

        Args:
            denoise_fn: (x_t (B, T, D), t (B,) long) -> x0 prediction (B, T, D), in the normalised space.
            shape: (B, T, D).
            num_steps: sampling steps k (None: `self.num_steps`).
            generator: draws x_T and the step noise (same seed -> same sample); on the sampling device. A list of
                B generators draws each sample's noise from its own, so a sample does not depend on its batch.
            guidance_fn: (x0 (B, T, D), SamplingStep) -> x0; called with gradients enabled only if it enables
                them itself (the loop runs under no_grad). E.g. `ReconstructionGuidance.bind(...)`.
            inpaint: (mask, value) or dict(mask=, value=), broadcastable to (B, T, D): where mask is True
                the predicted x0 is replaced by `value` after denoising and again after guidance, so the
                returned sample equals `value` there exactly (known waypoints, the first pose, ...).
            x_T: start state (B, T, D) instead of drawing it.
            device, dtype: of x_T when drawn (device defaults to the generator's).
            callback: called as callback(step, x_t, x0) after guidance, before the step (for trajectories).

        Returns: x_0 (B, T, D).
        """
        ts = self.timesteps(num_steps).tolist()
        if x_T is None:
            if device is None:
                first = generator[0] if isinstance(generator, (list, tuple)) else generator
                device = first.device if first is not None else 'cpu'
            x = batch_randn(tuple(shape), generator, device, dtype)
        else:
            if tuple(x_T.shape) != tuple(shape):
                raise ValueError(f'x_T has shape {tuple(x_T.shape)}, expected {tuple(shape)}')
            x = x_T.clone()
        known = self._inpaint_parts(inpaint, x)
        for i, t in enumerate(ts):
            t_prev = ts[i + 1] if i + 1 < len(ts) else -1
            info = SamplingStep(index=i, num_steps=len(ts), t=t, t_prev=t_prev, sampler=self)
            t_batch = torch.full((x.shape[0],), t, dtype=torch.long, device=x.device)
            x0 = denoise_fn(x, t_batch)
            if tuple(x0.shape) != tuple(x.shape):
                raise ValueError(f'denoise_fn returned {tuple(x0.shape)} for an input of {tuple(x.shape)}')
            if self.clip_x0 is not None:
                x0 = x0.clamp(-self.clip_x0, self.clip_x0)
            if known is not None:
                x0 = torch.where(known[0], known[1], x0)
            if guidance_fn is not None:
                x0 = guidance_fn(x0, info).detach()
                if known is not None:
                    x0 = torch.where(known[0], known[1], x0)
            if callback is not None:
                callback(info, x, x0)
            x = self.step(x, x0, t, t_prev, generator)
        return x

    def __repr__(self) -> str:
        return (f'{type(self).__name__}(schedule={self.schedule!r}, num_steps={self.num_steps}, '
                f'timestep_spacing={self.timestep_spacing!r}, clip_x0={self.clip_x0})')
