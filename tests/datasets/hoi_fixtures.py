"""Test-only writers of tiny FBM and BEHAVE releases in the exact on-disk layout (body models: the free body).

Owns nothing in the library: these fixtures exist so the dataset tests can run without licensed data.
Keys, dtypes and shapes follow docs/user_guides/datasets.md (the FBM record and the BEHAVE layout).
"""
import json
import os
import os.path as osp

import joblib
import numpy as np
import trimesh


def _rot_x(a):
    c, s = np.cos(a), np.sin(a)
    return np.array([[1, 0, 0], [0, c, -s], [0, s, c]])


def _rot_z(a):
    c, s = np.cos(a), np.sin(a)
    return np.array([[c, -s, 0], [s, c, 0], [0, 0, 1]])


def _matrix_to_aa(R):
    from scipy.spatial.transform import Rotation
    return Rotation.from_matrix(R).as_rotvec()


def _aa_to_matrix(aa):
    from scipy.spatial.transform import Rotation
    return Rotation.from_rotvec(aa).as_matrix()


def _walk(T, rng, yaw0):
    """Smooth yaw, planar translation and small body poses over T frames."""
    t = np.arange(T) / 30.0
    yaw = yaw0 + 0.3 * np.sin(0.5 * t)
    xy = np.stack([0.4 * np.sin(0.3 * t), 0.3 * t], 1) + rng.normal(0, 0.01, 2)
    pose_body = 0.15 * np.sin(t[:, None] * rng.uniform(0.5, 2.0, 63) + rng.uniform(0, 6, 63))
    return yaw, xy, pose_body


def _box_mesh(size):
    return trimesh.creation.box(extents=size)


# ------------------------------------------------------------------ FBM / OMOMO release
FBM_OBJECTS = {'largebox': (20.0, 0.025), 'smalltable': (30.0, 0.016), 'mop': (40.0, 0.02)}


def make_fbm_record(seq_name, T, seed=0, gender='male'):
    """One per-sequence record with the release keys, dtypes and shapes."""
    rng = np.random.default_rng(seed)
    obj = seq_name.split('_')[1]
    yaw0 = rng.uniform(-np.pi, np.pi)
    yaw, xy, pose_body = _walk(T, rng, yaw0)
    # model frame Y-up -> world Z-up is +90 deg about x; then the heading yaw about z
    root = np.stack([_rot_z(a) @ _rot_x(np.pi / 2) for a in yaw])
    trans = np.concatenate([xy, np.full((T, 1), 0.95)], 1)
    size, scale = FBM_OBJECTS.get(obj, (20.0, 0.025))
    # object 0.5 m in front of the body (forward of a Y-up body rotated by root is root @ +z)
    fwd = root @ np.array([0.0, 0.0, 1.0])
    obj_trans = trans + 0.45 * fwd + np.array([0.0, 0.0, -0.2]) + 0.05 * np.sin(np.arange(T) / 15.0)[:, None]
    obj_rot = np.stack([_rot_z(a + 0.2) for a in yaw])
    rec = {
        'seq_name': seq_name,
        'gender': np.array(gender),                                     # 0-d numpy str array
        'betas': rng.normal(0, 0.5, (1, 16)).astype(np.float64),
        'trans': trans.astype(np.float64),
        'root_orient': np.stack([_matrix_to_aa(R) for R in root]).astype(np.float64),
        'pose_body': pose_body.astype(np.float64),
        'rest_offsets': rng.normal(0, 0.1, (24, 3)).astype(np.float64),
        'trans2joint': rng.normal(0, 0.01, 3).astype(np.float64),
        'obj_trans': obj_trans[:, :, None].astype(np.float32),          # (T, 3, 1)
        'obj_rot': obj_rot.astype(np.float32),                          # (T, 3, 3)
        'obj_scale': np.full(T, scale, np.float32),                     # (T,)
        'obj_com_pos': obj_trans.astype(np.float32),
    }
    if obj in ('mop', 'vacuum'):
        rec['obj_bottom_trans'] = rec['obj_trans'].copy()
        rec['obj_bottom_rot'] = rec['obj_rot'].copy()
        rec['obj_bottom_scale'] = rec['obj_scale'].copy()
    return rec


