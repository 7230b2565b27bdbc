"""LongSequenceMetric: metrics of a long generated interaction (several chained windows) over its whole length.

Owns the seam metric (`seam_jumps`: the largest per-frame jump of the joints and of the object across the seams of
a chained motion against the largest within its windows) and one row per sequence: waypoint errors at every given
waypoint, foot sliding and hand / body penetration over the whole sequence, all through
`imagin4d.evaluation.functional` (waypoints, motion, interaction).

A sample is a dict of world-frame arrays (metres, Z up), e.g. from `long_sample(result)` of an `HOIResult`:
joints (T, 24, 3), obj_com (T, 3), obj_rot (T, 3, 3), obj_trans (T, 3), obj_scale (scalar), object_verts (V, 3)
and object_faces (F, 3) (vertices placed as obj_scale * obj_rot @ v + obj_trans), waypoints [(frame, [x, y] or
[x, y, z])] (given object-centre positions; frame 0 counts as the start), seams [(first, end)] (the frames of each
blend, end exclusive) and seq_name.
"""
import math
from typing import Dict, List, Optional, Sequence, Tuple, Union

import numpy as np
import torch
from mmengine.evaluator import BaseMetric

from imagin4d.body_models.skeletons import HAND_JOINTS24
from imagin4d.geometry import geodesic_distance
from imagin4d.registry import METRICS

from ..functional.interaction import penetration
from ..functional.motion import M_TO_MM, as_numpy, estimate_floor_height, foot_sliding
from ..functional.waypoints import waypoint_errors

__all__ = ['LongSequenceMetric', 'seam_jumps', 'seam_steps', 'long_sample']


def seam_steps(num_frames: int, seams: Sequence[Tuple[int, int]]) -> np.ndarray:
    """(T - 1,) bool: True for the steps t -> t + 1 that cross a seam, i.e. that touch a blended frame
    (first - 1 -> first up to end - 1 -> end for each seam [first, end))."""
    across = np.zeros(max(num_frames - 1, 0), bool)
    for first, end in seams:
        if not 0 < first < end <= num_frames:
            raise ValueError(f'seam {(first, end)} is not inside a motion of {num_frames} frames')
        across[first - 1:min(end, num_frames - 1)] = True
    return across


def _ratio(across: float, within: float) -> float:
    return across / within if within > 0 else float('inf') if across > 0 else float('nan')


def seam_jumps(joints, obj_com, obj_rot, seams: Sequence[Tuple[int, int]]) -> Dict[str, float]:
    """The largest per-frame jump across the seams against the largest within the windows.

    joints (T, J, 3), obj_com (T, 3) metres; obj_rot (T, 3, 3); seams [(first, end)]. Per step t -> t + 1:
    joint jump = the largest joint displacement (mm), joint velocity jump = the largest change of a joint's
    per-frame displacement (mm, from t - 1 -> t to t -> t + 1), object jump = the centre's displacement (mm) and
    object turn = the rotation angle between the frames (degrees). Each is reported as its maximum over the steps
    that cross a seam (`seam_steps`), over the other steps (within), and their ratio across / within (1: the seam
    is no rougher than the windows; a hard cut between two unrelated windows shows as a ratio far above 1).
    NaN where a motion has no seam.
    """
    joints, com = as_numpy(joints, 'joints'), as_numpy(obj_com, 'obj_com')
    rot = torch.as_tensor(as_numpy(obj_rot, 'obj_rot'))
    T = joints.shape[0]
    if joints.ndim != 3 or com.shape != (T, 3) or tuple(rot.shape) != (T, 3, 3):
        raise ValueError(f'seam_jumps: joints (T, J, 3), obj_com (T, 3), obj_rot (T, 3, 3) expected, got '
                         f'{joints.shape}, {com.shape}, {tuple(rot.shape)}')
    across = seam_steps(T, seams)
    step = np.diff(joints, axis=0)                                             # (T - 1, J, 3)
    kinds = dict(
        joint_jump=np.linalg.norm(step, axis=-1).max(-1) * M_TO_MM,
        # a velocity change at step t -> t + 1 compares it with t - 1 -> t; the first step has none (0)
        joint_velocity_jump=np.concatenate([[0.0], np.linalg.norm(np.diff(step, axis=0), axis=-1).max(-1)])
        * M_TO_MM,
        object_jump=np.linalg.norm(np.diff(com, axis=0), axis=-1) * M_TO_MM,
        object_turn=np.degrees(geodesic_distance(rot[:-1], rot[1:]).numpy()))
    out = {}
    for name, values in kinds.items():
        if not across.any() or across.all():
            out.update({f'seam_{name}': float('nan'), f'within_{name}': float('nan'),
                        f'seam_{name}_ratio': float('nan')})
            continue
        seam, within = float(values[across].max()), float(values[~across].max())
        out.update({f'seam_{name}': seam, f'within_{name}': within, f'seam_{name}_ratio': _ratio(seam, within)})
    return out


