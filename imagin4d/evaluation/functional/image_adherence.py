"""Image adherence (ours; docs/conventions.md): how well a generated motion matches the state a reference image shows.

Owns the per-sample math, all at the depicted frame t* (GT at t* against the prediction at t*) and as the best
match over a +-`window`-frame window of the PREDICTION around t* (GT still at t*; errors take the minimum,
agreements the maximum):

- body-pose error (metres): MPJPE of joints24 with the pelvis position and the body heading removed (each body in
  its own heading frame, `body_frame`);
- object pose relative to the body: object centre minus pelvis in the body heading frame (error in metres) and
  object rotation in the body heading frame (geodesic error in degrees);
- per-hand contact agreement: a hand is in contact when its hand point (joints24 22 / 23) is within
  `contact_threshold` of the placed object mesh (or inside it); agreement = same state as GT (left, right, both);
- body-object layout agreement (`classify_layout` of the mini-FBM factors);
- combined success: both hands agree AND layout agrees AND relative object position error < `pos_threshold` AND
  body-pose error < `pose_threshold`, at one frame (the best-window success needs one frame meeting all four);
- render scores under the reference camera: 2D joints24 reprojection error (pixels) and amodal silhouette IoU of
  the body and of the object (our own numpy triangle rasteriser at the reference image size, `silhouette.py`; no
  OpenGL);
- mini-FBM hidden factors (grasp hand, carry height, layout) recovered from the prediction at t*
  (`recover_factors`) against the GT factors.

Conventions: joints24 (T, 24, 3) positions, Z up, metres; the body heading frame has rows (right, forward, up)
(heading from hips and shoulders, `imagin4d.geometry.body_heading`, the rule of the canonical frame and of
`classify_layout`) and its origin at the pelvis. Objects are placed as `scale_t R_t (v - centroid) + centre_t`.
Pure numpy / torch (no mmengine).
"""
from dataclasses import dataclass
from typing import Callable, Dict, Optional, Sequence, Tuple, Union

import numpy as np
import torch

from imagin4d.body_models.skeletons import BODY_PARENTS
from imagin4d.geometry.canonical import body_heading
from imagin4d.geometry.interaction_factors import FACTOR_NAMES, classify_layout, recover_factors
from imagin4d.geometry.rotations import geodesic_distance, matrix_to_axis_angle
from imagin4d.geometry.sdf import signed_distance
from imagin4d.rendering.camera import Camera, project_points

from .interaction import SDF_CHUNK_PAIRS
from .silhouette import rasterize_silhouette, rasterize_silhouettes, silhouette_iou, silhouette_ious

__all__ = ['HOIFrames', 'ObjectMesh', 'IA_THRESHOLDS', 'body_frame', 'body_relative_joints', 'body_pose_error',
           'object_relative_position', 'object_relative_rotation', 'place_object_mesh', 'hand_object_contacts',
           'hand_object_contact_sets',
           'reprojection_error', 'rasterize_silhouette', 'rasterize_silhouettes', 'silhouette_iou',
           'silhouette_ious', 'body_params_from_global_rotations',
           'candidate_frames', 'recover_hidden_factors', 'image_adherence_scores', 'SCORE_NAMES',
           'RENDER_SCORE_NAMES', 'success_criteria', 'all_met', 'criteria_breakdown']

LEFT_HAND, RIGHT_HAND = 22, 23
#: Default thresholds: contact distance (m), success bounds on the relative object position error (m) and the
#: body-pose error (m), near plane (m) for projection / rasterisation.
IA_THRESHOLDS = dict(contact_threshold=0.05, pos_threshold=0.15, pose_threshold=0.10, near=0.05)
#: Per-sample score names (each also with '_best'); the render ones need a camera.
SCORE_NAMES = ('pose_err', 'obj_pos_err', 'obj_rot_err', 'contact_left', 'contact_right', 'contact_both', 'layout',
               'success')
RENDER_SCORE_NAMES = ('reproj_px', 'iou_body', 'iou_object')

ArrayLike = Union[np.ndarray, torch.Tensor, Sequence]


def _np(x, dtype=np.float64) -> np.ndarray:
    if isinstance(x, torch.Tensor):
        x = x.detach().cpu().numpy()
    return np.asarray(x, dtype=dtype)


