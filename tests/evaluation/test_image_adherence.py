"""Image adherence: the functional scores on hand-built scenes with hand-computed answers, the rasteriser and the
reprojection on known cameras, and ImageAdherenceMetric on the mini-FBM test split (GT vs itself, GT vs shuffled)."""
import math

import numpy as np
import pytest
import torch

from imagin4d.datasets.synthetic import mirror_factors, mirror_motion
from imagin4d.evaluation import ImageAdherenceMetric
from imagin4d.evaluation.functional.image_adherence import (
    HOIFrames,
    ObjectMesh,
    body_pose_error,
    hand_object_contact_sets,
    hand_object_contacts,
    image_adherence_scores,
    object_relative_position,
    rasterize_silhouette,
    reprojection_error,
    silhouette_iou,
)
from imagin4d.models.codecs.chois_motion_codec import CHOISMotionCodec
from imagin4d.registry import METRICS
from imagin4d.rendering.camera import Camera, camera_rng, intrinsics_from_fov, look_at_world_to_cam, sample_camera

pytestmark = pytest.mark.usefixtures('single_torch_thread')


# ------------------------------------------------------------------------------------------------ scene helpers
def box_mesh(half=(0.15, 0.15, 0.15)):
    """Closed, outward-oriented box centred at the origin: verts (8, 3), faces (12, 3)."""
    hx, hy, hz = half
    verts = np.array([[x, y, z] for x in (-hx, hx) for y in (-hy, hy) for z in (-hz, hz)], dtype=np.float64)
    # vertex index = 4 * (x > 0) + 2 * (y > 0) + (z > 0)
    quads = [(0, 1, 3, 2), (4, 6, 7, 5), (0, 4, 5, 1), (2, 3, 7, 6), (0, 2, 6, 4), (1, 5, 7, 3)]
    faces = []
    for a, b, c, d in quads:
        faces += [(a, b, c), (a, c, d)]
    return verts, np.array(faces, dtype=np.int64)


def standing_joints(left_hand=(-0.17, 0.35, 0.9), right_hand=(0.17, 0.35, 0.9)):
    """(24, 3) joints of a body facing +Y (its right is +x): pelvis 0.95 m, spine3 1.3, head 1.6."""
    j = np.zeros((24, 3))
    j[:, 2] = 1.0
    j[0, 2], j[9, 2], j[15, 2] = 0.95, 1.3, 1.6
    j[1], j[2] = (-0.1, 0.0, 0.9), (0.1, 0.0, 0.9)
    j[16], j[17] = (-0.2, 0.0, 1.4), (0.2, 0.0, 1.4)
    j[22], j[23] = left_hand, right_hand
    return j


def static_frames(joints, centre, T=40, rot=None):
    rot = np.eye(3) if rot is None else rot
    return HOIFrames(np.repeat(joints[None], T, 0), np.repeat(np.asarray(centre, float)[None], T, 0),
                     np.repeat(rot[None], T, 0), np.ones(T))


def rigid(frames: HOIFrames, yaw: float, shift) -> HOIFrames:
    """The same interaction rotated by `yaw` about z (through the origin) and shifted."""
    c, s = math.cos(yaw), math.sin(yaw)
    R = np.array([[c, -s, 0.0], [s, c, 0.0], [0.0, 0.0, 1.0]])
    return HOIFrames(frames.joints @ R.T + shift, frames.obj_centre @ R.T + shift, R @ frames.obj_rot,
                     frames.obj_scale, frames.contacts)


BOX = ObjectMesh(*box_mesh())


