"""BEHAVEDataset: BEHAVE 30 fps windows, converted to the Z-up world frame of docs/conventions.md.

Owns the BEHAVE reader: `<seq>/smpl_fit_all.npz` + `<seq>/object_fit_all.npz` of the 30 fps release,
the simplified object templates, `split.json`, the Kinect-camera -> Z-up conversion, and contacts from
geometry. Windowing, kinematics, cache and encoding are in `BaseHOIDataset`.
"""
import glob
import json
import os.path as osp
from typing import Optional

import numpy as np
import torch

from imagin4d.geometry import axis_angle_to_matrix
from imagin4d.registry import DATASETS
from imagin4d.utils.errors import DataError

from .hoi_dataset import BaseHOIDataset
from .preprocessing import BadSequenceError, SkipSequence, read_field

__all__ = ['BEHAVEDataset', 'BEHAVE_TO_ZUP', 'BEHAVE_SUBJECT_GENDER']

# Kinect camera frame (x right, y down, z forward) -> Z-up world: (x, y, z) -> (x, z, -y). This is the pi
# rotation about x used by HOI-Diff / InterAct (to Y-up) followed by Y-up -> Z-up.
BEHAVE_TO_ZUP = np.array([[1.0, 0.0, 0.0], [0.0, 0.0, 1.0], [0.0, -1.0, 0.0]])

# Why text-matching metrics mean nothing on BEHAVE without `text_dir` (the data set's metainfo 'skip_text_metrics').
TEMPLATE_TEXT_NOTE = ('BEHAVE has no sentences, only one template sentence per object, so R-precision and the matching '
                      'score measure only which object is handled')

# Sub01-Sub05 are male, Sub06-Sub08 female (BEHAVE paper); `sequences/<seq>/info.json` wins when present.
BEHAVE_SUBJECT_GENDER = {f'Sub{i:02d}': ('male' if i <= 5 else 'female') for i in range(1, 9)}


