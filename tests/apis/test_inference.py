"""The generation API: a request in any world frame gives the same interaction moved with it, waypoints land where
they were asked (with waypoint inpainting), requests are independent of their batch, and bad inputs get one line.

The checkpoint here is an untrained full model with the statistics and start state of the small mini-FBM (the
mechanics do not need a trained model; the trained-model numbers are in benchmarks/results/generation_cpu.md)."""
import json

import cv2
import numpy as np
import pytest
import torch
from generation_model import CONFIG, untrained_checkpoint
from testing_utils import REPO, run_tool

pytestmark = pytest.mark.usefixtures('single_torch_thread')


def _yaw(deg):
    a = np.deg2rad(deg)
    return np.array([[np.cos(a), -np.sin(a), 0.0], [np.sin(a), np.cos(a), 0.0], [0.0, 0.0, 1.0]])


def _request(inputs, **overrides):
    from imagin4d.apis import HOIRequest
    fields = dict(text='pick up the crate and carry it to the shelf', object_mesh=inputs['mesh'], object_scale=0.01,
                  object_up='y', reference_image=inputs['image'], waypoints=inputs['waypoints'],
                  start_body=inputs['start'], steps=5)
    fields.update(overrides)
    return HOIRequest(**fields)


def _moved_inputs(inputs, R, d):
    """The same start body and waypoints expressed in a world frame rotated by R about z and shifted by d."""
    folder = inputs['folder']
    start = {k: (v.astype(np.float64) if v.dtype.kind == 'f' else v) for k, v in np.load(inputs['start']).items()}
    from imagin4d.body_models import load_body_model
    from imagin4d.geometry import axis_angle_to_matrix, matrix_to_axis_angle
    body = load_body_model(REPO / 'data' / 'body_models', 'smplx', str(start['gender']))
    pelvis = body.rest_joints(torch.as_tensor(start['betas'][:10], dtype=torch.float32)[None])[0, 0].double().numpy()
    # smplx rotates about the rest pelvis: pelvis = rest + trans, so the moved trans keeps the pelvis on the map
    root = axis_angle_to_matrix(torch.as_tensor(start['root_orient']))
    start['root_orient'] = matrix_to_axis_angle(torch.as_tensor(R) @ root).numpy()
    start['trans'] = (start['trans'] + pelvis) @ R.T + d - pelvis
    np.savez(folder / 'start_moved.npz', **start)
    wp = json.loads(json.dumps(inputs['waypoints']))
    wp['object_start']['position'] = (R @ np.asarray(wp['object_start']['position']) + d).tolist()
    wp['object_start']['yaw_deg'] += float(np.rad2deg(np.arctan2(R[1, 0], R[0, 0])))
    for entry in wp['waypoints']:
        p = np.zeros(3)
        p[:len(entry['position'])] = entry['position']
        entry['position'] = (R @ p + d)[:len(entry['position'])].tolist()
    return dict(inputs, start=str(folder / 'start_moved.npz'), waypoints=wp)


def test_result_moves_with_the_world_frame(inferencer, inputs):
    R, d = _yaw(-120.0), np.array([3.0, -1.5, 0.0])
    base = inferencer(_request(inputs))[0]
    moved = inferencer(_request(_moved_inputs(inputs, R, d)))[0]
    np.testing.assert_allclose(moved.joints, base.joints @ R.T + d, atol=1e-4)
    np.testing.assert_allclose(moved.obj_rot, R @ base.obj_rot, atol=1e-5)
    np.testing.assert_allclose(moved.obj_trans, base.obj_trans @ R.T + d, atol=1e-4)
    np.testing.assert_allclose(moved.body_pose, base.body_pose, atol=1e-4)     # local rotations do not move
    assert moved.t_hat == pytest.approx(base.t_hat, abs=1e-4)
    (picture,) = base.reference_images       # the result carries the picture as read (RGB), for the video
    np.testing.assert_array_equal(picture, cv2.imread(str(inputs['image']))[:, :, ::-1])