# ------------------------------------------------------------------------------------------------ functional
def test_gt_against_itself_is_perfect_including_render_scores():
    gt = static_frames(standing_joints(), (0.0, 0.35, 0.9))
    camera = Camera(intrinsics_from_fov(50.0, 64, 64), look_at_world_to_cam((1.5, -2.5, 1.6), (0.0, 0.2, 0.9)),
                    64, 64)
    body_verts, body_faces = box_mesh((0.2, 0.12, 0.85))
    body_verts = body_verts + (0.0, 0.0, 0.85)
    out = image_adherence_scores(gt, gt, 20, BOX, camera=camera, gt_body_verts=body_verts,
                                 pred_body_verts=np.repeat(body_verts[None], 40, 0), body_faces=body_faces,
                                 factors=True)
    for key in ('pose_err', 'obj_pos_err', 'obj_rot_err', 'reproj_px'):
        assert out[key] == pytest.approx(0.0, abs=1e-9) and out[f'{key}_best'] == pytest.approx(0.0, abs=1e-9)
    for key in ('contact_left', 'contact_right', 'contact_both', 'layout', 'success', 'iou_body', 'iou_object',
                'factor_grasp_hand', 'factor_carry_height', 'factor_layout'):
        assert out[key] == 1.0, key
    assert out['factors_gt'] == dict(grasp_hand='both', carry_height='hip', layout='front')


def test_object_moved_sideways_relative_to_the_body():
    """Prediction = GT rotated by 90 deg and moved elsewhere (heading and position must not matter), with the
    object moved 0.3 m to the body's right: relative error 0.3 m, left hand loses contact, layout becomes right."""
    gt = static_frames(standing_joints(), (0.0, 0.35, 0.9))
    pred = rigid(static_frames(standing_joints(), (0.3, 0.35, 0.9)), math.pi / 2, np.array([1.0, 2.0, 0.0]))
    out = image_adherence_scores(gt, pred, 20, BOX)
    assert out['pose_err'] == pytest.approx(0.0, abs=1e-9)
    assert out['obj_pos_err'] == pytest.approx(0.3, abs=1e-9) and out['obj_pos_err_best'] == pytest.approx(0.3)
    assert out['obj_rot_err'] == pytest.approx(0.0, abs=1e-4)
    # box now spans x in [0.15, 0.45] of the body frame: left hand (x = -0.17) 0.32 m away, right hand inside
    assert out['contact_left'] == 0.0 and out['contact_right'] == 1.0 and out['contact_both'] == 0.0
    assert out['layout'] == 0.0            # bearing atan2(0.3, 0.35) = 40.6 deg > 35 deg: 'right', GT 'front'
    assert out['success'] == 0.0 and out['success_best'] == 0.0
    # the position error alone fails the threshold even with contacts and layout agreeing
    near = rigid(static_frames(standing_joints(), (0.0, 0.35, 1.05)), 1.0, np.array([0.5, 0.0, 0.0]))
    out = image_adherence_scores(gt, near, 20, BOX, pos_threshold=0.1)
    assert out['obj_pos_err'] == pytest.approx(0.15) and out['contact_both'] == 1.0 and out['layout'] == 1.0
    assert out['success'] == 0.0
    assert image_adherence_scores(gt, near, 20, BOX, pos_threshold=0.2)['success'] == 1.0


def test_object_rotation_relative_to_the_heading():
    gt = static_frames(standing_joints(), (0.0, 0.35, 0.9))
    c, s = math.cos(math.radians(30)), math.sin(math.radians(30))
    tilted = np.array([[c, -s, 0], [s, c, 0], [0, 0, 1.0]])       # 30 deg about z, relative to the body
    pred = rigid(static_frames(standing_joints(), (0.0, 0.35, 0.9), rot=tilted), -2.0, np.zeros(3))
    assert image_adherence_scores(gt, pred, 20, BOX)['obj_rot_err'] == pytest.approx(30.0, abs=1e-6)


