"""ImageAdherenceMetric: how well generated windows match their reference image's depicted state (docs/conventions.md).

Owns reading a HOIDataSample dict (decoding gt / pred motion, placing the object, the reference camera, posing
the body model for the silhouettes, the mini-FBM factors file), one row per sample (`last_rows`) and the average
over samples. The math is `imagin4d.evaluation.functional.image_adherence`.
"""
import json
import logging
import math
import os.path as osp
from typing import Dict, List, Optional, Sequence, Union

import numpy as np
import torch
from mmengine.evaluator import BaseMetric
from mmengine.logging import print_log

from imagin4d.geometry.interaction_factors import FACTOR_NAMES
from imagin4d.registry import METRICS, MOTION_CODECS
from imagin4d.rendering.camera import Camera

from ..functional.image_adherence import (
    IA_THRESHOLDS,
    RENDER_SCORE_NAMES,
    SCORE_NAMES,
    HOIFrames,
    ObjectMesh,
    image_adherence_scores,
)
from .body_forward import fit_betas, pose_from_rotations, sample_betas, sample_body_model
from .sample_access import motion_pair_length, sample_field, sample_name

__all__ = ['ImageAdherenceMetric']

FACTORS_FILE = 'mini_fbm_factors.json'
_BODY_KWARGS = ('global_orient', 'body_pose', 'transl', 'left_hand_pose', 'right_hand_pose')


def _as_float32(x) -> torch.Tensor:
    x = x.detach().cpu() if torch.is_tensor(x) else torch.as_tensor(np.asarray(x))
    return x.to(torch.float32)