@dataclass
class HOIFrames:
    """A decoded interaction over T frames (canonical window frame, Z up, metres).

    joints: (T, 24, 3) joints24; obj_centre: (T, 3) object centre (mean of the placed vertices);
    obj_rot: (T, 3, 3) absolute object rotation; obj_scale: (T,) object scale; contacts: (T, 4) lh, rh, lf, rf
    labels or None.
    """
    joints: np.ndarray
    obj_centre: np.ndarray
    obj_rot: np.ndarray
    obj_scale: np.ndarray
    contacts: Optional[np.ndarray] = None

    def __post_init__(self):
        self.joints, self.obj_centre, self.obj_rot = _np(self.joints), _np(self.obj_centre), _np(self.obj_rot)
        T = self.joints.shape[0]
        scale = _np(self.obj_scale)
        if scale.ndim > 1 or scale.size not in (1, T):
            raise ValueError(f'HOIFrames.obj_scale must be a scalar or ({T},), got shape {scale.shape}')
        self.obj_scale = np.broadcast_to(scale.reshape(-1), (T,)).copy()
        checks = (('joints', self.joints, (T, 24, 3)), ('obj_centre', self.obj_centre, (T, 3)),
                  ('obj_rot', self.obj_rot, (T, 3, 3)))
        for name, value, shape in checks:
            if value.shape != shape:
                raise ValueError(f'HOIFrames.{name} must be {shape} (T = {T} from joints (T, 24, 3)), '
                                 f'got {value.shape}')
        if self.contacts is not None:
            self.contacts = _np(self.contacts)
            if self.contacts.shape != (T, 4):
                raise ValueError(f'HOIFrames.contacts must be ({T}, 4) or None, got {self.contacts.shape}')

    @property
    def num_frames(self) -> int:
        return self.joints.shape[0]


@dataclass
class ObjectMesh:
    """The object template: verts (V, 3), faces (F, 3) int, centroid (3,) (default: the vertex mean)."""
    verts: np.ndarray
    faces: np.ndarray
    centroid: Optional[np.ndarray] = None

    def __post_init__(self):
        self.verts, self.faces = _np(self.verts), _np(self.faces, np.int64)
        if self.verts.ndim != 2 or self.verts.shape[1] != 3 or self.faces.ndim != 2 or self.faces.shape[1] != 3:
            raise ValueError(f'ObjectMesh needs verts (V, 3) and faces (F, 3), got {self.verts.shape} and '
                             f'{self.faces.shape}')
        self.centroid = self.verts.mean(0) if self.centroid is None else _np(self.centroid).reshape(3)


# ------------------------------------------------------------------------------------------------ body frame
def body_frame(joints: ArrayLike) -> np.ndarray:
    """Heading frame of bodies: joints (..., 24, 3) -> (..., 3, 3) rows (right, forward, up) in world coordinates.

    forward = `body_heading` (hips + shoulders, horizontal); right = forward x up; up = +z.
    """
    joints = torch.as_tensor(_np(joints))
    forward = body_heading(joints).numpy()
    up = np.zeros_like(forward)
    up[..., 2] = 1.0
    right = np.cross(forward, up)
    return np.stack([right, forward, up], axis=-2)


def body_relative_joints(joints: ArrayLike) -> np.ndarray:
    """joints (..., 24, 3) -> (..., 24, 3): minus the pelvis, in the body's own heading frame."""
    joints = _np(joints)
    axes = body_frame(joints)
    return np.einsum('...ik,...jk->...ji', axes, joints - joints[..., :1, :])


def body_pose_error(gt_joints: ArrayLike, pred_joints: ArrayLike) -> np.ndarray:
    """Pelvis- and heading-aligned MPJPE (metres): gt (24, 3) or (..., 24, 3), pred (..., 24, 3) -> (...).

    Mean over all 24 joints (the pelvis contributes 0, as in CHOIS's MPJPE).
    """
    diff = body_relative_joints(pred_joints) - body_relative_joints(gt_joints)
    return np.linalg.norm(diff, axis=-1).mean(-1)