def test_best_match_window_in_the_prediction():
    """The object (and the hands with it) rises 1 cm per frame; the prediction lags the GT by 5 frames."""
    T, t_star, lag = 60, 30, 5
    joints = np.repeat(standing_joints()[None], T, 0)
    centre = np.repeat(np.array([[0.0, 0.35, 0.6]]), T, 0)
    centre[:, 2] += 0.01 * np.arange(T)
    joints[:, 22:24, 2] = centre[:, 2:3]
    gt = HOIFrames(joints, centre, np.repeat(np.eye(3)[None], T, 0), np.ones(T))
    src = np.clip(np.arange(T) - lag, 0, None)
    pred = HOIFrames(joints[src], centre[src], gt.obj_rot, np.ones(T))
    out = image_adherence_scores(gt, pred, t_star, BOX)
    assert out['obj_pos_err'] == pytest.approx(0.05) and out['obj_pos_err_best'] == pytest.approx(0.0, abs=1e-9)
    assert out['pose_err'] == pytest.approx(2 * 0.05 / 24) and out['pose_err_best'] == pytest.approx(0.0, abs=1e-9)
    assert image_adherence_scores(gt, pred, t_star, BOX, window=3)['obj_pos_err_best'] == pytest.approx(0.02)
    # only frames < num_valid are candidates: the best is frame 32 (GT frame 27), 3 cm off
    assert image_adherence_scores(gt, pred, t_star, BOX, num_valid=33)['obj_pos_err_best'] == pytest.approx(0.03)
    with pytest.raises(ValueError, match='t_star'):
        image_adherence_scores(gt, pred, 40, BOX, num_valid=33)


def test_mirrored_prediction_swaps_the_hand_and_flips_the_layout():
    joints = standing_joints(left_hand=(-0.28, 0.1, 0.9), right_hand=(0.25, 0.1, 0.9))
    T = 40
    contacts = np.repeat(np.array([[1.0, 0.0, 0.0, 0.0]]), T, 0)
    gt = static_frames(joints, (-0.45, 0.1, 0.9))
    gt.contacts = contacts
    mj, mc, mk = mirror_motion(gt.joints, gt.obj_centre, contacts)
    pred = HOIFrames(mj, mc, gt.obj_rot, np.ones(T), mk)          # the box is symmetric: same rotation
    out = image_adherence_scores(gt, pred, 20, BOX, factors=True)
    assert out['contact_left'] == 0.0 and out['contact_right'] == 0.0 and out['contact_both'] == 0.0
    assert out['layout'] == 0.0 and out['layout_best'] == 0.0 and out['success'] == 0.0
    assert out['factors_gt'] == dict(grasp_hand='left', carry_height='hip', layout='left')
    assert out['factors_pred'] == mirror_factors(out['factors_gt'])
    assert (out['factor_grasp_hand'], out['factor_carry_height'], out['factor_layout']) == (0.0, 1.0, 0.0)
    assert out['obj_pos_err'] == pytest.approx(0.9)
    # hands: GT left (-0.28, 0.1) vs mirrored (-0.25, 0.1); GT right (0.25) vs (0.28): 3 cm each over 24 joints
    assert out['pose_err'] == pytest.approx(2 * 0.03 / 24)
    labels = image_adherence_scores(gt, pred, 20, BOX, factors=True, factor_contacts='labels')
    assert labels['factors_pred']['grasp_hand'] == 'right' and labels['factors_gt']['grasp_hand'] == 'left'


def test_contacts_of_several_sets_in_one_query():
    """The 0.3 m box at (1, 0, 0.5): hand points inside, 3 cm and 10 cm outside its +x face (threshold 5 cm); in
    the second set the box is scaled 2x (face at 0.3 m): 3 cm and 20 cm outside it, in metres of the world."""
    rot = np.eye(3)[None]
    centre = np.array([[1.0, 0.0, 0.5]])
    hands = centre[:, None] + np.array([[[0.0, 0.0, 0.0], [0.18, 0.0, 0.0], [0.25, 0.0, 0.0]]])
    big = centre[:, None] + np.array([[[0.33, 0.0, 0.0], [0.5, 0.0, 0.0]]])
    sets = [(hands, rot, centre, np.ones(1)), (big, rot, centre, np.full(1, 2.0))]
    first, second = hand_object_contact_sets(sets, BOX)
    np.testing.assert_array_equal(first, [[True, True, False]])
    np.testing.assert_array_equal(second, [[True, False]])
    for got, one in zip((first, second), sets):
        np.testing.assert_array_equal(got, hand_object_contacts(*one, BOX))


