"""FBMDataset on a tiny release in the exact FBM/OMOMO layout: loading, windows, canonical frame, codec round
trip, waypoint mask, cache, skip rules and every bad-input case."""
import os
import os.path as osp
import re

import joblib
import numpy as np
import pytest
import torch

from imagin4d.body_models.skeletons import JOINTS24_FROM_SMPLX
from imagin4d.datasets import BadSequenceError, FBMDataset
from imagin4d.geometry import apply_rigid, body_heading, bps_encode, place_object
from imagin4d.registry import DATASETS
from imagin4d.structures import HOIDataSample

PIPELINE = [dict(type='PackHOIInputs')]


def make(root, body_model_dir, split='train', **kwargs):
    kwargs.setdefault('pipeline', PIPELINE)
    return FBMDataset(data_root=root, split=split, body_model_root=osp.join(body_model_dir), **kwargs)


@pytest.fixture(scope='module')
def train_set(fbm_root, body_model_dir):
    return make(fbm_root, body_model_dir)


def test_release_fixture_has_the_documented_layout(fbm_root):
    data = joblib.load(osp.join(fbm_root, 'train_diffusion_manip_seq_joints24.p'))
    rec = data[0]
    assert rec['obj_trans'].shape == (150, 3, 1) and rec['obj_rot'].shape == (150, 3, 3)
    assert rec['obj_scale'].shape == (150,) and rec['betas'].shape == (1, 16)
    assert rec['gender'].ndim == 0 and rec['pose_body'].shape == (150, 63)


def test_loads_windows_and_skips_two_part_objects(train_set):
    ds = train_set
    assert DATASETS.get('FBMDataset') is FBMDataset
    # largebox 150 frames -> starts 0, 30; smalltable 130 -> 0; the mop sequence is skipped (two parts)
    assert len(ds) == 3
    assert [(ds.get_data_info(i)['seq_idx'], ds.get_data_info(i)['window_start']) for i in range(3)] == \
        [(0, 0), (0, 30), (1, 0)]
    assert ds.skipped == {'two_part_object': 1}
    out = ds[1]
    sample = out['data_samples']
    assert isinstance(sample, HOIDataSample)
    assert out['inputs']['motion'].shape == (120, 220) and out['inputs']['motion'].dtype == torch.float32
    assert sample.gt_motion is out['inputs']['motion']
    assert sample.bps.shape == (1024, 3) and sample.contacts.shape == (120, 4)
    assert sample.text == 'Lift the largebox, and put it down.'
    assert sample.seq_name == 'sub1_largebox_000' and sample.window_start == 30
    assert sample.object_name == 'largebox' and sample.subject == 'sub1' and sample.gender in ('male', 'female')
    assert ds.metainfo['skipped'] == {'two_part_object': 1}
    assert 0 <= sample.t_star < 120 and 0 <= sample.bps_frame < 120
    # contacts are the label file's slice, and also sit in the motion's last 4 dims
    labels = np.load(osp.join(ds.data_root, 'contact_labels_w_semantics_npy_files', 'sub1_largebox_000.npy'))
    assert np.array_equal(sample.contacts.numpy(), labels[30:150])
    assert torch.equal(sample.gt_motion[:, 216:], sample.contacts)
    # the fixed BPS basis is stored with the data
    basis = np.load(ds.bps_basis_file)
    assert basis.shape == (1024, 3) and np.linalg.norm(basis, axis=1).max() <= 1.0


def test_waypoint_mask_exact_frames(train_set):
    sample = train_set[0]['data_samples']
    mask = sample.waypoint_mask
    assert sorted(set(mask.nonzero()[:, 0].tolist())) == [0, 29, 59, 89, 119]
    assert mask[0, :216].all() and not mask[0, 216:].any()
    assert all(mask[f].nonzero()[:, 0].tolist() == [0, 1] for f in (29, 59, 89))
    assert mask[119].nonzero()[:, 0].tolist() == [0, 1, 2]
    assert torch.equal(sample.waypoint_values, sample.gt_motion * mask)