def object_relative_position(joints: ArrayLike, obj_centre: ArrayLike) -> np.ndarray:
    """Object centre minus pelvis in the body heading frame (right, forward, up), metres.
    joints (..., 24, 3), obj_centre (..., 3) -> (..., 3)."""
    joints, obj_centre = _np(joints), _np(obj_centre)
    return np.einsum('...ik,...k->...i', body_frame(joints), obj_centre - joints[..., 0, :])


def object_relative_rotation(joints: ArrayLike, obj_rot: ArrayLike) -> np.ndarray:
    """Object rotation expressed in the body heading frame: axes @ R.  joints (..., 24, 3), obj_rot (..., 3, 3)
    -> (..., 3, 3)."""
    return body_frame(joints) @ _np(obj_rot)


def _geodesic_deg(R1: np.ndarray, R2: np.ndarray) -> np.ndarray:
    return np.degrees(geodesic_distance(torch.as_tensor(np.array(R1)), torch.as_tensor(np.array(R2))).numpy())


# ------------------------------------------------------------------------------------------------ contacts
def place_object_mesh(mesh: ObjectMesh, obj_rot: ArrayLike, obj_centre: ArrayLike, obj_scale) -> np.ndarray:
    """Placed vertices `scale R (v - centroid) + centre`: obj_rot (..., 3, 3), obj_centre (..., 3), obj_scale
    (...) -> (..., V, 3)."""
    rot, centre = _np(obj_rot), _np(obj_centre)
    scale = np.broadcast_to(_np(obj_scale), centre.shape[:-1])
    local = mesh.verts - mesh.centroid
    return scale[..., None, None] * np.einsum('...ij,vj->...vi', rot, local) + centre[..., None, :]


def hand_object_contacts(hands: ArrayLike, obj_rot: ArrayLike, obj_centre: ArrayLike, obj_scale,
                         mesh: ObjectMesh, threshold: float = IA_THRESHOLDS['contact_threshold']) -> np.ndarray:
    """Hand-object contact by geometry: bool (N, K), True where the point is closer than `threshold` (metres) to
    the placed object surface or inside it (signed distance < threshold).

    hands: (N, K, 3) points (e.g. joints24 22 and 23); obj_rot (N, 3, 3), obj_centre (N, 3), obj_scale (N,).
    The points are mapped into the template frame, so the (possibly large) mesh is queried once for all frames.
    """
    return hand_object_contact_sets([(hands, obj_rot, obj_centre, obj_scale)], mesh, threshold)[0]


def hand_object_contact_sets(sets: Sequence[tuple], mesh: ObjectMesh,
                             threshold: float = IA_THRESHOLDS['contact_threshold']) -> list:
    """`hand_object_contacts` of several (hands, obj_rot, obj_centre, obj_scale) sets (e.g. the GT frame and the
    predicted frames) with one query of the mesh for all of them -> a list of bool (N_i, K_i).

    Only points within the threshold of the template's bounding box are queried: a point farther than that from the
    box is farther from the surface and not inside (a margin of 1e-6 relative keeps rounding on the queried side).
    """
    locals_, limits = [], []
    for hands, obj_rot, obj_centre, obj_scale in sets:
        hands, rot, centre = _np(hands), _np(obj_rot), _np(obj_centre)
        scale = np.broadcast_to(_np(obj_scale), centre.shape[:-1]).astype(np.float64)
        if hands.ndim != 3 or hands.shape[-1] != 3:
            raise ValueError(f'hands must be (N, K, 3), got {hands.shape}')
        locals_.append(np.einsum('nji,nkj->nki', rot, hands - centre[:, None]) / scale[:, None, None]
                       + mesh.centroid)
        limits.append(np.broadcast_to(scale[:, None], locals_[-1].shape[:2]))
    points = np.concatenate([p.reshape(-1, 3) for p in locals_])
    scale = np.concatenate([s.reshape(-1) for s in limits])
    gap = np.linalg.norm(np.maximum(mesh.verts.min(0) - points, 0) + np.maximum(points - mesh.verts.max(0), 0), axis=-1)
    near = np.flatnonzero(gap * scale <= threshold * (1 + 1e-6) + 1e-12)
    sd = np.full(len(points), np.inf)
    if len(near):
        sd[near] = signed_distance(torch.as_tensor(points[near]), torch.as_tensor(mesh.verts),
                                   torch.as_tensor(mesh.faces), SDF_CHUNK_PAIRS).numpy()
    out = []
    for local, d in zip(locals_, np.split(sd, np.cumsum([p.shape[0] * p.shape[1] for p in locals_])[:-1])):
        out.append(d.reshape(local.shape[:2]))
    return [d * s < threshold for d, s in zip(out, limits)]


