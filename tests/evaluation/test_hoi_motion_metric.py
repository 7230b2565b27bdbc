"""Tests of HOIMotionMetric (imagin4d.evaluation.metrics): per-sample rows and averages on synthetic windows built
with CHOISMotionCodec().encode, with hand-computed expectations, and a run through mmengine's Evaluator on the
mini-FBM test split with pred_motion = gt_motion.
"""
import math

import numpy as np
import pytest
import torch
import trimesh
from scipy.spatial.transform import Rotation

from imagin4d.evaluation import HOIMotionMetric
from imagin4d.models.codecs import CHOISMotionCodec
from imagin4d.registry import METRICS

T = 120
CODEC = CHOISMotionCodec()
HALF = np.array([0.2, 0.15, 0.1])                       # box half extents (template centred at 0)
R0 = Rotation.from_euler('z', 30, degrees=True).as_matrix()
CORNER = R0 @ HALF                                       # world offset of a box corner from the box centre
ERROR_KEYS = ('lhand_jpe', 'rhand_jpe', 'hand_jpe', 'mpjpe', 'root_trans_err', 'root_rot_err', 'root_rot_err_deg',
              'obj_trans_err', 'obj_rot_err', 'obj_rot_err_deg', 'waypoint_start_err', 'waypoint_end_err',
              'waypoint_xy_err')


def _world(seed=0):
    """GT quantities of a synthetic window: a static body (feet on the floor, away from the object), an object
    box sliding in +x (rotated 30 degrees about z), the right hand 2 cm from a box corner at frames 30-89."""
    rng = np.random.default_rng(seed)
    joints = np.repeat((rng.uniform(-0.3, 0.3, (24, 3)) + np.array([0.0, -1.0, 1.0]))[None], T, axis=0)
    joints[:, [7, 8], 2] = 0.10    # ankles above H = 8 cm
    joints[:, [10, 11], 2] = 0.0   # toes on the floor
    obj_com = np.array([0.5, 0.0, 0.8]) + 0.002 * np.arange(T)[:, None] * np.array([1.0, 0.0, 0.0])
    joints[:, 23] = obj_com + CORNER + np.array([0.5, 0.0, 0.0])
    joints[30:90, 23] = obj_com[30:90] + CORNER + np.array([0.02, 0.0, 0.0])
    return dict(joints=joints, obj_com=obj_com, obj_rot=np.repeat(np.eye(3)[None], T, axis=0),
                global_rot=np.repeat(np.eye(3)[None, None], T, axis=0).repeat(22, axis=1))


def _encode(world):
    return CODEC.encode(torch.as_tensor(world['obj_com']), torch.as_tensor(world['obj_rot']),
                        torch.as_tensor(world['joints']), torch.as_tensor(world['global_rot']))


def _sample(gt_world=None, pred_world=None, seq_name='seq0', seq_len=T):
    box = trimesh.creation.box(extents=2 * HALF)
    gt_world = gt_world or _world()
    gt = _encode(gt_world)
    pred = gt.clone() if pred_world is None else _encode(pred_world)
    return dict(gt_motion=gt, pred_motion=pred, waypoint_mask=CODEC.waypoint_mask(T, last_frame=seq_len - 1),
                object_verts=torch.as_tensor(box.vertices, dtype=torch.float32),
                object_faces=torch.as_tensor(box.faces), obj_scale=torch.ones(T), obj_ref_rot=torch.as_tensor(R0),
                template_centroid=torch.zeros(3), seq_name=seq_name, seq_len=seq_len, normalized=False)


def _evaluate(samples, **kwargs):
    metric = HOIMotionMetric(**kwargs)
    metric.process({}, samples)
    return metric, metric.compute_metrics(metric.results)


def test_identical_prediction_gives_zero_errors_and_perfect_contact():
    metric, res = _evaluate([_sample()])
    for key in ERROR_KEYS:
        assert res[key] == pytest.approx(0.0, abs=1e-4), key
    assert res['contact_precision'] == res['contact_recall'] == res['contact_f1'] == res['contact_acc'] == 1.0
    assert res['contact_percent'] == res['gt_contact_percent'] == 0.5     # frames 30-89 of 120
    assert res['hand_penetration'] == res['body_penetration'] == 0.0
    assert res['foot_sliding'] == res['gt_foot_sliding'] == 0.0
    assert 'mpvpe' not in res
    assert all(isinstance(v, float) for v in res.values())
    assert metric.last_rows[0]['seq_name'] == 'seq0' and metric.last_rows[0]['seq_len'] == T


