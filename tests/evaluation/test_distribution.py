"""Distribution metrics: FID, R-precision, matching score, diversity, multimodality and intervals against hand-computed
values; DistributionMetric with a stand-in (random-weight) evaluator and with no evaluator at all."""
import math
import zlib

import numpy as np
import pytest
import torch
from torch import nn

from imagin4d.evaluation.functional.distribution import (
    diversity,
    euclidean_distance_matrix,
    fid,
    frechet_distance,
    matching_score,
    mean_and_ci95,
    multimodality,
    r_precision,
    r_precision_chance,
)
from imagin4d.evaluation.metrics import distribution_metric
from imagin4d.evaluation.metrics.distribution_metric import DistributionMetric

pytestmark = pytest.mark.usefixtures('single_torch_thread')


# ---------------------------------------------------------------------------------------------------------- FID
def test_fid_of_identical_sets_is_zero():
    x = np.random.default_rng(0).normal(size=(200, 6))
    assert fid(x, x) == pytest.approx(0.0, abs=1e-8)
    assert fid(torch.as_tensor(x), x) == pytest.approx(0.0, abs=1e-8)


def test_frechet_distance_closed_forms():
    # diagonal covariances: |dmu|^2 + sum(s1 + s2 - 2 sqrt(s1 s2)) = 5 + (1 + 4 - 4) + (4 + 9 - 12) = 7
    assert frechet_distance([0, 0], np.diag([1.0, 4.0]), [1, 2], np.diag([4.0, 9.0])) == pytest.approx(7.0)
    # S1 = I, S2 = [[2, 1], [1, 2]] (eigenvalues 3, 1): tr(I) + tr(S2) - 2 (sqrt 3 + 1) = 4 - 2 sqrt 3
    s2 = np.array([[2.0, 1.0], [1.0, 2.0]])
    assert frechet_distance([0, 0], np.eye(2), [0, 0], s2) == pytest.approx(4 - 2 * math.sqrt(3), abs=1e-9)
    # symmetric in its arguments
    assert frechet_distance([0, 0], s2, [0, 0], np.eye(2)) == pytest.approx(4 - 2 * math.sqrt(3), abs=1e-9)


def test_fid_of_sampled_gaussians_approaches_the_closed_form():
    rng = np.random.default_rng(1)
    a = rng.multivariate_normal([0, 0], np.diag([1.0, 4.0]), size=40000)
    b = rng.multivariate_normal([1, 2], np.diag([4.0, 9.0]), size=40000)
    assert fid(a, b) == pytest.approx(7.0, rel=0.03)


def test_fid_with_fewer_samples_than_dims_is_finite():
    x = np.random.default_rng(2).normal(size=(5, 16))
    assert fid(x, x) == pytest.approx(0.0, abs=1e-5)
    assert np.isfinite(fid(x, x + 1.0)) and fid(x, x + 1.0) == pytest.approx(16.0, rel=1e-3)  # mean shift only


def test_fid_rejects_bad_input():
    with pytest.raises(ValueError, match='at least 2 samples'):
        fid(np.zeros((1, 3)), np.zeros((4, 3)))
    with pytest.raises(ValueError, match='NaN'):
        fid(np.full((3, 2), np.nan), np.zeros((3, 2)))


# ------------------------------------------------------------------------------------- R-precision, matching
def test_r_precision_is_one_when_each_text_is_nearest_its_motion():
    rng = np.random.default_rng(3)
    text = np.eye(32) * 5.0
    motion = text + rng.normal(scale=0.1, size=text.shape)
    np.testing.assert_allclose(r_precision(text, motion, batch_size=32, top_k=3), [1.0, 1.0, 1.0])