def _world_from_record(ds, split, seq_name, start, body_model):
    """Independent reference: body model joints24 and placed object vertices straight from the .p record."""
    data = joblib.load(osp.join(ds.data_root, f'{split}_diffusion_manip_seq_joints24.p'))
    rec = next(r for r in data.values() if r['seq_name'] == seq_name)
    sl = slice(start, start + 120)
    n = 120
    f32 = lambda a: torch.as_tensor(np.asarray(a)[sl], dtype=torch.float32)  # noqa: E731
    out = body_model(betas=torch.as_tensor(rec['betas'][:, :body_model.num_betas], dtype=torch.float32).expand(n, -1),
                     global_orient=f32(rec['root_orient']), body_pose=f32(rec['pose_body']), transl=f32(rec['trans']))
    joints = out['joints'][:, list(JOINTS24_FROM_SMPLX)] if 'joints24' not in out else out['joints24']
    template = torch.as_tensor(ds.object_template(seq_name.split('_')[1])['verts'], dtype=torch.float32)
    verts = place_object(template, f32(rec['obj_scale']), f32(rec['obj_rot']), f32(rec['obj_trans'][..., 0]))
    return joints.detach().double(), verts.double()


def test_canonicalisation_and_round_trip_to_the_release(train_set):
    ds = train_set
    sample = ds[1]['data_samples']
    d = ds.codec.decode(sample.gt_motion)
    joints = d['joints']
    # canonical frame: frame-0 root xy at the origin, frame-0 heading +Y, heights untouched
    assert joints[0, 0, :2].abs().max() <= 1e-5
    heading = body_heading(joints[0])
    assert (heading - torch.tensor([0.0, 1.0, 0.0])).abs().max() <= 1e-5
    R = torch.tensor(sample.canonical_R, dtype=torch.float64)
    t = torch.tensor(sample.canonical_t, dtype=torch.float64)
    assert abs(R[2, 2] - 1) < 1e-9 and t[2] == 0
    # against the raw release: body-model joints and object vertices, moved by the window's (R, t)
    body = ds._body_model(sample.gender)
    ref_joints, ref_verts = _world_from_record(ds, 'train', sample.seq_name, sample.window_start, body)
    assert (apply_rigid(ref_joints, R, t) - joints.double()).abs().max() <= 1e-5
    rot, trans = ds.codec.object_pose(d, sample.obj_ref_rot, sample.obj_scale, sample.template_centroid)
    template = torch.as_tensor(ds.object_template('largebox')['verts'])
    verts = place_object(template, sample.obj_scale, rot, trans)
    assert (apply_rigid(ref_verts, R, t) - verts.double()).abs().max() <= 1e-5
    # BPS: offsets of the placed object at the reference frame, around its centre
    f = sample.bps_frame
    ref_bps = bps_encode(verts[f].double(), torch.as_tensor(np.load(ds.bps_basis_file)).double(),
                         centre=d['obj_com'][f].double())
    assert (sample.bps.double() - ref_bps).abs().max() <= 1e-5
    # the object rotation block is relative to the BPS frame (identity there)
    assert (d['obj_rot'][sample.bps_frame] - torch.eye(3)).abs().max() <= 1e-5
    # body round trip: FK of the decoded rotations reproduces the joints block
    rest24 = ds._rest_joints(sample.gender, np.asarray(ds.sequence_info(0)['betas']))[list(JOINTS24_FROM_SMPLX)]
    fk = ds.codec.joints_from_rotations(d['global_rot'], rest24, joints[:, 0])
    assert (fk - joints).abs().max() <= 1e-5
    # canonical body parameters give the same joints through the body model
    p = sample.smpl_params
    out = body(betas=p['betas'][None, :body.num_betas].expand(120, -1), global_orient=p['global_orient'],
               body_pose=p['body_pose'], transl=p['transl'])
    bm_joints = out['joints24'] if 'joints24' in out else out['joints'][:, list(JOINTS24_FROM_SMPLX)]
    assert (bm_joints - joints).abs().max() <= 1e-5


