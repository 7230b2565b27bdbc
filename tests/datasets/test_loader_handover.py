"""The loader hand-over of a packed window (issue 23): in a loader worker PackHOIInputs copies every tensor of a
window into one storage; the model, the data preprocessor and a pickle of the sample see the same values as before."""
import copy
import os.path as osp
import pickle
from multiprocessing.reduction import ForkingPickler
from types import SimpleNamespace

import numpy as np
import pytest
import torch
import torch.multiprocessing  # noqa: F401  (registers the shared-memory reductions of tensors with ForkingPickler)
from mmengine.dataset import pseudo_collate
from torch.utils.data import DataLoader

from imagin4d.datasets import FBMDataset
from imagin4d.datasets.transforms.formatting import share_one_storage
from imagin4d.models.data_preprocessors.hoi_data_preprocessor import HOIDataPreprocessor
from imagin4d.structures import HOIDataSample


def hand_made_window():
    pose = torch.randn(5, 9)
    inputs = dict(motion=torch.randn(5, 7), waypoint_mask=torch.rand(5, 7) > 0.5, bps=torch.randn(6, 3).half(),
                  obj_scale=torch.tensor(1.5), image_patch=torch.randn(2, 3).t())          # a transposed view
    sample = HOIDataSample(metainfo=dict(seq_name='s', canonical_t=[0.0, 1.0, 2.0]))
    sample.gt_motion = inputs['motion']                                                     # held twice
    sample.contacts = torch.zeros(5, 4)
    sample.text = 'a person lifts a box'
    sample.set_data(dict(object_faces=torch.arange(12).reshape(4, 3), obj_scale=inputs['obj_scale'],
                         smpl_params=dict(body_pose=pose[:, 3:], betas=torch.randn(3))))
    return inputs, sample


def tensors(inputs, sample):
    return (list(inputs.values()) + [sample.gt_motion, sample.contacts, sample.object_faces, sample.obj_scale]
            + list(sample.smpl_params.values()))


def test_one_storage_same_values_dtypes_and_aliases():
    inputs, sample = hand_made_window()
    before = [t.clone() for t in tensors(inputs, sample)]
    size = share_one_storage(inputs, sample)
    after = tensors(inputs, sample)
    # bytes, each rounded up to 8: motion 140->144, mask 35->40, bps 36->40, scale 4->8, patch 24, contacts 80,
    # faces 96, body_pose 120, betas 12->16 (gt_motion and obj_scale are the inputs' own tensors)
    assert size == 144 + 40 + 40 + 8 + 24 + 80 + 96 + 120 + 16
    assert len({t.untyped_storage().data_ptr() for t in after}) == 1
    for old, new in zip(before, after):
        assert new.dtype == old.dtype and new.shape == old.shape and torch.equal(new, old)
    assert sample.gt_motion is inputs['motion'] and sample.obj_scale is inputs['obj_scale']
    assert sample.text == 'a person lifts a box' and sample.canonical_t == [0.0, 1.0, 2.0]


def test_pickle_keeps_views_for_the_handover_only():
    inputs, sample = hand_made_window()
    reference = len(pickle.dumps(hand_made_window()[1]))
    share_one_storage(inputs, sample)
    handover = ForkingPickler.loads(ForkingPickler.dumps(sample))   # the marked hand-over: still one storage
    assert len({t.untyped_storage().data_ptr() for t in tensors({}, handover)}) == 1
    later = pickle.dumps(sample)                            # every later pickle: each field its own elements
    assert len(later) <= reference
    restored = pickle.loads(later)
    for old, new in zip(tensors({}, sample), tensors({}, restored)):
        assert new.dtype == old.dtype and torch.equal(new, old)
    assert not hasattr(restored, '_keep_views') and '_keep_views' not in restored.keys()
    shallow = copy.copy(sample)                             # a shallow copy shares the fields, as before
    assert all(a is b for a, b in zip(tensors({}, shallow), tensors({}, sample)))


@pytest.fixture(scope='module')
def train_set(fbm_root, body_model_dir):
    return FBMDataset(data_root=fbm_root, split='train', body_model_root=osp.join(body_model_dir),
                      pipeline=[dict(type='PackHOIInputs')])


@pytest.mark.parametrize('test_mode', [False, True])
def test_only_a_training_sets_worker_shares_one_storage(train_set, monkeypatch, test_mode):
    from imagin4d.datasets.transforms import formatting
    worker = SimpleNamespace(dataset=SimpleNamespace(test_mode=test_mode))
    monkeypatch.setattr(formatting, 'get_worker_info', lambda: worker)
    storages = {v.untyped_storage().data_ptr() for v in tensors({}, train_set[0]['data_samples'])}
    assert (len(storages) == 1) is not test_mode


