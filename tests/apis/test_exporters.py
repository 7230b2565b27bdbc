"""Exporters round trips against independent expectations: the npz through smplx itself, the BVH through a
forward kinematics written here from the parsed file, the GLB through a container parser + skinning written
here and the real Khronos validator, the object npz through its referenced mesh file."""
import json
import shutil
import struct

import numpy as np
import pytest

from imagin4d.apis.exporters import (
    GLTF_VALIDATOR_VERSION,
    read_bvh,
    resolve_mesh_path,
    validate_gltf,
    write_bvh,
    write_glb,
    write_object_npz,
    write_smplx_npz,
)

# Tolerances (metres). Everything runs in float32 somewhere (smplx, glTF), so ~1e-6..1e-5 is expected.
NPZ_TOL = 1e-4          # npz -> smplx joints vs ground-truth joints24 (0.1 mm)
BVH_TOL = 1e-4          # BVH text (6 decimals) -> FK here vs ground-truth joints24
GLB_TOL = 1e-4          # glTF skinning here vs smplx vertices / object vertices
JOINTS24 = list(range(22)) + [28, 43]   # SMPL-X ids: 22 body joints + left/right middle1 (the hand points)
BODY_NAMES = ('pelvis', 'left_hip', 'right_hip', 'spine1', 'left_knee', 'right_knee', 'spine2', 'left_ankle',
              'right_ankle', 'spine3', 'left_foot', 'right_foot', 'neck', 'left_collar', 'right_collar', 'head',
              'left_shoulder', 'right_shoulder', 'left_elbow', 'right_elbow', 'left_wrist', 'right_wrist')


def y_up_to_z_up(p):
    """Inverse of the documented world (x, y, z) Z-up -> (x, z, -y) Y-up map."""
    return np.stack([p[..., 0], -p[..., 2], p[..., 1]], -1)


def elementary(axis, degrees):
    """(N, 3, 3) rotation about one axis, written out by hand."""
    a = np.radians(degrees)
    c, s, o, z = np.cos(a), np.sin(a), np.ones_like(a), np.zeros_like(a)
    m = {'X': [[o, z, z], [z, c, -s], [z, s, c]], 'Y': [[c, z, s], [z, o, z], [-s, z, c]],
         'Z': [[c, -s, z], [s, c, z], [z, z, o]]}[axis]
    return np.moveaxis(np.array(m), (0, 1), (-2, -1))


def quat_to_matrix(q):
    x, y, z, w = np.moveaxis(np.asarray(q, np.float64), -1, 0)
    m = np.array([[1 - 2 * (y * y + z * z), 2 * (x * y - z * w), 2 * (x * z + y * w)],
                  [2 * (x * y + z * w), 1 - 2 * (x * x + z * z), 2 * (y * z - x * w)],
                  [2 * (x * z - y * w), 2 * (y * z + x * w), 1 - 2 * (x * x + y * y)]])
    return np.moveaxis(m, (0, 1), (-2, -1))


# ------------------------------------------------------------------------------------------------------------
def test_smplx_npz_round_trip_through_smplx(gt_result, gt_joints, tmp_path):
    import smplx
    import torch
    path = write_smplx_npz(gt_result, tmp_path / 'body.npz')
    T = gt_result.num_frames
    with np.load(path, allow_pickle=False) as f:
        d = {k: f[k] for k in f.files}
    shapes = dict(trans=(T, 3), root_orient=(T, 3), pose_body=(T, 63), pose_hand=(T, 90), pose_jaw=(T, 3),
                  pose_eye=(T, 6), poses=(T, 165), betas=(10,))
    for key, shape in shapes.items():
        assert d[key].shape == shape, key
    assert str(d['gender']) == gt_result.gender and str(d['surface_model_type']) == 'smplx'
    assert float(d['mocap_frame_rate']) == 30.0 and int(d['num_betas']) == 10
    np.testing.assert_array_equal(d['poses'], np.concatenate(
        [d['root_orient'], d['pose_body'], d['pose_jaw'], d['pose_eye'], d['pose_hand']], 1))

    t = lambda k: torch.tensor(d[k], dtype=torch.float32)  # noqa: E731
    model = smplx.create(gt_result.body_model_root, model_type='smplx', gender=str(d['gender']), ext='npz',
                         use_pca=False, flat_hand_mean=True, num_betas=10, batch_size=T)
    with torch.no_grad():
        out = model(betas=t('betas')[None].expand(T, -1), global_orient=t('root_orient'), body_pose=t('pose_body'),
                    left_hand_pose=t('pose_hand')[:, :45], right_hand_pose=t('pose_hand')[:, 45:],
                    jaw_pose=t('pose_jaw'), leye_pose=t('pose_eye')[:, :3], reye_pose=t('pose_eye')[:, 3:],
                    transl=t('trans'))
    joints = out.joints[:, JOINTS24].double().numpy()
    err = np.abs(joints - gt_joints).max()
    assert err < NPZ_TOL, f'npz -> smplx joints differ from ground truth by {err:.2e} m'