# ------------------------------------------------------------------------------------------------ rendering
def reprojection_error(camera: Camera, gt_joints: ArrayLike, pred_joints: ArrayLike,
                       near: float = IA_THRESHOLDS['near']) -> np.ndarray:
    """Mean 2D distance (pixels) between projected GT and predicted joints, over the joints that are in front of
    the camera (depth > near) in both.  gt (J, 3), pred (..., J, 3) -> (...); NaN where no joint qualifies."""
    gt, pred = _np(gt_joints), _np(pred_joints)
    lead = pred.shape[:-2]
    uv_gt, d_gt = project_points(camera, gt)
    uv_p, d_p = project_points(camera, pred.reshape(-1, 3))
    uv_p, d_p = uv_p.reshape(*lead, -1, 2), d_p.reshape(*lead, -1)
    ok = (d_gt > near) & (d_p > near)
    with np.errstate(invalid='ignore'):
        dist = np.where(ok, np.linalg.norm(np.where(ok[..., None], uv_p - uv_gt, 0.0), axis=-1), 0.0)
        count = ok.sum(-1)
        return np.where(count > 0, dist.sum(-1) / np.maximum(count, 1), np.nan)


def body_params_from_global_rotations(global_rot: ArrayLike,
                                      parents: Sequence[int] = BODY_PARENTS) -> Tuple[np.ndarray, np.ndarray]:
    """Body-model pose from global joint rotations: (..., 22, 3, 3) -> global_orient (..., 3), body_pose
    (..., 63) axis-angle (local rotation of joint j = G_parent(j)^T G_j, joints 1..21)."""
    G = torch.as_tensor(_np(global_rot))
    if G.shape[-3:] != (len(parents), 3, 3):
        raise ValueError(f'global_rot must be (..., {len(parents)}, 3, 3), got {tuple(G.shape)}')
    parent = [max(p, 0) for p in parents]
    local = G[..., parent, :, :].transpose(-1, -2) @ G
    aa = matrix_to_axis_angle(local[..., 1:, :, :])
    return matrix_to_axis_angle(G[..., 0, :, :]).numpy(), aa.reshape(*aa.shape[:-2], -1).numpy()


# ------------------------------------------------------------------------------------------------ factors
def recover_hidden_factors(frames: HOIFrames, t: int, hand_contact: Optional[Sequence[bool]] = None,
                           contact_source: str = 'geometry') -> Dict[str, Optional[str]]:
    """mini-FBM factors (grasp_hand, carry_height, layout) of `frames` at frame t (`recover_factors`).

    contact_source 'geometry': the grasp hand comes from `hand_contact` (left, right) = geometric hand contacts
    at t; 'labels': from frames.contacts > 0.5 at t. Without any hand in contact, `recover_factors` falls back to
    the hands' distances to the object centre.
    """
    if contact_source == 'geometry':
        if hand_contact is None:
            raise ValueError("contact_source='geometry' needs hand_contact (left, right) at frame t")
        labels = np.array([[float(hand_contact[0]), float(hand_contact[1]), 0.0, 0.0]])
    elif contact_source == 'labels':
        if frames.contacts is None:
            raise ValueError("contact_source='labels' needs frames.contacts (T, 4)")
        labels = frames.contacts[t:t + 1]
    else:
        raise ValueError(f"contact_source must be 'geometry' or 'labels', got {contact_source!r}")
    return recover_factors(frames.joints[t:t + 1], frames.obj_centre[t:t + 1], labels, 0)


# ------------------------------------------------------------------------------------------------ one sample
def candidate_frames(t_star: int, window: int, num_valid: int) -> np.ndarray:
    """Frames [t* - window, t* + window] within [0, num_valid)."""
    return np.arange(max(0, t_star - window), min(num_valid, t_star + window + 1))


