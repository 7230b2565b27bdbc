"""Subnormal flushing is scoped to the model's own steps (issue 23): `denormals_flushed` sets and restores the
thread's flag, HOIDiffusion's steps and `generate` run flushed, and the caller's thread is left as it was (SciPy's
cKDTree in the data pipeline crashes under flush-to-zero)."""
import struct

import torch

from imagin4d.utils.numerics import denormals_flushed

SUBNORMAL = struct.unpack('<d', struct.pack('<Q', 1))[0]


def flushing() -> bool:
    return SUBNORMAL * 1.0 == 0.0


def test_denormals_flushed_sets_and_restores_nested():
    torch.set_flush_denormal(False)
    assert not flushing()
    with denormals_flushed():
        assert flushing()
        assert (torch.full((4,), 1e-39) * 1.0 == 0).all()
        with denormals_flushed():
            assert flushing()
        assert flushing()              # the inner block restores the outer block's setting
        with denormals_flushed(False):
            assert flushing()          # disabled: leaves the setting alone
    assert not flushing()


def test_denormals_flushed_restores_after_an_exception():
    torch.set_flush_denormal(False)
    try:
        with denormals_flushed():
            raise RuntimeError('boom')
    except RuntimeError:
        pass
    assert not flushing()


def test_model_steps_run_flushed_and_leave_the_thread_as_it_was():
    from imagin4d.models.hoi_diffusion import HOIDiffusion
    seen = []

    class Probe(HOIDiffusion):
        def __init__(self, **kwargs):
            torch.nn.Module.__init__(self)
            self.flush_denormal = kwargs.get('flush_denormal', True)

        def _generate(self, *args):
            seen.append(flushing())
            return None, {}

    torch.set_flush_denormal(False)
    Probe().generate({})
    Probe(flush_denormal=False).generate({})
    assert seen == [True, False] and not flushing()