def test_test_split_first_window_and_training_statistics(fbm_root, body_model_dir, train_set):
    ds = make(fbm_root, body_model_dir, split='test')
    assert ds.test_mode and len(ds) == 1 and ds.get_data_info(0)['window_start'] == 0
    sample = ds[0]['data_samples']
    assert sample.bps_frame == 0 and sample.window_start == 0
    assert ds.stats_file == train_set.stats_file                       # normalisation from the train split
    assert ds.metainfo['stats_file'] == train_set.stats_file
    # training statistics bound every training window after normalisation
    normed = ds.codec.normalize(torch.stack([train_set[i]['inputs']['motion'] for i in range(len(train_set))]))
    for name in ('obj_com', 'joints'):
        part = ds.codec.take(normed, name)
        assert part.min() >= -1 - 1e-5 and part.max() <= 1 + 1e-5
    norm = make(fbm_root, body_model_dir, split='test', normalize=True)[0]
    assert torch.allclose(norm['inputs']['motion'], ds.codec.normalize(sample.gt_motion), atol=1e-6)
    mask = norm['inputs']['waypoint_mask']
    assert torch.equal(norm['inputs']['waypoint_values'], norm['inputs']['motion'] * mask)


def test_cache_hit_on_second_start(fbm_copy, body_model_dir, monkeypatch):
    first = make(fbm_copy, body_model_dir)
    assert first.cache_hit is False
    calls = []
    monkeypatch.setattr(FBMDataset, '_build', lambda *a, **k: calls.append(1) or (_ for _ in ()).throw(
        AssertionError('rebuilt the cache')))
    second = make(fbm_copy, body_model_dir)
    assert second.cache_hit is True and not calls  # the build step never ran (speed is for benchmarks)
    assert len(second) == len(first) and second.skipped == first.skipped
    a, b = first[2]['inputs'], second[2]['inputs']
    assert torch.equal(a['motion'][:, 12:], b['motion'][:, 12:])       # (obj_rot depends on the random BPS frame)
    # a changed setting is a different cache entry
    monkeypatch.undo()
    third = make(fbm_copy, body_model_dir, stride=60)
    assert third.cache_hit is False and third._folder != second._folder and len(third) == 2


# ------------------------------------------------------------------ bad input
BAD_CASES = {
    'missing_key': (lambda r: r.pop('obj_rot'), "field 'obj_rot'", 'key missing'),
    'wrong_shape': (lambda r: r.__setitem__('obj_trans', np.zeros((150, 4, 1), np.float32)), "field 'obj_trans'",
                    'shape (150, 4, 1), expected (150, 3, 1) or (150, 3)'),
    'non_finite': (lambda r: r['pose_body'].__setitem__((5, 7), np.nan), "field 'pose_body'", '1 NaN/inf'),
    'too_short': (lambda r: [r.__setitem__(k, r[k][:100]) for k in list(r) if getattr(r[k], 'ndim', 0) >= 1
                             and r[k].shape[0] == 150], "field 'frames'", 'shorter than a window'),
}


@pytest.mark.parametrize('reason', sorted(BAD_CASES))
def test_bad_record_is_named_and_skipped_or_raised(reason, fbm_copy, body_model_dir, fixtures):
    edit, field, problem = BAD_CASES[reason]
    if reason == 'too_short':  # the contact labels are cut too, so that only the length is wrong
        path = osp.join(fbm_copy, 'contact_labels_w_semantics_npy_files', 'sub1_largebox_000.npy')
        np.save(path, np.load(path)[:100])
    fixtures.edit_fbm_record(fbm_copy, 'train', 0, edit)
    with pytest.raises(BadSequenceError) as err:
        make(fbm_copy, body_model_dir, on_bad_sequence='raise')
    msg = str(err.value)
    assert err.value.reason == reason
    assert 'train_diffusion_manip_seq_joints24.p' in msg and "'sub1_largebox_000'" in msg
    assert field in msg and problem in msg
    ds = make(fbm_copy, body_model_dir, on_bad_sequence='skip')
    assert ds.skipped == {'two_part_object': 1, reason: 1}
    assert len(ds) == 1 and ds[0]['data_samples'].seq_name == 'sub2_smalltable_001'
    assert any(field in m for m in ds.skip_messages)
    # the same cache, opened with 'raise', refuses the data set that had bad sequences
    with pytest.raises(Exception, match=reason):
        make(fbm_copy, body_model_dir, on_bad_sequence='raise')