def test_inpainted_waypoints_land_where_asked_in_the_world(inferencer, inputs):
    """With waypoint inpainting the given values are exact, so what comes back is only the frame mapping."""
    R, d = _yaw(75.0), np.array([-2.0, 4.0, 0.0])
    moved = _moved_inputs(inputs, R, d)
    inferencer.model.test_cfg['inpaint_waypoints'] = True
    try:
        result = inferencer(_request(moved))[0]
    finally:
        inferencer.model.test_cfg['inpaint_waypoints'] = False
    errors = result.meta['waypoint_errors_mm']
    assert set(errors) == {'frame_0', 'frame_29', 'frame_59', 'frame_89', 'frame_119'}
    assert max(errors.values()) < 0.01, errors
    # the object's vertices at frame 0: the mesh (Y up, cm) placed at the asked start pose (yaw 10 + rotation)
    verts = result.object_vertices(0)
    assert np.ptp(verts[:, 2]) == pytest.approx(0.20, abs=1e-6)                # its Y became the up axis
    # the exported start body is the given one: its joints24 equal the start file's, posed by the body model
    from imagin4d.body_models import load_body_model
    start = np.load(moved['start'])
    body = load_body_model(result.body_model_root, 'smplx', result.gender)
    with torch.no_grad():
        joints = body(betas=torch.as_tensor(start['betas'][:10]).float()[None],
                      global_orient=torch.as_tensor(start['root_orient']).float(),
                      body_pose=torch.as_tensor(start['pose_body']).float(),
                      transl=torch.as_tensor(start['trans']).float())['joints24'][0].double().numpy()
    np.testing.assert_allclose(result.joints[0], joints, atol=1e-4)
    with torch.no_grad():
        posed = body(betas=torch.as_tensor(result.betas).float()[None],
                     global_orient=torch.as_tensor(result.global_orient[:1]).float(),
                     body_pose=torch.as_tensor(result.body_pose[:1]).float(),
                     transl=torch.as_tensor(result.transl[:1]).float())['joints24'][0].double().numpy()
    np.testing.assert_allclose(posed, joints, atol=2e-4)       # parameters reproduce the start body's joints


def test_same_seed_same_result_alone_or_in_a_batch(inferencer, inputs):
    request = _request(inputs, seed=7, num_samples=2)
    alone = inferencer(request)
    batch = inferencer([_request(inputs, seed=3), request, _request(inputs, text='push the box')])
    assert len(alone) == 2 and len(batch) == 3 and [len(b) for b in batch] == [1, 2, 1]
    again = inferencer(request)
    for a, b, c in zip(alone, batch[1], again):
        np.testing.assert_array_equal(a.joints, c.joints)                      # the same request: bit for bit
        # in a batch, its own noise; batched float32 kernels (and the others' text padding) round differently
        np.testing.assert_allclose(a.joints, b.joints, atol=1e-4)
        np.testing.assert_allclose(a.obj_trans, b.obj_trans, atol=1e-4)
    assert np.abs(alone[0].joints - alone[1].joints).max() > 1e-3          # two samples differ
    assert alone[1].meta['seed'] == 8


def test_request_sampling_settings_reach_the_sampler_and_the_result(inferencer, inputs, monkeypatch):
    built, build = [], inferencer.model.build_sampler
    monkeypatch.setattr(inferencer.model, 'build_sampler', lambda: built.append(build()) or built[-1])
    before = dict(inferencer.model.test_cfg)
    trailing, linspace = inferencer([_request(inputs, timestep_spacing='trailing'),
                                     _request(inputs, timestep_spacing='linspace')])
    # one sampler per setting; 5 of 1000 training steps: 'trailing' ends at N/k - 1, 'linspace' at t = 0
    assert sorted(s.timesteps().tolist() for s in built) == [[999, 749, 500, 250, 0], [999, 799, 599, 399, 199]]
    assert trailing[0].meta['sampling']['timestep_spacing'] == 'trailing'
    assert linspace[0].meta['sampling']['timestep_spacing'] == 'linspace'
    assert np.abs(trailing[0].joints - linspace[0].joints).max() > 1e-4
    assert inferencer.model.test_cfg == before                              # the config's settings come back


def test_request_reconstruction_guidance_switches_the_guidance(inferencer, inputs, monkeypatch):
    from imagin4d.apis import RequestError
    guidance = inferencer.model.reconstruction_guidance
    bound, bind = [], guidance.bind
    monkeypatch.setattr(guidance, 'bind', lambda **kw: bound.append(1) or bind(**kw))
    on, off = inferencer([_request(inputs, reconstruction_guidance=True),
                          _request(inputs, reconstruction_guidance=False)])
    assert len(bound) == 1                                  # one batch with the guidance, one without
    assert on[0].meta['sampling']['reconstruction_guidance'] is True
    assert off[0].meta['sampling']['reconstruction_guidance'] is False
    assert np.abs(on[0].obj_trans - off[0].obj_trans).max() > 1e-5
    inferencer.model.reconstruction_guidance = None      # (monkeypatch cannot restore a torch submodule)
    try:
        with pytest.raises(RequestError, match='reconstruction_guidance: this model has none'):
            inferencer(_request(inputs, reconstruction_guidance=True))
    finally:
        inferencer.model.reconstruction_guidance = guidance