def test_translated_body_and_object():
    """Every joint moved (3, -4, 0) mm, the object 50 mm in y: hand / root 5 mm, MPJPE 0, object and all
    waypoint errors 50 mm."""
    pred = _world()
    pred['joints'] = pred['joints'] + np.array([0.003, -0.004, 0.0])
    pred['obj_com'] = pred['obj_com'] + np.array([0.0, 0.05, 0.0])
    _, res = _evaluate([_sample(pred_world=pred)])
    assert res['hand_jpe'] == pytest.approx(5.0, abs=1e-3)
    assert res['root_trans_err'] == pytest.approx(5.0, abs=1e-3)
    assert res['mpjpe'] == pytest.approx(0.0, abs=1e-3)
    assert res['obj_trans_err'] == pytest.approx(50.0, abs=1e-3)
    for key in ('waypoint_start_err', 'waypoint_end_err', 'waypoint_xy_err'):
        assert res[key] == pytest.approx(50.0, abs=1e-3), key
    assert res['obj_rot_err'] == pytest.approx(0.0, abs=1e-6)


def test_rotated_object_and_root():
    """Object turned 90 degrees about z, root 60 degrees about x: CHOIS Frobenius 2.0 and 2 sqrt(1 - cos 60)."""
    pred = _world()
    pred['obj_rot'] = np.repeat(Rotation.from_euler('z', 90, degrees=True).as_matrix()[None], T, axis=0)
    pred['global_rot'] = pred['global_rot'].copy()
    pred['global_rot'][:, 0] = Rotation.from_euler('x', 60, degrees=True).as_matrix()
    _, res = _evaluate([_sample(pred_world=pred)])
    assert res['obj_rot_err'] == pytest.approx(2.0, abs=1e-5)
    assert res['obj_rot_err_deg'] == pytest.approx(90.0, abs=1e-3)
    assert res['root_rot_err'] == pytest.approx(2.0 * math.sqrt(0.5), abs=1e-5)
    assert res['root_rot_err_deg'] == pytest.approx(60.0, abs=1e-3)
    assert res['obj_trans_err'] == pytest.approx(0.0, abs=1e-6)


def test_lost_contact_frames():
    """The predicted right hand leaves the box at frames 30-59: P 1, R 0.5, F1 2/3, acc 0.75, C% 0.25."""
    pred = _world()
    pred['joints'][30:60, 23] += np.array([0.0, 0.0, 0.5])
    _, res = _evaluate([_sample(pred_world=pred)])
    assert res['contact_precision'] == 1.0
    assert res['contact_recall'] == 0.5
    assert res['contact_f1'] == pytest.approx(2.0 / 3.0)
    assert res['contact_acc'] == 0.75
    assert res['contact_percent'] == 0.25 and res['gt_contact_percent'] == 0.5


def test_hand_inside_the_object():
    """Right hand at box-local (0.15, 0, 0) in every frame: 5 cm deep (x half extent 0.2). Hand penetration is the
    mean over both hands, body penetration over the 24 joints."""
    pred = _world()
    pred['joints'][:, 23] = pred['obj_com'] + R0 @ np.array([0.15, 0.0, 0.0])
    _, res = _evaluate([_sample(pred_world=pred)])
    assert res['hand_penetration'] == pytest.approx(0.05 / 2, abs=1e-6)
    assert res['body_penetration'] == pytest.approx(0.05 / 24, abs=1e-6)
    # CHOIS vertex contact: the hand is sqrt(0.05^2 + 0.15^2 + 0.1^2) = 18.7 cm from the nearest corner
    assert res['contact_percent'] == 0.0
    # with body "vertices" (here the joints themselves) and hand vertex ids, the hand score uses those vertices
    _, res = _evaluate([_sample(pred_world=pred)], vertices_fn=lambda sample, decoded, which: decoded['joints'],
                       hand_vertex_ids=[23])
    assert res['hand_penetration'] == pytest.approx(0.05, abs=1e-6)
    assert res['body_penetration'] == pytest.approx(0.05 / 24, abs=1e-6)