def test_r_precision_hand_built_ranks():
    # 1-D embeddings: texts 0, 10, 20, 30; motions 0, 10, 22, 19.5.
    # text 20: distances 20, 10, 2, 0.5 -> its motion (2) ranks 2nd; text 30: 30, 20, 8, 10.5 -> 2nd.
    text = np.array([[0.0], [10.0], [20.0], [30.0]])
    motion = np.array([[0.0], [10.0], [22.0], [19.5]])
    np.testing.assert_allclose(r_precision(text, motion, batch_size=4, top_k=3), [0.5, 1.0, 1.0])
    # batches {0, 1} and {2, 3}: in the second, text 20 is nearer motion 19.5 and text 30 nearer motion 22
    np.testing.assert_allclose(r_precision(text, motion, batch_size=2, top_k=2), [0.5, 1.0])
    # batches {0, 2} and {1, 3} (order): every text is nearest its own motion
    np.testing.assert_allclose(r_precision(text, motion, batch_size=2, top_k=1, order=[0, 2, 1, 3]), [1.0])
    assert matching_score(text, motion) == pytest.approx((0 + 0 + 2 + 10.5) / 4)


def test_r_precision_of_unrelated_embeddings_is_chance():
    rng = np.random.default_rng(4)
    text, motion = rng.normal(size=(3200, 16)), rng.normal(size=(3200, 16))
    values = r_precision(text, motion, batch_size=32, top_k=3)
    np.testing.assert_allclose(r_precision_chance(32, 3), [1 / 32, 2 / 32, 3 / 32])
    np.testing.assert_allclose(values, r_precision_chance(32, 3), atol=0.02)


def test_r_precision_leaves_out_the_last_partial_batch_and_rejects_bad_input():
    text = np.eye(5)
    motion = np.eye(5)[[0, 1, 2, 3, 0]]      # the 5th pair is wrong but falls in no full batch of 2
    np.testing.assert_allclose(r_precision(text, motion, batch_size=2, top_k=1), [1.0])
    with pytest.raises(ValueError, match='fewer than one batch'):
        r_precision(text, motion, batch_size=8)
    with pytest.raises(ValueError, match='permutation'):
        r_precision(text, motion, batch_size=2, top_k=1, order=[0, 0, 1, 2, 3])
    with pytest.raises(ValueError, match='top_k <= batch_size'):
        r_precision(text, motion, batch_size=2, top_k=3)
    with pytest.raises(ValueError, match='same shape'):
        r_precision(text, motion[:4], batch_size=2, top_k=1)


def test_euclidean_distance_matrix():
    a, b = np.array([[0.0, 0.0], [3.0, 4.0]]), np.array([[0.0, 0.0], [6.0, 8.0], [3.0, 0.0]])
    np.testing.assert_allclose(euclidean_distance_matrix(a, b), [[0, 10, 3], [5, 5, 4]], atol=1e-12)


# ----------------------------------------------------------------------------- diversity, multimodality, CI
def test_diversity_of_equidistant_points():
    d = 3.0
    simplex = np.eye(6) * d / math.sqrt(2)          # every pair of distinct vertices is d apart
    assert diversity(simplex, times=300) == pytest.approx(d)
    assert diversity(np.array([[0.0, 0.0], [3.0, 4.0]]), times=7) == pytest.approx(5.0)
    with pytest.raises(ValueError, match='at least 2'):
        diversity(np.zeros((1, 3)))


def test_diversity_of_a_large_gaussian_set():
    # E||x - y|| for x, y ~ N(0, I_1): sqrt(2) * sqrt(2 / pi) = 2 / sqrt(pi)
    x = np.random.default_rng(5).normal(size=(5000, 1))
    assert diversity(x, times=20000, rng=np.random.default_rng(0)) == pytest.approx(2 / math.sqrt(math.pi),
                                                                                    rel=0.03)


def test_multimodality_known_spreads():
    # condition n has generations 0 and d_n * e0 (R = 2): every pair of distinct generations is d_n apart
    spreads = np.array([1.0, 2.0, 6.0])
    gens = np.zeros((3, 2, 4))
    gens[:, 1, 0] = spreads
    assert multimodality(gens, times=10) == pytest.approx(spreads.mean())
    # R = 3 equilateral generations of side 2 for each of two conditions
    tri = np.eye(3) * 2 / math.sqrt(2)
    assert multimodality(np.stack([tri, tri + 5.0]), times=10) == pytest.approx(2.0)
    with pytest.raises(ValueError, match='at least 2 generations'):
        multimodality(np.zeros((3, 1, 4)))