def test_body_frame_quantities_directly():
    j = standing_joints()
    assert object_relative_position(j, (0.3, 0.35, 0.9)) == pytest.approx([0.3, 0.35, -0.05])
    moved = j.copy()
    moved[15, 0] += 0.24                                          # the head 24 cm to the side: 1 cm per joint
    assert body_pose_error(j, moved) == pytest.approx(0.01)


def test_reprojection_error_with_a_known_camera():
    """Camera 3 m in front of the body looking along +y; a joint moved 0.1 m along x moves f * 0.1 / 3 pixels."""
    W = H = 100
    K = intrinsics_from_fov(60.0, W, H)
    camera = Camera(K, look_at_world_to_cam((0.0, -3.0, 1.0), (0.0, 0.0, 1.0)), W, H)
    f = 0.5 * H / math.tan(math.radians(30.0))
    gt = standing_joints(left_hand=(-0.3, 0.0, 1.0), right_hand=(0.3, 0.0, 1.0))
    pred = gt.copy()
    pred[15, 0] += 0.1                                            # the head is at depth 3 m
    assert reprojection_error(camera, gt, pred) == pytest.approx(f * 0.1 / 3.0 / 24)
    pred[15] = (0.0, -3.5, 1.0)                                   # behind the camera: left out of the mean
    assert reprojection_error(camera, gt, pred) == pytest.approx(0.0, abs=1e-9)
    frames = static_frames(gt, (0.0, 0.35, 0.9))
    moved = static_frames(gt + (0.0, 0.0, 0.3), (0.0, 0.35, 1.2))  # everything 0.3 m up at depth 3 m
    out = image_adherence_scores(frames, moved, 20, BOX, camera=camera, silhouette=False)
    assert out['reproj_px'] == pytest.approx(f * 0.3 / 3.0) and 'iou_body' not in out


def test_rasterised_square_and_iou_by_hand():
    """A 0.8 m square at 2 m seen face-on with f = 50 px: half-width 50 * 0.4 / 2 = 10 px around the centre
    (31.5, 31.5), so pixel centres 22..41 in each direction: 20 x 20 pixels; shifted 0.2 m (5 px) the IoU is
    (15 * 20) / (25 * 20)."""
    W = H = 64
    K = np.array([[50.0, 0.0, 31.5], [0.0, 50.0, 31.5], [0.0, 0.0, 1.0]])
    camera = Camera(K, look_at_world_to_cam((0.0, -2.0, 0.0), (0.0, 0.0, 0.0)), W, H)
    verts = np.array([[-0.4, 0.0, -0.4], [0.4, 0.0, -0.4], [0.4, 0.0, 0.4], [-0.4, 0.0, 0.4]])
    faces = np.array([[0, 1, 2], [0, 2, 3]])
    mask = rasterize_silhouette(camera, verts, faces)
    assert mask.sum() == 400 and mask[22:42, 22:42].all()
    shifted = rasterize_silhouette(camera, verts + (0.2, 0.0, 0.0), faces)
    assert shifted.sum() == 400 and shifted[22:42, 27:47].all()
    assert silhouette_iou(mask, shifted) == pytest.approx(300 / 500)
    behind = rasterize_silhouette(camera, verts + (0.0, -3.0, 0.0), faces)
    assert not behind.any() and math.isnan(silhouette_iou(behind, behind))


