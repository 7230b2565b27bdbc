"""Numerical settings of the model's steps: `denormals_flushed` (subnormal floats flushed to zero on the CPU, for
speed) and `network_autocast` (the networks of a training step in bf16 autocast, `--amp`)."""
import contextlib
import struct

import torch

__all__ = ['AUTOCAST_DTYPES', 'bf16_is_fast', 'denormals_flushed', 'network_autocast']

#: what `HOIDiffusion(train_autocast=...)` accepts: bf16 has fp32's exponent range, so gradients need no loss scaling
#: (float16 would need a GradScaler, which this path does not have)
AUTOCAST_DTYPES = ('bfloat16',)

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


def network_autocast(dtype, device: torch.device):
    """`torch.autocast` on `device`'s type with `dtype` ('bfloat16'), or a no-op for None.

    Under autocast the matrix multiplies (linear layers, attention) run in `dtype` and the reductions autocast
    keeps in fp32 (norms, softmax, losses) stay there. On a CPU with AVX512-BF16 the bf16 matmuls run at several
    times the fp32 rate (benchmarks/results/training_step_bf16_cpu.md); without it bf16 can be slower.
    """
    if dtype is None:
        return contextlib.nullcontext()
    if dtype not in AUTOCAST_DTYPES:
        raise ValueError(f'autocast dtype must be one of {AUTOCAST_DTYPES} or None, got {dtype!r}')
    return torch.autocast(torch.device(device).type, dtype=getattr(torch, dtype))


def bf16_is_fast() -> bool:
    """True with a CUDA device or a CPU with bf16 matrix instructions (AVX512-BF16 / AMX), where oneDNN runs bf16
    matmuls natively (on the 2-core AVX512-BF16 machine: 4.8x the fp32 rate at the mini model's shapes)."""
    return torch.cuda.is_available() or bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())