def test_mean_and_ci95():
    assert mean_and_ci95([0.7] * 20) == (pytest.approx(0.7), 0.0)
    mean, half = mean_and_ci95([0.0, 2.0])                 # population std 1
    assert mean == pytest.approx(1.0) and half == pytest.approx(1.96 / math.sqrt(2))


# -------------------------------------------------------------------------------------------- the metric
def test_metric_without_checkpoint_logs_one_message_and_reports_nothing(monkeypatch, tmp_path):
    messages = []
    monkeypatch.setattr(distribution_metric, 'print_log', lambda msg, **kw: messages.append(msg))
    for ckpt in (None, str(tmp_path / 'missing.pth')):
        messages.clear()
        metric = DistributionMetric(evaluator_ckpt=ckpt)
        sample = dict(gt_motion=torch.zeros(16, 220), pred_motion=torch.zeros(16, 220), text='Push the box.')
        metric.process({}, [sample, sample])
        assert metric.evaluate(2) == {} and metric.evaluate(2) == {}
        assert len(messages) == 1, messages
        assert messages[0].startswith('FID/R-precision skipped: ')
        assert 'train one with tools/train_evaluator.py' in messages[0]
        assert ('no evaluator checkpoint configured' if ckpt is None else 'missing.pth') in messages[0]


class StubWordEncoder(nn.Module):
    """A frozen stand-in text encoder: word vectors seeded by crc32, pooled = their mean (D = 8)."""

    out_channels, max_length, feature_name, weights_id, weights_files = 8, 16, 'StubWordEncoder-L16', 'stub', ()

    def encode(self, sentences):
        words = [s.split() for s in sentences]
        tokens = torch.zeros(len(words), max(map(len, words)), 8)
        mask = torch.zeros(tokens.shape[:2], dtype=torch.bool)
        for b, sentence in enumerate(words):
            for i, word in enumerate(sentence):
                tokens[b, i] = torch.from_numpy(np.random.default_rng(zlib.crc32(word.encode())).normal(size=8))
                mask[b, i] = True
        return {'pooled': tokens.sum(1) / mask.sum(1, keepdim=True), 'tokens': tokens, 'mask': mask}


SENTENCES = ['Push the box.', 'Lift the lamp and put it down.', 'Carry the chair.', 'Push the table away.']
T, D = 16, 220


@pytest.fixture
def standin(tmp_path):
    """A random-weight evaluator checkpoint (statistics set) and a text cache of SENTENCES."""
    from imagin4d.models.backbones.feature_cache import FeatureCache
    from imagin4d.models.evaluators import MotionStatistics, TextMotionEvaluator
    cache = FeatureCache(tmp_path / 'cache')
    cache.compute(SENTENCES, StubWordEncoder(), config=dict(type='StubWordEncoder'), progress=False)
    torch.manual_seed(0)
    cfg = dict(type='TextMotionEvaluator', motion_dim=D, text_dim=8, embed_dim=16, hidden_dim=16, num_downsample=2,
               use_text_tokens=True)
    model = TextMotionEvaluator(**{k: v for k, v in cfg.items() if k != 'type'})
    stats = MotionStatistics()
    stats.update(torch.randn(8, T, D))
    model.set_motion_statistics(stats.result())
    path = tmp_path / 'evaluator.pth'
    torch.save(model.checkpoint(cfg, dict(text_encoder=dict(type='StubWordEncoder'))), path)
    return dict(ckpt=str(path), cache=str(tmp_path / 'cache'), model=model.eval())


def _samples(n, generations=0, seed=0):
    g = torch.Generator().manual_seed(seed)
    out = []
    for i in range(n):
        gt = torch.randn(T, D, generator=g)
        sample = dict(gt_motion=gt, pred_motion=gt + 0.5 * torch.randn(T, D, generator=g),
                      text=SENTENCES[i % len(SENTENCES)], seq_name=f'seq{i}')
        if generations:
            extra = sample['pred_motion'][None] + torch.randn(generations, T, D, generator=g)
            extra[0] = sample['pred_motion']
            sample['pred_motion_samples'] = extra
        out.append(sample)
    return out


