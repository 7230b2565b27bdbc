"""Reading fields out of the per-sample dicts the metrics receive, with errors that name the sample and the field.

Owns `sample_name` (how a sample is named in messages) and `sample_field` (a field as a CPU tensor, or a KeyError
naming the metric, the sample, the missing field, what the metric needs and what the sample has).
"""
from typing import Sequence

import numpy as np
import torch

__all__ = ['sample_name', 'sample_field']


def sample_name(sample: dict, index: int) -> str:
    """repr of the sample's seq_name, or its position in the batch when it has none."""
    name = sample.get('seq_name')
    return repr(name) if name is not None else f'#{index} of the batch (no seq_name)'


def sample_field(metric: str, sample: dict, key: str, index: int, needs: Sequence[str], needs_extra: str = '',
                 dtype=torch.float64) -> torch.Tensor:
    """sample[key] as a detached CPU tensor of `dtype`; KeyError when it is missing or None."""
    if key not in sample or sample[key] is None:
        raise KeyError(f'{metric}: sample {sample_name(sample, index)} lacks the field {key!r} '
                       f'(needs {list(needs)}{needs_extra}; has {sorted(sample)})')
    value = sample[key]
    if not torch.is_tensor(value):
        value = torch.as_tensor(np.asarray(value))
    return value.detach().cpu().to(dtype)
