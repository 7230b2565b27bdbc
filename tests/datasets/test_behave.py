"""BEHAVEDataset on a tiny 30 fps release in the exact layout: Z-up conversion, floor, geometric contacts,
windows, codec, and bad input."""
import json
import os
import os.path as osp
import shutil

import numpy as np
import pytest
import torch

from imagin4d.datasets import BadSequenceError, BEHAVEDataset
from imagin4d.datasets.behave import BEHAVE_TO_ZUP
from imagin4d.geometry import apply_rigid, axis_angle_to_matrix, body_heading, place_object

PIPELINE = [dict(type='PackHOIInputs')]


def make(root, body_model_dir, split='train', **kwargs):
    kwargs.setdefault('pipeline', PIPELINE)
    return BEHAVEDataset(data_root=root, split=split, body_model_root=body_model_dir, **kwargs)


@pytest.fixture(scope='module')
def train_set(behave_root, body_model_dir):
    return make(behave_root, body_model_dir)


@pytest.fixture
def behave_copy(behave_root, tmp_path):
    dst = str(tmp_path / 'behave')
    shutil.copytree(behave_root, dst, ignore=shutil.ignore_patterns('imagin4d_cache'))
    return dst


def test_release_fixture_has_the_documented_layout(behave_root):
    folder = osp.join(behave_root, 'behave-30fps-params-v1', 'Date01_Sub01_boxmedium_hand')
    smpl = np.load(osp.join(folder, 'smpl_fit_all.npz'))
    obj = np.load(osp.join(folder, 'object_fit_all.npz'))
    assert smpl['poses'].shape == (150, 156) and smpl['poses'].dtype == np.float32
    assert smpl['betas'].shape == (150, 10) and smpl['frame_times'].dtype == np.dtype('<U9')
    assert smpl['frame_times'][1] == 't0003.033' and smpl['save_name'].ndim == 0
    assert obj['angles'].dtype == np.float64 and obj['trans'].shape == (150, 3)


def test_loads_windows_in_the_zup_world(train_set, body_model_dir):
    ds = train_set
    assert len(ds) == 3 and ds.skipped == {}
    sample = ds[0]['data_samples']
    assert sample.gt_motion.shape == (120, 220) and sample.bps.shape == (1024, 3)
    assert sample.gender == 'male' and sample.subject == 'Sub01' and sample.object_name == 'boxmedium'
    assert sample.text == 'A person interacts with the boxmedium.'
    assert ds[2]['data_samples'].gender == 'female'                     # Sub06, from the subject table
    d = ds.codec.decode(sample.gt_motion)
    joints = d['joints']
    # Z up: the head is above the pelvis, which is above the ankles; the floor is at z = 0
    assert (joints[:, 15, 2] > joints[:, 0, 2]).all() and (joints[:, 0, 2] > joints[:, 7, 2]).all()
    p = sample.smpl_params
    body = ds._body_model('male')
    out = body(betas=p['betas'][None].expand(120, -1), global_orient=p['global_orient'], body_pose=p['body_pose'],
               transl=p['transl'], left_hand_pose=p['left_hand_pose'], right_hand_pose=p['right_hand_pose'])
    assert (out['joints24'] - joints).abs().max() <= 1e-5               # canonical params <-> joints block
    seq_min_z = out['vertices'][..., 2].min()
    assert -1e-4 <= float(seq_min_z) < 0.05                              # the lowest vertex touches the floor
    # canonical frame
    assert joints[0, 0, :2].abs().max() <= 1e-5
    assert (body_heading(joints[0]) - torch.tensor([0.0, 1.0, 0.0])).abs().max() <= 1e-5


def test_object_matches_the_release_after_conversion(train_set):
    ds = train_set
    sample = ds[1]['data_samples']
    folder = osp.join(ds.data_root, 'behave-30fps-params-v1', sample.seq_name)
    obj = np.load(osp.join(folder, 'object_fit_all.npz'))
    sl = slice(sample.window_start, sample.window_start + 120)
    raw = ds.object_template(sample.object_name)['verts']                # centred template
    # release convention (camera frame): R(angle) (v - mean) + trans
    cam = place_object(torch.as_tensor(raw, dtype=torch.float64), 1.0,
                       axis_angle_to_matrix(torch.as_tensor(obj['angles'][sl])), torch.as_tensor(obj['trans'][sl]))
    world = cam @ torch.as_tensor(BEHAVE_TO_ZUP).T
    R = torch.tensor(sample.canonical_R, dtype=torch.float64)
    t = torch.tensor(sample.canonical_t, dtype=torch.float64)
    d = ds.codec.decode(sample.gt_motion)
    rot, trans = ds.codec.object_pose(d, sample.obj_ref_rot, sample.obj_scale, sample.template_centroid)
    verts = place_object(torch.as_tensor(raw), sample.obj_scale, rot, trans).double()
    # equal up to the floor shift (a z translation, the same for every frame and vertex)
    diff = verts - apply_rigid(world, R, t)
    assert diff[..., :2].abs().max() <= 1e-5
    assert (diff[..., 2] - diff[0, 0, 2]).abs().max() <= 1e-5