# ------------------------------------------------------------------------------------------------ metric
def _encoded_sample(gt: HOIFrames, pred: HOIFrames, mesh: ObjectMesh, t_star: int, name: str, **extra) -> dict:
    codec = CHOISMotionCodec()
    T = gt.num_frames

    def encode(f: HOIFrames):
        return codec.encode(torch.as_tensor(f.obj_centre), torch.as_tensor(f.obj_rot),
                            torch.as_tensor(f.joints), torch.eye(3, dtype=torch.float64).expand(T, 22, 3, 3),
                            None if f.contacts is None else torch.as_tensor(f.contacts)).float()

    sample = dict(gt_motion=encode(gt), pred_motion=encode(pred), t_star=t_star, seq_name=name, seq_len=T,
                  object_verts=torch.as_tensor(mesh.verts), object_faces=torch.as_tensor(mesh.faces),
                  obj_scale=torch.ones(T), obj_ref_rot=torch.eye(3), template_centroid=torch.zeros(3))
    sample.update(extra)
    return sample


def test_metric_rows_keys_missing_camera_warning_and_errors(monkeypatch):
    import imagin4d.evaluation.metrics.image_adherence_metric as module
    logged = []
    monkeypatch.setattr(module, 'print_log', lambda msg, **kw: logged.append(msg))
    gt = static_frames(standing_joints(), (0.0, 0.35, 0.9))
    moved = static_frames(standing_joints(), (0.3, 0.35, 0.9))
    camera = Camera(intrinsics_from_fov(50.0, 48, 48), look_at_world_to_cam((0.0, -3.0, 1.2), (0.0, 0.0, 1.0)),
                    48, 48)
    metric = METRICS.build(dict(type='ImageAdherenceMetric', silhouette=False))
    assert not metric.factors                                     # 'auto' without a factors file: off
    metric.process(None, [_encoded_sample(gt, gt, BOX, 20, 'a', reference_camera=camera.to_dict()),
                          _encoded_sample(gt, moved, BOX, 20, 'b'), _encoded_sample(gt, moved, BOX, 20, 'c')])
    summary = metric.compute_metrics(metric.results)
    assert len(logged) == 1 and "'b'" in logged[0] and 'reference_camera' in logged[0] and 'ia_reproj_px' in logged[0]
    assert summary['ia_obj_pos_err'] == pytest.approx(0.2, abs=1e-6)     # (0 + 0.3 + 0.3) / 3
    assert summary['ia_success'] == pytest.approx(1 / 3) and summary['ia_contact_left_best'] == pytest.approx(1 / 3)
    assert summary['ia_reproj_px'] == pytest.approx(0.0, abs=1e-6)       # only the sample with a camera
    assert 'ia_iou_body' not in summary and not any(k.startswith('factor') for k in summary)
    assert [r['seq_name'] for r in metric.last_rows] == ['a', 'b', 'c'] and 'ia_reproj_px' not in metric.last_rows[1]
    assert all(isinstance(v, float) for v in summary.values())

    metric = ImageAdherenceMetric(silhouette=False, factors=True)
    metric.process(None, [_encoded_sample(gt, moved, BOX, 20, 'a')])
    summary = metric.compute_metrics(metric.results)
    assert summary['factor_layout'] == 0.0 and summary['factor_carry_height'] == 1.0
    assert metric.last_rows[0]['factor_source'] == 'recovered'

    no_t = _encoded_sample(gt, gt, BOX, 20, 'seq_without_t')
    del no_t['t_star']
    with pytest.raises(KeyError, match='seq_without_t.*t_star'):
        metric.process(None, [no_t])
    with pytest.raises(ValueError, match='normalised'):
        metric.process(None, [_encoded_sample(gt, gt, BOX, 20, 'n', normalized=True)])


def _mini_fbm_samples(root, size=64):
    from imagin4d.datasets import FBMDataset
    dataset = FBMDataset(data_root=root, split='test', pipeline=[dict(type='PackHOIInputs')])
    codec = CHOISMotionCodec()
    samples = []
    for i in range(len(dataset)):
        sample = dataset[i]['data_samples'].to_dict()
        joints = codec.decode(sample['gt_motion'])['joints'][sample['t_star']].numpy()
        camera = sample_camera(camera_rng(0, sample['seq_name']), joints.mean(0), width=size, height=size)
        sample['reference_camera'] = camera.to_dict()
        samples.append(sample)
    return samples


