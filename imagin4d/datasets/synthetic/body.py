"""Subjects of mini-FBM: gender and shape per subject, and the shaped rest skeleton the synthesis poses.

Owns `Subject` (id, gender, betas (16,)), `sample_subjects` and `ShapedSkeleton` (rest joints (55, 3) in the
SMPL-X model frame: Y up, face +Z, left +X; sole height; limb lengths; standing heights in the Z-up world).
"""
from dataclasses import dataclass
from typing import Dict, List

import numpy as np

from imagin4d.body_models import skeletons

__all__ = ['Subject', 'sample_subjects', 'ShapedSkeleton', 'NUM_BETAS_STORED', 'MODEL_TO_WORLD']

#: FBM stores 16 SMPL-X betas; the free body has 10 shape directions (the remaining 6 are written as 0).
NUM_BETAS_STORED = 16
NUM_BETAS_USED = 10
#: SMPL-X model frame (Y up, face +Z, left +X) -> canonical Z-up world of a body facing +Y (left is -X):
#: model x -> world -x, model y -> world z, model z -> world y.
MODEL_TO_WORLD = np.array([[-1.0, 0.0, 0.0], [0.0, 0.0, 1.0], [0.0, 1.0, 0.0]])


@dataclass
class Subject:
    """One mini-FBM subject: `sub<index>`, train for 1-15 and test for 16-17 (the FBM split)."""
    index: int
    gender: str
    betas: np.ndarray  # (16,) float64, entries 10..15 are 0

    @property
    def name(self) -> str:
        return f'sub{self.index}'

    @property
    def split(self) -> str:
        return 'train' if self.index <= 15 else 'test'


def sample_subjects(seed: int, num: int = 17, beta_std: float = 0.8) -> List[Subject]:
    """Deterministic subjects 1..num: alternating-ish genders (both in each split) and shapes ~ N(0, std),
    clipped to +-2 (beta 0 of the free body is stature, about 8 cm per unit)."""
    rng = np.random.default_rng([seed, 1701])
    genders = ['male' if i % 2 else 'female' for i in range(1, num + 1)]
    head = genders[:15]
    rng.shuffle(head)  # the test subjects (16, 17) keep one of each gender
    genders[:15] = head
    out = []
    for i in range(1, num + 1):
        betas = np.zeros(NUM_BETAS_STORED)
        betas[:NUM_BETAS_USED] = np.clip(rng.normal(0.0, beta_std, NUM_BETAS_USED), -2.0, 2.0)
        out.append(Subject(i, genders[i - 1], betas))
    return out


def _shaped_rest(body_model_dir: str, gender: str, betas: np.ndarray):
    """(rest joints (55, 3) = `BodyModel.rest_joints(betas)`, lowest vertex y of the shaped rest mesh)."""
    import torch

    from imagin4d.body_models.body_model import load_body_model
    model = load_body_model(body_model_dir, 'smplx', gender, NUM_BETAS_USED)
    b = torch.as_tensor(np.asarray(betas[:model.num_betas], np.float32))[None]
    with torch.no_grad():
        rest = model.rest_joints(b)[0].double().numpy()
        sm = model.smplx_model
        verts = sm.v_template + torch.einsum('l,vcl->vc', b[0], sm.shapedirs)
    return rest, float(verts[:, 1].min())


class ShapedSkeleton:
    """The rest skeleton of one (gender, betas), with the measurements the motion synthesis needs.

    rest: (55, 3) SMPL-X rest joints (model frame, metres). Joint positions equal
    `BodyModel.rest_joints(betas)` (J_regressor applied to the shaped template), so FK of the written
    parameters through the body model reproduces the synthesised joints.
    """

    def __init__(self, rest: np.ndarray, sole_y: float):
        self.rest = np.asarray(rest, np.float64)
        self.parents = np.asarray(skeletons.SMPLX_PARENTS)
        r = self.rest
        #: height of the pelvis joint above the floor when standing with straight legs
        self.pelvis_height = float(r[0, 1] - sole_y)
        self.ankle_height = float(r[7, 1] - sole_y)
        self.thigh = float(np.linalg.norm(r[4] - r[1]))
        self.shin = float(np.linalg.norm(r[7] - r[4]))
        self.upper_arm = float(np.linalg.norm(r[18] - r[16]))
        self.forearm = float(np.linalg.norm(r[20] - r[18]))
        self.hand = float(np.linalg.norm(r[28] - r[20]))
        self.arm_reach = self.upper_arm + self.forearm + self.hand
        self.hip_half_width = float(abs(r[1, 0] - r[2, 0]) / 2)
        self.shoulder_half_width = float(abs(r[16, 0] - r[17, 0]) / 2)
        # standing heights (world z) of the classification joints, legs slightly flexed
        self.stand_pelvis = self.pelvis_height - 0.015
        up = r[:, 1] - r[0, 1]
        self.stand_chest = self.stand_pelvis + float(up[9])
        self.stand_head = self.stand_pelvis + float(up[15])
        self.stand_shoulder = self.stand_pelvis + float(up[16])

    @classmethod
    def from_model(cls, body_model_dir: str, gender: str, betas: np.ndarray) -> 'ShapedSkeleton':
        rest, sole_y = _shaped_rest(body_model_dir, gender, betas)
        return cls(rest, sole_y)

    def offsets(self) -> np.ndarray:
        """(55, 3) rest offset of each joint from its parent (the root keeps its absolute position)."""
        off = self.rest.copy()
        off[1:] = self.rest[1:] - self.rest[self.parents[1:]]
        return off

    def joints24_rest_offsets(self) -> np.ndarray:
        """(24, 3) FBM `rest_offsets`: rest joints24 relative to their joints24 parent (root: absolute)."""
        j24 = self.rest[list(skeletons.JOINTS24_FROM_SMPLX)]
        parents = np.asarray(skeletons.JOINTS24_PARENTS)
        out = j24.copy()
        out[1:] = j24[1:] - j24[parents[1:]]
        return out


def subject_skeletons(subjects: List[Subject], body_model_dir: str) -> Dict[int, ShapedSkeleton]:
    """{subject index: ShapedSkeleton} for each subject."""
    return {s.index: ShapedSkeleton.from_model(body_model_dir, s.gender, s.betas) for s in subjects}