def test_default_start_stands_at_the_origin_facing_forward(inferencer, inputs):
    inferencer.model.test_cfg['inpaint_waypoints'] = True      # frame 0 = the start state given to the model
    try:
        result = inferencer(_request(inputs, start_body=None, waypoints=None))[0]
    finally:
        inferencer.model.test_cfg['inpaint_waypoints'] = False
    joints = result.joints[0]
    np.testing.assert_allclose(joints[0, :2], 0.0, atol=1e-4)                 # pelvis over the origin
    from imagin4d.geometry import body_heading
    heading = body_heading(torch.as_tensor(joints)).numpy()
    np.testing.assert_allclose(heading, [0.0, 1.0, 0.0], atol=1e-4)           # facing +Y
    from imagin4d.body_models import load_body_model
    body = load_body_model(result.body_model_root, 'smplx', 'neutral')
    with torch.no_grad():
        out = body(betas=None, global_orient=torch.as_tensor(result.global_orient[:1]).float(),
                   body_pose=torch.as_tensor(result.body_pose[:1]).float(),
                   transl=torch.as_tensor(result.transl[:1]).float())
    assert abs(float(out['vertices'][0, :, 2].min())) < 0.01                # on the floor
    wrists = out['joints24'][0, [20, 21], 2].numpy()
    assert (wrists < out['joints24'][0, [16, 17], 2].numpy() - 0.3).all()     # arms down, not the T pose
    start = np.asarray(result.meta['object_start_position'])
    assert 'default' in result.meta['object_start_from'] and start[1] > 0.2  # in front of the body
    assert result.object_vertices(0)[:, 2].min() == pytest.approx(0.0, abs=1e-6)


@pytest.mark.parametrize('field, value, message', [
    ('reference_image', 'missing.png', r'reference image missing.png: no such file'),
    ('text', '  ', r'text is empty'),
    ('waypoints', dict(waypoints=[dict(frame=130, position=[0, 1, 0])]), r'waypoints\[0\].frame: 130 is outside'),
    ('waypoints', dict(waypoints=[dict(frame=119, position=[0, 1])]), r'the last frame needs x, y, z'),
    ('waypoints', dict(points=[]), r"unknown key\(s\) \['points'\]"),
    ('object_up', 'up', r'object_up: expected one of'),
    ('reference_image', None, r'this model reads a reference image'),
    ('sampler', 'euler', r"sampler: expected one of \['ddim', 'ddpm', 'dpmpp'\], got 'euler'"),
    ('timestep_spacing', 'last', r"timestep_spacing: expected one of \['leading', 'linspace', 'quadratic', "
                                 r"'trailing'\]"),
])
def test_bad_inputs_get_one_line(inferencer, inputs, field, value, message):
    from imagin4d.apis import RequestError
    with pytest.raises(RequestError, match=message) as info:
        inferencer(_request(inputs, **{field: value}))
    assert '\n' not in str(info.value)


def test_bad_files_get_one_line(inferencer, inputs, tmp_path):
    from imagin4d.apis import RequestError
    (tmp_path / 'broken.png').write_bytes(b'\x89PNG\r\n\x1a\n not really')
    with pytest.raises(RequestError, match=r'broken.png: cannot be decoded as an image'):
        inferencer(_request(inputs, reference_image=str(tmp_path / 'broken.png')))
    (tmp_path / 'points.ply').write_text('ply\nformat ascii 1.0\nelement vertex 3\nproperty float x\n'
                                         'property float y\nproperty float z\nend_header\n0 0 0\n1 0 0\n0 1 0\n')
    with pytest.raises(RequestError, match=r'points.ply: has no faces'):
        inferencer(_request(inputs, object_mesh=str(tmp_path / 'points.ply')))
    np.savez(tmp_path / 'body.npz', trans=np.zeros((2, 3)), betas=np.zeros(10))
    with pytest.raises(RequestError, match=r"body.npz: missing key\(s\) \['root_orient', 'pose_body'\]"):
        inferencer(_request(inputs, start_body=str(tmp_path / 'body.npz')))
    (tmp_path / 'w.json').write_text('{"waypoints": [')
    with pytest.raises(RequestError, match=r'w.json: not valid JSON'):
        inferencer(_request(inputs, waypoints=str(tmp_path / 'w.json')))


def test_checkpoint_of_another_variant_is_refused(checkpoint, free_body_root):
    from imagin4d.apis import HOIInferencer
    from imagin4d.utils.errors import UserError
    no_image = str(REPO / 'projects' / 'imagin4d' / 'mini_fbm_no_image.py')
    with pytest.raises(UserError, match=r'does not match the config .*mini_fbm_no_image.py: \d+ missing '
                                        r'.*, \d+ unexpected .*trained with .*image_encoder=Spatially'):
        HOIInferencer(no_image, checkpoint, body_model_root=str(free_body_root))


