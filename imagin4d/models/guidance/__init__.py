"""Sampling-time guidance (registry MODELS), pure torch.

- `ClassifierFreeGuidance` (`cfg.py`): per-source (image, text) classifier-free guidance in x0 space,
  x0 = x0_full + sum_s w_s (x0_full - x0_without_s).
- `ReconstructionGuidance` (`reconstruction.py`): CHOIS-style gradient guidance of x0 on hand-object
  contact, contact consistency, feet-on-floor and object-above-floor costs in the last sampling steps; `bind(...)`
  gives the `guidance_fn(x0, step)` of `imagin4d.models.schedulers.BaseSampler.sample`.
Motion tensors are (B, T, D), normalised.
"""
from .cfg import ClassifierFreeGuidance
from .reconstruction import (
                             CHOIS_PRESET,
                             DEFAULT_TERMS,
                             ReconstructionGuidance,
                             contact_consistency_cost,
                             feet_floor_cost,
                             hand_contact_cost,
                             object_floor_cost,
)

__all__ = ['ClassifierFreeGuidance', 'ReconstructionGuidance', 'CHOIS_PRESET', 'DEFAULT_TERMS', 'feet_floor_cost',
           'hand_contact_cost', 'object_floor_cost', 'contact_consistency_cost']