def test_missing_files(fbm_copy, body_model_dir):
    from imagin4d.utils.errors import DataError
    os.remove(osp.join(fbm_copy, 'contact_labels_w_semantics_npy_files', 'sub2_smalltable_001.npy'))
    ds = make(fbm_copy, body_model_dir)
    assert ds.skipped == {'missing_file': 1, 'two_part_object': 1} and len(ds) == 2
    assert "sub2_smalltable_001.npy, sequence 'sub2_smalltable_001', field 'contacts'" in ds.skip_messages[0]
    # with every usable sequence gone, one error lists the problems
    os.remove(osp.join(fbm_copy, 'captured_objects', 'largebox_cleaned_simplified.obj'))
    with pytest.raises(DataError) as err:
        make(fbm_copy, body_model_dir)
    assert 'no usable sequence' in str(err.value) and 'largebox_cleaned_simplified.obj' in str(err.value)
    assert "field 'object mesh'" in str(err.value)


def test_missing_release_or_body_model_is_one_clear_error(fbm_copy, body_model_dir, tmp_path, monkeypatch):
    os.remove(osp.join(fbm_copy, 'test_diffusion_manip_seq_joints24.p'))
    with pytest.raises(FileNotFoundError, match='test_diffusion_manip_seq_joints24.p'):
        make(fbm_copy, body_model_dir, split='test', stats_file='unused.json')
    nowhere = str(tmp_path / 'nowhere')
    message = (r'FBMDataset: no (fe)?male SMPLX body model \(smplx/SMPLX_(FE)?MALE.npz\) in the folders searched: '
               + re.escape(nowhere) + r'\. Set body_model_root')
    with pytest.raises(FileNotFoundError, match=message):
        make(fbm_copy, nowhere)
    # no folder given: $IMAGIN4D_BODY_MODEL_DIR, then the release's smpl_all_models, both named
    monkeypatch.setenv('IMAGIN4D_BODY_MODEL_DIR', nowhere)
    searched = f"{nowhere}, {osp.join(fbm_copy, 'smpl_all_models')}"
    with pytest.raises(FileNotFoundError, match=re.escape(f'in the folders searched: {searched}.')):
        FBMDataset(data_root=fbm_copy, split='train', pipeline=PIPELINE)
    assert not any(n.endswith('.tmp') or '.tmp-' in n for n in os.listdir(osp.join(fbm_copy, 'imagin4d_cache')))


def test_no_text_skip_and_geometry_contacts(fbm_copy, body_model_dir):
    os.remove(osp.join(fbm_copy, 'omomo_text_anno_json_data', 'sub2_smalltable_001.json'))
    ds = make(fbm_copy, body_model_dir)
    assert ds.skipped == {'two_part_object': 1, 'no_text': 1} and len(ds) == 2
    kept = make(fbm_copy, body_model_dir, require_text=False, contact_source='geometry')
    assert len(kept) == 3 and kept.skipped == {'two_part_object': 1}
    assert kept[2]['data_samples'].text == ''
    # geometric contacts agree with the joint-to-vertex distances of the loaded window
    s = kept[0]['data_samples']
    d = kept.codec.decode(s.gt_motion)
    verts = place_object(torch.as_tensor(kept.object_template('largebox')['verts']), s.obj_scale, s.obj_rot,
                         s.obj_trans)
    dist = torch.cdist(d['joints'][:, [22, 23]].double(), verts.double()).min(-1).values
    assert torch.equal(s.contacts[:, :2].bool(), dist < kept.contact_threshold)