def test_foot_sliding_of_the_prediction():
    """Predicted left toe slides 2 mm per frame on the floor: 119 * 2 / 120 / 4; GT feet are static."""
    pred = _world()
    pred['joints'][:, 10, 0] += 0.002 * np.arange(T)
    for floor in (0.0, 'estimate'):
        metric, res = _evaluate([_sample(pred_world=pred)], floor_height=floor)
        assert res['foot_sliding'] == pytest.approx(119 * 2 / 120 / 4, abs=1e-4), floor
        assert res['gt_foot_sliding'] == 0.0
        assert metric.last_rows[0]['floor_height'] == pytest.approx(0.0, abs=1e-6)
    lifted_gt, lifted_pred = _world(), pred
    for world in (lifted_gt, lifted_pred):
        world['joints'] = world['joints'] + np.array([0.0, 0.0, 0.25])
    _, res = _evaluate([_sample(lifted_gt, lifted_pred)], floor_height=0.25)
    assert res['foot_sliding'] == pytest.approx(119 * 2 / 120 / 4, abs=1e-4)
    metric, res = _evaluate([_sample(lifted_gt, lifted_pred)], floor_height='estimate')
    assert res['foot_sliding'] == pytest.approx(119 * 2 / 120 / 4, abs=1e-4)
    assert metric.last_rows[0]['floor_height'] == pytest.approx(0.25, abs=1e-6)


def test_seq_len_limits_every_metric():
    """Frames at and after seq_len are ignored: the end waypoint is the mask's (seq_len - 1)."""
    pred = _world()
    pred['joints'][100:] += 1.0
    pred['obj_com'][100:] += 1.0
    _, res = _evaluate([_sample(pred_world=pred, seq_len=100)])
    for key in ERROR_KEYS:
        assert res[key] == pytest.approx(0.0, abs=1e-4), key
    _, res = _evaluate([_sample(pred_world=pred, seq_len=T)])
    assert res['waypoint_end_err'] == pytest.approx(1000 * math.sqrt(3), abs=1e-2)
    assert res['mpjpe'] == pytest.approx(0.0, abs=1e-3) and res['root_trans_err'] > 0


def test_average_over_samples_skips_missing_values():
    """Hand JPE 5 mm and 15 mm average to 10; a sample whose mask has no xy waypoint does not count for T_xy."""
    a, b = _world(), _world()
    a['joints'] = a['joints'] + np.array([0.0, 0.0, 0.005])
    b['joints'] = b['joints'] + np.array([0.0, 0.0, 0.015])
    b['obj_com'] = b['obj_com'] + np.array([0.0, 0.02, 0.0])
    first, second = _sample(pred_world=a, seq_name='a'), _sample(pred_world=b, seq_name='b')
    first['waypoint_mask'] = CODEC.waypoint_mask(T, xy_frames=())
    metric, res = _evaluate([first, second])
    assert res['hand_jpe'] == pytest.approx(10.0, abs=1e-3)
    assert res['waypoint_xy_err'] == pytest.approx(20.0, abs=1e-3)         # only sample b
    assert res['waypoint_end_err'] == pytest.approx(10.0, abs=1e-3)        # (0 + 20) / 2
    assert [r['seq_name'] for r in metric.last_rows] == ['a', 'b']
    assert math.isnan(metric.last_rows[0]['waypoint_xy_err'])


def test_vertices_fn_enables_mpvpe():
    """Fake 'vertices' = the decoded joints; the predicted ones, all but the root, 4 mm off: MPVPE 4 * 23 / 24."""
    def vertices_fn(sample, decoded, which):
        verts = decoded['joints'].clone()
        if which == 'pred':
            verts[:, 1:] += torch.tensor([0.0, 0.004, 0.0], dtype=verts.dtype)   # 23 of 24 vertices off by 4 mm
        return verts

    _, res = _evaluate([_sample()], vertices_fn=vertices_fn)
    assert res['mpvpe'] == pytest.approx(4.0 * 23 / 24, abs=1e-4)
    assert res['mpjpe'] == pytest.approx(0.0, abs=1e-4)