def write_fbm_release(root, train=None, test=None, text_missing=(), contacts_missing=()):
    """Write a tiny FBM release under `root`.

    train/test: lists of (seq_name, T); default: two train sequences (one 150, one 130 frames, two
    objects), one mop sequence (skipped), and one 125-frame test sequence. Returns root.
    """
    train = train if train is not None else [('sub1_largebox_000', 150), ('sub2_smalltable_001', 130),
                                             ('sub3_mop_002', 125)]
    test = test if test is not None else [('sub16_largebox_010', 125)]
    os.makedirs(osp.join(root, 'captured_objects'), exist_ok=True)
    os.makedirs(osp.join(root, 'omomo_text_anno_json_data'), exist_ok=True)
    os.makedirs(osp.join(root, 'contact_labels_w_semantics_npy_files'), exist_ok=True)
    seed = 0
    for split, seqs in (('train', train), ('test', test)):
        data = {}
        for i, (name, T) in enumerate(seqs):
            seed += 1
            data[i] = make_fbm_record(name, T, seed=seed, gender='female' if seed % 2 else 'male')
            if name not in text_missing:
                obj = name.split('_')[1]
                with open(osp.join(root, 'omomo_text_anno_json_data', f'{name}.json'), 'w') as f:
                    json.dump({name: f'Lift the {obj}, and put it down.'}, f)
            if name not in contacts_missing:
                rng = np.random.default_rng(seed)
                c = np.zeros((T, 4), np.float32)
                a = int(rng.integers(10, 40))
                c[a:a + 50, 0] = 1.0
                c[a + 5:a + 45, 1] = 1.0
                c[:, 2:] = (np.arange(T)[:, None] // 20 % 2 == 0)
                np.save(osp.join(root, 'contact_labels_w_semantics_npy_files', f'{name}.npy'), c)
        joblib.dump(data, osp.join(root, f'{split}_diffusion_manip_seq_joints24.p'))
    for obj, (size, _) in FBM_OBJECTS.items():
        _box_mesh((size, size * 0.6, size * 1.2)).export(
            osp.join(root, 'captured_objects', f'{obj}_cleaned_simplified.obj'))
        if obj == 'mop':
            for part in ('top', 'bottom'):
                _box_mesh((size, size, size)).export(
                    osp.join(root, 'captured_objects', f'{obj}_cleaned_simplified_{part}.obj'))
    return root


def edit_fbm_record(root, split, index, edit):
    """Load the .p, apply edit(record) (in place; may delete keys), write it back."""
    path = osp.join(root, f'{split}_diffusion_manip_seq_joints24.p')
    data = joblib.load(path)
    edit(data[index])
    joblib.dump(data, path)


# ------------------------------------------------------------------ BEHAVE release (30 fps parameters)
BEHAVE_OBJECTS = {'boxmedium': (0.4, 0.4, 0.4), 'chairwood': (0.45, 0.45, 0.45)}


def behave_frame_times(T, start=3.0):
    return np.array([f't{start + i / 30.0:08.3f}' for i in range(T)])   # '<U9', e.g. 't0003.033'


def write_behave_sequence(root, name, T, seed=0):
    rng = np.random.default_rng(seed)
    yaw, xy, pose_body = _walk(T, rng, rng.uniform(-np.pi, np.pi))
    # Kinect frame: x right, y down, z forward; the Y-up body is flipped by pi about x, turned about the
    # camera's vertical (-y) axis, and stands on a floor 1.1 m below the camera (y = +1.1 - pelvis height)
    flip = _rot_x(np.pi)
    root_rot = np.stack([_aa_to_matrix(np.array([0.0, -a, 0.0])) @ flip for a in yaw])
    trans = np.stack([xy[:, 0], np.full(T, 1.1 - 0.95), 2.5 + xy[:, 1] * 0.3], 1)
    poses = np.zeros((T, 156))
    poses[:, :3] = np.stack([_matrix_to_aa(R) for R in root_rot])
    poses[:, 3:66] = pose_body
    poses[:, 66:] = rng.normal(0, 0.1, (T, 90))
    # the object starts beside the left hand (arms are horizontal in the procedural rest pose), then moves
    # 1.5 m away after half the sequence
    beside_left_hand = root_rot @ np.array([0.9, 0.45, 0.0])
    away = (np.arange(T) > T // 2)[:, None] * np.array([1.5, 0.0, 0.0])
    otrans = trans + beside_left_hand + away
    angles = np.stack([np.array([0.0, a, 0.0]) for a in yaw])
    times = behave_frame_times(T)
    folder = osp.join(root, 'behave-30fps-params-v1', name)
    os.makedirs(folder, exist_ok=True)
    np.savez(osp.join(folder, 'smpl_fit_all.npz'), poses=poses.astype(np.float32),
             betas=np.tile(rng.normal(0, 0.5, (1, 10)), (T, 1)).astype(np.float32),
             trans=trans.astype(np.float32), frame_times=times, save_name=np.array('fit03'))
    np.savez(osp.join(folder, 'object_fit_all.npz'), angles=angles.astype(np.float64),
             trans=otrans.astype(np.float64), frame_times=times, save_name=np.array('fit01-smooth'))


def write_behave_release(root, train=None, test=None):
    train = train if train is not None else [('Date01_Sub01_boxmedium_hand', 150), ('Date02_Sub06_chairwood_sit', 130)]
    test = test if test is not None else [('Date03_Sub03_boxmedium_lift', 125)]
    for i, (name, T) in enumerate(train + test):
        write_behave_sequence(root, name, T, seed=i)
    with open(osp.join(root, 'split.json'), 'w') as f:
        json.dump({'train': [n for n, _ in train], 'test': [n for n, _ in test]}, f)
    for obj, size in BEHAVE_OBJECTS.items():
        os.makedirs(osp.join(root, 'objects', obj), exist_ok=True)
        mesh = trimesh.creation.icosphere(subdivisions=2, radius=1.0)
        mesh.apply_scale(np.asarray(size) / 2.0)
        mesh.apply_translation([0.3, -0.1, 0.05])     # templates are not centred; the loader centres them
        mesh.export(osp.join(root, 'objects', obj, f'{obj}_f{2500 if obj.startswith("chair") else 1000}.ply'))
    return root