def test_generate_tool_writes_every_file_and_keeps_user_files(checkpoint, inputs, free_body_root, tmp_path):
    out = tmp_path / 'out'
    args = ['tools/generate.py', CONFIG, checkpoint, '--text', 'carry the box', '--object', inputs['mesh'],
            '--object-scale', '0.01', '--object-up', 'y', '--image', inputs['image'], '--steps', '3', '--out', out,
            '--name', 'crate', '--body-model-root', free_body_root, '--no-progress', '--no-reconstruction-guidance']
    run_tool(args, cwd=REPO, timeout=600)
    names = sorted(p.name for p in out.iterdir())
    assert names == ['crate_s0.bvh', 'crate_s0.glb', 'crate_s0.mp4', 'crate_s0_object.npz', 'crate_s0_smplx.npz',
                     'summary.json']
    summary = json.loads((out / 'summary.json').read_text())
    sample = summary['requests'][0]['samples'][0]
    assert sample['object_start']['placed_by'].startswith('default') and sample['t_hat'] is not None
    assert sample['sampling']['steps'] == 3 and sample['sampling']['reconstruction_guidance'] is False
    assert {'features', 'sampling', 'export', 'video'} <= set(summary['timings_s'])
    smplx = np.load(out / 'crate_s0_smplx.npz', allow_pickle=False)
    assert smplx['poses'].shape == (120, 165) and int(smplx['mocap_frame_rate']) == 30
    before = (out / 'crate_s0.bvh').read_bytes()
    again = run_tool(args, cwd=REPO, check=False, timeout=300)
    assert again.returncode == 1 and 'already holds files' in again.stderr
    assert len(again.stderr.strip().splitlines()) == 2                        # the error and the debug hint
    assert (out / 'crate_s0.bvh').read_bytes() == before


def test_encoded_ground_truth_maps_back_to_its_smplx_parameters(gt_window, gt_joints):
    """The result path (codec features -> world SMPL-X parameters and object pose) on a ground-truth window gives
    the window's own body joints (posed by the body model from the derived parameters) and object vertices."""
    from imagin4d.apis.request_window import ObjectTemplate, WindowGeometry, window_to_result
    from imagin4d.apis.requests import StartBody
    from imagin4d.body_models import load_body_model
    from imagin4d.models.codecs import CHOISMotionCodec
    w = gt_window
    betas = w['smpl_params']['betas'].numpy()[:10]
    body = load_body_model(w['body_model_root'], 'smplx', w['gender'])
    rest = body.rest_joints(torch.as_tensor(betas, dtype=torch.float32)[None])[0].double()
    verts = np.asarray(w['object_verts'], np.float64)
    template = ObjectTemplate(verts=verts, faces=np.asarray(w['object_faces']), centroid=verts.mean(0), up=np.eye(3),
                              tree=None)
    geometry = WindowGeometry(R=torch.eye(3, dtype=torch.float64), t=torch.zeros(3, dtype=torch.float64),
                              ref_rot=w['obj_ref_rot'].double(), scale=float(w['obj_scale'][0]),
                              start_position=np.zeros(3), start_rotation=np.eye(3), start_from='test', targets=[])
    import trimesh
    mesh = trimesh.Trimesh(verts, np.asarray(w['object_faces']), process=False)
    start = StartBody(np.zeros(3), np.zeros(63), np.zeros(3), betas, w['gender'])
    result = window_to_result(CHOISMotionCodec(), w['motion'], geometry, template, start, rest, mesh, None,
                              w['body_model_root'], None, {})
    with torch.no_grad():
        posed = body(betas=torch.as_tensor(betas).float()[None], global_orient=torch.as_tensor(result.global_orient)
                     .float(), body_pose=torch.as_tensor(result.body_pose).float(),
                     transl=torch.as_tensor(result.transl).float())['joints24'].double().numpy()
    assert np.abs(posed - gt_joints).max() < 1e-4          # metres: float32 body model
    for frame in (0, 60, 119):
        expected = float(w['obj_scale'][frame]) * verts @ w['obj_rot'][frame].double().numpy().T \
            + w['obj_trans'][frame].double().numpy()
        np.testing.assert_allclose(result.object_vertices(frame), expected, atol=1e-5)


def test_no_image_checkpoint_ignores_the_image_and_says_so(mini_fbm_prepared, free_body_root, inputs, tmp_path):
    from imagin4d.apis import HOIInferencer
    config = str(REPO / 'projects' / 'imagin4d' / 'mini_fbm_no_image.py')
    inferencer = HOIInferencer(config, untrained_checkpoint(config, mini_fbm_prepared, tmp_path / 'no_image.pth'),
                               body_model_root=str(free_body_root))
    with pytest.warns(UserWarning, match=r'no image cue \(a no-image checkpoint\); the reference image is ignored'):
        with_image = inferencer(_request(inputs))[0]
    without = inferencer(_request(inputs, reference_image=None))[0]
    np.testing.assert_array_equal(with_image.joints, without.joints)
    assert with_image.t_hat is None