# ------------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize('unit,scale,up', [('m', 1.0, 'Y'), ('cm', 100.0, 'Z')])
def test_bvh_round_trip_through_forward_kinematics(gt_result, gt_joints, tmp_path, unit, scale, up):
    path = write_bvh(gt_result, tmp_path / 'body.bvh', unit=unit, up_axis=up)
    bvh = read_bvh(path)
    T = gt_result.num_frames
    assert bvh.num_frames == T and abs(bvh.frame_time - 1 / 30) < 1e-7
    assert len(bvh.names) == 52 and set(BODY_NAMES) <= set(bvh.names)
    assert bvh.names[0] == 'pelvis' and bvh.channels[0][:3] == ['Xposition', 'Yposition', 'Zposition']
    assert bvh.names[bvh.parents[bvh.names.index('left_knee')]] == 'left_hip'

    # Forward kinematics from the parsed file only: R_local = product of the rotation channels in file order.
    glob_rot, glob_pos = [None] * len(bvh.names), [None] * len(bvh.names)
    for j, parent in enumerate(bvh.parents):
        values, names = bvh.joint_channels(j)
        rot, pos = np.tile(np.eye(3), (T, 1, 1)), np.zeros((T, 3))
        for k, ch in enumerate(names):
            if ch.endswith('rotation'):
                rot = rot @ elementary(ch[0], values[:, k])
            else:
                pos[:, 'XYZ'.index(ch[0])] = values[:, k]
        if parent < 0:
            glob_pos[j], glob_rot[j] = bvh.offsets[j] + pos, rot
        else:
            glob_pos[j] = glob_pos[parent] + glob_rot[parent] @ bvh.offsets[j]
            glob_rot[j] = glob_rot[parent] @ rot
    positions = np.stack(glob_pos, 1) / scale
    if up == 'Y':
        positions = y_up_to_z_up(positions)
    picked = positions[:, [bvh.names.index(n) for n in BODY_NAMES + ('left_middle1', 'right_middle1')]]
    err = np.abs(picked - gt_joints).max()
    assert err < BVH_TOL, f'BVH ({unit}, {up} up) FK differs from ground truth by {err:.2e} m'
    if up == 'Y':  # upright: the head is above the pelvis along +Y in every frame
        head, pelvis = np.stack(glob_pos, 1)[:, bvh.names.index('head')], np.stack(glob_pos, 1)[:, 0]
        assert np.all(head[:, 1] > pelvis[:, 1])


def test_bvh_bad_input(gt_result, tmp_path):
    with pytest.raises(ValueError, match='unit'):
        write_bvh(gt_result, tmp_path / 'a.bvh', unit='inch')
    bad = tmp_path / 'bad.bvh'
    bad.write_text('HIERARCHY\nROOT pelvis\n{\nOFFSET 0 0\n}\n')
    with pytest.raises(ValueError, match='bad.bvh'):
        read_bvh(bad)


# ------------------------------------------------------------------------------------------------------------
def parse_glb(data: bytes):
    """The GLB container by hand: header, JSON chunk, BIN chunk, with their lengths checked."""
    magic, version, length = struct.unpack_from('<4sII', data, 0)
    assert magic == b'glTF' and version == 2 and length == len(data)
    json_len, json_type = struct.unpack_from('<I4s', data, 12)
    assert json_type == b'JSON' and json_len % 4 == 0
    gltf = json.loads(data[20:20 + json_len])
    bin_len, bin_type = struct.unpack_from('<I4s', data, 20 + json_len)
    assert bin_type == b'BIN\0' and bin_len % 4 == 0 and 28 + json_len + bin_len == length
    assert gltf['buffers'][0]['byteLength'] <= bin_len
    return gltf, data[28 + json_len:28 + json_len + bin_len]