@DATASETS.register_module()
class BEHAVEDataset(BaseHOIDataset):
    """BEHAVE windows (see `BaseHOIDataset` for the common arguments).

    Layout under `data_root` (names configurable)::

        split.json                                   {"train": [seq, ...], "test": [seq, ...]}
        behave-30fps-params-v1/<seq>/smpl_fit_all.npz     poses (T, 156) f32, betas (T, 10), trans (T, 3),
                                                          frame_times (T,) '<U9' like 't0003.033'
        behave-30fps-params-v1/<seq>/object_fit_all.npz   angles (T, 3) axis-angle, trans (T, 3), frame_times
        objects/<obj>/<obj>*_f<N>.ply                the simplified template used for the fits
        sequences/<seq>/info.json                    optional; its 'gender' is used when present
        smplh/SMPLH_{MALE,FEMALE}.npz                under `body_model_root` (default $IMAGIN4D_BODY_MODEL_DIR,
                                                     else data_root)

    Conversion: parameters live in the Kinect camera frame; body and object are rotated by BEHAVE_TO_ZUP
    and shifted so the lowest body vertex of the sequence is at z = 0 (the floor). This assumes a level
    camera, as HOI-Diff and InterAct do. Object vertices are R(angle) (v - mean(v_template)) + trans.
    joints24 come from SMPL-H (body 0..21 + middle-finger bases 25, 40).

    Contacts come from geometry: a label is on when its joint is closer than `contact_threshold` (default
    0.05 m, CHOIS's hand-contact metric threshold) to an object template vertex; hands use the joints24
    hand points 22/23, feet the ankle or toe joints (7/10 left, 8/11 right). BEHAVE has no text; `text`
    is `text_template` filled with the object name, unless `text_dir/<seq>.txt` exists. Without `text_dir` the
    metainfo's 'skip_text_metrics' says why R-precision is left out (DistributionMetric reads it).

    Args:
        params_dir, object_dir, split_file, sequences_dir: locations under `data_root`.
        text_dir: optional folder of `<seq>.txt` sentences.
        text_template: fallback sentence, `{object}` is replaced.
    """

    DATASET_NAME = 'behave'
    BODY_MODEL_TYPE = 'smplh'
    POSE_DIM = 156

    def __init__(self, data_root: str, split: str = 'train', params_dir: str = 'behave-30fps-params-v1',
                 object_dir: str = 'objects', split_file: str = 'split.json', sequences_dir: str = 'sequences',
                 text_dir: Optional[str] = None, text_template: str = 'A person interacts with the {object}.',
                 **kwargs):
        self.params_dir, self.object_dir, self.split_file = params_dir, object_dir, split_file
        self.sequences_dir, self.text_dir, self.text_template = sequences_dir, text_dir, text_template
        self._root = data_root
        super().__init__(data_root=data_root, split=split, **kwargs)
        if text_dir is None:        # read by DistributionMetric: R-precision and matching score are left out
            self._metainfo['skip_text_metrics'] = TEMPLATE_TEXT_NOTE

    def _default_body_model_root(self, data_root: str) -> str:
        return data_root

    def _path(self, *parts) -> str:
        return osp.join(self._root, *parts)

    def _reader_settings(self) -> dict:
        return dict(params_dir=self.params_dir, object_dir=self.object_dir, split_file=self.split_file,
                    text_dir=self.text_dir, text_template=self.text_template, to_zup=BEHAVE_TO_ZUP.tolist())

    def _source_signature(self, split: str) -> list:
        paths = [self._path(self.split_file), self._path(self.params_dir), self._path(self.object_dir)]
        if self.text_dir:
            paths.append(self._path(self.text_dir))
        return self._source_signature_of(paths)

    def _load_object(self, name: str):
        pattern = self._path(self.object_dir, name, f'{name}*_f[0-9]*.ply')
        found = sorted(glob.glob(pattern))
        if not found:
            raise BadSequenceError('missing_file', f'no simplified template matching {osp.basename(pattern)}',
                                   osp.dirname(pattern), None, 'object mesh')
        import trimesh
        try:
            mesh = trimesh.load(found[0], force='mesh', process=False)
        except Exception as err:  # noqa: BLE001
            raise BadSequenceError('bad_value', f'cannot read the mesh ({err})', found[0], None,
                                   'object mesh') from None
        verts = np.asarray(mesh.vertices, dtype=np.float64)
        if len(verts) == 0:
            raise BadSequenceError('bad_value', 'mesh has no vertices', found[0], None, 'object mesh')
        # BEHAVE fits place the template centred on the mean of the simplified mesh's vertices.
        return verts - verts.mean(0), np.asarray(mesh.faces)

    @classmethod
    def holds_release(cls, data_root: str) -> bool:
        """Whether `data_root` holds a BEHAVE release in the default layout (split.json and the 30 fps parameters)."""
        return (osp.isfile(osp.join(data_root, 'split.json'))
                and osp.isdir(osp.join(data_root, 'behave-30fps-params-v1')))

    def _split_sequences(self, split: str):
        path = self._path(self.split_file)
        if not osp.isfile(path):
            from .fbm import FBMDataset
            hint = (" It holds an FBM/OMOMO release: use type='FBMDataset' (the tools' --dataset FBMDataset)."
                    if FBMDataset.holds_release(self._root) else ' See docs/user_guides/behave.md.')
            raise FileNotFoundError(f'BEHAVEDataset: split file {path} not found (expected the BEHAVE split.json).'
                                    f'{hint}')
        with open(path) as f:
            payload = json.load(f)
        if split not in payload:
            raise DataError(f'{path}: no {split!r} list (keys: {sorted(payload)})')
        return list(payload[split])

    def _iter_sequences(self, split: str):
        for name in self._split_sequences(split):
            try:
                yield self._read_sequence(name)
            except (BadSequenceError, SkipSequence) as err:
                yield err

    def _gender(self, name: str, subject: str) -> str:
        info = self._path(self.sequences_dir, name, 'info.json')
        if osp.isfile(info):
            try:
                with open(info) as f:
                    gender = json.load(f).get('gender')
                if gender:
                    return str(gender).lower()
            except (OSError, ValueError) as err:
                raise BadSequenceError('bad_value', f'unreadable JSON ({err})', info, name, 'gender') from None
        if subject not in BEHAVE_SUBJECT_GENDER:
            raise BadSequenceError('bad_value', f'unknown subject {subject!r} and no info.json', info, name, 'gender')
        return BEHAVE_SUBJECT_GENDER[subject]

    def _text(self, name: str, obj: str) -> str:
        if self.text_dir:
            path = self._path(self.text_dir, f'{name}.txt')
            if osp.isfile(path):
                with open(path) as f:
                    return f.readline().strip()
        return self.text_template.format(object=obj)

    @staticmethod
    def _load_npz(path: str, name: str, field: str) -> dict:
        if not osp.isfile(path):
            raise BadSequenceError('missing_file', 'file not found', path, name, field)
        try:
            with np.load(path, allow_pickle=False) as npz:
                return {k: npz[k] for k in npz.files}
        except Exception as err:  # noqa: BLE001 - truncated / not an npz
            raise BadSequenceError('bad_value', f'unreadable npz ({err})', path, name, field) from None

    @staticmethod
    def _frame_seconds(times: np.ndarray, path: str, name: str) -> np.ndarray:
        try:
            return np.array([float(str(t).lstrip('t')) for t in times])
        except ValueError:
            raise BadSequenceError('bad_value', f"frame_times must look like 't0003.033', got {times[:2]}", path,
                                   name, 'frame_times') from None

    def _read_sequence(self, name: str) -> dict:
        parts = name.split('_')
        if len(parts) < 3:
            raise BadSequenceError('bad_value', "expected 'Date<NN>_Sub<NN>_<object>[_<action>]'", self.split_file,
                                   name, 'sequence name')
        subject, obj = parts[1], parts[2]
        folder = self._path(self.params_dir, name)
        smpl_path, obj_path = osp.join(folder, 'smpl_fit_all.npz'), osp.join(folder, 'object_fit_all.npz')
        smpl = self._load_npz(smpl_path, name, 'smpl_fit_all')
        objf = self._load_npz(obj_path, name, 'object_fit_all')
        dims = {}
        poses = read_field(smpl, 'poses', [('T', 156)], dims, source=smpl_path, seq_name=name)
        trans = read_field(smpl, 'trans', [('T', 3)], dims, source=smpl_path, seq_name=name)
        betas = read_field(smpl, 'betas', [('T', 10), (10,)], dims, source=smpl_path, seq_name=name)
        betas = betas.reshape(-1, 10)[0]
        times = read_field(smpl, 'frame_times', [('T',)], dims, source=smpl_path, seq_name=name, dtype=str,
                           finite=False)
        odims = {}
        angles = read_field(objf, 'angles', [('T', 3)], odims, source=obj_path, seq_name=name)
        otrans = read_field(objf, 'trans', [('T', 3)], odims, source=obj_path, seq_name=name)
        otimes = read_field(objf, 'frame_times', [('T',)], odims, source=obj_path, seq_name=name, dtype=str,
                            finite=False)
        if not np.array_equal(times, otimes):
            # keep the frames both fits have (the two files are normally frame-aligned)
            _, i_s, i_o = np.intersect1d(times, otimes, return_indices=True)
            if len(i_s) == 0:
                raise BadSequenceError('bad_value', 'no frame_times in common with object_fit_all.npz', smpl_path,
                                       name, 'frame_times')
            poses, trans, times = poses[i_s], trans[i_s], times[i_s]
            angles, otrans = angles[i_o], otrans[i_o]
        seconds = self._frame_seconds(times, smpl_path, name)
        if len(seconds) > 1:
            step = float(np.median(np.diff(seconds)))
            if not abs(step - 1.0 / self.FPS) < 0.1 / self.FPS:
                raise BadSequenceError('bad_value', f'median frame step {step:.4f} s, expected 30 fps '
                                       '(use the 30 fps release)', smpl_path, name, 'frame_times')
        T = poses.shape[0]
        return dict(seq_name=name, object_name=obj, subject=subject, gender=self._gender(name, subject),
                    text=self._text(name, obj), source=osp.relpath(smpl_path, self._root), betas=betas,
                    pose=poses, transl=trans,
                    obj_rot=axis_angle_to_matrix(torch.as_tensor(angles, dtype=torch.float64)).numpy(),
                    obj_trans=otrans, obj_scale=np.ones(T), contacts=None, frame_R=BEHAVE_TO_ZUP,
                    floor_from_body=True)