@METRICS.register_module()
class ImageAdherenceMetric(BaseMetric):
    """Image adherence of generated HOI windows, at the depicted frame t* and as the best match within +-window.

    Reported keys (mean over samples; each 'ia_*' also as 'ia_*_best': the best value over prediction frames
    t in [t* - window, t* + window] (valid frames only) against the GT at t*: minimum for errors, maximum for
    agreements, IoU and success):

    ================= ======== ======================================================================================
    key               unit     meaning
    ================= ======== ======================================================================================
    ia_pose_err       m        joints24 MPJPE after removing the pelvis position and the body heading (each body in
                               its own heading frame: hips + shoulders, Z up)
    ia_obj_pos_err    m        error of the object centre minus pelvis, in the body heading frame
    ia_obj_rot_err    degrees  geodesic error of the object rotation in the body heading frame
    ia_contact_left,  0-1      per-hand contact agreement with GT (in contact: hand point 22 / 23 within
    ia_contact_right           `contact_threshold` of the placed object mesh, or inside it)
    ia_contact_both   0-1      both hands agree
    ia_layout         0-1      body-object layout agrees (`classify_layout`: front / left / right, 35 deg)
    ia_success        0-1      both hands agree AND layout agrees AND ia_obj_pos_err < pos_threshold AND
                               ia_pose_err < pose_threshold (the best-window success needs one frame with all four)
    ia_reproj_px      pixels   mean 2D distance of the projected GT / predicted joints24 under the reference camera
                               (joints in front of the camera in both)
    ia_iou_body,      0-1      amodal silhouette IoU under the reference camera (numpy rasteriser at the reference
    ia_iou_object              image size) of the body (GT: body model from smpl_params; prediction: body model
                               posed with the predicted rotations, pelvis at the predicted pelvis, GT betas, flat
                               hands) and of the placed object mesh; only with `silhouette=True`
    factor_grasp_hand 0-1      mini-FBM hidden factors recovered from the prediction at t* (`recover_factors`;
    factor_carry_...           grasp hand from geometric hand contacts, or the predicted labels with
    factor_layout              factor_contacts='labels') equal to the GT factors (recorded in the factors file when
                               it describes this frame, else recovered from the GT motion the same way)
    ia_frame_err      frames   |t^ - t*|: SFIE's predicted depicted frame t^ (the sample's `pred_t_star`, a soft-argmax,
                               not rounded) against the true t*; only for samples with `pred_t_star` (models with SFIE)
    ia_frame_within5  0-1      |t^ - t*| <= 5 frames (same samples)
    ================= ======== ======================================================================================

    Render keys (ia_reproj_px, ia_iou_*) average over the samples that have `reference_camera`; a sample without
    one is skipped for them (one warning per metric). A key no sample has is not reported. Only `pred_motion` is
    scored (`pred_motion_samples` is ignored); the predicted object is placed with the sample's obj_scale and
    obj_ref_rot (its obj_rot block is relative to that reference, as in the codec).

    Storyboards (issue 29): a sample with `reference_t_stars` (K depicted frames, time order), `reference_cameras`
    and SFIE's `pred_t_stars` (one per image) is scored at every depicted frame with that image's camera and t^;
    its row holds the mean over its images of each key (so the summary is the mean over samples of the per-sample
    image means; factor_* are the hidden factors at every depicted frame), t_star / pred_t_star as lists,
    num_images, and with per_image=True the per-position keys '<key>_img<k>'.

    Each sample needs gt_motion / pred_motion (T, D) UN-normalised codec features, t_star (metainfo),
    object_verts, object_faces, obj_scale (T,), obj_ref_rot, template_centroid; for the silhouettes
    smpl_params (betas at least) and gender; optionally seq_len, seq_name, window_start, dataset,
    reference_camera (`Camera.to_dict()` or a Camera), pred_t_star (SFIE's t^, set by HOIDiffusion.predict).

    Args:
        window: frames on each side of t* for the '_best' scores.
        contact_threshold: metres, hand point to object surface for "in contact" (default 0.05).
        pos_threshold: metres, success bound on ia_obj_pos_err (default 0.15).
        pose_threshold: metres, success bound on ia_pose_err (default 0.10).
        silhouette: score the silhouette IoUs (needs a body model; False skips them and the body model).
        factors: 'auto' (on when `factors_file` is given or `data_root` holds mini_fbm_factors.json), True
            (on; GT factors from the file when there is one, else recovered from the GT motion) or False.
        factors_file: path of mini_fbm_factors.json; data_root: the data root (factors file, body model under
            `<data_root>/smpl_all_models`); default the runner's `dataset_meta['data_root']` when it has one.
        factor_contacts: 'geometry' (default) or 'labels' (predicted contact channels > 0.5) for the grasp hand.
        body_model_root: folder with smplx/SMPLX_*.npz (smplh/... for BEHAVE; '{data_root}' allowed; the data set
            configs set it); default the data set's (`dataset_meta['body_model_root']`), else
            $IMAGIN4D_BODY_MODEL_DIR, `<data_root>/smpl_all_models`, `<data_root>` (imagin4d.body_models.locate).
        body_model_type: 'auto' ('smplh' for dataset 'behave', else 'smplx'), 'smplx' or 'smplh'.
        codec: motion codec config or instance (default CHOISMotionCodec()).
        per_image: storyboards: also report every key per image position, '<key>_img<k>' (k = 0, 1, ... in time
            order; a sample with fewer images leaves the key out).
        collect_device, prefix, collect_dir: as mmengine's BaseMetric (no prefix by default).
    """

    default_prefix: Optional[str] = None
    REQUIRED_FIELDS = ('gt_motion', 'pred_motion', 'object_verts', 'object_faces', 'obj_scale', 'obj_ref_rot',
                       'template_centroid')
    ROW_ONLY_KEYS = ('seq_name', 't_star', 'pred_t_star', 'factor_source', 'factors_pred', 'factors_gt', 'num_images')
    #: frames within which SFIE's t^ counts as the depicted frame (ia_frame_within5)
    FRAME_TOLERANCE = 5

    def __init__(self, window: int = 15, contact_threshold: float = IA_THRESHOLDS['contact_threshold'],
                 pos_threshold: float = IA_THRESHOLDS['pos_threshold'],
                 pose_threshold: float = IA_THRESHOLDS['pose_threshold'], silhouette: bool = True,
                 factors: Union[str, bool] = 'auto', factors_file: Optional[str] = None,
                 data_root: Optional[str] = None, factor_contacts: str = 'geometry',
                 body_model_root: Optional[str] = None, body_model_type: str = 'auto',
                 codec: Union[dict, object, None] = None, per_image: bool = False, collect_device: str = 'cpu',
                 prefix: Optional[str] = None, collect_dir: Optional[str] = None):
        super().__init__(collect_device=collect_device, prefix=prefix, collect_dir=collect_dir)
        if int(window) < 0:
            raise ValueError(f'window must be >= 0 frames, got {window!r}')
        for name, value in (('contact_threshold', contact_threshold), ('pos_threshold', pos_threshold),
                            ('pose_threshold', pose_threshold)):
            if not value > 0:
                raise ValueError(f'{name} must be > 0 metres, got {value!r}')
        if factors not in ('auto', True, False):
            raise ValueError(f"factors must be 'auto', True or False, got {factors!r}")
        if factor_contacts not in ('geometry', 'labels'):
            raise ValueError(f"factor_contacts must be 'geometry' or 'labels', got {factor_contacts!r}")
        if body_model_type not in ('auto', 'smplx', 'smplh'):
            raise ValueError(f"body_model_type must be 'auto', 'smplx' or 'smplh', got {body_model_type!r}")
        self.window, self.per_image = int(window), bool(per_image)
        self.thresholds = dict(contact_threshold=float(contact_threshold), pos_threshold=float(pos_threshold),
                               pose_threshold=float(pose_threshold))
        self.silhouette = bool(silhouette)
        self.factor_contacts = factor_contacts
        self.data_root = data_root
        self.body_model_root = body_model_root
        self.body_model_type = body_model_type
        codec = dict(type='CHOISMotionCodec') if codec is None else codec
        self.codec = MOTION_CODECS.build(codec) if isinstance(codec, dict) else codec

        if factors_file is not None and not osp.isfile(factors_file):
            raise FileNotFoundError(f'ImageAdherenceMetric: factors_file {factors_file!r} does not exist')
        self.factors_option = factors
        self.factors_file: Optional[str] = None
        self.recorded_factors: Optional[Dict[str, dict]] = None
        self.factors = factors is True
        self._use_factors_file(factors_file or self._factors_file_at(data_root))
        self.last_rows: List[dict] = []
        self._warned_no_camera = False

    @staticmethod
    def _factors_file_at(data_root: Optional[str]) -> Optional[str]:
        path = osp.join(data_root, FACTORS_FILE) if data_root else None
        return path if path and osp.isfile(path) else None

    def _use_factors_file(self, factors_file: Optional[str]) -> None:
        """Read the recorded factors (when factors are on, or 'auto' and a file is given / found)."""
        if factors_file is None or self.factors_option is False:
            return
        self.factors, self.factors_file = True, factors_file
        with open(factors_file) as f:
            self.recorded_factors = json.load(f).get('sequences', {})

    @property
    def dataset_meta(self) -> Optional[dict]:
        return self._dataset_meta

    @dataset_meta.setter
    def dataset_meta(self, dataset_meta: Optional[dict]) -> None:
        """Set by the runner; a `data_root` in it is used when none was configured (factors file, body model)."""
        self._dataset_meta = dataset_meta
        root = (dataset_meta or {}).get('data_root')
        if self.data_root is None and root:
            self.data_root = root
            if self.factors_file is None:
                self._use_factors_file(self._factors_file_at(root))

    # ------------------------------------------------------------------ sample access
    def _field(self, sample: dict, key: str, index: int, dtype=torch.float64) -> torch.Tensor:
        return sample_field('ImageAdherenceMetric', sample, key, index, self.REQUIRED_FIELDS, ' and t_star',
                            dtype=dtype)

    def _frames(self, sample_fields: dict, motion: torch.Tensor, orthonormalize: bool):
        dec = self.codec.decode(motion, orthonormalize=orthonormalize)
        rot = self.codec.absolute_rotation(dec['obj_rot'], sample_fields['obj_ref_rot'])
        frames = HOIFrames(dec['joints'], dec['obj_com'], rot, sample_fields['obj_scale'], dec['contacts'])
        return frames, dec

    # ------------------------------------------------------------------ body model (silhouettes)
    def _body_model(self, sample: dict, num_betas: int):
        return sample_body_model('ImageAdherenceMetric', sample, num_betas, self.body_model_root, self.data_root,
                                 self.dataset_meta, self.body_model_type,
                                 'silhouette scores; silhouette=False skips them')

    def _body_meshes(self, sample: dict, index: int, t_star: int, gt_dec: dict, pred_dec: dict):
        """(gt verts at t* (Vb, 3), callable frames -> pred verts (n, Vb, 3), faces (Fb, 3))."""
        betas = sample_betas('ImageAdherenceMetric', sample, index,
                             'the body silhouettes; pass silhouette=False to skip them')
        model = self._body_model(sample, betas.numel())
        params = sample['smpl_params']

        def posed(global_rot: torch.Tensor, pelvis: torch.Tensor) -> np.ndarray:
            return pose_from_rotations(model, betas, global_rot, pelvis)['vertices'].numpy()

        pose_keys = [k for k in _BODY_KWARGS if params.get(k) is not None]
        if {'global_orient', 'body_pose'} <= set(pose_keys):
            kwargs = {k: _as_float32(params[k])[t_star:t_star + 1] for k in pose_keys}
            with torch.no_grad():
                gt_verts = model(betas=fit_betas(model, betas), **kwargs)['vertices'][0].double().numpy()
        else:  # no GT body parameters: pose the GT the same way as the prediction
            gt_verts = posed(gt_dec['global_rot'][t_star:t_star + 1], gt_dec['joints'][t_star:t_star + 1, 0])[0]

        def pred_verts(frames: np.ndarray) -> np.ndarray:
            frames = torch.as_tensor(frames, dtype=torch.long)
            return posed(pred_dec['global_rot'][frames], pred_dec['joints'][frames, 0])

        return gt_verts, pred_verts, np.asarray(model.faces, dtype=np.int64)

    # ------------------------------------------------------------------ factors
    def _gt_factors(self, sample: dict, t_star: int):
        """(GT factors or None = recover from the GT motion, source name)."""
        if self.recorded_factors is None:
            return None, 'recovered'
        name = sample.get('seq_name')
        if name not in self.recorded_factors:
            raise KeyError(f'ImageAdherenceMetric: sequence {name!r} is not in the factors file '
                           f'{self.factors_file!r}; pass the factors file of this data root, or factors=False')
        record = self.recorded_factors[name]
        frame = int(sample.get('window_start') or 0) + t_star
        if record.get('depicted_frame') is not None and int(record['depicted_frame']) != frame:
            return None, 'recovered'   # the recorded factors describe another frame of the sequence
        return {k: record.get(k) for k in FACTOR_NAMES}, 'recorded'

    # ------------------------------------------------------------------ per sample
    def process(self, data_batch, data_samples: Sequence[dict]) -> None:
        """Append one row (see `sample_row`) per data sample."""
        for index, sample in enumerate(data_samples):
            if hasattr(sample, 'to_dict'):
                sample = sample.to_dict()
            self.results.append(self.sample_row(sample, index))

    def sample_row(self, sample: dict, index: int = 0) -> dict:
        """Per-sample scores of one HOIDataSample dict: 'ia_*' / 'ia_*_best' / 'factor_*' floats plus seq_name,
        t_star, with SFIE's t^: pred_t_star, ia_frame_err, ia_frame_within5, and with factors: factor_source
        ('recorded' | 'recovered'), factors_pred, factors_gt."""
        name = sample_name(sample, index)
        if sample.get('t_star') is None:
            raise KeyError(f'ImageAdherenceMetric: sample {name} has no t_star (the depicted frame of its '
                           f'reference image; set by the dataset / SampleDepictedFrame)')
        fields = {k: self._field(sample, k, index) for k in self.REQUIRED_FIELDS if k != 'object_faces'}
        faces = self._field(sample, 'object_faces', index, dtype=torch.int64)
        gt, pred = fields['gt_motion'], fields['pred_motion']
        length = motion_pair_length('ImageAdherenceMetric', sample, index, gt, pred, self.codec.dim)
        T = gt.shape[0]
        t_star = int(sample['t_star'])
        if not 0 <= t_star < length:
            raise ValueError(f'ImageAdherenceMetric: sample {name}: t_star {t_star} outside the {length} valid '
                             f'frames')
        scale = fields['obj_scale'].reshape(-1)
        if scale.numel() not in (1, T):
            raise ValueError(f'ImageAdherenceMetric: sample {name}: obj_scale must be (T,) = ({T},), '
                             f'got {tuple(fields["obj_scale"].shape)}')
        fields['obj_scale'] = scale.expand(T)

        gt_frames, gt_dec = self._frames(fields, gt, orthonormalize=False)
        pred_frames, pred_dec = self._frames(fields, pred, orthonormalize=True)
        mesh = ObjectMesh(fields['object_verts'], faces, fields['template_centroid'])
        motion = (gt_frames, gt_dec, pred_frames, pred_dec, mesh, length)
        moments = self._moments(sample, name, t_star, length)
        rows = [self._moment_row(sample, index, name, t, camera, t_hat, motion) for t, camera, t_hat in moments]
        if sample.get('reference_t_stars') is None:
            return rows[0]
        return self._storyboard_row(rows)

    def _moments(self, sample: dict, name: str, t_star: int, length: int) -> list:
        """[(t*, camera, SFIE's t^ or None)] per reference image: one, or each image of a storyboard (a sample with
        `reference_t_stars`, `reference_cameras` and, from the model, `pred_t_stars`), in time order."""
        if sample.get('reference_t_stars') is None:
            return [(t_star, sample.get('reference_camera'), sample.get('pred_t_star'))]
        t_stars = [int(t) for t in sample['reference_t_stars']]
        cameras = sample.get('reference_cameras') or [None] * len(t_stars)
        t_hats = sample.get('pred_t_stars')
        if t_hats is None:
            t_hats = [sample.get('pred_t_star')] + [None] * (len(t_stars) - 1)
        if not len(cameras) == len(t_hats) == len(t_stars):
            raise ValueError(f'ImageAdherenceMetric: sample {name}: reference_t_stars ({len(t_stars)}), '
                             f'reference_cameras ({len(cameras)}) and pred_t_stars ({len(t_hats)}) must list one '
                             'entry per image')
        for t in t_stars:
            if not 0 <= t < length:
                raise ValueError(f'ImageAdherenceMetric: sample {name}: reference_t_stars entry {t} outside the '
                                 f'{length} valid frames')
        return list(zip(t_stars, cameras, t_hats))

    def _storyboard_row(self, rows: List[dict]) -> dict:
        """A storyboard sample's row: every numeric key the mean over its images (NaN skipped), and with
        `per_image` the same key per image position `_img<k>` (k in time order); t_star and the row-only keys
        become lists."""
        row = {key: [r.get(key) for r in rows] for key in self.ROW_ONLY_KEYS if any(key in r for r in rows)}
        row['seq_name'] = rows[0].get('seq_name')
        for key in [k for k in rows[0] if k not in self.ROW_ONLY_KEYS]:
            values = [float(r[key]) for r in rows if r.get(key) is not None and math.isfinite(float(r[key]))]
            row[key] = float(np.mean(values)) if values else float('nan')
            if self.per_image:
                row.update({f'{key}_img{k}': r.get(key) for k, r in enumerate(rows)})
        row['num_images'] = len(rows)
        return row

    def _moment_row(self, sample: dict, index: int, name: str, t_star: int, camera, t_hat, motion) -> dict:
        """The scores of one depicted frame t* (its camera, SFIE's t^ for it)."""
        gt_frames, gt_dec, pred_frames, pred_dec, mesh, length = motion
        if camera is not None and not isinstance(camera, Camera):
            camera = Camera.from_dict(camera)
        if camera is None and not self._warned_no_camera:
            skipped = ', '.join(f'ia_{k}' for k in RENDER_SCORE_NAMES if self.silhouette or k == 'reproj_px')
            print_log(f'ImageAdherenceMetric: sample {name} has no reference_camera (the reference-image pipeline '
                      f'did not run for it); render scores ({skipped}) are skipped for every such sample',
                      logger='current', level=logging.WARNING)
            self._warned_no_camera = True
        body = {}
        if camera is not None and self.silhouette:
            gt_verts, pred_verts, body_faces = self._body_meshes(sample, index, t_star, gt_dec, pred_dec)
            body = dict(gt_body_verts=gt_verts, pred_body_verts=pred_verts, body_faces=body_faces)

        gt_factors, source = self._gt_factors(sample, t_star) if self.factors else (None, None)
        scores = image_adherence_scores(
            gt_frames, pred_frames, t_star, mesh, num_valid=length, window=self.window, camera=camera,
            silhouette=self.silhouette, factors=self.factors, gt_factors=gt_factors,
            factor_contacts=self.factor_contacts, **self.thresholds, **body)

        row = dict(seq_name=sample.get('seq_name'), t_star=t_star)
        for key, value in scores.items():
            if key.startswith('factor'):
                row[key] = value
            else:
                row[f'ia_{key}'] = value
        if self.factors:
            row['factor_source'] = source
        row.update(self._frame_scores(t_hat, name, t_star))
        return row

    def _frame_scores(self, t_hat, name: str, t_star: int) -> dict:
        """pred_t_star, ia_frame_err and ia_frame_within5 of an image with SFIE's t^ (`pred_t_star`), else {}."""
        if t_hat is None:
            return {}
        t_hat = float(t_hat.item() if torch.is_tensor(t_hat) else t_hat)
        if not math.isfinite(t_hat):
            raise ValueError(f'ImageAdherenceMetric: sample {name}: pred_t_star must be a finite frame index, '
                             f'got {t_hat}')
        err = abs(t_hat - t_star)
        return dict(pred_t_star=t_hat, ia_frame_err=err, ia_frame_within5=float(err <= self.FRAME_TOLERANCE))

    # ------------------------------------------------------------------ summary
    def compute_metrics(self, results: List[dict]) -> Dict[str, float]:
        """Mean over samples of every numeric row key (NaNs skipped) as a flat dict of floats; rows are kept in
        `self.last_rows`."""
        self.last_rows = [dict(r) for r in results]
        if not results:
            raise ValueError('ImageAdherenceMetric: no samples were processed')
        order = [f'ia_{n}{s}' for n in SCORE_NAMES + RENDER_SCORE_NAMES for s in ('', '_best')]
        order += ['ia_frame_err', 'ia_frame_within5'] + [f'factor_{n}' for n in FACTOR_NAMES]
        present = {k for r in results for k in r if k not in self.ROW_ONLY_KEYS}
        summary = {}
        for key in [k for k in order if k in present] + sorted(present - set(order)):
            values = [float(r[key]) for r in results if r.get(key) is not None and math.isfinite(float(r[key]))]
            summary[key] = float(np.mean(values)) if values else float('nan')
        return summary
