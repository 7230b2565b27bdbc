"""Numerical settings of the CPU runtime: `denormals_flushed` (subnormal floats flushed to zero, for speed)."""
import contextlib
import struct

import torch

__all__ = ['denormals_flushed']

_SMALLEST_SUBNORMAL = struct.unpack('<d', struct.pack('<Q', 1))[0]


@contextlib.contextmanager
def denormals_flushed(enabled: bool = True):
    """Run the block with subnormal floats flushed to zero on this thread (`torch.set_flush_denormal`), then
    restore the thread's previous setting (nesting is safe).

    Why (issue 23): a trained model's image Q-Former cross-attention has softmax tails below 1e-38; the
    subnormal K/V gradients they give slow the CPU training step down by 1.4x or more, and the slowdown grows
    as training sharpens the attention (benchmarks/results/training_step_cpu.md). Why only around the model's
    own steps and not for the whole process: SciPy's cKDTree (the data pipeline's object-surface look-ups)
    crashes with a segmentation fault under flush-to-zero. The flag is per thread; tools' `prepare_runtime`
    starts torch's intra-op threads with it.
    """
    if not enabled:
        yield
        return
    was = _SMALLEST_SUBNORMAL * 1.0 == 0.0          # this thread already flushes (an outer block set it)
    torch.set_flush_denormal(True)
    try:
        yield
    finally:
        torch.set_flush_denormal(was)
