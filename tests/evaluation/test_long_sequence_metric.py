"""LongSequenceMetric and the seam metric on hand-built sequences whose numbers are worked out by hand."""
import math

import numpy as np
import pytest
import torch
import trimesh

from imagin4d.evaluation.metrics.long_sequence_metric import LongSequenceMetric, seam_jumps, seam_steps
from imagin4d.geometry import rotation_about_z
from imagin4d.registry import METRICS


def _line(T=10, jump_at=None, jump=0.0, speed=0.01):
    """Two joints moving `speed` m per frame along x, at 1 m height, with an extra `jump` from frame jump_at on."""
    t = np.arange(T, dtype=np.float64)
    x = speed * t + (jump if jump_at is not None else 0.0) * (t >= (jump_at or 0))
    joints = np.zeros((T, 2, 3))
    joints[:, :, 0] = x[:, None]
    joints[:, 1, 1] = 0.3
    joints[:, :, 2] = 1.0
    return joints


def test_seam_steps_are_the_steps_touching_a_blended_frame():
    # a blend over frames 4 and 5 of 10: steps 3->4, 4->5, 5->6 cross it
    assert seam_steps(10, [(4, 6)]).tolist() == [False] * 3 + [True] * 3 + [False] * 3
    with pytest.raises(ValueError, match='not inside a motion of 10 frames'):
        seam_steps(10, [(8, 12)])


def test_seam_jumps_by_hand():
    T = 10
    joints = _line(T, jump_at=5, jump=0.04)                  # steps: 10 mm, and 50 mm at 4 -> 5 (in the seam)
    com = np.zeros((T, 3))
    com[:, 1] = 0.02 * np.arange(T)                          # 20 mm per frame, no jump
    yaw = np.radians(np.arange(T, dtype=np.float64))         # 1 degree per frame, 3 more at 5 -> 6
    yaw[6:] += np.radians(3.0)
    out = seam_jumps(joints, com, rotation_about_z(torch.as_tensor(yaw)).numpy(), [(4, 6)])
    assert out['seam_joint_jump'] == pytest.approx(50.0) and out['within_joint_jump'] == pytest.approx(10.0)
    assert out['seam_joint_jump_ratio'] == pytest.approx(5.0)
    # the speed changes from 10 to 50 mm and back: 40 mm at 4 -> 5 and at 5 -> 6; constant elsewhere
    assert out['seam_joint_velocity_jump'] == pytest.approx(40.0)
    assert out['within_joint_velocity_jump'] < 1e-9 and out['seam_joint_velocity_jump_ratio'] > 1e9
    assert out['seam_object_jump'] == pytest.approx(20.0) and out['seam_object_jump_ratio'] == pytest.approx(1.0)
    assert out['seam_object_turn'] == pytest.approx(4.0) and out['within_object_turn'] == pytest.approx(1.0)
    assert out['seam_object_turn_ratio'] == pytest.approx(4.0)
    assert math.isnan(seam_jumps(joints, com, rotation_about_z(torch.as_tensor(yaw)).numpy(), [])['seam_joint_jump'])


def _sample(T=10, **overrides):
    box = trimesh.creation.box(extents=(0.2, 0.2, 0.2))
    com = np.zeros((T, 3))
    com[:, 0] = 5.0 + 0.01 * np.arange(T)                    # far from the body: nothing penetrates
    sample = dict(joints=np.tile(_line(T), (1, 12, 1)), obj_com=com, obj_rot=np.tile(np.eye(3), (T, 1, 1)),
                  obj_trans=com.copy(), obj_scale=1.0, object_verts=np.asarray(box.vertices),
                  object_faces=np.asarray(box.faces), seams=[(4, 6)], seq_name='line',
                  waypoints=[(0, com[0].tolist()), (3, [com[3, 0] + 0.003, com[3, 1] + 0.004]),
                             (6, [com[6, 0], com[6, 1] - 0.010]), (9, (com[9] + [0.0, 0.0, 0.012]).tolist())])
    sample.update(overrides)
    return sample


def test_rows_by_hand():
    metric = METRICS.build(dict(type='LongSequenceMetric'))
    row = metric.sample_row(_sample())
    assert row['waypoint_start_err'] == pytest.approx(0.0)
    assert row['waypoint_xy_err'] == pytest.approx((5.0 + 10.0) / 2)     # 3-4-5 triangle and 10 mm
    assert row['waypoint_end_err'] == pytest.approx(12.0)
    assert row['foot_sliding'] == 0.0                                      # every joint 1 m above the floor
    assert row['hand_penetration'] == 0.0 and row['body_penetration'] == 0.0
    assert row['num_frames'] == 10 and row['num_seams'] == 1
    # every joint at the centre of the 20 cm box: 10 cm deep for the body and the hands
    inside = _sample(joints=np.tile(_sample()['obj_com'][:, None], (1, 24, 1)))
    row = metric.sample_row(inside)
    assert row['body_penetration'] == pytest.approx(0.1) and row['hand_penetration'] == pytest.approx(0.1)
    metric.process(None, [_sample(), inside])
    summary = metric.compute_metrics(metric.results)
    assert summary['body_penetration'] == pytest.approx(0.05) and 'seq_name' not in summary


def test_foot_sliding_counts_a_planted_foot_that_slides():
    """A toe (joint 10) on the floor sliding 1 cm per frame for 9 of 10 frames: 1000 * 0.01 * 9 / 10 / 4 mm."""
    joints = np.tile(_line(10), (1, 12, 1))
    joints[:, 10, 2] = 0.0
    row = LongSequenceMetric().sample_row(_sample(joints=joints))
    assert row['foot_sliding'] == pytest.approx(1000 * 0.01 * 9 / 10 / 4)


def test_bad_samples_get_one_line():
    with pytest.raises(KeyError, match=r"sample line lacks \['seams'\]"):
        LongSequenceMetric().sample_row({k: v for k, v in _sample().items() if k != 'seams'})
    with pytest.raises(ValueError, match='waypoint frame 12 outside 10 frames'):
        LongSequenceMetric().sample_row(_sample(waypoints=[(12, [0.0, 0.0])]))


def test_long_sample_reads_an_hoi_result():
    from imagin4d.apis import HOIResult
    T = 10
    s = _sample(joints=np.tile(_line(T), (1, 12, 1)))
    box = trimesh.Trimesh(s['object_verts'], s['object_faces'], process=False)
    result = HOIResult(global_orient=np.zeros((T, 3)), body_pose=np.zeros((T, 63)), transl=np.zeros((T, 3)),
                       betas=np.zeros(10), gender='neutral', joints=s['joints'], obj_rot=s['obj_rot'],
                       obj_trans=s['obj_trans'], obj_scale=1.0, contacts=np.zeros((T, 4)), object_mesh=box,
                       meta=dict(name='line', object_centre=s['obj_com'], seams=[(4, 6)]))
    from imagin4d.evaluation.metrics.long_sequence_metric import long_sample
    sample = long_sample(result, s['waypoints'])
    assert sample['seams'] == [(4, 6)] and long_sample(result, s['waypoints'], seams=[])['seams'] == []
    assert LongSequenceMetric().sample_row(sample) == pytest.approx(LongSequenceMetric().sample_row(s), nan_ok=True)