def _best(values: np.ndarray, larger_is_better: bool) -> float:
    finite = values[np.isfinite(values)]
    if finite.size == 0:
        return float('nan')
    return float(finite.max() if larger_is_better else finite.min())


def success_criteria(contact_both, layout, obj_pos_err, pose_err, pos_threshold: float = IA_THRESHOLDS['pos_threshold'],
                     pose_threshold: float = IA_THRESHOLDS['pose_threshold']) -> Dict[str, np.ndarray]:
    """The four conditions of image-adherence success, each a bool array of the inputs' shape: both hands' contacts
    as in the picture, the body-object layout, the object's body-relative position within `pos_threshold` (m) and
    the body pose within `pose_threshold` (m). ia_success is their conjunction."""
    return dict(contact_both=np.asarray(contact_both, dtype=bool), layout=np.asarray(layout, dtype=bool),
                obj_pos=np.asarray(obj_pos_err) < pos_threshold, pose=np.asarray(pose_err) < pose_threshold)


def all_met(criteria: Dict[str, np.ndarray]) -> np.ndarray:
    """Where every criterion of `criteria` holds (ia_success for `success_criteria`)."""
    return np.logical_and.reduce(list(criteria.values()))


def criteria_breakdown(criteria: Dict[str, np.ndarray]) -> Dict[str, float]:
    """What limits success, from `success_criteria` over samples (N,): 'success' (all four), 'pass_<c>' (the
    fraction meeting criterion c) and 'without_<c>' (the success rate if c were not asked: how much c costs)."""
    out = dict(success=float(all_met(criteria).mean()))
    for name in criteria:
        out[f'pass_{name}'] = float(criteria[name].mean())
        out[f'without_{name}'] = float(all_met({n: c for n, c in criteria.items() if n != name}).mean())
    return out


BodyVerts = Union[np.ndarray, Callable[[np.ndarray], np.ndarray]]


