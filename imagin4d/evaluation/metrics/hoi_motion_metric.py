"""HOIMotionMetric: the CHOIS motion, interaction and waypoint metric suite as an mmengine metric.

Owns reading a HOIDataSample dict (gt_motion / pred_motion and the object template), decoding and placing the
object, one row of per-sample numbers per sample (kept in `last_rows`), and their average over samples.
The math lives in `imagin4d.evaluation.functional` (motion, interaction, waypoints).
"""
import importlib
import math
from typing import Callable, Dict, List, Optional, Sequence, Union

import numpy as np
import torch
from mmengine.evaluator import BaseMetric
from mmengine.logging import print_log

from imagin4d.body_models.skeletons import HAND_JOINTS24
from imagin4d.registry import METRICS, MOTION_CODECS

from ..functional.interaction import (
    contact_frames,
    contact_percent,
    contact_scores,
    hand_object_distances,
    penetrations,
)
from ..functional.motion import (
    estimate_floor_height,
    foot_sliding,
    hand_jpe,
    mpjpe,
    mpvpe,
    position_error,
    root_translation_error,
    rotation_frobenius_error,
    rotation_geodesic_error,
)
from ..functional.waypoints import waypoint_errors
from .body_forward import pose_from_rotations, sample_betas, sample_body_model
from .sample_access import motion_pair_length, sample_field, sample_name

__all__ = ['HOIMotionMetric']

VerticesFn = Callable[[dict, Dict[str, torch.Tensor], str], Optional[Union[np.ndarray, torch.Tensor]]]


def _resolve_callable(fn: Union[None, str, Callable], name: str) -> Optional[Callable]:
    """A callable, or 'package.module.function' imported now, or None."""
    if fn is None or callable(fn):
        return fn
    if isinstance(fn, str) and '.' in fn:
        module, attr = fn.rsplit('.', 1)
        resolved = getattr(importlib.import_module(module), attr, None)
        if callable(resolved):
            return resolved
    raise TypeError(f'{name} must be a callable or an importable "package.module.function" string, got {fn!r}')


