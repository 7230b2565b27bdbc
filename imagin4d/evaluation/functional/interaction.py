"""Hand-object interaction metrics of the CHOIS protocol: contact from geometry, contact precision / recall /
F1 / accuracy / percentage, and hand / body penetration depth into the placed object.

Owns the CHOIS conventions (see docs/user_guides/evaluation.md):
- a hand is in contact in a frame when its hand point (joints24 22 / 23) is strictly closer than the
  threshold (5 cm) to the object; CHOIS measures the distance to the nearest object VERTEX (default here),
  `hand_object_distances(..., template_faces=...)` measures it to the mesh surface instead (0 inside);
  a frame is in contact when either hand is;
- contact scores are per sequence: precision is 0 when the prediction has no contact frame, recall is 0
  when the ground truth has none, F1 is 0 when both are 0 (so a sequence without any contact scores
  P = R = F1 = 0 even for a perfect prediction; accuracy is still 1), and the caller averages those
  per-sequence values, zeros included;
- penetration is the mean over T x P query points of max(-signed distance, 0), in METRES, with the exact
  mesh SDF of `imagin4d.geometry.sdf` in the object's rest frame. CHOIS queries a 256^3 SDF grid with
  R (v - c), which is only right for symmetric rotations; this is the consistent R^T (v - t) / s.

Objects are given by their pose over T frames (absolute rotation (T, 3, 3), translation (T, 3), uniform
scale (T,)) and the template mesh, placed as `scale_t * rot_t @ v + trans_t`. Pure torch (float64) for the
geometry, numpy for the scores.
"""
from typing import Dict, List, Optional, Sequence, Union

import numpy as np
import torch

from imagin4d.geometry.contacts import min_distance
from imagin4d.geometry.sdf import penetration_depth, signed_distance

#: Point-triangle terms the exact SDF holds at once in the metrics: cache-sized chunks (about 3 query rows of a
#: 20k-face object) are ~1.5x faster on the CPU than the 1M default and give the same values (each row is its own).
SDF_CHUNK_PAIRS = 1 << 16

__all__ = ['SDF_CHUNK_PAIRS', 'object_frame_points', 'hand_object_distances', 'contact_frames', 'contact_scores',
           'contact_percent', 'penetration', 'penetrations']

ArrayLike = Union[np.ndarray, torch.Tensor]


def _t(x: ArrayLike, name: str) -> torch.Tensor:
    x = torch.as_tensor(np.asarray(x.detach().cpu() if torch.is_tensor(x) else x, dtype=np.float64))
    if not torch.isfinite(x).all():
        raise ValueError(f'{name} contains NaN or inf')
    return x


def _pose(points: torch.Tensor, obj_rot, obj_trans, obj_scale):
    T = points.shape[0]
    rot, trans = _t(obj_rot, 'obj_rot'), _t(obj_trans, 'obj_trans')
    scale = _t(obj_scale, 'obj_scale').reshape(-1)
    if scale.numel() == 1:
        scale = scale.expand(T)
    if rot.shape != (T, 3, 3) or trans.shape != (T, 3) or scale.shape != (T,):
        raise ValueError(f'object pose must be obj_rot (T, 3, 3), obj_trans (T, 3), obj_scale (T,) or scalar with '
                         f'T = {T} (frames of the points); got {tuple(rot.shape)}, {tuple(trans.shape)}, '
                         f'{tuple(scale.shape)}')
    if (scale <= 0).any():
        raise ValueError('obj_scale must be positive')
    return rot, trans, scale


def _points(points: ArrayLike, name: str) -> torch.Tensor:
    p = _t(points, name)
    if p.dim() != 3 or p.shape[-1] != 3:
        raise ValueError(f'{name} must be (T, P, 3), got {tuple(p.shape)}')
    return p


def _template(verts: ArrayLike, faces: Optional[ArrayLike]):
    v = _t(verts, 'template_verts')
    if v.dim() != 2 or v.shape[-1] != 3 or v.shape[0] == 0:
        raise ValueError(f'template_verts must be (V, 3), got {tuple(v.shape)}')
    if faces is None:
        return v, None
    f = torch.as_tensor(np.asarray(faces.cpu() if torch.is_tensor(faces) else faces, dtype=np.int64))
    if f.dim() != 2 or f.shape[-1] != 3 or f.shape[0] == 0:
        raise ValueError(f'template_faces must be (F, 3), got {tuple(f.shape)}')
    if f.min() < 0 or f.max() >= v.shape[0]:
        raise ValueError(f'template_faces index outside the {v.shape[0]} template vertices')
    return v, f


def object_frame_points(points: ArrayLike, obj_rot: ArrayLike, obj_trans: ArrayLike,
                        obj_scale: ArrayLike) -> torch.Tensor:
    """World points -> the object's template (rest) frame, R_t^T (p - t_t) / s_t.

    points: (T, P, 3); obj_rot (T, 3, 3); obj_trans (T, 3); obj_scale (T,) or scalar -> (T, P, 3) float64.
    """
    p = _points(points, 'points')
    rot, trans, scale = _pose(p, obj_rot, obj_trans, obj_scale)
    return ((p - trans[:, None]) @ rot) / scale[:, None, None]   # row form of R^T (p - t)


