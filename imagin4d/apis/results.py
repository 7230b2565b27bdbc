"""HOIResult: one generated interaction in the user's world frame, the object every exporter reads.

Owns the field names, shapes and conventions of a generation result (SMPL-X parameters, joints, object pose,
contacts, the depicted frame) and their checks. World frame: Z up, metres, floor at z = 0 (docs/conventions.md).
"""
from dataclasses import dataclass, field
from typing import Optional

import numpy as np

__all__ = ['HOIResult']


@dataclass
class HOIResult:
    """A generated human-object interaction of T frames (one sample of one request).

    Body (SMPL-X conventions, axis-angle, the body model's `transl`; joints posed as smplx poses them):
        global_orient (T, 3): root rotation; body_pose (T, 63): local rotations of the 21 body joints;
        left_hand_pose / right_hand_pose (T, 45): local finger rotations (zeros: the flat hand);
        transl (T, 3); betas (B,) shape coefficients; gender 'neutral' | 'male' | 'female';
        body_model_root: the folder with `smplx/SMPLX_{GENDER}.npz` the parameters are meant for.
    joints (T, 24, 3): the joints24 positions the model predicted (they may differ slightly from the forward
        kinematics of the parameters: `tools/generate.py` reports the difference).
    Object: vertices at frame t are `obj_scale * obj_rot[t] @ v + obj_trans[t]` for the vertices v of
        `object_mesh` (a trimesh.Trimesh in the mesh file's own coordinates, up axis and units as the file has
        them; `object_path` names that file when there is one). obj_rot (T, 3, 3), obj_trans (T, 3).
    contacts (T, 4) float in [0, 1]: left hand, right hand, left foot, right foot.
    t_hat: the frame the model thinks the reference image depicts (SFIE), or None.
    reference_images: the request's pictures as read ((H, W, 3|4) or (H, W) uint8 RGB, a storyboard's in its order),
        or None without an image; the video shows the first beside the motion.
    fps: frames per second (30). meta: free-form provenance (request name, sample index, seed, sampler, ...).
    """

    global_orient: np.ndarray
    body_pose: np.ndarray
    transl: np.ndarray
    betas: np.ndarray
    gender: str
    joints: np.ndarray
    obj_rot: np.ndarray
    obj_trans: np.ndarray
    obj_scale: float
    contacts: np.ndarray
    object_mesh: object = None
    object_path: Optional[str] = None
    left_hand_pose: Optional[np.ndarray] = None
    right_hand_pose: Optional[np.ndarray] = None
    body_model_root: Optional[str] = None
    t_hat: Optional[float] = None
    reference_images: Optional[list] = None
    fps: int = 30
    meta: dict = field(default_factory=dict)

    def __post_init__(self):
        T = int(np.asarray(self.global_orient).shape[0])
        zeros = np.zeros((T, 45), np.float64)
        self.left_hand_pose = zeros if self.left_hand_pose is None else self.left_hand_pose
        self.right_hand_pose = zeros.copy() if self.right_hand_pose is None else self.right_hand_pose
        expected = dict(global_orient=(T, 3), body_pose=(T, 63), transl=(T, 3), joints=(T, 24, 3),
                        obj_rot=(T, 3, 3), obj_trans=(T, 3), contacts=(T, 4), left_hand_pose=(T, 45),
                        right_hand_pose=(T, 45))
        for name, shape in expected.items():
            value = np.asarray(getattr(self, name), dtype=np.float64)
            if value.shape != shape:
                raise ValueError(f'HOIResult.{name} must have shape {shape}, got {value.shape}')
            setattr(self, name, value)
        self.betas = np.asarray(self.betas, dtype=np.float64).reshape(-1)
        self.obj_scale = float(self.obj_scale)
        if self.gender not in ('neutral', 'male', 'female'):
            raise ValueError(f"HOIResult.gender must be 'neutral', 'male' or 'female', got {self.gender!r}")

    @property
    def num_frames(self) -> int:
        return int(self.global_orient.shape[0])

    @property
    def full_pose(self) -> np.ndarray:
        """(T, 55, 3) SMPL-X axis-angle pose: root, 21 body, jaw, eyes (zero), 15 + 15 finger joints."""
        T = self.num_frames
        face = np.zeros((T, 9))
        flat = np.concatenate([self.global_orient, self.body_pose, face, self.left_hand_pose,
                               self.right_hand_pose], 1)
        return flat.reshape(T, 55, 3)

    def object_vertices(self, frame: Optional[int] = None) -> np.ndarray:
        """World-frame vertices of the object mesh: (V, 3) at one frame, (T, V, 3) at every frame when None."""
        verts = np.asarray(self.object_mesh.vertices, dtype=np.float64)
        if frame is not None:
            return self.obj_scale * verts @ self.obj_rot[frame].T + self.obj_trans[frame]
        return self.obj_scale * np.einsum('tij,vj->tvi', self.obj_rot, verts) + self.obj_trans[:, None]
