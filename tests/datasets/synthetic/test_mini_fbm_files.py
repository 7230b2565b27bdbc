"""The written mini-FBM: the exact FBM/OMOMO release layout, loading through FBMDataset (joints agree with
the synthesis, depicted frames agree with the factor file), hidden factors recoverable from the files,
determinism for a seed, and the command-line tool."""
import hashlib
import json
import os.path as osp

import joblib
import numpy as np
import pytest
import torch
import trimesh

from imagin4d.datasets.synthetic import FACTOR_NAMES, OBJECTS, build_mini_fbm, load_factors, recover_factors
from imagin4d.datasets.synthetic.body import ShapedSkeleton, sample_subjects
from imagin4d.datasets.synthetic.kinematics import joints_from_params
from imagin4d.geometry import apply_rigid

SHAPES = {'betas': ((1, 16), np.float64), 'trans': (('T', 3), np.float64), 'root_orient': (('T', 3), np.float64),
          'pose_body': (('T', 63), np.float64), 'rest_offsets': ((24, 3), np.float64),
          'trans2joint': ((3,), np.float64), 'obj_trans': (('T', 3, 1), np.float32),
          'obj_rot': (('T', 3, 3), np.float32), 'obj_scale': (('T',), np.float32),
          'obj_com_pos': (('T', 3), np.float32)}


def _records(root, split):
    return joblib.load(osp.join(root, f'{split}_diffusion_manip_seq_joints24.p'))  # files this test wrote