def accessor(gltf, binary, index):
    acc = gltf['accessors'][index]
    view = gltf['bufferViews'][acc['bufferView']]
    dtype = {5126: np.float32, 5121: np.uint8, 5123: np.uint16, 5125: np.uint32}[acc['componentType']]
    width = {'SCALAR': 1, 'VEC3': 3, 'VEC4': 4, 'MAT4': 16}[acc['type']]
    start = view['byteOffset'] + acc.get('byteOffset', 0)
    arr = np.frombuffer(binary, dtype, acc['count'] * width, start)
    return arr.reshape(acc['count'], width) if width > 1 else arr


def trs(node, values=None):
    values = values or {}
    t = np.asarray(values.get('translation', node.get('translation', [0, 0, 0])), np.float64)
    r = quat_to_matrix(values.get('rotation', node.get('rotation', [0, 0, 0, 1])))
    s = np.asarray(values.get('scale', node.get('scale', [1, 1, 1])), np.float64)
    m = np.eye(4)
    m[:3, :3] = r * s
    m[:3, 3] = t
    return m


def test_glb_structure_skinning_and_validator(gt_result, gt_window, tmp_path):
    import torch

    from imagin4d.body_models import load_body_model
    path = write_glb(gt_result, tmp_path / 'result.glb')
    gltf, binary = parse_glb(path.read_bytes())
    T, fps = gt_result.num_frames, 30.0
    nodes = gltf['nodes']
    skin = gltf['skins'][0]
    joint_nodes = skin['joints']
    assert [nodes[n]['name'] for n in joint_nodes[:22]] == list(BODY_NAMES) and len(joint_nodes) == 55
    body_node = next(i for i, n in enumerate(nodes) if 'skin' in n)
    obj_node = next(i for i, n in enumerate(nodes) if n.get('name') == 'object')
    body = load_body_model(gt_result.body_model_root, 'smplx', gt_result.gender)
    prim = gltf['meshes'][nodes[body_node]['mesh']]['primitives'][0]
    assert gltf['accessors'][prim['attributes']['POSITION']]['count'] == body.num_vertices

    # One animation: rotation of every joint, pelvis translation, object T/R/S; T keys over (T - 1) / fps s.
    assert len(gltf['animations']) == 1
    anim = gltf['animations'][0]
    targets = {(c['target']['node'], c['target']['path']): anim['samplers'][c['sampler']] for c in anim['channels']}
    expected = {(n, 'rotation') for n in joint_nodes} | {(joint_nodes[0], 'translation')} | \
        {(obj_node, p) for p in ('translation', 'rotation', 'scale')}
    assert expected <= set(targets)
    for sampler in targets.values():
        times = accessor(gltf, binary, sampler['input'])
        assert len(times) == T and gltf['accessors'][sampler['output']]['count'] == T
        assert times[0] == 0 and abs(times[-1] - (T - 1) / fps) < 1e-6

    # Sample a key frame, run the node hierarchy + linear blend skinning here, compare with smplx vertices.
    t = T // 2
    values = {}
    for (node, prop), sampler in targets.items():
        values.setdefault(node, {})[prop] = accessor(gltf, binary, sampler['output'])[t].astype(np.float64)
    parent = {c: i for i, n in enumerate(nodes) for c in n.get('children', [])}
    world = {}

    def global_matrix(i):
        if i not in world:
            local = trs(nodes[i], values.get(i))
            world[i] = local if i not in parent else global_matrix(parent[i]) @ local
        return world[i]

    ibm = accessor(gltf, binary, skin['inverseBindMatrices']).reshape(-1, 4, 4).transpose(0, 2, 1)
    joint_mats = np.stack([global_matrix(n) for n in joint_nodes]) @ ibm            # (55, 4, 4)
    verts = accessor(gltf, binary, prim['attributes']['POSITION']).astype(np.float64)
    homo = np.concatenate([verts, np.ones((len(verts), 1))], 1)
    skinned = np.zeros_like(homo)
    for s in range(4):
        if f'JOINTS_{s}' not in prim['attributes']:
            break
        js = accessor(gltf, binary, prim['attributes'][f'JOINTS_{s}']).astype(np.int64)
        ws = accessor(gltf, binary, prim['attributes'][f'WEIGHTS_{s}']).astype(np.float64)
        for k in range(4):
            skinned += ws[:, k:k + 1] * np.einsum('vij,vj->vi', joint_mats[js[:, k]], homo)
    params = gt_window['smpl_params']
    with torch.no_grad():
        out = body(betas=params['betas'][None, :10], global_orient=params['global_orient'][t:t + 1],
                   body_pose=params['body_pose'][t:t + 1], transl=params['transl'][t:t + 1])
    expected_y_up = out['vertices'][0].double().numpy() @ np.array([[1, 0, 0], [0, 0, 1], [0, -1, 0]]).T
    err = np.abs(skinned[:, :3] - expected_y_up).max()
    assert err < GLB_TOL, f'glTF skinning at frame {t} differs from smplx vertices by {err:.2e} m'

    oprim = gltf['meshes'][nodes[obj_node]['mesh']]['primitives'][0]
    over = accessor(gltf, binary, oprim['attributes']['POSITION']).astype(np.float64)
    placed = over @ global_matrix(obj_node)[:3, :3].T + global_matrix(obj_node)[:3, 3]
    err = np.abs(y_up_to_z_up(placed) - gt_result.object_vertices(t)).max()
    assert err < GLB_TOL, f'glTF object at frame {t} differs from the result by {err:.2e} m'

    # The real Khronos validator: 0 errors.
    if shutil.which('node') is None and shutil.which('nodejs') is None:
        pytest.skip('node (Node.js) is not installed on this machine: scripts/setup_env.sh installs it and the '
                    'glTF validator; the structure and skinning checks above ran')
    report = validate_gltf(path)
    assert report['validatorVersion'] == GLTF_VALIDATOR_VERSION
    assert report['numErrors'] == 0, report['messages']
    assert report['numWarnings'] == 0, report['messages']


