"""CHOIS-compatible 220-D per-frame HOI motion representation (docs/conventions.md) and its min-max statistics.

Owns the layout `obj_com (3) | obj_rot (9) | joints (72) | rot6d (132) | contacts (4)`, the waypoint mask
of the CHOIS protocol, min-max normalisation of `obj_com` and `joints` to [-1, 1] with statistics saved
as a small JSON file, and the round trip back to body joints and object pose. Pure batched torch.
"""
import json
import os.path as osp
from collections import OrderedDict
from typing import Dict, Iterable, Optional, Sequence, Tuple, Union

import numpy as np
import torch

from imagin4d.geometry.rotations import matrix_to_rotation_6d, rotation_6d_to_matrix
from imagin4d.registry import MOTION_CODECS

from .base import BaseMotionCodec

__all__ = ['CHOISMotionCodec', 'STATS_FORMAT']

STATS_FORMAT = 'imagin4d/chois-motion-codec-stats/v1'
ArrayLike = Union[torch.Tensor, np.ndarray]


def _tensor(x: ArrayLike, like: Optional[torch.Tensor] = None) -> torch.Tensor:
    x = torch.as_tensor(x)
    if like is not None:
        x = x.to(device=like.device, dtype=like.dtype)
    elif not x.is_floating_point():
        x = x.to(torch.get_default_dtype())
    return x


