"""Reading fields out of the per-sample dicts the metrics receive, with errors that name the sample and the field.

Owns `sample_name` (how a sample is named in messages), `sample_field` (a field as a CPU tensor, or a KeyError
naming the metric, the sample, the missing field, what the metric needs and what the sample has) and
`motion_pair_length` (the checks every metric makes on a GT / generated motion pair, and its valid length).
"""
from typing import Sequence

import numpy as np
import torch

__all__ = ['sample_name', 'sample_field', 'motion_pair_length']


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


def motion_pair_length(metric: str, sample: dict, index: int, gt: torch.Tensor, pred: torch.Tensor, dim: int) -> int:
    """Check gt_motion / pred_motion (both (T, dim), un-normalised) and return the valid length: seq_len, or T
    when the sample has none. ValueError naming the metric and the sample otherwise."""
    name = sample_name(sample, index)
    if gt.dim() != 2 or gt.shape[-1] != dim or pred.shape != gt.shape:
        raise ValueError(f'{metric}: sample {name}: gt_motion {tuple(gt.shape)} and pred_motion '
                         f'{tuple(pred.shape)} must both be (T, {dim})')
    if sample.get('normalized'):
        raise ValueError(f'{metric}: sample {name} holds normalised motion (normalized=True); '
                         f'the metric needs un-normalised features in metres')
    frames = gt.shape[0]
    length = frames if sample.get('seq_len') is None else int(sample['seq_len'])
    if not 1 <= length <= frames:
        raise ValueError(f'{metric}: sample {name}: seq_len {length} outside 1..{frames}')
    return length
