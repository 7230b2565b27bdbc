"""Long test sequences of mini-FBM: several carry-and-place segments of one subject and object, chained.

Owns `build_long_test` (an EXTRA output, written only when asked, e.g. `tools/data/make_mini_fbm.py --long-test K`,
into `<root>/long_test/`; the default mini-FBM build, its files and its GENERATOR_VERSION do not change) and
`chain_segments`. Each segment is an ordinary carry sequence of the generator (`synthesize`, test subjects, carry
programs only, seeded apart from the default build), generated after the previous one: its body starts at the floor
pose (pelvis xy, heading, feet) where the previous segment's body stands, relative to the put-down object
(`synthesize(..., start=end_stance(previous))`; a start whose walk to the next stance would cross the object is
redrawn). Segment k + 1 is turned about z and shifted so that its object starts exactly where segment k put it down,
which puts its body exactly on segment k's stance; segment k is kept up to SETTLE frames after its release (the
body has stopped by then) and segment k + 1 follows from its frame 0: no cross-fade, no glide, no foot sliding at a
join (the largest joint gap there, `join_gap` in the index, is about a millimetre: the knees finishing to straighten).
Files per sequence, ready for `tools/generate.py`:

    long_test/index.json                 {format, version, seed, sequences: {name: {...}}}
    long_test/<name>.npz                 AMASS SMPL-X layout (root_orient, pose_body, trans, betas, gender,
                                         mocap_frame_rate) + joints24, obj_rot, obj_trans, obj_centre, obj_scale,
                                         contacts, segment_starts, join_gap
    long_test/<name>_waypoints.json      schema v1: object start, xy every 30 frames (29, 59, ...), xyz at the end
    long_test/<object>.obj               the object template (FBM units; object_scale in index.json)
"""
import json
import os
import os.path as osp
from typing import Dict, List, Optional

import numpy as np
import torch

from imagin4d.geometry import axis_angle_to_matrix, matrix_to_axis_angle

from .body import ShapedSkeleton, sample_subjects
from .kinematics import joints_from_params
from .motion import FPS, SynthesisFailed, SynthSequence, end_stance, synthesize
from .objects import OBJECT_NAMES, OBJECTS
from .placement import feasible_options

__all__ = ['build_long_test', 'chain_segments', 'LONG_TEST_DIR', 'LONG_TEST_VERSION', 'SETTLE']

LONG_TEST_DIR = 'long_test'
#: 2: each segment starts where the previous one's body stands (1: the body glided there over a 30-frame cross-fade)
LONG_TEST_VERSION = 2
#: frames of a segment kept after its release before the next segment starts (its body has stopped by then)
SETTLE = 15
XY_EVERY = 30
MAX_ATTEMPTS = 12


def _arrays(seq: SynthSequence) -> Dict[str, np.ndarray]:
    T = seq.num_frames
    aa = np.concatenate([seq.root_orient, seq.pose_body], 1).reshape(T, 22, 3)
    return dict(rot=axis_angle_to_matrix(torch.from_numpy(aa)).numpy(), trans=np.asarray(seq.trans, np.float64),
                obj_rot=np.asarray(seq.obj_rot, np.float64), obj_trans=np.asarray(seq.obj_trans, np.float64),
                obj_centre=np.asarray(seq.obj_centre, np.float64), contacts=np.asarray(seq.contacts, np.float64))


def _moved(arrays: Dict[str, np.ndarray], R: np.ndarray, d: np.ndarray, rest_pelvis: np.ndarray):
    """Every quantity of a sequence turned by R (about z) and shifted by d (smplx turns about the rest pelvis)."""
    out = dict(arrays)
    out['rot'] = arrays['rot'].copy()
    out['rot'][:, 0] = R @ arrays['rot'][:, 0]
    out['trans'] = (arrays['trans'] + rest_pelvis) @ R.T + d - rest_pelvis
    out['obj_rot'] = R @ arrays['obj_rot']
    out['obj_trans'] = arrays['obj_trans'] @ R.T + d
    out['obj_centre'] = arrays['obj_centre'] @ R.T + d
    return out


def _cut(seq: SynthSequence) -> int:
    """Frames of a segment kept before the next one starts: up to SETTLE frames after its release."""
    return min(seq.phases['release'][1] + SETTLE, seq.num_frames)


def chain_segments(segments: List[SynthSequence], skel: ShapedSkeleton) -> Dict[str, np.ndarray]:
    """One long sequence from carry segments of one body and object, each segment generated to start where the
    previous one's body stands (see the module docstring).

    Returns root_orient (T, 3), pose_body (T, 63), trans (T, 3), joints24 (T, 24, 3), obj_rot (T, 3, 3),
    obj_trans (T, 3), obj_centre (T, 3), contacts (T, 4), segment_starts (K,): the frame where each segment's
    frame 0 lands, and join_gap (K - 1,): the largest joint distance (m) between the last kept frame of a segment
    and the next one's frame 0."""
    rest_pelvis = np.asarray(skel.rest[0], np.float64)
    chain = {k: v[:_cut(segments[0])] for k, v in _arrays(segments[0]).items()}
    joints = [segments[0].joints24[:_cut(segments[0])]]
    starts, gaps = [0], []
    for seg in segments[1:]:
        part = _arrays(seg)
        R = chain['obj_rot'][-1] @ part['obj_rot'][0].T          # the put-down object = the next start object
        if abs(R[2, 2] - 1.0) > 1e-6:
            raise SynthesisFailed('segments do not start and end with the object upright')
        R = np.array([[R[0, 0], R[0, 1], 0.0], [R[1, 0], R[1, 1], 0.0], [0.0, 0.0, 1.0]])
        d = chain['obj_trans'][-1] - part['obj_trans'][0] @ R.T
        part = _moved(part, R, d, rest_pelvis)
        gaps.append(float(np.linalg.norm(joints[-1][-1] - (seg.joints24[0] @ R.T + d), axis=-1).max()))
        end = _cut(seg) if seg is not segments[-1] else seg.num_frames
        starts.append(chain['trans'].shape[0])
        chain = {k: np.concatenate([chain[k], part[k][:end]]) for k in chain}
        joints.append(seg.joints24[:end] @ R.T + d)
    T = chain['trans'].shape[0]
    aa = matrix_to_axis_angle(torch.from_numpy(chain.pop('rot'))).numpy()
    out = dict(chain, root_orient=aa[:, 0], pose_body=aa[:, 1:].reshape(T, 63),
               segment_starts=np.asarray(starts, np.int64), join_gap=np.asarray(gaps, np.float64))
    out['joints24'] = joints_from_params(skel, out['root_orient'], out['pose_body'], out['trans'])
    return out


