"""Classifier-free guidance per source in x0 space: x0 = x0_full + sum_s w_s (x0_full - x0_without_s)."""
import pytest
import torch

from imagin4d.models.guidance import ClassifierFreeGuidance
from imagin4d.registry import MODELS

SHAPE = (2, 8, 220)


def preds():
    g = torch.Generator().manual_seed(0)
    return (torch.randn(SHAPE, generator=g), torch.randn(SHAPE, generator=g), torch.randn(SHAPE, generator=g))


def test_scale_zero_is_the_conditional_prediction():
    full, no_img, no_txt = preds()
    cfg = MODELS.build(dict(type='ClassifierFreeGuidance', scales=dict(image=0.0, text=0.0)))
    assert isinstance(cfg, ClassifierFreeGuidance) and cfg.active_sources() == ()
    out = cfg(full, dict(image=no_img, text=no_txt))
    assert torch.equal(out, full)                      # the dropped sources change nothing
    assert torch.equal(cfg.combine(full, {}), full)    # and are not needed
    # one source at 0: exactly the other source's guidance
    cfg = ClassifierFreeGuidance(dict(image=0.0, text=1.5))
    torch.testing.assert_close(cfg(full, dict(image=no_img, text=no_txt)), full + 1.5 * (full - no_txt))
    assert cfg.active_sources() == ('text',)


def test_single_source_moves_linearly_away_from_the_unconditional():
    full, no_img = torch.full(SHAPE, 1.0), torch.full(SHAPE, 0.2)
    expected = {0.0: 1.0, 0.5: 1.4, 1.0: 1.8, 2.0: 2.6, 7.5: 7.0}     # 1 + w * 0.8, by hand
    for w, value in expected.items():
        out = ClassifierFreeGuidance(dict(image=w))(full, dict(image=no_img))
        torch.testing.assert_close(out, torch.full(SHAPE, value))
        # distance from the unconditional prediction grows as (1 + w) * 0.8 (IMAGIN-4D's G = 1 + w)
        torch.testing.assert_close(out - no_img, torch.full(SHAPE, (1 + w) * 0.8))


def test_two_sources_add():
    full = torch.full(SHAPE, 1.0)
    cfg = ClassifierFreeGuidance(dict(image=2.0, text=4.0))
    out = cfg(full, dict(image=torch.full(SHAPE, 0.5), text=torch.full(SHAPE, 0.75)))
    torch.testing.assert_close(out, torch.full(SHAPE, 3.0))       # 1 + 2 * 0.5 + 4 * 0.25
    # a per-call override (the test-time sweep knob) and per-sample scales
    out = cfg(full, dict(image=torch.full(SHAPE, 0.5), text=torch.full(SHAPE, 0.75)), scales=dict(text=0.0))
    torch.testing.assert_close(out, torch.full(SHAPE, 2.0))
    out = cfg(full, dict(image=torch.full(SHAPE, 0.5)), scales=dict(image=torch.tensor([0.0, 1.0]), text=0.0))
    assert torch.equal(out[0], full[0]) and torch.allclose(out[1], torch.full(SHAPE[1:], 1.5))


def test_wrap_runs_only_the_needed_passes():
    full, no_img, no_txt = preds()
    calls = []

    def denoise(x_t, t, drop):
        calls.append(drop)
        return {frozenset(): full, frozenset(['image']): no_img, frozenset(['text']): no_txt}[drop]

    guided = ClassifierFreeGuidance(dict(image=3.0, text=0.0)).wrap(denoise)
    out = guided(torch.zeros(SHAPE), torch.zeros(2, dtype=torch.long))
    assert calls == [frozenset(), frozenset(['image'])]
    torch.testing.assert_close(out, full + 3.0 * (full - no_img))


def test_errors_name_the_sources():
    full, no_img, _ = preds()
    cfg = ClassifierFreeGuidance(dict(image=1.0, text=1.0))
    with pytest.raises(KeyError, match="'text'"):
        cfg(full, dict(image=no_img))
    with pytest.raises(KeyError, match='sketch'):
        cfg(full, dict(image=no_img, sketch=no_img))
    with pytest.raises(KeyError, match='sketch'):
        cfg(full, dict(image=no_img), scales=dict(sketch=1.0))
    with pytest.raises(ValueError):
        ClassifierFreeGuidance(dict(image=float('nan')))