# ------------------------------------------------------------------------------------------------------------
def test_object_npz_places_the_referenced_mesh(gt_result, tmp_path):
    import trimesh
    path = write_object_npz(gt_result, tmp_path / 'object.npz', mesh_path=tmp_path / 'object.ply')
    with np.load(path, allow_pickle=False) as f:
        d = {k: f[k] for k in f.files}
    np.testing.assert_array_equal(d['rotation'], gt_result.obj_rot)
    np.testing.assert_array_equal(d['translation'], gt_result.obj_trans)
    np.testing.assert_array_equal(d['contacts'], gt_result.contacts)
    assert float(d['scale']) == gt_result.obj_scale and str(d['mesh_path']) == 'object.ply'
    mesh = trimesh.load(resolve_mesh_path(path, str(d['mesh_path'])), process=False)
    for t in (0, gt_result.num_frames - 1):
        placed = float(d['scale']) * np.asarray(mesh.vertices) @ d['rotation'][t].T + d['translation'][t]
        err = np.abs(placed - gt_result.object_vertices(t)).max()
        assert err < 1e-5, f'object npz placement at frame {t} differs by {err:.2e} m'


def test_validator_pin_matches_setup():
    """The version the runner expects is the one scripts/setup_env.sh installs (requirements/gltf_validator)."""
    from pathlib import Path
    repo = Path(__file__).resolve().parents[2]
    package = json.loads((repo / 'requirements' / 'gltf_validator' / 'package.json').read_text())
    lock = json.loads((repo / 'requirements' / 'gltf_validator' / 'package-lock.json').read_text())
    assert package['dependencies']['gltf-validator'] == GLTF_VALIDATOR_VERSION
    assert lock['packages']['node_modules/gltf-validator']['version'] == GLTF_VALIDATOR_VERSION
    assert 'requirements/gltf_validator' in (repo / 'scripts' / 'setup_env.sh').read_text()


def test_exporters_reject_bad_input(gt_result, tmp_path):
    gt_result.body_model_root = None
    with pytest.raises(ValueError, match='body_model_root'):
        write_glb(gt_result, tmp_path / 'x.glb')
    gt_result.obj_rot = gt_result.obj_rot * 2.0
    with pytest.raises(ValueError, match='obj_rot'):
        write_object_npz(gt_result, tmp_path / 'o.npz', tmp_path / 'o.ply')