def test_contacts_from_geometry(train_set):
    ds = train_set
    all_contacts = []
    for i in range(len(ds)):
        s = ds[i]['data_samples']
        d = ds.codec.decode(s.gt_motion)
        verts = place_object(torch.as_tensor(ds.object_template(s.object_name)['verts']), s.obj_scale, s.obj_rot,
                             s.obj_trans).double()
        j = d['joints'].double()
        dist = torch.stack([torch.cdist(j[:, ids], verts).amin((-1, -2))
                            for ids in ([22], [23], [7, 10], [8, 11])], -1)
        near_threshold = (dist - ds.contact_threshold).abs() < 1e-5
        agree = s.contacts.bool() == (dist < ds.contact_threshold)
        assert (agree | near_threshold).all()
        all_contacts.append(s.contacts)
    c = torch.cat(all_contacts)
    assert c.any() and not c.all()                                       # the fixture has both cases


def _rewrite(path, **changes):
    data = dict(np.load(path))
    for k, v in changes.items():
        if v is None:
            data.pop(k)
        else:
            data[k] = v
    np.savez(path, **data)


def test_missing_file_raises_with_file_sequence_and_field(behave_copy, body_model_dir):
    folder = osp.join(behave_copy, 'behave-30fps-params-v1')
    os.remove(osp.join(folder, 'Date01_Sub01_boxmedium_hand', 'object_fit_all.npz'))
    with pytest.raises(BadSequenceError) as err:
        make(behave_copy, body_model_dir, on_bad_sequence='raise')
    assert err.value.reason == 'missing_file'
    assert "object_fit_all.npz, sequence 'Date01_Sub01_boxmedium_hand', field 'object_fit_all'" in str(err.value)


def test_skip_report_counts_reasons(behave_copy, body_model_dir, fixtures):
    folder = osp.join(behave_copy, 'behave-30fps-params-v1')
    names = {reason: f'Date04_Sub02_boxmedium_{reason}' for reason in
             ('missing_key', 'non_finite', 'bad_value', 'missing_file', 'too_short')}
    for i, (reason, name) in enumerate(names.items()):
        if reason != 'missing_file':
            fixtures.write_behave_sequence(behave_copy, name, 100 if reason == 'too_short' else 125, seed=10 + i)
    _rewrite(osp.join(folder, names['missing_key'], 'smpl_fit_all.npz'), trans=None)
    poses = np.load(osp.join(folder, names['non_finite'], 'smpl_fit_all.npz'))['poses']
    poses[3, 10] = np.nan
    _rewrite(osp.join(folder, names['non_finite'], 'smpl_fit_all.npz'), poses=poses)
    times_25fps = np.array([f't{3 + i / 25.0:08.3f}' for i in range(125)])
    for part in ('smpl_fit_all.npz', 'object_fit_all.npz'):
        _rewrite(osp.join(folder, names['bad_value'], part), frame_times=times_25fps)
    with open(osp.join(behave_copy, 'split.json'), 'w') as f:
        json.dump({'train': ['Date01_Sub01_boxmedium_hand'] + list(names.values()), 'test': []}, f)
    ds = make(behave_copy, body_model_dir)
    assert ds.skipped == {reason: 1 for reason in names}
    assert len(ds) == 2 and ds[0]['data_samples'].seq_name == 'Date01_Sub01_boxmedium_hand'
    text = '\n'.join(ds.skip_messages)
    assert f"sequence '{names['missing_key']}', field 'trans': key missing" in text
    assert f"sequence '{names['non_finite']}', field 'poses': 1 NaN/inf values" in text
    assert "field 'frame_times': median frame step 0.0400 s, expected 30 fps" in text
    assert f"sequence '{names['missing_file']}', field 'smpl_fit_all': file not found" in text
    assert f"sequence '{names['too_short']}', field 'frames': 100 frames, shorter than a window of 120" in text


def test_body_models_under_the_root_by_default_and_a_miss_names_the_folders(behave_copy, body_model_dir, monkeypatch):
    """The documented layout: smplh/ under the data root; $IMAGIN4D_BODY_MODEL_DIR is searched first."""
    monkeypatch.delenv('IMAGIN4D_BODY_MODEL_DIR', raising=False)
    with pytest.raises(FileNotFoundError, match=f'BEHAVEDataset: no (fe)?male SMPLH body model .* in the folders '
                                                f'searched: {behave_copy}\\.'):
        BEHAVEDataset(data_root=behave_copy, split='train', pipeline=PIPELINE)
    monkeypatch.setenv('IMAGIN4D_BODY_MODEL_DIR', body_model_dir)
    assert BEHAVEDataset(data_root=behave_copy, split='train', pipeline=PIPELINE).body_model_root == body_model_dir
    monkeypatch.delenv('IMAGIN4D_BODY_MODEL_DIR')
    shutil.copytree(osp.join(body_model_dir, 'smplh'), osp.join(behave_copy, 'smplh'))
    ds = BEHAVEDataset(data_root=behave_copy, split='train', pipeline=PIPELINE)
    assert ds.body_model_root == behave_copy and ds.metainfo['body_model_root'] == behave_copy