def test_missing_field_and_normalised_input_raise():
    sample = _sample(seq_name='sub16_box_000')
    del sample['pred_motion']
    with pytest.raises(KeyError, match="sub16_box_000.*'pred_motion'"):
        _evaluate([sample])
    sample = _sample(seq_name='sub16_box_001')
    sample['normalized'] = True
    with pytest.raises(ValueError, match='sub16_box_001.*normalised'):
        _evaluate([sample])
    with pytest.raises(ValueError, match='floor_height'):
        HOIMotionMetric(floor_height='lowest')


def test_evaluator_on_mini_fbm_with_perfect_prediction(mini_fbm_root):
    from mmengine.evaluator import Evaluator

    from imagin4d.datasets import FBMDataset

    dataset = FBMDataset(data_root=mini_fbm_root, split='test', pipeline=[dict(type='PackHOIInputs')])
    samples = []
    for index in range(3):
        sample = dataset[index]['data_samples']
        sample.pred_motion = sample.gt_motion.clone()
        samples.append(sample)
    evaluator = Evaluator(METRICS.build(dict(type='HOIMotionMetric', prefix='hoi')))
    evaluator.process(samples[:2])
    evaluator.process(samples[2:])
    res = evaluator.evaluate(len(samples))
    metric = evaluator.metrics[0]
    assert [r['seq_name'] for r in metric.last_rows] == [s.metainfo['seq_name'] for s in samples]
    for key in ERROR_KEYS:
        assert res[f'hoi/{key}'] == pytest.approx(0.0, abs=1e-3), key
    assert res['hoi/contact_acc'] == 1.0
    assert res['hoi/contact_percent'] == res['hoi/gt_contact_percent']
    assert 'hoi/mpvpe' not in res
    for row in metric.last_rows:
        expected = 1.0 if row['gt_contact_percent'] > 0 else 0.0   # CHOIS: no GT contact -> P = R = F1 = 0
        assert row['contact_precision'] == row['contact_recall'] == row['contact_f1'] == expected
        assert row['foot_sliding'] == row['gt_foot_sliding']
        assert row['hand_penetration'] >= 0.0 and row['body_penetration'] >= 0.0
    assert any(row['gt_contact_percent'] > 0 for row in metric.last_rows)


# ------------------------------------------------------------------------------------------------ protocol options
def _body_world(model, betas, seed):
    """A walking body posed by the body model itself (smplx call with transl, local axis-angle poses that change
    over time, Z up) and its global rotations composed along the kinematic tree: joints and rotations agree.
    The lowest toe touches z = 0 (the whole body shifted: still consistent); the object of `_world` stays 1.5 m
    away."""
    from imagin4d.body_models.skeletons import BODY_PARENTS
    rng = np.random.default_rng(seed)
    phase = np.sin(np.linspace(0, 2 * np.pi, T))[:, None]
    local = rng.normal(0, 0.1, (1, 22, 3)) + 0.1 * phase[:, :, None] * rng.normal(0, 1, (1, 22, 3))    # (T, 22, 3)
    local[:, 0] = (Rotation.from_euler('x', 90, degrees=True)
                   * Rotation.from_rotvec(local[:, 0])).as_rotvec()                                    # Y up -> Z up
    transl = np.stack([0.01 * np.arange(T), np.full(T, -1.5), np.full(T, 0.9)], -1)
    with torch.no_grad():
        out = model(betas=betas[None], global_orient=torch.as_tensor(local[:, 0], dtype=torch.float32),
                    body_pose=torch.as_tensor(local[:, 1:].reshape(T, 63), dtype=torch.float32),
                    transl=torch.as_tensor(transl, dtype=torch.float32))
    mats = Rotation.from_rotvec(local.reshape(-1, 3)).as_matrix().reshape(T, 22, 3, 3)
    global_rot = np.zeros_like(mats)
    for j, parent in enumerate(BODY_PARENTS):
        global_rot[:, j] = mats[:, j] if parent < 0 else global_rot[:, parent] @ mats[:, j]
    world = _world()
    joints = out['joints24'].double().numpy()
    joints[..., 2] -= joints[:, [10, 11], 2].min()
    world.update(joints=joints, global_rot=global_rot)
    return world


