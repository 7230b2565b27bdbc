"""Anny as the build uses it: phenotype sampling, loading (anny imported here, lazily), the A-pose -> SMPL-X
rest T-pose re-posing of its rig, its skinning, and the T-posed bodies (vertices and SMPL-X joints) per phenotype."""
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np
import torch

from imagin4d.utils import compat

from .correspondence import ANNY_TO_SMPLX, anny_joint_positions

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


def dominant_bone(model, num_vertices: int) -> np.ndarray:
    """(V,) the Anny bone with the largest skinning weight of each vertex."""
    indices = model.vertex_bone_indices.cpu().numpy()
    weights = model.vertex_bone_weights.cpu().numpy()
    return indices[np.arange(num_vertices), weights.argmax(1)]


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
