"""The attention dispatch: backends agree with the reference, masks work, constraints give clear errors."""
import pytest
import torch
from testing_utils import counting_attention_backend

from imagin4d.models.layers import attention, available_backends


def _inputs(dtype, lq=6, lk=9, seed=0):
    gen = torch.Generator().manual_seed(seed)
    q, k, v = (torch.randn(3, n, 4, 16, generator=gen).to(dtype) for n in (lq, lk, lk))
    mask = torch.ones(3, lk, dtype=torch.bool)
    mask[0, 4:] = False
    mask[2, 1::2] = False
    return q, k, v, mask


def _manual(q, k, v, mask):
    """Independent per-head loop: softmax over the valid keys only."""
    out = torch.zeros_like(q, dtype=torch.float32)
    for b in range(q.shape[0]):
        keep = mask[b] if mask is not None else torch.ones(k.shape[1], dtype=torch.bool)
        for h in range(q.shape[2]):
            kb, vb = k[b, keep, h].float(), v[b, keep, h].float()
            w = torch.softmax(q[b, :, h].float() @ kb.T / q.shape[-1] ** 0.5, dim=-1)
            out[b, :, h] = w @ vb
    return out


@pytest.mark.parametrize('dtype,tol', [(torch.float32, 1e-5), (torch.bfloat16, 3e-2)])
@pytest.mark.parametrize('masked', [False, True])
@pytest.mark.parametrize('backend', ['sdpa', 'math'])
def test_backends_match_manual_softmax(backend, masked, dtype, tol):
    q, k, v, mask = _inputs(dtype)
    mask = mask if masked else None
    out = attention(q, k, v, key_padding_mask=mask, backend=backend)
    assert out.shape == q.shape and out.dtype == dtype
    torch.testing.assert_close(out.float(), _manual(q, k, v, mask), atol=tol, rtol=tol)


def test_sdpa_computes_cpu_bf16_in_fp32_also_under_autocast():
    """compat.sdpa_dtype: bf16 inputs on the CPU are attended in fp32 (torch's bf16 CPU kernel is slow), the output
    rounded back to bf16: exactly the fp32 attention of the same (bf16-valued) inputs, rounded."""
    q, k, v, mask = _inputs(torch.bfloat16)
    expected = attention(q.float(), k.float(), v.float(), mask, backend='sdpa').to(torch.bfloat16)
    for autocast in (False, True):
        with torch.autocast('cpu', dtype=torch.bfloat16, enabled=autocast):
            out = attention(q, k, v, mask, backend='sdpa')
        assert out.dtype == torch.bfloat16
        assert torch.equal(out, expected), autocast


def test_padding_keys_have_no_influence():
    q, k, v, mask = _inputs(torch.float32)
    k2, v2 = k.clone(), v.clone()
    k2[~mask], v2[~mask] = 1e3, -1e3  # garbage in padded slots
    for backend in ('sdpa', 'math'):
        torch.testing.assert_close(attention(q, k, v, mask, backend=backend),
                                   attention(q, k2, v2, mask, backend=backend))


def test_auto_on_cpu_uses_sdpa_result():
    q, k, v, mask = _inputs(torch.float32)
    torch.testing.assert_close(attention(q, k, v, mask, backend='auto'), attention(q, k, v, mask, backend='sdpa'))


def test_explicit_xformers_on_cpu_raises_clear_error():
    q, k, v, _ = _inputs(torch.float32)
    with pytest.raises(ValueError, match="backend 'xformers' cannot run.*CUDA"):
        attention(q, k, v, backend='xformers')


def test_bad_mask_and_unknown_backend_are_reported():
    q, k, v, mask = _inputs(torch.float32)
    with pytest.raises(ValueError, match='key_padding_mask must be bool'):
        attention(q, k, v, key_padding_mask=mask.float(), backend='sdpa')
    with pytest.raises(KeyError, match='closest registered names: sdpa'):
        attention(q, k, v, backend='sdpaa')


def test_plugin_backend_registers_and_is_dispatched():
    # priority above every built-in backend, so `auto` picks it
    with counting_attention_backend('test_counting', priority=50) as calls:
        q, k, v, mask = _inputs(torch.float32)
        assert available_backends()[0] == 'test_counting'
        attention(q, k, v, mask, backend='auto')
        attention(q, k, v, mask, backend='test_counting')
        assert len(calls) == 2
    assert 'test_counting' not in available_backends()


@pytest.mark.gpu
def test_xformers_matches_sdpa_on_cuda():
    if not torch.cuda.is_available():
        pytest.skip('needs a CUDA device')
    pytest.importorskip('xformers.ops', reason='xformers not installed (requirements/optional.txt)')
    for dtype, tol in ((torch.float16, 2e-3), (torch.bfloat16, 2e-2)):
        q, k, v, mask = (t.cuda() for t in _inputs(dtype, lq=64, lk=77))
        ref = attention(q, k, v, mask, backend='sdpa')
        torch.testing.assert_close(attention(q, k, v, mask, backend='xformers'), ref, atol=tol, rtol=tol)
        torch.testing.assert_close(attention(q, k, v, mask, backend='auto'), ref, atol=tol, rtol=tol)