def _embed(model, motions):
    with torch.no_grad():
        return model.encode_motion(torch.stack(list(motions))).double().numpy()


def test_metric_with_a_standin_evaluator_matches_the_functional_math(standin, monkeypatch):
    messages = []
    monkeypatch.setattr(distribution_metric, 'print_log', lambda msg, **kw: messages.append(msg))
    samples = _samples(6)
    metric = DistributionMetric(evaluator_ckpt=standin['ckpt'], feature_cache=standin['cache'], replications=1,
                                batch_size=32, seed=0)
    metric.process({}, samples[:4])
    metric.process({}, samples[4:])
    result = metric.evaluate(6)
    gt, pred = _embed(standin['model'], [s['gt_motion'] for s in samples]), _embed(
        standin['model'], [s['pred_motion'] for s in samples])
    assert result['fid'] == pytest.approx(fid(gt, pred), rel=1e-4)
    assert result['r_precision_batch_size'] == 6
    assert 'multimodality' not in result and not any(k.endswith('_ci95') for k in result)
    assert any('multimodality skipped' in m for m in messages)
    assert any('one batch of 6' in m for m in messages)
    assert set(result) >= {'r_precision_top1', 'r_precision_top2', 'r_precision_top3', 'matching_score',
                           'diversity', 'gt_r_precision_top1', 'gt_matching_score', 'gt_diversity'}
    assert result['r_precision_top1'] <= result['r_precision_top2'] <= result['r_precision_top3']


def test_metric_scores_prediction_equal_to_gt_like_gt(standin):
    samples = [dict(s, pred_motion=s['gt_motion']) for s in _samples(8)]
    metric = DistributionMetric(evaluator_ckpt=standin['ckpt'], feature_cache=standin['cache'], replications=3,
                                batch_size=4)
    metric.process({}, samples)
    result = metric.evaluate(8)
    assert result['fid'] == pytest.approx(0.0, abs=1e-5) and result['fid_ci95'] == pytest.approx(0.0, abs=1e-5)
    for key in ('r_precision_top1', 'r_precision_top3', 'matching_score', 'diversity'):
        assert result[key] == pytest.approx(result[f'gt_{key}'])


def test_metric_replications_score_each_generation(standin):
    samples = _samples(5, generations=3)
    metric = DistributionMetric(evaluator_ckpt=standin['ckpt'], feature_cache=standin['cache'], replications=3,
                                batch_size=32, mm_times=4)
    metric.process({}, samples)
    result = metric.evaluate(5)
    model = standin['model']
    gt = _embed(model, [s['gt_motion'] for s in samples])
    gens = np.stack([_embed(model, s['pred_motion_samples']) for s in samples])       # (N, R, E)
    fids = [fid(gt, gens[:, r]) for r in range(3)]
    assert result['fid'] == pytest.approx(np.mean(fids), rel=1e-4)
    assert result['fid_ci95'] == pytest.approx(1.96 * np.std(fids) / math.sqrt(3), rel=1e-3)
    assert result['multimodality'] > 0 and 'multimodality_ci95' in result


def test_metric_names_bad_samples(standin):
    metric = DistributionMetric(evaluator_ckpt=standin['ckpt'], feature_cache=standin['cache'])
    good = _samples(1)[0]
    with pytest.raises(ValueError, match=r"'seq0'.*pred_motion must be \(T, D\) with D = 220"):
        metric.process({}, [dict(good, pred_motion=torch.zeros(T, 12))])
    with pytest.raises(KeyError, match="lacks the field 'gt_motion'"):
        metric.process({}, [{k: v for k, v in good.items() if k != 'gt_motion'}])
    with pytest.raises(ValueError, match='normalised'):
        metric.process({}, [dict(good, normalized=True)])
    from imagin4d.models.backbones.feature_cache import MissingFeaturesError
    with pytest.raises(MissingFeaturesError, match='Walk away'):
        metric.process({}, [dict(good, text='Walk away.')])
    with pytest.raises(ValueError, match='feature_cache'):
        DistributionMetric(evaluator_ckpt=standin['ckpt'])