def test_release_layout_keys_shapes_and_dtypes(mini_fbm_root):
    meta = load_factors(mini_fbm_root)
    names = set()
    for split, subjects in (('train', range(1, 16)), ('test', (16, 17))):
        data = _records(mini_fbm_root, split)
        assert sorted(data) == list(range(len(data))) and len(data) == (16 if split == 'train' else 8)
        for rec in data.values():
            name = rec['seq_name']
            sub, obj, idx = name.split('_')
            assert int(sub[3:]) in subjects and obj in OBJECTS and len(idx) == 3
            assert set(rec) == set(SHAPES) | {'seq_name', 'gender'}
            assert rec['gender'].ndim == 0 and str(rec['gender']) in ('male', 'female')
            T = rec['trans'].shape[0]
            assert T >= 150
            for key, (shape, dtype) in SHAPES.items():
                assert rec[key].shape == tuple(T if s == 'T' else s for s in shape), key
                assert rec[key].dtype == dtype, key
            assert np.allclose(rec['obj_scale'], OBJECTS[obj].scale)
            with open(osp.join(mini_fbm_root, 'omomo_text_anno_json_data', f'{name}.json')) as f:
                assert json.load(f) == {name: meta['sequences'][name]['text']}
            c = np.load(osp.join(mini_fbm_root, 'contact_labels_w_semantics_npy_files', f'{name}.npy'))
            assert c.shape == (T, 4) and c.dtype == np.float32 and set(np.unique(c)) <= {0.0, 1.0}
            assert meta['sequences'][name]['split'] == split and meta['sequences'][name]['num_frames'] == T
            names.add(name)
        # objects are balanced within a split: 8 test sequences = every object once, 16 train = twice
        objects = [r['seq_name'].split('_')[1] for r in data.values()]
        assert sorted(objects) == sorted(list(OBJECTS) * (len(data) // len(OBJECTS)))
    assert names == set(meta['sequences'])
    for f in ('NEUTRAL', 'MALE', 'FEMALE'):
        assert osp.isfile(osp.join(mini_fbm_root, 'smpl_all_models', 'smplx', f'SMPLX_{f}.npz'))


def test_object_templates_follow_the_fbm_scale_convention(mini_fbm_root):
    data = _records(mini_fbm_root, 'train')
    for rec in list(data.values())[:6]:
        obj = rec['seq_name'].split('_')[1]
        mesh = trimesh.load(osp.join(mini_fbm_root, 'captured_objects', f'{obj}_cleaned_simplified.obj'),
                            force='mesh', process=False)
        v = np.asarray(mesh.vertices)
        metres, _ = OBJECTS[obj].mesh()
        assert np.allclose(v * OBJECTS[obj].scale, metres, atol=1e-5)
        world = (rec['obj_scale'][:, None, None] * v @ rec['obj_rot'].transpose(0, 2, 1)
                 + rec['obj_trans'][:, None, :, 0])
        assert world[..., 2].min() > -1e-4                                    # never through the floor
        assert np.allclose(world.mean(1), rec['obj_com_pos'], atol=1e-4)       # obj_com_pos = vertex mean


def test_loads_through_fbm_dataset(mini_fbm_root):
    from imagin4d.datasets import FBMDataset
    meta = load_factors(mini_fbm_root)
    train = FBMDataset(data_root=mini_fbm_root, split='train')
    test = FBMDataset(data_root=mini_fbm_root, split='test')
    assert not train.skipped and not test.skipped
    assert len(test) == 8 and len(train) > 16
    sample = test[0]
    assert sample['motion'].shape == (120, 220) and sample['contacts'].shape == (120, 4)
    assert sample['text'] == meta['sequences'][sample['seq_name']]['text']
    subjects = {s.name: s for s in sample_subjects(meta['seed'])}
    skels = {}
    arrays = test._frame_arrays()
    for k in range(len(test)):
        item = test[k]
        name = item['seq_name']
        info = meta['sequences'][name]
        # the evaluation's depicted frame is the one recorded with the factors
        assert item['t_star'] == info['depicted_frame']
        seq = next(s for s in test._sequences if s['seq_name'] == name)
        rec = next(r for r in _records(mini_fbm_root, 'test').values() if r['seq_name'] == name)
        sub = subjects[info['subject']]
        skel = skels.setdefault(sub.name, ShapedSkeleton.from_model(osp.join(mini_fbm_root, 'smpl_all_models'),
                                                                    sub.gender, sub.betas))
        mine = joints_from_params(skel, rec['root_orient'], rec['pose_body'], rec['trans'])
        theirs = np.asarray(arrays['joints24'][seq['offset']:seq['offset'] + mine.shape[0]])
        assert np.abs(mine - theirs).max() < 1e-3, name   # FBMDataset's FK = the synthesis' FK
        # the hidden factors can be read back from what the dataset gives the model (canonical window)
        centre = item['obj_trans'].numpy() + np.einsum('tij,j->ti', item['obj_rot'].numpy(),
                                                       item['template_centroid'].numpy() * item['obj_scale'][0].item())
        joints = apply_rigid(torch.from_numpy(theirs[:120].copy()).float(), torch.tensor(item['canonical_R']).float(),
                             torch.tensor(item['canonical_t']).float()).numpy()
        got = recover_factors(joints, centre, item['contacts'].numpy(), item['t_star'])
        assert got == {f: info[f] for f in FACTOR_NAMES}, name


def test_hidden_factors_recoverable_from_the_files(mini_fbm_root):
    meta = load_factors(mini_fbm_root)
    subjects = {s.name: s for s in sample_subjects(meta['seed'])}
    for split in ('train', 'test'):
        for rec in _records(mini_fbm_root, split).values():
            info = meta['sequences'][rec['seq_name']]
            sub = subjects[info['subject']]
            skel = ShapedSkeleton.from_model(osp.join(mini_fbm_root, 'smpl_all_models'), sub.gender, sub.betas)
            joints = joints_from_params(skel, rec['root_orient'], rec['pose_body'], rec['trans'])
            contacts = np.load(osp.join(mini_fbm_root, 'contact_labels_w_semantics_npy_files',
                                        f'{rec["seq_name"]}.npy'))
            got = recover_factors(joints, rec['obj_com_pos'], contacts, info['depicted_frame'])
            assert got == {f: info[f] for f in FACTOR_NAMES}


def _digest(root):
    h = hashlib.sha256()
    for split in ('train', 'test'):
        for rec in _records(root, split).values():
            for key in sorted(rec):
                h.update(np.ascontiguousarray(rec[key]).tobytes())
    return h.hexdigest()


def test_build_is_deterministic_for_a_seed(tmp_path, free_body_dir):
    a, b, c = (str(tmp_path / n) for n in 'abc')
    for root, seed in ((a, 7), (b, 7), (c, 8)):
        build_mini_fbm(root, free_body_dir, num_train=3, num_test=1, seed=seed, progress=False)
    assert _digest(a) == _digest(b) != _digest(c)
    with pytest.raises(FileExistsError):
        build_mini_fbm(a, free_body_dir, num_train=1, num_test=0, progress=False)


@pytest.mark.slow
def test_command_line_tool(tools_runner, tmp_path, free_body_dir):
    out = tmp_path / 'mini'
    result = tools_runner('tools/data/make_mini_fbm.py', '--out', out, '--num-train', 2, '--num-test', 1,
                          '--seed', 4, '--body-model-dir', free_body_dir, '--no-progress')
    assert 'wrote 2 train and 1 test sequences' in result.stdout
    assert len(load_factors(str(out))['sequences']) == 3
    again = tools_runner('tools/data/make_mini_fbm.py', '--out', out, '--body-model-dir', free_body_dir,
                         check=False)
    assert again.returncode != 0 and '--overwrite' in again.stderr