@METRICS.register_module()
class HOIMotionMetric(BaseMetric):
    """CHOIS-protocol metrics of generated HOI windows (per-sample values averaged over samples).

    Reported keys (units; definitions in docs/user_guides/evaluation.md and the functional modules):

    ======================= ========= =====================================================================
    key                     unit      meaning
    ======================= ========= =====================================================================
    lhand_jpe, rhand_jpe,   mm        global L2 error of hand point 22 / 23 and their average
    hand_jpe
    mpjpe                   mm        root-relative mean joints24 error
    mpvpe                   mm        root-relative mean body-vertex error; ONLY with `vertices_fn`
    root_trans_err          mm        pelvis (joint 0) position error
    root_rot_err            unitless  CHOIS ||I - R_pred R_gt^T||_F of the root global rotation (2.0 = 90 deg)
    root_rot_err_deg        degrees   geodesic angle of the same (imagin4d addition)
    obj_trans_err           mm        object centre (obj_com) error over all frames
    obj_rot_err             unitless  CHOIS Frobenius distance of the absolute object rotation
    obj_rot_err_deg         degrees   geodesic angle of the same
    contact_precision,      0-1       per-frame hand contact of the prediction vs the ground truth, both
    contact_recall,                   from geometry (hand point < `contact_threshold` from the placed
    contact_f1, contact_acc           object), CHOIS zero conventions for sequences without contact
    contact_percent         0-1       fraction of predicted frames with any hand contact (CHOIS C%)
    gt_contact_percent      0-1       the same for the ground truth
    hand_penetration        m         mean depth of the hand points (or hand vertices) inside the object
    body_penetration        m         mean depth of all joints24 (or body vertices) inside the object
    foot_sliding            mm/frame  CHOIS weighted foot sliding of the prediction
    gt_foot_sliding         mm/frame  the same for the ground truth
    waypoint_start_err      mm        object centre error at frame 0 (T_s)
    waypoint_end_err        mm        at the last given xyz waypoint (T_e)
    waypoint_xy_err         mm        mean xy error at the given xy-only waypoints (T_xy)
    ======================= ========= =====================================================================

    Choices where CHOIS is ambiguous or differs (see also the functional docstrings):
    - joints_from='predicted' (the class default): joints are the decoded joints24 positions of the motion;
      joints_from='body_model' (CHOIS): joints24 and vertices come from a body-model forward pass of the decoded
      global rotations with the sample's betas, the pelvis at the decoded pelvis, for the ground truth and the
      prediction alike (then MPVPE is reported); only `pred_motion` is scored (`pred_motion_samples` is ignored);
    - object_rotation='projected' (default): the predicted object rotation (9 free numbers) is projected to the
      nearest rotation before scoring; 'raw' (CHOIS) scores obj_rot_err on the raw matrix, ||I - M R_gt^T||_F
      (obj_rot_err_deg and the object placement for contacts / penetration always use the projection);
    - the GT contact frames come from the GT geometry (as CHOIS), not from the `contacts` labels;
    - penetration uses the exact mesh SDF with the consistent rest-frame map; its query points
      (`penetration_from`) are the hand points / joints24, or with vertices (vertices_fn, or joints_from=
      'body_model' and penetration_from='vertices') the hand / body vertices (CHOIS: SMPL-X hand / body vertices
      and a 256^3 grid). Exact vertex penetration is slow: about 2 min per 120-frame window on one CPU core for
      hands in contact with an 11k-face object, so joints_from='body_model' keeps the points unless asked;
    - every per-frame quantity uses the first `seq_len` frames (CHOIS ignores seq_len); foot sliding
      divides by seq_len;
    - the floor is `floor_height` (the class default 0.0: the canonical frame has the floor at z = 0); 'estimate'
      (CHOIS; the configs' default) uses CHOIS's per-sequence toe-cluster estimate, separately for the ground
      truth and the prediction.
    A value a sample cannot have (e.g. no xy waypoint in its mask) is NaN in its row and skipped in the
    average; a key NaN for every sample is reported as NaN.

    Each processed sample needs: gt_motion (T, D), pred_motion (T, D) (UN-normalised codec features),
    waypoint_mask (T, D), object_verts (V, 3), object_faces (F, 3), obj_scale (T,), obj_ref_rot (3, 3),
    template_centroid (3,); optionally seq_len and seq_name (metainfo); with joints_from='body_model' also
    smpl_params (betas at least), gender and dataset (which body model).

    Args:
        contact_threshold: metres; a hand is in contact when strictly closer than this (CHOIS 0.05).
        floor_height: floor z in metres for foot sliding, or 'estimate' (CHOIS per-sequence estimate).
        contact_distance: 'vertices' (nearest object vertex, CHOIS) or 'surface' (exact distance to the
            object mesh, 0 inside).
        vertices_fn: optional callable (or 'package.module.function') `fn(sample, decoded, which)` ->
            (T, V, 3) body vertices in metres or None, where `decoded` is the codec's decode of the sample's
            motion and `which` is 'gt' or 'pred'. With it, MPVPE is reported and body penetration uses the
            vertices. Without it, MPVPE is not reported (logged once per evaluation).
        hand_vertex_ids: body vertex ids of both hands; when penetration uses vertices, hand penetration uses
            these instead of the hand points (joints_from='body_model' default: the model's hand vertex groups).
        joints_from: 'predicted' (decoded joint positions) or 'body_model' (forward pass, CHOIS).
        penetration_from: 'auto' (vertices when `vertices_fn` gives them, else the points), 'points' or
            'vertices' (needs vertices_fn or joints_from='body_model').
        object_rotation: 'projected' or 'raw' (CHOIS), for obj_rot_err.
        body_model_root, body_model_type, data_root: where the body model of joints_from='body_model' is found,
            as for ImageAdherenceMetric (default: the data set's `body_model_root` and `data_root`).
        codec: motion codec config (MOTION_CODECS) or instance; default CHOISMotionCodec().
        collect_device, prefix, collect_dir: as mmengine's BaseMetric (no prefix by default).
    """

    default_prefix: Optional[str] = None
    REQUIRED_FIELDS = ('gt_motion', 'pred_motion', 'waypoint_mask', 'object_verts', 'object_faces', 'obj_scale',
                       'obj_ref_rot', 'template_centroid')
    ROW_ONLY_KEYS = ('seq_name', 'seq_len', 'floor_height', 'gt_floor_height')
    JOINTS_FROM = ('predicted', 'body_model')
    OBJECT_ROTATION = ('projected', 'raw')

    def __init__(self, contact_threshold: float = 0.05, floor_height: Union[float, str] = 0.0,
                 contact_distance: str = 'vertices', vertices_fn: Union[None, str, VerticesFn] = None,
                 hand_vertex_ids: Optional[Sequence[int]] = None, joints_from: str = 'predicted',
                 penetration_from: str = 'auto',
                 object_rotation: str = 'projected', body_model_root: Optional[str] = None,
                 body_model_type: str = 'auto', data_root: Optional[str] = None,
                 codec: Union[dict, object, None] = None,
                 collect_device: str = 'cpu', prefix: Optional[str] = None, collect_dir: Optional[str] = None):
        super().__init__(collect_device=collect_device, prefix=prefix, collect_dir=collect_dir)
        if not contact_threshold > 0:
            raise ValueError(f'contact_threshold must be > 0 metres, got {contact_threshold!r}')
        if not (floor_height == 'estimate' or isinstance(floor_height, (int, float))):
            raise ValueError(f"floor_height must be a number (metres) or 'estimate', got {floor_height!r}")
        if contact_distance not in ('vertices', 'surface'):
            raise ValueError(f"contact_distance must be 'vertices' or 'surface', got {contact_distance!r}")
        if joints_from not in self.JOINTS_FROM:
            raise ValueError(f"joints_from must be 'predicted' or 'body_model', got {joints_from!r}")
        if object_rotation not in self.OBJECT_ROTATION:
            raise ValueError(f"object_rotation must be 'projected' or 'raw', got {object_rotation!r}")
        if joints_from == 'body_model' and vertices_fn is not None:
            raise ValueError("joints_from='body_model' takes the vertices from the body model: leave vertices_fn unset")
        if body_model_type not in ('auto', 'smplx', 'smplh'):
            raise ValueError(f"body_model_type must be 'auto', 'smplx' or 'smplh', got {body_model_type!r}")
        if penetration_from not in ('auto', 'points', 'vertices'):
            raise ValueError(f"penetration_from must be 'auto', 'points' or 'vertices', got {penetration_from!r}")
        if penetration_from == 'vertices' and vertices_fn is None and joints_from != 'body_model':
            raise ValueError("penetration_from='vertices' needs vertices: set vertices_fn or joints_from='body_model'")
        self.joints_from, self.object_rotation = joints_from, object_rotation
        self.vertex_penetration = penetration_from == 'vertices' or (penetration_from == 'auto'
                                                                     and vertices_fn is not None)
        self.body_model_root, self.body_model_type, self.data_root = body_model_root, body_model_type, data_root
        self.contact_threshold = float(contact_threshold)
        self.floor_height = floor_height if floor_height == 'estimate' else float(floor_height)
        self.contact_distance = contact_distance
        self.vertices_fn = _resolve_callable(vertices_fn, 'vertices_fn')
        self.hand_vertex_ids = None if hand_vertex_ids is None else [int(i) for i in hand_vertex_ids]
        codec = dict(type='CHOISMotionCodec') if codec is None else codec
        self.codec = MOTION_CODECS.build(codec) if isinstance(codec, dict) else codec
        self.last_rows: List[dict] = []

    # ------------------------------------------------------------------ per sample
    def process(self, data_batch, data_samples: Sequence[dict]) -> None:
        """Append one row of per-sample numbers (a flat dict, see the class table) per data sample."""
        for index, sample in enumerate(data_samples):
            if hasattr(sample, 'to_dict'):
                sample = sample.to_dict()
            self.results.append(self.sample_row(sample, index))

    def _field(self, sample: dict, key: str, index: int, dtype=torch.float64) -> torch.Tensor:
        return sample_field('HOIMotionMetric', sample, key, index, self.REQUIRED_FIELDS, dtype=dtype)

    def _vertices(self, sample: dict, decoded: dict, which: str, length: int, index: int) -> Optional[np.ndarray]:
        if self.vertices_fn is None:
            return None
        verts = self.vertices_fn(sample, decoded, which)
        if verts is None:
            return None
        verts = np.asarray(verts.detach().cpu() if torch.is_tensor(verts) else verts, dtype=np.float64)
        if verts.ndim != 3 or verts.shape[-1] != 3 or verts.shape[0] < length:
            raise ValueError(f'HOIMotionMetric: vertices_fn returned {verts.shape} for the {which} of sample '
                             f'{sample_name(sample, index)}; expected (T >= {length}, V, 3)')
        return verts[:length]

    def _body_model_pass(self, sample: dict, index: int, decoded: dict, valid: slice):
        """({'gt' | 'pred': (joints24 (L, 24, 3), vertices (L, V, 3)) numpy}, hand vertex ids) of the body-model
        forward pass of the decoded rotations (joints_from='body_model')."""
        purpose = "joints_from='body_model'"
        betas = sample_betas('HOIMotionMetric', sample, index, f"{purpose} (or use joints_from='predicted')")
        data_root = self.data_root or (self.dataset_meta or {}).get('data_root')
        model = sample_body_model('HOIMotionMetric', sample, betas.numel(), self.body_model_root, data_root,
                                  self.dataset_meta, self.body_model_type, purpose)
        posed = {}
        for which, dec in decoded.items():
            out = pose_from_rotations(model, betas, dec['global_rot'][valid], dec['joints'][valid, 0])
            posed[which] = (out['joints24'].numpy(), out['vertices'].numpy())
        hands = self.hand_vertex_ids
        if hands is None:
            hands = torch.cat([model.vertex_groups['left_hand'], model.vertex_groups['right_hand']]).tolist()
        return posed, hands

    def sample_row(self, sample: dict, index: int = 0) -> dict:
        """Per-sample numbers of one HOIDataSample dict (keys of the class table + seq_name, seq_len,
        floor_height, gt_floor_height)."""
        fields = {k: self._field(sample, k, index) for k in self.REQUIRED_FIELDS if k != 'object_faces'}
        faces = self._field(sample, 'object_faces', index, dtype=torch.int64)
        gt, pred, mask = fields['gt_motion'], fields['pred_motion'], fields['waypoint_mask'].bool()
        name = sample_name(sample, index)
        length = motion_pair_length('HOIMotionMetric', sample, index, gt, pred, self.codec.dim)
        if mask.shape != gt.shape:
            raise ValueError(f'HOIMotionMetric: sample {name}: waypoint_mask {tuple(mask.shape)} must match '
                             f'gt_motion {tuple(gt.shape)}')
        T = gt.shape[0]
        scale = fields['obj_scale'].reshape(-1)
        if scale.numel() == 1:
            scale = scale.expand(T)
        if scale.shape != (T,):
            raise ValueError(f'HOIMotionMetric: sample {name}: obj_scale must be (T,) = ({T},), '
                             f'got {tuple(fields["obj_scale"].shape)}')

        gt_dec = self.codec.decode(gt)
        pred_dec = self.codec.decode(pred, orthonormalize=True)
        ref_rot, centroid, template = fields['obj_ref_rot'], fields['template_centroid'], fields['object_verts']
        valid = slice(0, length)
        scale = scale[valid]
        poses = {}
        for which, dec in (('gt', gt_dec), ('pred', pred_dec)):
            rot, trans = self.codec.object_pose({k: v[valid] for k, v in dec.items()}, ref_rot, scale, centroid)
            poses[which] = (rot, trans)
        gt_com, pred_com = gt_dec['obj_com'][valid].numpy(), pred_dec['obj_com'][valid].numpy()
        hand_vertex_ids = self.hand_vertex_ids
        if self.joints_from == 'body_model':
            posed, hand_vertex_ids = self._body_model_pass(sample, index, dict(gt=gt_dec, pred=pred_dec), valid)
            (gt_joints, gt_verts), (pred_joints, pred_verts) = posed['gt'], posed['pred']
        else:
            gt_joints, pred_joints = gt_dec['joints'][valid].numpy(), pred_dec['joints'][valid].numpy()
            gt_verts = self._vertices(sample, gt_dec, 'gt', length, index)
            pred_verts = self._vertices(sample, pred_dec, 'pred', length, index)

        row = dict(seq_name=sample.get('seq_name'), seq_len=length)
        row.update(hand_jpe(pred_joints, gt_joints))
        row['mpjpe'] = mpjpe(pred_joints, gt_joints)
        if gt_verts is not None and pred_verts is not None:
            row['mpvpe'] = mpvpe(pred_verts, gt_verts, pred_joints[:, 0], gt_joints[:, 0])
        row['root_trans_err'] = root_translation_error(pred_joints, gt_joints)
        gt_root_rot, pred_root_rot = gt_dec['global_rot'][valid, 0], pred_dec['global_rot'][valid, 0]
        row['root_rot_err'] = rotation_frobenius_error(pred_root_rot, gt_root_rot)
        row['root_rot_err_deg'] = rotation_geodesic_error(pred_root_rot, gt_root_rot)
        row['obj_trans_err'] = position_error(pred_com, gt_com)
        scored_rot = poses['pred'][0]
        if self.object_rotation == 'raw':   # CHOIS: the network's 9 numbers as they are
            scored_rot = self.codec.absolute_rotation(self.codec.decode(pred)['obj_rot'][valid], ref_rot)
        row['obj_rot_err'] = rotation_frobenius_error(scored_rot, poses['gt'][0])
        row['obj_rot_err_deg'] = rotation_geodesic_error(poses['pred'][0], poses['gt'][0])

        # contact from geometry: hand points vs the placed object (GT joints + GT object, pred + pred)
        contact_faces = faces if self.contact_distance == 'surface' else None
        hands = list(HAND_JOINTS24)
        in_contact = {}
        for which, joints in (('gt', gt_joints), ('pred', pred_joints)):
            rot, trans = poses[which]
            distances = hand_object_distances(joints[:, hands], rot, trans, scale, template, contact_faces)
            in_contact[which] = contact_frames(distances, self.contact_threshold)
        row.update(contact_scores(in_contact['pred'], in_contact['gt']))
        row['contact_percent'] = contact_percent(in_contact['pred'])
        row['gt_contact_percent'] = contact_percent(in_contact['gt'])

        # penetration of the prediction into its own placed object
        rot, trans = poses['pred']
        penetration_verts = pred_verts if self.vertex_penetration else None
        if penetration_verts is not None and hand_vertex_ids is not None:
            hand_points = penetration_verts[:, hand_vertex_ids]
        else:
            hand_points = pred_joints[:, hands]
        body_points = penetration_verts if penetration_verts is not None else pred_joints
        row['hand_penetration'], row['body_penetration'] = penetrations([hand_points, body_points], rot, trans, scale,
                                                                        template, faces)

        # foot sliding (each skeleton on its own floor)
        for prefix, joints in (('gt_', gt_joints), ('', pred_joints)):
            floor = estimate_floor_height(joints) if self.floor_height == 'estimate' else self.floor_height
            row[f'{prefix}floor_height'] = floor
            row[f'{prefix}foot_sliding'] = foot_sliding(joints, floor)

        com_cols = self.codec.slices['obj_com']
        row.update(waypoint_errors(pred_com, gt_com, mask[valid, com_cols]))
        return row

    # ------------------------------------------------------------------ summary
    def compute_metrics(self, results: List[dict]) -> Dict[str, float]:
        """Mean over samples of every numeric row key (NaNs skipped), as a flat dict of floats; the rows are
        kept in `self.last_rows`."""
        self.last_rows = [dict(r) for r in results]
        if not results:
            raise ValueError('HOIMotionMetric: no samples were processed')
        keys: List[str] = []
        for row in results:
            keys += [k for k in row if k not in keys and k not in self.ROW_ONLY_KEYS]
        summary = {}
        for key in keys:
            values = [float(r[key]) for r in results if key in r and r[key] is not None and math.isfinite(r[key])]
            summary[key] = float(np.mean(values)) if values else float('nan')
        if 'mpvpe' not in summary:
            print_log("HOIMotionMetric: mpvpe not reported (no body vertices: joints_from='body_model' or "
                      'vertices_fn enable it); body_penetration used joints24, hand_penetration the hand points',
                      logger='current')
        return summary