def _segment(obj_name: str, skel: ShapedSkeleton, subject, seed: int, index: int, part: int,
             options: list, previous: Optional[SynthSequence] = None) -> SynthSequence:
    """Carry segment `part` of long sequence `index`; after `previous`, its body starts where that one ended."""
    from .writer import _pick_option
    start = None if previous is None else end_stance(previous)
    for attempt in range(MAX_ATTEMPTS):
        rng = np.random.default_rng([seed, 2, index, part, attempt])      # 2: apart from the train / test streams
        program, height = _pick_option(options, rng)
        try:
            return synthesize(OBJECTS[obj_name], program, height, skel, subject.gender, subject.betas, rng, start)
        except SynthesisFailed:
            continue
    raise RuntimeError(f'could not synthesise a carry of {obj_name} for {subject.name} in {MAX_ATTEMPTS} attempts')


def _waypoints(seq: Dict[str, np.ndarray]) -> dict:
    T = seq['obj_centre'].shape[0]
    centre = seq['obj_centre']
    return dict(version=1, num_frames=T, comment='mini-FBM long test sequence: object centre positions (Z up, m)',
                object_start=dict(position=centre[0].tolist(), rotation=seq['obj_rot'][0].tolist()),
                waypoints=[dict(frame=f, position=centre[f, :2].tolist()) for f in range(XY_EVERY - 1, T - 1, XY_EVERY)]
                + [dict(frame=T - 1, position=centre[T - 1].tolist())])


def build_long_test(out_dir: str, body_model_dir: str, num: int = 4, segments: int = 3, seed: int = 0) -> dict:
    """Write `num` long test sequences of `segments` carry segments each into `<out_dir>/long_test/`; returns the
    index (also written as index.json). Test subjects (16-17) in turn, carried objects in turn; depends only on
    (seed, num, segments) and the body model files."""
    from .writer import _write_obj
    if num < 1 or segments < 2:
        raise ValueError(f'long test: {num} sequences of {segments} segments; expected >= 1 and >= 2')
    folder = osp.join(out_dir, LONG_TEST_DIR)
    os.makedirs(folder, exist_ok=True)
    subjects = [s for s in sample_subjects(seed) if s.split == 'test']
    skels = {s.index: ShapedSkeleton.from_model(body_model_dir, s.gender, s.betas) for s in subjects}
    sequences = {}
    for index in range(num):
        subject = subjects[index % len(subjects)]
        skel = skels[subject.index]
        carried = [n for n in OBJECT_NAMES if any(p.action == 'carry' for p, _ in feasible_options(OBJECTS[n], skel))]
        obj_name = carried[index % len(carried)]
        options = [o for o in feasible_options(OBJECTS[obj_name], skel) if o[0].action == 'carry']
        parts = []
        for k in range(segments):
            parts.append(_segment(obj_name, skel, subject, seed, index, k, options, parts[-1] if parts else None))
        seq = chain_segments(parts, skel)
        name = f'long_{subject.name}_{obj_name}_{index:03d}'
        scale = OBJECTS[obj_name].scale
        np.savez(osp.join(folder, f'{name}.npz'), **seq, betas=np.asarray(subject.betas, np.float64),
                 gender=np.array(subject.gender), mocap_frame_rate=np.array(float(FPS)), obj_scale=np.array(scale))
        with open(osp.join(folder, f'{name}_waypoints.json'), 'w') as f:
            json.dump(_waypoints(seq), f, indent=1)
        if not osp.isfile(osp.join(folder, f'{obj_name}.obj')):
            _write_obj(osp.join(folder, f'{obj_name}.obj'), *OBJECTS[obj_name].template())
        sequences[name] = dict(subject=subject.name, gender=subject.gender, object=obj_name, object_scale=scale,
                               object_mesh=f'{obj_name}.obj', text=parts[0].text, texts=[p.text for p in parts],
                               num_frames=int(seq['trans'].shape[0]),
                               segment_starts=seq['segment_starts'].tolist(),
                               join_gap=[round(g, 6) for g in seq['join_gap'].tolist()],
                               depicted_frame=int(parts[0].depicted_frame),
                               depicted_frames=[int(s + p.depicted_frame)
                                                for s, p in zip(seq['segment_starts'], parts)],
                               factors=[p.factors for p in parts], body=f'{name}.npz',
                               waypoints=f'{name}_waypoints.json')
    index = dict(format='mini-fbm-long-test', version=LONG_TEST_VERSION, seed=seed, segments=segments,
                 settle_frames=SETTLE, fps=FPS, sequences=sequences)
    with open(osp.join(folder, 'index.json'), 'w') as f:
        json.dump(index, f, indent=1)
    return index