def image_adherence_scores(gt: HOIFrames, pred: HOIFrames, t_star: int, mesh: ObjectMesh, *,
                           num_valid: Optional[int] = None, window: int = 15,
                           contact_threshold: float = IA_THRESHOLDS['contact_threshold'],
                           pos_threshold: float = IA_THRESHOLDS['pos_threshold'],
                           pose_threshold: float = IA_THRESHOLDS['pose_threshold'],
                           camera: Optional[Camera] = None, silhouette: bool = True,
                           gt_body_verts: Optional[np.ndarray] = None, pred_body_verts: Optional[BodyVerts] = None,
                           body_faces: Optional[np.ndarray] = None, factors: bool = False,
                           gt_factors: Optional[Dict[str, str]] = None, factor_contacts: str = 'geometry',
                           near: float = IA_THRESHOLDS['near']) -> dict:
    """All image-adherence scores of one sample.

    gt, pred: the GT and predicted interactions (same T); t_star: the depicted frame; mesh: the object template.
    num_valid: valid frames (default T); the best-match window is `candidate_frames(t_star, window, num_valid)`.
    Thresholds (metres): contact_threshold (hand point to object surface), pos_threshold (relative object position
    error) and pose_threshold (body-pose error) for the combined success.
    camera: the reference camera; None skips the render scores. silhouette: also score silhouette IoU (needs
    gt_body_verts (Vb, 3) at t*, pred_body_verts (T, Vb, 3) or a callable frames (n,) -> (n, Vb, 3), and
    body_faces (Fb, 3)). factors: recover the hidden factors of the prediction at t* (grasp hand from
    `factor_contacts`, 'geometry' or 'labels') and compare them with `gt_factors` (default: recovered from gt the
    same way).

    Returns a dict of floats: SCORE_NAMES and (with a camera) RENDER_SCORE_NAMES, each also with '_best'
    (agreements and success as 0/1); with factors 'factor_<name>' (0/1) and 'factors_pred' / 'factors_gt' dicts.
    """
    T = gt.num_frames
    if pred.num_frames != T:
        raise ValueError(f'prediction has {pred.num_frames} frames, GT has {T}')
    num_valid = T if num_valid is None else int(num_valid)
    if not 0 <= int(t_star) < num_valid:
        raise ValueError(f't_star {t_star} outside the {num_valid} valid frames')
    t_star = int(t_star)
    frames = candidate_frames(t_star, int(window), num_valid)
    at = int(np.flatnonzero(frames == t_star)[0])
    g = slice(t_star, t_star + 1)

    pose_err = body_pose_error(gt.joints[t_star], pred.joints[frames])
    rel_pos_gt = object_relative_position(gt.joints[t_star], gt.obj_centre[t_star])
    obj_pos_err = np.linalg.norm(object_relative_position(pred.joints[frames], pred.obj_centre[frames]) - rel_pos_gt,
                                 axis=-1)
    rel_rot_gt = object_relative_rotation(gt.joints[t_star], gt.obj_rot[t_star])
    obj_rot_err = _geodesic_deg(np.broadcast_to(rel_rot_gt, (len(frames), 3, 3)),
                                object_relative_rotation(pred.joints[frames], pred.obj_rot[frames]))

    hands = [LEFT_HAND, RIGHT_HAND]
    gt_contact, pred_contact = hand_object_contact_sets(
        [(gt.joints[g][:, hands], gt.obj_rot[g], gt.obj_centre[g], gt.obj_scale[g]),
         (pred.joints[frames][:, hands], pred.obj_rot[frames], pred.obj_centre[frames], pred.obj_scale[frames])],
        mesh, contact_threshold)
    gt_contact = gt_contact[0]
    agree = pred_contact == gt_contact[None]
    both = agree.all(1)
    gt_layout = classify_layout(gt.joints[t_star], gt.obj_centre[t_star])
    layout = np.array([classify_layout(pred.joints[t], pred.obj_centre[t]) == gt_layout for t in frames])
    success = all_met(success_criteria(both, layout, obj_pos_err, pose_err, pos_threshold, pose_threshold))

    per_frame = dict(pose_err=(pose_err, False), obj_pos_err=(obj_pos_err, False), obj_rot_err=(obj_rot_err, False),
                     contact_left=(agree[:, 0].astype(float), True), contact_right=(agree[:, 1].astype(float), True),
                     contact_both=(both.astype(float), True), layout=(layout.astype(float), True),
                     success=(success.astype(float), True))

    if camera is not None:
        per_frame['reproj_px'] = (reprojection_error(camera, gt.joints[t_star], pred.joints[frames], near), False)
        if silhouette:
            if gt_body_verts is None or pred_body_verts is None or body_faces is None:
                raise ValueError('silhouette scores need gt_body_verts, pred_body_verts and body_faces '
                                 '(or pass silhouette=False)')
            pred_bodies = pred_body_verts(frames) if callable(pred_body_verts) else _np(pred_body_verts)[frames]
            masks = rasterize_silhouettes(camera, np.concatenate([_np(gt_body_verts)[None], _np(pred_bodies)]),
                                          body_faces, near)                     # GT at t*, then the frames
            per_frame['iou_body'] = (silhouette_ious(masks[0], masks[1:]), True)
            gt_obj = place_object_mesh(mesh, gt.obj_rot[t_star], gt.obj_centre[t_star], gt.obj_scale[t_star])
            pred_objs = place_object_mesh(mesh, pred.obj_rot[frames], pred.obj_centre[frames], pred.obj_scale[frames])
            masks = rasterize_silhouettes(camera, np.concatenate([gt_obj[None], pred_objs]), mesh.faces, near)
            per_frame['iou_object'] = (silhouette_ious(masks[0], masks[1:]), True)

    out = {}
    for name, (values, larger) in per_frame.items():
        out[name] = float(values[at])
        out[f'{name}_best'] = _best(values, larger)
    if factors:
        pred_f = recover_hidden_factors(pred, t_star, pred_contact[at], factor_contacts)
        if gt_factors is None:
            gt_factors = recover_hidden_factors(gt, t_star, gt_contact, factor_contacts)
        for name in FACTOR_NAMES:
            out[f'factor_{name}'] = float(pred_f[name] == gt_factors.get(name))
        out['factors_pred'], out['factors_gt'] = dict(pred_f), {k: gt_factors.get(k) for k in FACTOR_NAMES}
    return out