def _evaluate(samples, shift: int, dataset_meta=None, **kwargs):
    metric = ImageAdherenceMetric(**kwargs)
    if dataset_meta is not None:
        metric.dataset_meta = dataset_meta                        # what the runner does
    batch = [dict(s, pred_motion=samples[(i + shift) % len(samples)]['gt_motion']) for i, s in enumerate(samples)]
    metric.process(None, batch)
    return metric.compute_metrics(metric.results), metric


def test_mini_fbm_gt_is_perfect_and_shuffled_motions_are_clearly_worse(mini_fbm_root):
    samples = _mini_fbm_samples(mini_fbm_root)
    assert not ImageAdherenceMetric(data_root=mini_fbm_root, factors=False).factors
    own, metric = _evaluate(samples, 0, data_root=mini_fbm_root, silhouette=False)
    assert metric.factors and all(r['factor_source'] == 'recorded' for r in metric.last_rows)
    for key in ('ia_pose_err', 'ia_obj_pos_err', 'ia_obj_rot_err', 'ia_reproj_px'):
        assert own[key] == pytest.approx(0.0, abs=1e-4), key
    for key in ('ia_contact_both', 'ia_layout', 'ia_success', 'ia_success_best', 'factor_grasp_hand',
                'factor_carry_height', 'factor_layout'):
        assert own[key] == 1.0, key

    shuffled, metric = _evaluate(samples, 1, dataset_meta=dict(data_root=mini_fbm_root), silhouette=False)
    assert metric.factors and metric.factors_file.endswith('mini_fbm_factors.json')
    factor_acc = np.mean([shuffled[f'factor_{k}'] for k in ('grasp_hand', 'carry_height', 'layout')])
    assert shuffled['ia_success'] <= 0.5 and shuffled['ia_success_best'] <= 0.5
    assert factor_acc <= 0.75
    assert shuffled['ia_obj_pos_err'] > 0.15 and shuffled['ia_pose_err'] > 0.03 and shuffled['ia_reproj_px'] > 1.0
    assert shuffled['ia_pose_err_best'] <= shuffled['ia_pose_err']


def test_mini_fbm_silhouettes_of_the_body_model(mini_fbm_root):
    """Body-model silhouettes: the prediction posed from its global rotations reproduces the GT body exactly."""
    samples = _mini_fbm_samples(mini_fbm_root, size=48)[:2]
    own, _ = _evaluate(samples, 0, data_root=mini_fbm_root, window=1, factors=False)
    assert own['ia_iou_body'] == pytest.approx(1.0, abs=1e-3) and own['ia_iou_object'] == pytest.approx(1.0)
    shuffled, _ = _evaluate(samples, 1, data_root=mini_fbm_root, window=1, factors=False)
    assert shuffled['ia_iou_body'] < 0.8 and shuffled['ia_iou_object'] < 0.8
    assert shuffled['ia_iou_body_best'] >= shuffled['ia_iou_body']