def hand_object_distances(hand_points: ArrayLike, obj_rot: ArrayLike, obj_trans: ArrayLike, obj_scale: ArrayLike,
                          template_verts: ArrayLike, template_faces: Optional[ArrayLike] = None) -> np.ndarray:
    """Distance (metres) from each hand point to the placed object, per frame.

    hand_points: (T, H, 3) world; object pose as `object_frame_points`; template_verts (V, 3) ->
    (T, H) float64. Without `template_faces`: distance to the nearest object vertex (CHOIS); with
    `template_faces` (F, 3): distance to the mesh surface, 0 for points inside the (closed) mesh.
    The query runs in the rest frame and is scaled back by s_t (placement is a similarity).
    """
    p = _points(hand_points, 'hand_points')
    rot, trans, scale = _pose(p, obj_rot, obj_trans, obj_scale)
    rest = object_frame_points(p, rot, trans, scale)
    verts, faces = _template(template_verts, template_faces)
    T, H = rest.shape[:2]
    flat = rest.reshape(1, T * H, 3)
    if faces is None:
        d = min_distance(flat, verts[None])[0]
    else:
        d = signed_distance(flat[0], verts, faces, SDF_CHUNK_PAIRS).clamp_min(0.0)
    return (d.reshape(T, H) * scale[:, None]).numpy()


def contact_frames(distances: ArrayLike, threshold: float = 0.05) -> np.ndarray:
    """Frames in contact: any hand strictly closer than `threshold` metres.  (T, H) -> bool (T,)."""
    d = np.asarray(distances.detach().cpu() if torch.is_tensor(distances) else distances, dtype=np.float64)
    if d.ndim != 2:
        raise ValueError(f'distances must be (T, H), got {d.shape}')
    return (d < threshold).any(-1)


def _bool_frames(x: ArrayLike, name: str) -> np.ndarray:
    x = np.asarray(x.detach().cpu() if torch.is_tensor(x) else x)
    if x.ndim != 1:
        raise ValueError(f'{name} must be (T,) per-frame contact flags, got {x.shape}')
    return x.astype(bool)


def contact_scores(pred_contact: ArrayLike, gt_contact: ArrayLike) -> Dict[str, float]:
    """CHOIS per-sequence contact scores of per-frame flags.  pred_contact, gt_contact: (T,) bool.

    Returns contact_precision = TP / (TP + FP) (0 if the prediction has no contact), contact_recall =
    TP / (TP + FN) (0 if the ground truth has no contact), contact_f1 (0 if precision and recall are both 0),
    contact_acc = (TP + TN) / T.
    """
    pred, gt = _bool_frames(pred_contact, 'pred_contact'), _bool_frames(gt_contact, 'gt_contact')
    if pred.shape != gt.shape or pred.shape[0] == 0:
        raise ValueError(f'pred_contact {pred.shape} and gt_contact {gt.shape} must be the same non-empty (T,)')
    tp = int((pred & gt).sum())
    fp = int((pred & ~gt).sum())
    fn = int((~pred & gt).sum())
    tn = int((~pred & ~gt).sum())
    precision = tp / (tp + fp) if tp + fp else 0.0
    recall = tp / (tp + fn) if tp + fn else 0.0
    f1 = 2.0 * precision * recall / (precision + recall) if precision + recall else 0.0
    return dict(contact_precision=precision, contact_recall=recall, contact_f1=f1,
                contact_acc=(tp + tn) / pred.shape[0])


def contact_percent(contact: ArrayLike) -> float:
    """Fraction of frames in contact, in [0, 1].  contact: (T,) bool."""
    c = _bool_frames(contact, 'contact')
    if c.shape[0] == 0:
        raise ValueError('contact has no frames')
    return float(c.mean())


def penetration(points: ArrayLike, obj_rot: ArrayLike, obj_trans: ArrayLike, obj_scale: ArrayLike,
                template_verts: ArrayLike, template_faces: ArrayLike) -> float:
    """Mean penetration depth of points into the placed object, metres (CHOIS P_hand / P_body).

    points: (T, P, 3) world (hand points or vertices, body joints or vertices); object pose as
    `object_frame_points`; template mesh verts (V, 3), faces (F, 3) (closed, outward-oriented) ->
    mean over T x P of max(-signed distance, 0) = mean |min(sdf, 0)|, points outside count 0.
    """
    return penetrations([points], obj_rot, obj_trans, obj_scale, template_verts, template_faces)[0]


def penetrations(point_sets: Sequence[ArrayLike], obj_rot: ArrayLike, obj_trans: ArrayLike, obj_scale: ArrayLike,
                 template_verts: ArrayLike, template_faces: ArrayLike) -> List[float]:
    """`penetration` of several point sets (each (T, P_i, 3), e.g. the hand points and the body joints) into the
    same placed object, with one mesh query for all of them (each point's depth does not depend on the others)."""
    verts, faces = _template(template_verts, template_faces)
    rests, scales = [], []
    for points in point_sets:
        p = _points(points, 'points')
        rot, trans, scale = _pose(p, obj_rot, obj_trans, obj_scale)
        rest = object_frame_points(p, rot, trans, scale)
        if rest.shape[0] * rest.shape[1] == 0:
            raise ValueError('penetration: no query points')
        rests.append(rest)
        scales.append(scale)
    depth = penetration_depth(torch.cat([r.reshape(-1, 3) for r in rests]), verts, faces, SDF_CHUNK_PAIRS)
    out = []
    for rest, scale, d in zip(rests, scales, depth.split([r.shape[0] * r.shape[1] for r in rests])):
        out.append(float((d.reshape(rest.shape[:2]) * scale[:, None]).mean()))
    return out