def preprocess(batch):
    pre = HOIDataPreprocessor()
    widths = {n: pre.codec.slices[n].stop - pre.codec.slices[n].start for n in pre.codec.NORMALIZED}
    pre.set_stats({f'{n}_{e}': torch.full((w,), v, dtype=torch.float64)
                   for n, w in widths.items() for e, v in (('min', -2.0), ('max', 3.0))})
    return pre(batch, training=True)


def test_worker_batch_is_the_batch_without_the_handover(train_set, monkeypatch):
    """The same batch through a forked worker, with one storage per window and without (the old path: the worker
    hands each tensor over separately): the preprocessed inputs and every data sample field and metainfo equal."""
    from imagin4d.datasets.transforms import formatting

    def batch():
        loader = DataLoader(train_set, batch_size=3, num_workers=1, collate_fn=pseudo_collate,
                            worker_init_fn=lambda _: np.random.seed(0), generator=torch.Generator().manual_seed(0))
        return next(iter(loader))

    handed = batch()
    monkeypatch.setattr(formatting, 'share_one_storage', lambda inputs, sample: None)
    direct = batch()
    for sample in handed['data_samples']:
        assert len({v.untyped_storage().data_ptr() for v in tensors({}, sample)}) == 1
    for sample in direct['data_samples']:
        assert len({v.untyped_storage().data_ptr() for v in tensors({}, sample)}) > 1
    old, new = preprocess(direct), preprocess(handed)
    assert sorted(old['inputs']) == sorted(new['inputs'])
    for key, value in old['inputs'].items():
        if isinstance(value, torch.Tensor):
            assert value.dtype == new['inputs'][key].dtype and torch.equal(value, new['inputs'][key]), key
        else:
            assert value == new['inputs'][key], key
    for a, b in zip(old['data_samples'], new['data_samples']):
        assert a.metainfo == b.metainfo and sorted(a.keys()) == sorted(b.keys())
        for key in a.keys():
            x, y = a.get(key), b.get(key)
            for u, v in (zip(x.values(), y.values()) if isinstance(x, dict) else [(x, y)]):
                if isinstance(u, torch.Tensor):
                    assert u.dtype == v.dtype and torch.equal(u, v), key
                else:
                    assert u == v, key


def test_image_features_travel_as_cached_float16_and_reach_the_model_as_float32(tmp_path):
    """LoadReferenceFeatures hands the cached float16 image features over unconverted (half the bytes through
    shared memory); HOIDataPreprocessor gives the model float32 inputs equal to the cached values, padded where the
    grids differ."""
    from imagin4d.datasets.transforms import LoadReferenceFeatures
    from imagin4d.models.backbones.feature_cache import FeatureCache, FeatureSpec
    cache = FeatureCache(tmp_path / 'cache')
    spec = FeatureSpec(kind='image', name='toy-image', weights_id='w0', preprocess_id='p0')
    gen = np.random.default_rng(0)
    entries = {}
    for i, cells in enumerate((4, 6)):                                 # two grids: 2x2 and 2x3
        image = tmp_path / f'ref{i}.png'
        image.write_bytes(bytes([i]) * 16)
        cache.put(str(image), spec, dict(patch=gen.normal(size=(cells, 5)), pooled=gen.normal(size=5),
                                         grid_hw=np.array([2, cells // 2])))
        entries[(f's{i}', 0)] = [dict(image=str(image), camera={}, t_star=7)]
    transform = LoadReferenceFeatures(reference_index='index.json', feature_cache=str(tmp_path / 'cache'))
    transform._entries, transform._cache, transform._image_spec = entries, cache, spec       # the index, read
    windows = [transform(dict(seq_name=f's{i}', window_start=0)) for i in range(2)]
    stored = []
    for i, window in enumerate(windows):
        with np.load(cache.entry_path(str(tmp_path / f'ref{i}.png'), spec)) as entry:     # read independently
            stored.append({k: entry[k] for k in ('patch', 'pooled')})
        assert window['image_patch'].dtype == window['image_pooled'].dtype == torch.float16
        assert np.array_equal(window['image_patch'].numpy(), stored[i]['patch'])
    no_waypoints = torch.zeros(4, 220, dtype=torch.bool)
    batch = dict(inputs=dict(motion=[torch.randn(4, 220)] * 2, waypoint_mask=[no_waypoints] * 2,
                             image_patch=[w['image_patch'] for w in windows],
                             image_pooled=[w['image_pooled'] for w in windows]), data_samples=[])
    out = preprocess(batch)['inputs']
    assert out['image_patch'].dtype == out['image_pooled'].dtype == torch.float32
    assert out['image_patch'].shape == (2, 6, 5) and out['image_patch_mask'].tolist() == [[True] * 4 + [False] * 2,
                                                                                             [True] * 6]
    for i, cells in enumerate((4, 6)):
        assert torch.equal(out['image_patch'][i, :cells], torch.from_numpy(stored[i]['patch'].astype(np.float32)))
        assert torch.equal(out['image_pooled'][i], torch.from_numpy(stored[i]['pooled'].astype(np.float32)))
    assert not out['image_patch'][0, 4:].any()
