"""Dropout with a cheaper random mask on the CPU: `dropout` (the function) and `Dropout` (the module).

torch's CPU dropout draws one Bernoulli variate per element: 5-7 ms for the 1M elements of one FFN activation of
the mini model's training batch on the benchmark machine, against 0.08 ms for a multiply of the same tensor (issue
23: about a tenth of the trainer's time in a real bf16 training). Here every element gets 16 random bits instead
(four elements per 64-bit draw of torch's default generator) and is dropped when its bits fall below
round(p * 2^16): the drop probability is that threshold / 2^16 (p = 0.1 -> 0.1000061), and kept elements are scaled
by 1 / (1 - that probability), so the expectation is exact. A training step takes 0.90-0.96x its time with torch's
dropout (benchmarks/results/training_step_dropout_mask_cpu.md). The draws come from torch's seeded generator (runs
stay reproducible) but form a different random stream from torch's dropout, so a model trained with one draws other
masks than with the other. Other devices keep torch's fused kernel.
"""
import torch
import torch.nn.functional as F
from torch import nn

__all__ = ['dropout', 'Dropout']

MASK_BITS = 16
_LEVELS = 1 << MASK_BITS


def dropout(x: torch.Tensor, p: float, training: bool = True, inplace: bool = False) -> torch.Tensor:
    """`F.dropout(x, p, training, inplace)` with the 16-bit mask above on CPU floating tensors; any shape."""
    if not training or p == 0:
        return x
    threshold = round(p * _LEVELS)
    if x.device.type != 'cpu' or not x.is_floating_point() or not 0 < threshold < _LEVELS:
        return F.dropout(x, p, training, inplace)
    n = x.numel()
    words = torch.empty((n + 3) // 4, dtype=torch.int64).random_(-2 ** 63, None)   # 64 uniform bits each
    bits = words.view(torch.int16)[:n].view(x.shape)                                # uniform in [-2^15, 2^15)
    keep = bits >= threshold - _LEVELS // 2                                         # P(drop) = threshold / 2^16
    mask = keep.to(x.dtype).mul_(_LEVELS / (_LEVELS - threshold))
    return x.mul_(mask) if inplace else x * mask


class Dropout(nn.Dropout):
    """`nn.Dropout` (same arguments, attributes and state) computing `dropout` above."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return dropout(x, self.p, self.training, self.inplace)