def test_joints_from_the_body_model(free_body_root):
    """joints_from='body_model' (CHOIS) scores a forward pass of the rotations: for a prediction whose joints agree
    with its rotations it gives the numbers of the predicted joints; for one whose hand points alone moved 20 mm
    (rotations unchanged) the predicted joints give hand JPE 20 mm and the forward pass 0. MPVPE comes with it."""
    from imagin4d.body_models import load_body_model
    model = load_body_model(free_body_root, 'smplx', 'neutral', 10)
    betas = torch.as_tensor(np.random.default_rng(5).normal(0, 1, 10), dtype=torch.float32)
    gt, pred = _body_world(model, betas, 1), _body_world(model, betas, 2)
    meta = dict(smpl_params=dict(betas=betas), gender='neutral', dataset='fbm')
    options = dict(body_model_root=str(free_body_root))
    sample = dict(_sample(gt, pred), **meta)
    _, joints = _evaluate([sample])
    _, body = _evaluate([sample], joints_from='body_model', **options)
    assert joints['hand_jpe'] > 50 and joints['mpjpe'] > 20 and joints['foot_sliding'] > 0   # different poses
    for key in ('hand_jpe', 'mpjpe', 'root_trans_err', 'root_rot_err', 'foot_sliding', 'gt_foot_sliding',
                'contact_f1', 'obj_trans_err'):
        assert body[key] == pytest.approx(joints[key], rel=1e-4, abs=1e-3), key
    assert body['mpvpe'] > 20 and 'mpvpe' not in joints
    assert body['hand_penetration'] == joints['hand_penetration'] == 0.0        # the points, 1.5 m from the box

    moved = dict(gt, joints=gt['joints'].copy())
    moved['joints'][:, 22:24] += np.array([0.0, 0.012, 0.016])                                      # 20 mm
    sample = dict(_sample(gt, moved), **meta)
    _, joints = _evaluate([sample])
    metric, body = _evaluate([sample], joints_from='body_model', **options)
    assert joints['hand_jpe'] == pytest.approx(20.0, abs=1e-3)
    assert joints['mpjpe'] == pytest.approx(2 * 20.0 / 24, abs=1e-3)
    assert body['hand_jpe'] == pytest.approx(0.0, abs=1e-3) and body['mpjpe'] == pytest.approx(0.0, abs=1e-3)
    assert body['mpvpe'] == pytest.approx(0.0, abs=1e-3)

    with pytest.raises(KeyError, match="'seq0' lacks smpl_params.*joints_from='body_model'"):
        metric.process({}, [_sample(gt, moved)])
    with pytest.raises(ValueError, match='vertices_fn'):
        HOIMotionMetric(joints_from='body_model', vertices_fn=lambda *a: None)
    with pytest.raises(ValueError, match="joints_from must be 'predicted' or 'body_model', got 'fk'"):
        HOIMotionMetric(joints_from='fk')
    with pytest.raises(ValueError, match="penetration_from='vertices' needs vertices"):
        HOIMotionMetric(penetration_from='vertices')


def test_raw_object_rotation_as_chois_scores_it():
    """Predicted object rotation block = 1.1 x the GT's (not a rotation): projected it is the GT rotation (error 0);
    raw, CHOIS's ||I - M R_gt^-1||_F = ||-0.1 I||_F = 0.1 sqrt(3). The geodesic angle uses the projection."""
    sample = _sample()
    cols = CODEC.slices['obj_rot']
    sample['pred_motion'][:, cols] *= 1.1
    _, projected = _evaluate([sample])
    _, raw = _evaluate([sample], object_rotation='raw')
    assert projected['obj_rot_err'] == pytest.approx(0.0, abs=1e-6)
    assert raw['obj_rot_err'] == pytest.approx(0.1 * math.sqrt(3), abs=1e-6)
    assert raw['obj_rot_err_deg'] == pytest.approx(0.0, abs=1e-4)
    assert raw['obj_trans_err'] == projected['obj_trans_err'] and raw['contact_f1'] == projected['contact_f1']
    with pytest.raises(ValueError, match="object_rotation must be 'projected' or 'raw'"):
        HOIMotionMetric(object_rotation='inverse')