def long_sample(result, waypoints: Sequence[Tuple[int, Sequence[float]]],
                seams: Optional[Sequence[Tuple[int, int]]] = None) -> dict:
    """A metric sample from an `HOIResult` of long generation: its joints, object pose, object centre
    (meta['object_centre']) and mesh, `waypoints` [(frame, position)] (the object-centre positions the request gave)
    and the seams of its meta (or `seams`)."""
    meta = result.meta
    mesh = result.object_mesh
    return dict(joints=result.joints, obj_com=np.asarray(meta['object_centre']), obj_rot=result.obj_rot,
                obj_trans=result.obj_trans, obj_scale=result.obj_scale, object_verts=np.asarray(mesh.vertices),
                object_faces=np.asarray(mesh.faces), waypoints=list(waypoints),
                seams=list(meta.get('seams', []) if seams is None else seams), seq_name=meta.get('name'))


@METRICS.register_module()
class LongSequenceMetric(BaseMetric):
    """Whole-sequence metrics of long generated interactions (per-sequence rows averaged over sequences).

    ======================== ========= ==================================================================
    key                      unit      meaning
    ======================== ========= ==================================================================
    waypoint_start_err       mm        object centre at frame 0 vs its given position
    waypoint_xy_err          mm        mean xy error over every given xy waypoint of the sequence
    waypoint_end_err         mm        the last given xyz waypoint (the end of the sequence)
    foot_sliding             mm/frame  CHOIS weighted foot sliding over the whole sequence
    hand_penetration         m         mean depth of the hand points inside the object
    body_penetration         m         mean depth of the joints24 inside the object
    seam_*, within_*, _ratio mm / deg  `seam_jumps`: joint jump, joint velocity jump, object jump, object turn
    ======================== ========= ==================================================================

    Args:
        floor_height: floor z (metres) for foot sliding, or 'estimate' (CHOIS per-sequence toe estimate).
        collect_device, prefix, collect_dir: as mmengine's BaseMetric.
    """

    default_prefix: Optional[str] = None
    ROW_ONLY_KEYS = ('seq_name', 'num_frames', 'num_seams', 'floor_height')
    REQUIRED = ('joints', 'obj_com', 'obj_rot', 'obj_trans', 'obj_scale', 'object_verts', 'object_faces',
                'waypoints', 'seams')

    def __init__(self, floor_height: Union[float, str] = 0.0, collect_device: str = 'cpu',
                 prefix: Optional[str] = None, collect_dir: Optional[str] = None):
        super().__init__(collect_device=collect_device, prefix=prefix, collect_dir=collect_dir)
        if not (floor_height == 'estimate' or isinstance(floor_height, (int, float))):
            raise ValueError(f"LongSequenceMetric: floor_height must be a number or 'estimate', got {floor_height!r}")
        self.floor_height = floor_height
        self.last_rows: List[dict] = []

    def process(self, data_batch, data_samples: Sequence[dict]) -> None:
        for index, sample in enumerate(data_samples):
            self.results.append(self.sample_row(sample, index))

    def sample_row(self, sample: dict, index: int = 0) -> dict:
        """The numbers of one long sequence (keys of the class table + seq_name, num_frames, num_seams)."""
        name = sample.get('seq_name') or f'sample {index}'
        missing = [k for k in self.REQUIRED if k not in sample]
        if missing:
            raise KeyError(f'LongSequenceMetric: sample {name} lacks {missing}')
        joints = as_numpy(sample['joints'], 'joints')
        com = as_numpy(sample['obj_com'], 'obj_com')
        T = joints.shape[0]
        given, mask = np.zeros((T, 3)), np.zeros((T, 3), bool)
        for frame, position in sample['waypoints']:
            if not 0 <= int(frame) < T:
                raise ValueError(f'LongSequenceMetric: sample {name}: waypoint frame {frame} outside {T} frames')
            position = np.asarray(position, np.float64)
            given[int(frame), :len(position)] = position
            mask[int(frame), :len(position)] = True
        row = dict(seq_name=name, num_frames=T, num_seams=len(sample['seams']))
        row.update(waypoint_errors(com, np.where(mask, given, com), mask))
        floor = estimate_floor_height(joints) if self.floor_height == 'estimate' else float(self.floor_height)
        row['floor_height'] = floor
        row['foot_sliding'] = foot_sliding(joints, floor)
        pose = (sample['obj_rot'], sample['obj_trans'], np.full(T, float(sample['obj_scale'])),
                sample['object_verts'], sample['object_faces'])
        row['hand_penetration'] = penetration(joints[:, list(HAND_JOINTS24)], *pose)
        row['body_penetration'] = penetration(joints, *pose)
        row.update(seam_jumps(joints, com, sample['obj_rot'], sample['seams']))
        return row

    def compute_metrics(self, results: List[dict]) -> Dict[str, float]:
        """Mean over sequences of every numeric row key (NaN and infinite values skipped); rows in `last_rows`."""
        if not results:
            raise ValueError('LongSequenceMetric: no samples were processed')
        self.last_rows = [dict(r) for r in results]
        keys: List[str] = []
        for row in results:
            keys += [k for k in row if k not in keys and k not in self.ROW_ONLY_KEYS]
        summary = {}
        for key in keys:
            values = [float(r[key]) for r in results if key in r and math.isfinite(float(r[key]))]
            summary[key] = float(np.mean(values)) if values else float('nan')
        return summary
