"""Training losses of the HOI diffusion model (CHOIS, Li et al. 2024), as pure functions of tensors.

Owns the masked reconstruction loss (x0, contact labels), the forward-kinematics loss on hand and foot joints and
the object surface-point loss. Every loss takes a frame mask (B, T) (True = valid frame) and averages over the
valid frames only, so padded frames contribute nothing. No mmengine here; the model weights and logs them.
"""
from typing import Optional, Sequence

import torch
import torch.nn.functional as F

__all__ = ['FK_LOSS_JOINTS', 'frame_masked_mean', 'reconstruction_loss', 'fk_joint_loss', 'place_object_points',
           'object_surface_loss', 'binary_contact_loss']

#: CHOIS's FK-loss joints: wrists 20, 21, hand points 22, 23, ankles 7, 8, feet 10, 11 (joints24 ids).
FK_LOSS_JOINTS = (20, 21, 22, 23, 7, 8, 10, 11)


def frame_masked_mean(per_frame: torch.Tensor, frame_mask: Optional[torch.Tensor]) -> torch.Tensor:
    """Mean of per_frame (B, T, ...) over every element of the valid frames (frame_mask (B, T) bool)."""
    if frame_mask is None:
        return per_frame.mean()
    weights = frame_mask.to(per_frame.dtype).reshape(*frame_mask.shape, *([1] * (per_frame.dim() - 2)))
    count = weights.sum() * per_frame[0, 0].numel()
    return (per_frame * weights).sum() / count.clamp_min(1.0)


def reconstruction_loss(pred: torch.Tensor, target: torch.Tensor, frame_mask: Optional[torch.Tensor] = None,
                        kind: str = 'l1') -> torch.Tensor:
    """Elementwise 'l1' (CHOIS) or 'mse' between pred and target (B, T, D'), averaged over valid frames."""
    if kind == 'l1':
        err = (pred - target).abs()
    elif kind == 'mse':
        err = (pred - target) ** 2
    else:
        raise ValueError(f"loss kind must be 'l1' or 'mse', got {kind!r}")
    return frame_masked_mean(err, frame_mask)


def fk_joint_loss(fk_joints: torch.Tensor, gt_joints: torch.Tensor, frame_mask: Optional[torch.Tensor] = None,
                  joints: Sequence[int] = FK_LOSS_JOINTS) -> torch.Tensor:
    """L1 between joints from forward kinematics of the predicted rotations and the GT joints, metres.

    fk_joints, gt_joints: (B, T, 24, 3); only `joints` count. -> scalar."""
    idx = list(joints)
    return reconstruction_loss(fk_joints[:, :, idx], gt_joints[:, :, idx], frame_mask, 'l1')


def place_object_points(points: torch.Tensor, obj_rot_rel: torch.Tensor, ref_rot: torch.Tensor,
                        obj_scale: torch.Tensor, obj_com: torch.Tensor) -> torch.Tensor:
    """Object surface points placed at every frame: p_t = s_t (R_rel,t R_ref) p + com_t.

    points: (B, P, 3) template points minus the template centroid; obj_rot_rel: (B, T, 3, 3) rotation relative to
    the BPS reference frame (the codec's obj_rot; a network output is used as is, as CHOIS does);
    ref_rot: (B, 3, 3); obj_scale: (B, T); obj_com: (B, T, 3). -> (B, T, P, 3).
    """
    rot = obj_rot_rel @ ref_rot[:, None]                                                  # (B, T, 3, 3)
    placed = torch.einsum('btij,bpj->btpi', rot, points)
    return obj_scale[..., None, None] * placed + obj_com[:, :, None, :]


def object_surface_loss(pred_points: torch.Tensor, gt_points: torch.Tensor,
                        frame_mask: Optional[torch.Tensor] = None) -> torch.Tensor:
    """L1 between predicted and GT placed surface points (B, T, P, 3), metres, averaged over valid frames."""
    return reconstruction_loss(pred_points, gt_points, frame_mask, 'l1')


def binary_contact_loss(pred_labels: torch.Tensor, gt_labels: torch.Tensor,
                        frame_mask: Optional[torch.Tensor] = None, kind: str = 'l1') -> torch.Tensor:
    """Contact-label loss on (B, T, 4): 'l1' on the values (CHOIS) or 'bce' on them as probabilities."""
    if kind == 'bce':
        err = F.binary_cross_entropy(pred_labels.clamp(1e-6, 1 - 1e-6), gt_labels, reduction='none')
        return frame_masked_mean(err, frame_mask)
    return reconstruction_loss(pred_labels, gt_labels, frame_mask, kind)
