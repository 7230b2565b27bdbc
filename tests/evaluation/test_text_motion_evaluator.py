"""The text-motion evaluator: statistics, encoders, contrastive loss, checkpoints, and a short real training with
tools/train_evaluator.py on the prepared mini-FBM (retrieval above chance, FID separating GT from time-shuffled GT)."""
import math

import numpy as np
import pytest
import torch
from testing_utils import REPO, run_tool

from imagin4d.evaluation.functional.distribution import fid, r_precision, r_precision_chance
from imagin4d.models.evaluators import CachedTextFeatures, MotionStatistics, TextMotionEvaluator, collate_text_features
from imagin4d.utils.errors import CheckpointError

pytestmark = pytest.mark.usefixtures('single_torch_thread')

SMALL = dict(motion_dim=10, text_dim=6, embed_dim=8, hidden_dim=8, num_downsample=2)


def _model(**kwargs):
    torch.manual_seed(0)
    model = TextMotionEvaluator(**dict(SMALL, **kwargs))
    stats = MotionStatistics()
    stats.update(torch.randn(4, 16, SMALL['motion_dim']))
    model.set_motion_statistics(stats.result())
    return model.eval()


def test_motion_statistics_match_numpy():
    rng = np.random.default_rng(0)
    a, b = rng.normal(size=(3, 5, 4)) * 2 + 1, rng.normal(size=(2, 5, 4))
    stats = MotionStatistics()
    stats.update(torch.as_tensor(a))
    stats.update(torch.as_tensor(b))
    frames = np.concatenate([a, b]).reshape(-1, 4)
    diffs = np.concatenate([np.diff(x, axis=1)[:, [0] + list(range(4))] for x in (a, b)]).reshape(-1, 4)
    result = stats.result()
    assert result['num_frames'] == 25
    np.testing.assert_allclose(result['motion_mean'], frames.mean(0), rtol=1e-5)
    np.testing.assert_allclose(result['motion_std'], frames.std(0), rtol=1e-5)
    np.testing.assert_allclose(result['velocity_mean'], diffs.mean(0), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(result['velocity_std'], diffs.std(0), rtol=1e-5)


def test_encoders_give_unit_embeddings_and_need_statistics():
    model = TextMotionEvaluator(**SMALL)
    with pytest.raises(RuntimeError, match='statistics are not set'):
        model.encode_motion(torch.zeros(2, 16, 10))
    model = _model()
    emb = model.encode_motion(torch.randn(3, 16, 10))
    assert emb.shape == (3, 8)
    np.testing.assert_allclose(emb.norm(dim=-1).detach(), 1.0, rtol=1e-5)
    with pytest.raises(ValueError, match=r'T >= 4, 10'):
        model.encode_motion(torch.zeros(2, 3, 10))
    with pytest.raises(ValueError, match=r'\(B, 6\)'):
        model.encode_text(torch.zeros(2, 5))


def test_statistics_travel_with_the_checkpoint(tmp_path):
    model = _model(use_text_tokens=True)
    cfg = dict(type='TextMotionEvaluator', use_text_tokens=True, **SMALL)
    path = tmp_path / 'evaluator.pth'
    torch.save(model.checkpoint(cfg, dict(note='hello')), path)
    loaded = TextMotionEvaluator.from_checkpoint(path)
    motion, pooled, tokens = torch.randn(2, 16, 10), torch.randn(2, 6), torch.randn(2, 3, 6)
    with torch.no_grad():
        torch.testing.assert_close(loaded.encode_motion(motion), model.encode_motion(motion))
        torch.testing.assert_close(loaded.encode_text(pooled, tokens), model.encode_text(pooled, tokens))
    torch.testing.assert_close(loaded.motion_std, model.motion_std)
    assert loaded.checkpoint_meta['note'] == 'hello' and not loaded.training
    torch.save({'state_dict': {}}, tmp_path / 'other.pth')
    with pytest.raises(CheckpointError, match='other.pth.*not a text-motion evaluator'):
        TextMotionEvaluator.from_checkpoint(tmp_path / 'other.pth')
    with pytest.raises(FileNotFoundError, match='train_evaluator'):
        TextMotionEvaluator.from_checkpoint(tmp_path / 'none.pth')


def test_padding_tokens_do_not_change_the_text_embedding():
    model = _model(use_text_tokens=True)
    short = dict(pooled=np.ones(6, np.float32), tokens=np.random.default_rng(0).normal(size=(2, 6)))
    longer = dict(pooled=np.zeros(6, np.float32), tokens=np.random.default_rng(1).normal(size=(5, 6)))
    alone = model.encode_text(*collate_text_features([short]))
    pooled, tokens, mask = collate_text_features([short, longer])
    assert tokens.shape == (2, 5, 6) and mask.sum(1).tolist() == [2, 5]
    together = model.encode_text(pooled, tokens, mask)
    torch.testing.assert_close(together[:1], alone)


@torch.no_grad()
def test_contrastive_loss_by_hand():
    model = _model()
    emb = torch.nn.functional.normalize(torch.tensor([[1.0, 0.0], [1.0, 0.0]]), dim=-1)
    # identical rows: each text scores both motions equally -> cross-entropy log 2 in both directions
    out = model.contrastive_loss(emb, emb)
    assert float(out['loss']) == pytest.approx(math.log(2), rel=1e-5)
    # the same sentence twice: the other pair is no negative -> loss 0
    out = model.contrastive_loss(emb, emb, text_ids=torch.tensor([3, 3]))
    assert float(out['loss']) == pytest.approx(0.0, abs=1e-6)
    # orthogonal pairs: logits s = 2 on the diagonal, 0 elsewhere -> log(1 + exp(-2))
    with torch.no_grad():
        model.logit_scale.fill_(math.log(2.0))
    eye = torch.eye(2)
    assert float(model.contrastive_loss(eye, eye)['loss']) == pytest.approx(math.log(1 + math.exp(-2.0)), rel=1e-5)


# ------------------------------------------------------------------------------- training on mini-FBM
def _windows(root, split):
    from imagin4d.datasets import FBMDataset
    dataset = FBMDataset(data_root=root, split=split, pipeline=[], bps_frame='first')
    windows = [dataset.assemble_window(dataset.get_data_info(i)) for i in range(len(dataset))]
    return torch.stack([w['motion'] for w in windows]), [w['text'] for w in windows]


def _time_shuffled(motions, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.stack([m[torch.randperm(m.shape[0], generator=g)] for m in motions])


def _mean_r_precision(text_emb, motion_emb, batch, replications=10):
    n = len(motion_emb)
    return np.mean([r_precision(text_emb, motion_emb, batch, 3, np.random.default_rng(s).permutation(n))
                    for s in range(replications)], 0)


@pytest.fixture(scope='module')
def trained(mini_fbm_prepared, tmp_path_factory):
    work_dir = tmp_path_factory.mktemp('evaluator')
    result = run_tool(['tools/train_evaluator.py', 'projects/imagin4d/evaluators/mini_fbm_evaluator.py',
                       '--work-dir', work_dir, '--cfg-options', f'data_root={mini_fbm_prepared}',
                       'train_cfg.max_iters=100', 'train_cfg.log_interval=50', 'eval_cfg.replications=5'],
                      cwd=REPO, timeout=300)
    return dict(root=mini_fbm_prepared, ckpt=work_dir / 'text_motion_evaluator.pth', stdout=result.stdout,
                work_dir=work_dir)


def test_train_evaluator_tool_writes_a_self_contained_checkpoint(trained):
    assert 'test retrieval (8 windows, batches of 8' in trained['stdout']
    assert (trained['work_dir'] / 'train_log.jsonl').is_file()
    model = TextMotionEvaluator.from_checkpoint(trained['ckpt'])
    meta = model.checkpoint_meta
    assert meta['text_encoder'] == {'type': 'MiniLMTextEncoder'} and meta['train_windows'] > 32
    assert set(meta['retrieval']) == {'train', 'test'}
    assert int(model.num_statistics_frames) == meta['train_windows'] * 120


def test_trained_evaluator_retrieves_and_separates_shuffled_motion(trained):
    model = TextMotionEvaluator.from_checkpoint(trained['ckpt'])
    texts = CachedTextFeatures(f'{trained["root"]}/feature_cache')
    embed = {}
    with torch.no_grad():
        for split in ('train', 'test'):
            motions, sentences = _windows(trained['root'], split)
            embed[split] = dict(gt=model.encode_motion(motions).double().numpy(),
                                shuffled=model.encode_motion(_time_shuffled(motions)).double().numpy(),
                                text=model.encode_text(*texts(sentences)).double().numpy())
    # GT motions retrieve their own sentences among 32 far above chance (3/32); time-shuffled ones do not
    train = embed['train']
    batch = min(32, len(train['gt']))
    chance = r_precision_chance(batch, 3)[2]
    top3 = _mean_r_precision(train['text'], train['gt'], batch)[2]
    top3_shuffled = _mean_r_precision(train['text'], train['shuffled'], batch)[2]
    assert top3 > 0.6 > 5 * chance, (top3, chance)
    assert top3 - top3_shuffled > 0.3, (top3, top3_shuffled)
    # FID: GT against itself ~ 0; against time-shuffled GT far larger than against other real motion
    test = embed['test']
    assert fid(test['gt'], test['gt']) < 1e-6
    fid_real = fid(test['gt'], train['gt'])
    fid_shuffled = fid(test['gt'], test['shuffled'])
    assert fid_shuffled > 1.3 * fid_real and fid_shuffled > 1e4 * max(fid(test['gt'], test['gt']), 1e-9), \
        (fid_shuffled, fid_real)


def test_distribution_metric_with_the_trained_evaluator(trained):
    from imagin4d.evaluation.metrics import DistributionMetric
    motions, sentences = _windows(trained['root'], 'test')
    shuffled = _time_shuffled(motions)
    results = {}
    for name, preds in (('gt', motions), ('shuffled', shuffled)):
        metric = DistributionMetric(evaluator_ckpt=str(trained['ckpt']),
                                    feature_cache=f'{trained["root"]}/feature_cache', replications=1)
        metric.process({}, [dict(gt_motion=g, pred_motion=p, text=t) for g, p, t in zip(motions, preds, sentences)])
        results[name] = metric.evaluate(len(motions))
    assert results['gt']['fid'] < 1e-6
    assert results['gt']['r_precision_top3'] == results['gt']['gt_r_precision_top3']
    assert results['shuffled']['fid'] > 0.1
    assert results['shuffled']['diversity'] < results['shuffled']['gt_diversity']