@MOTION_CODECS.register_module()
class CHOISMotionCodec(BaseMotionCodec):
    """The CHOIS motion representation, D = 3 + 9 + 3J + 6R + 4 (220 for J = 24, R = 22).

    Per frame, in the canonical window frame (Z up, metres):

    ========== ======= ==================================================================
    name       dims    content
    ========== ======= ==================================================================
    obj_com    0:3     object centre (mean of the placed vertices); min-max normalised
    obj_rot    3:12    object rotation relative to the BPS reference frame, R_t R_ref^T,
                       row-major 3x3; not normalised
    joints     12:84   joints24 global positions (J x 3, joint-major); min-max normalised
    rot6d      84:216  global rotations of the 22 body joints, 6D = first two rows of the
                       matrix (CHOIS / pytorch3d); not normalised
    contacts   216:220 contact labels left hand, right hand, left foot, right foot (0/1)
    ========== ======= ==================================================================

    Normalisation maps each dim of `obj_com` and `joints` to [-1, 1] with the per-dim min and max of the
    training split: x' = 2 (x - min) / max(max - min, eps) - 1. Other dims are passed through.

    Args:
        stats_file: JSON written by `save_stats` (loaded now if given, else call `load_stats` or
            `set_stats` before `normalize`).
        num_joints: joints in the position block (24 = joints24).
        num_rot_joints: joints in the 6D rotation block (22 SMPL body joints).
        eps: floor of (max - min) so that a constant dim does not divide by zero.
    """

    NORMALIZED = ('obj_com', 'joints')
    CONTACT_NAMES = ('left_hand', 'right_hand', 'left_foot', 'right_foot')

    def __init__(self, stats_file: Optional[str] = None, num_joints: int = 24, num_rot_joints: int = 22,
                 eps: float = 1e-6):
        self.num_joints = num_joints
        self.num_rot_joints = num_rot_joints
        self.eps = eps
        widths = [('obj_com', 3), ('obj_rot', 9), ('joints', 3 * num_joints), ('rot6d', 6 * num_rot_joints),
                  ('contacts', 4)]
        self.slices = OrderedDict()
        start = 0
        for name, width in widths:
            self.slices[name] = slice(start, start + width)
            start += width
        self.stats: Optional[Dict[str, torch.Tensor]] = None
        self.stats_file = stats_file
        if stats_file is not None:
            self.load_stats(stats_file)

    # ------------------------------------------------------------------ encode / decode
    def encode(self, obj_com: ArrayLike, obj_rot: ArrayLike, joints: ArrayLike, global_rot: ArrayLike,
               contacts: Optional[ArrayLike] = None) -> torch.Tensor:
        """Motion quantities -> un-normalised features (..., D); `...` is typically (T,) or (B, T).

        Args:
            obj_com: (..., 3) object centre.
            obj_rot: (..., 3, 3) object rotation relative to the BPS reference frame (`relative_rotation`).
            joints: (..., J, 3) joints24 positions.
            global_rot: (..., R, 3, 3) global joint rotation matrices, or (..., R, 6) already in 6D.
            contacts: (..., 4) contact labels (bool or float); zeros when None.
        """
        joints = _tensor(joints)
        obj_com, obj_rot = _tensor(obj_com, joints), _tensor(obj_rot, joints)
        global_rot = _tensor(global_rot, joints)
        lead = joints.shape[:-2]
        if joints.shape[-2:] != (self.num_joints, 3):
            raise ValueError(f'joints must be (..., {self.num_joints}, 3), got {tuple(joints.shape)}')
        if obj_com.shape != (*lead, 3) or obj_rot.shape != (*lead, 3, 3):
            raise ValueError(f'obj_com (..., 3) and obj_rot (..., 3, 3) must share the leading dims {tuple(lead)} '
                             f'of joints; got {tuple(obj_com.shape)} and {tuple(obj_rot.shape)}')
        if global_rot.shape[-2:] == (3, 3) and global_rot.shape[:-2] == (*lead, self.num_rot_joints):
            rot6d = matrix_to_rotation_6d(global_rot)
        elif global_rot.shape == (*lead, self.num_rot_joints, 6):
            rot6d = global_rot
        else:
            raise ValueError(f'global_rot must be (..., {self.num_rot_joints}, 3, 3) or (..., '
                             f'{self.num_rot_joints}, 6) with leading dims {tuple(lead)}; '
                             f'got {tuple(global_rot.shape)}')
        if contacts is None:
            contacts = joints.new_zeros((*lead, 4))
        contacts = _tensor(contacts, joints)
        if contacts.shape != (*lead, 4):
            raise ValueError(f'contacts must be (..., 4), got {tuple(contacts.shape)}')
        return torch.cat([obj_com, obj_rot.reshape(*lead, 9), joints.reshape(*lead, 3 * self.num_joints),
                          rot6d.reshape(*lead, 6 * self.num_rot_joints), contacts], -1)

    def decode(self, x: ArrayLike, orthonormalize: bool = False) -> Dict[str, torch.Tensor]:
        """Un-normalised features (..., D) -> dict.

        Returns: obj_com (..., 3), obj_rot (..., 3, 3) (relative to the BPS reference frame), joints
        (..., J, 3), rot6d (..., R, 6), global_rot (..., R, 3, 3) (Gram-Schmidt of the 6D), contacts (..., 4).
        With `orthonormalize`, `obj_rot` is projected to the nearest rotation (SVD; use it for network
        outputs, whose 9 numbers need not form a rotation).
        """
        x = _tensor(x)
        if x.shape[-1] != self.dim:
            raise ValueError(f'expected (..., {self.dim}) features, got {tuple(x.shape)}')
        lead = x.shape[:-1]
        obj_rot = self.take(x, 'obj_rot').reshape(*lead, 3, 3)
        if orthonormalize:
            obj_rot = self.project_to_rotation(obj_rot)
        rot6d = self.take(x, 'rot6d').reshape(*lead, self.num_rot_joints, 6)
        return dict(obj_com=self.take(x, 'obj_com'), obj_rot=obj_rot,
                    joints=self.take(x, 'joints').reshape(*lead, self.num_joints, 3),
                    rot6d=rot6d, global_rot=rotation_6d_to_matrix(rot6d), contacts=self.take(x, 'contacts'))

    @staticmethod
    def project_to_rotation(m: torch.Tensor) -> torch.Tensor:
        """Nearest rotation matrix (Frobenius) by SVD with a determinant fix.  m: (..., 3, 3) -> (..., 3, 3)."""
        u, _, vh = torch.linalg.svd(m)
        det = torch.det(u @ vh)
        fix = torch.ones_like(m[..., 0, :])
        fix[..., 2] = torch.sign(det) + (det == 0).to(det.dtype)
        return (u * fix[..., None, :]) @ vh

    # ------------------------------------------------------------------ object pose round trip
    @staticmethod
    def relative_rotation(obj_rot: ArrayLike, ref_rot: ArrayLike) -> torch.Tensor:
        """R_t R_ref^T: rotation relative to the reference (BPS) frame.  (..., 3, 3), ref (..., 3, 3) -> (..., 3, 3)."""
        obj_rot = _tensor(obj_rot)
        return obj_rot @ _tensor(ref_rot, obj_rot).transpose(-1, -2)

    @staticmethod
    def absolute_rotation(rel_rot: ArrayLike, ref_rot: ArrayLike) -> torch.Tensor:
        """Inverse of `relative_rotation`: R_rel R_ref.  (..., 3, 3) -> (..., 3, 3)."""
        rel_rot = _tensor(rel_rot)
        return rel_rot @ _tensor(ref_rot, rel_rot)

    @staticmethod
    def object_centre(obj_rot: ArrayLike, obj_trans: ArrayLike, obj_scale: ArrayLike,
                      template_centroid: ArrayLike) -> torch.Tensor:
        """Mean of the placed vertices, s R c + t (placement is affine, so the mean maps exactly).

        obj_rot: (..., 3, 3) absolute rotation; obj_trans: (..., 3); obj_scale: (...) or scalar;
        template_centroid: (3,) mean of the template vertices -> (..., 3).
        """
        obj_rot = _tensor(obj_rot)
        scale = _tensor(obj_scale, obj_rot)
        c = _tensor(template_centroid, obj_rot)
        return scale[..., None] * (obj_rot @ c) + _tensor(obj_trans, obj_rot)

    def object_pose(self, decoded_or_x: Union[Dict[str, torch.Tensor], torch.Tensor], ref_rot: ArrayLike,
                    obj_scale: ArrayLike, template_centroid: ArrayLike) -> Tuple[torch.Tensor, torch.Tensor]:
        """Object placement (rot, trans) with vertices `scale * rot @ v + trans`, from decoded features.

        decoded_or_x: `decode` output or un-normalised features (..., D); ref_rot: (..., 3, 3) absolute
        rotation at the BPS reference frame (broadcast over frames: pass (B, 1, 3, 3) for (B, T, D));
        obj_scale: (...) or scalar; template_centroid: (3,) -> rot (..., 3, 3), trans (..., 3).
        """
        dec = decoded_or_x if isinstance(decoded_or_x, dict) else self.decode(decoded_or_x)
        rot = self.absolute_rotation(dec['obj_rot'], ref_rot)
        scale = _tensor(obj_scale, rot)
        c = _tensor(template_centroid, rot)
        trans = dec['obj_com'] - scale[..., None] * (rot @ c)
        return rot, trans

    # ------------------------------------------------------------------ body round trip
    def joints_from_rotations(self, global_rot: ArrayLike, rest_joints24: ArrayLike,
                              root: ArrayLike) -> torch.Tensor:
        """joints24 positions by forward kinematics of the decoded global rotations.

        global_rot: (..., 22, 3, 3) body global rotations (`decode(x)['global_rot']`); rest_joints24: (24, 3)
        or (..., 24, 3) shaped rest joints of the subject's body model (model joints JOINTS24_FROM_*);
        root: (..., 3) root joint position (`decode(x)['joints'][..., 0, :]`) -> (..., 24, 3).
        The hand points (22, 23) take their wrist's rotation. For the encoded ground truth this reproduces
        the `joints` block (the consistency of positions and rotations); for a prediction it gives the
        skeleton-consistent joints (CHOIS FK loss).
        """
        from imagin4d.body_models.fk import forward_kinematics
        from imagin4d.body_models.skeletons import JOINTS24_PARENTS

        global_rot = _tensor(global_rot)
        lead = global_rot.shape[:-3]
        G = torch.cat([global_rot, global_rot[..., [20, 21], :, :]], -3).reshape(-1, 24, 3, 3)   # (B, 24, 3, 3)
        parent = torch.tensor([max(p, 0) for p in JOINTS24_PARENTS])
        local = G[:, parent].transpose(-1, -2) @ G
        local[:, 0] = G[:, 0]
        rest = _tensor(rest_joints24, G).expand(*lead, 24, 3).reshape(-1, 24, 3)
        root = _tensor(root, G).reshape(-1, 3)
        positions, _ = forward_kinematics(local, rest, JOINTS24_PARENTS, root - rest[:, 0])
        return positions.reshape(*lead, 24, 3)

    # ------------------------------------------------------------------ waypoints
    def waypoint_mask(self, num_frames: int, xy_frames: Sequence[int] = (29, 59, 89),
                      last_frame: Optional[int] = None, first_frame_human: bool = True,
                      first_frame_object: bool = True) -> torch.Tensor:
        """CHOIS condition mask, True where the value is GIVEN (CHOIS stores the complement).

        - frame 0: object centre + relative rotation (if `first_frame_object`) and the human pose
          (joints + 6D rotations, if `first_frame_human`); never contacts;
        - `xy_frames` (those strictly between 0 and the last frame): object centre x and y;
        - `last_frame` (default num_frames - 1; pass seq_len - 1 for a padded window): object centre xyz.

        Returns bool (num_frames, D).
        """
        mask = torch.zeros(num_frames, self.dim, dtype=torch.bool)
        last = num_frames - 1 if last_frame is None else int(last_frame)
        if not 0 <= last < num_frames:
            raise ValueError(f'last_frame {last_frame} outside a window of {num_frames} frames')
        com = self.slices['obj_com']
        if first_frame_object:
            mask[0, com] = True
            mask[0, self.slices['obj_rot']] = True
        if first_frame_human:
            mask[0, self.slices['joints']] = True
            mask[0, self.slices['rot6d']] = True
        for f in xy_frames:
            if 0 < f < last:
                mask[f, com.start:com.start + 2] = True
        mask[last, com] = True
        return mask

    # ------------------------------------------------------------------ normalisation
    def _bounds(self, like: torch.Tensor):
        if self.stats is None:
            raise RuntimeError('CHOISMotionCodec has no normalisation statistics: pass stats_file=..., or call '
                               'load_stats(path) / set_stats(compute_stats(train_motions)) first')
        lo = torch.zeros(self.dim, dtype=like.dtype, device=like.device)
        hi = torch.ones_like(lo)
        on = torch.zeros(self.dim, dtype=torch.bool, device=like.device)
        for name in self.NORMALIZED:
            s = self.slices[name]
            lo[s] = self.stats[f'{name}_min'].to(lo)
            hi[s] = self.stats[f'{name}_max'].to(lo)
            on[s] = True
        return lo, (hi - lo).clamp_min(self.eps), on

    def normalize(self, x: ArrayLike) -> torch.Tensor:
        """(..., D) raw -> (..., D) with `obj_com` and `joints` min-max mapped to [-1, 1]."""
        x = _tensor(x)
        lo, span, on = self._bounds(x)
        return torch.where(on, 2.0 * (x - lo) / span - 1.0, x)

    def denormalize(self, x: ArrayLike) -> torch.Tensor:
        """Inverse of `normalize`.  (..., D) -> (..., D)."""
        x = _tensor(x)
        lo, span, on = self._bounds(x)
        return torch.where(on, (x + 1.0) * 0.5 * span + lo, x)

    def compute_stats(self, motions: Union[ArrayLike, Iterable[ArrayLike]]) -> Dict[str, torch.Tensor]:
        """Per-dim min and max of the normalised parts over un-normalised features.

        motions: one (..., D) array, or an iterable of them (streamed; e.g. one per training window).
        Returns {'obj_com_min': (3,), 'obj_com_max': (3,), 'joints_min': (3J,), 'joints_max': (3J,)}
        (float64). Does not set them; call `set_stats`.
        """
        if isinstance(motions, (torch.Tensor, np.ndarray)):
            motions = [motions]
        lo = hi = None
        count = 0
        for m in motions:
            m = torch.as_tensor(m, dtype=torch.float64).reshape(-1, self.dim)
            if m.numel() == 0:
                continue
            count += m.shape[0]
            m_lo, m_hi = m.min(0).values, m.max(0).values
            lo = m_lo if lo is None else torch.minimum(lo, m_lo)
            hi = m_hi if hi is None else torch.maximum(hi, m_hi)
        if lo is None:
            raise ValueError('compute_stats got no frames')
        if not (torch.isfinite(lo).all() and torch.isfinite(hi).all()):
            raise ValueError('compute_stats: the motions contain NaN or inf')
        stats = {}
        for name in self.NORMALIZED:
            s = self.slices[name]
            stats[f'{name}_min'], stats[f'{name}_max'] = lo[s].clone(), hi[s].clone()
        return stats

    def set_stats(self, stats: Dict[str, ArrayLike]) -> None:
        """Use these statistics (keys as returned by `compute_stats`)."""
        checked = {}
        for name in self.NORMALIZED:
            width = self.slices[name].stop - self.slices[name].start
            for end in ('min', 'max'):
                key = f'{name}_{end}'
                if key not in stats:
                    raise KeyError(f'normalisation statistics lack {key!r} (have {sorted(stats)})')
                value = torch.as_tensor(np.asarray(stats[key], dtype=np.float64)).reshape(-1)
                if value.numel() != width:
                    raise ValueError(f'statistic {key!r} has {value.numel()} values, expected {width}')
                checked[key] = value
        self.stats = checked

    def save_stats(self, path: str, stats: Optional[Dict[str, ArrayLike]] = None,
                   meta: Optional[dict] = None) -> None:
        """Write statistics (default: the current ones) as JSON: plain lists, no pickle."""
        if stats is not None:
            self.set_stats(stats)
        if self.stats is None:
            raise RuntimeError('no statistics to save')
        payload = dict(format=STATS_FORMAT, num_joints=self.num_joints, num_rot_joints=self.num_rot_joints,
                       meta=meta or {})
        payload.update({k: v.tolist() for k, v in self.stats.items()})
        with open(path, 'w') as f:
            json.dump(payload, f, indent=1)

    def load_stats(self, path: str) -> Dict[str, torch.Tensor]:
        """Read and use statistics written by `save_stats`."""
        if not osp.isfile(path):
            raise FileNotFoundError(f'normalisation statistics file not found: {path}')
        with open(path) as f:
            payload = json.load(f)
        if payload.get('format') != STATS_FORMAT:
            raise ValueError(f'{path}: not a {STATS_FORMAT} statistics file (format={payload.get("format")!r})')
        if payload.get('num_joints') != self.num_joints:
            raise ValueError(f'{path}: statistics for {payload.get("num_joints")} joints, codec has {self.num_joints}')
        self.set_stats(payload)
        self.stats_file = path
        return self.stats

    def __repr__(self) -> str:
        parts = ', '.join(f'{k}={v.start}:{v.stop}' for k, v in self.slices.items())
        return f'{type(self).__name__}(dim={self.dim}, {parts}, stats={"set" if self.stats else "none"})'