def test_body_model_is_the_data_sets_and_not_found_names_the_folders(free_body_root, tmp_path, monkeypatch):
    """Unconfigured, the metric uses the data set's body_model_root (dataset_meta, as the runner sets it: BEHAVE's
    smplh/ under its root); a configured '{data_root}/...' folder is the data root's; a miss names every folder."""
    monkeypatch.delenv('IMAGIN4D_BODY_MODEL_DIR', raising=False)
    behave = dict(dataset='behave', gender='male')
    metric = ImageAdherenceMetric(factors=False)
    metric.dataset_meta = dict(data_root=str(tmp_path), body_model_root=str(free_body_root))
    assert metric._body_model(behave, 10).faces.shape[1] == 3
    metric = ImageAdherenceMetric(factors=False, body_model_root='{data_root}/models')
    metric.dataset_meta = dict(data_root=str(tmp_path))
    with pytest.raises(FileNotFoundError, match='ImageAdherenceMetric .* no male SMPLH body model .* in the folders '
                                                f'searched: {tmp_path}/models\\.'):
        metric._body_model(behave, 10)
    monkeypatch.setenv('IMAGIN4D_BODY_MODEL_DIR', str(tmp_path / 'env'))
    metric = ImageAdherenceMetric(factors=False)
    metric.dataset_meta = dict(data_root=str(tmp_path))
    searched = f"{tmp_path / 'env'}, {tmp_path / 'smpl_all_models'}, {tmp_path}"
    with pytest.raises(FileNotFoundError, match=f'in the folders searched: {searched}\\.'):
        metric._body_model(dict(gender='female'), 10)


def test_depicted_frame_error_of_sfie_t_hat():
    """ia_frame_err = |t^ - t*| in frames and ia_frame_within5 = |t^ - t*| <= 5, over the samples with t^ only."""
    gt = static_frames(standing_joints(), (0.0, 0.35, 0.9))
    metric = ImageAdherenceMetric(silhouette=False, factors=False)
    # |t^ - t*|: 0, 6.5 (out), 5.0 (on the bound: in), 5.1 (out); the last sample has no t^ (no SFIE)
    t_hats = [(20, 20.0), (20, 26.5), (30, 25.0), (10, 15.1), (20, None)]
    samples = [_encoded_sample(gt, gt, BOX, t_star, f's{i}', **({} if t_hat is None else dict(pred_t_star=t_hat)))
               for i, (t_star, t_hat) in enumerate(t_hats)]
    samples[1]['pred_t_star'] = torch.tensor(26.5)                 # a 0-d tensor reads the same
    metric.process(None, samples)
    summary = metric.compute_metrics(metric.results)
    assert summary['ia_frame_err'] == pytest.approx((0 + 6.5 + 5.0 + 5.1) / 4)
    assert summary['ia_frame_within5'] == pytest.approx(2 / 4)
    assert [r.get('ia_frame_err') for r in metric.last_rows] == pytest.approx([0.0, 6.5, 5.0, 5.1, None])
    assert metric.last_rows[2]['pred_t_star'] == 25.0 and 'pred_t_star' not in summary

    metric = ImageAdherenceMetric(silhouette=False, factors=False)   # no sample with t^: the keys are not reported
    metric.process(None, samples[-1:])
    assert not {'ia_frame_err', 'ia_frame_within5'} & set(metric.compute_metrics(metric.results))
    with pytest.raises(ValueError, match="'bad'.*pred_t_star.*finite"):
        metric.process(None, [_encoded_sample(gt, gt, BOX, 20, 'bad', pred_t_star=float('nan'))])


def test_success_criteria_and_breakdown_by_hand():
    from imagin4d.evaluation.functional import criteria_breakdown, success_criteria
    # four windows: all pass; contact fails; contact and position fail; position 0.15 m exactly (not < 0.15)
    criteria = success_criteria(contact_both=[1, 0, 0, 1], layout=[1, 1, 1, 1], obj_pos_err=[0.1, 0.1, 0.2, 0.15],
                                pose_err=[0.05, 0.05, 0.05, 0.099])
    assert [list(v) for v in criteria.values()] == [[True, False, False, True], [True] * 4,
                                                    [True, True, False, False], [True] * 4]
    out = criteria_breakdown(criteria)
    assert out['success'] == 0.25 and out['pass_contact_both'] == 0.5 and out['pass_obj_pos'] == 0.5
    # without contacts: windows 0, 1 succeed; without the position: 0, 3; layout and pose cost nothing
    assert out['without_contact_both'] == 0.5 and out['without_obj_pos'] == 0.5
    assert out['without_layout'] == out['without_pose'] == out['success'] == 0.25
