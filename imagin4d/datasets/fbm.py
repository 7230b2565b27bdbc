"""FBMDataset: FullBodyManipulation (OMOMO / CHOIS processed data) windows, read from the release layout.

Owns the FBM reader: `{train,test}_diffusion_manip_seq_joints24.p`, `captured_objects/*.obj`, the text
annotation JSONs and contact-label `.npy` files, the CHOIS skip rules (two-part objects, no text).
Windowing, kinematics, cache and encoding are in `BaseHOIDataset`.

The `.p` sequence files are joblib pickles; they are read through a restricted unpickler that admits only numpy
arrays and plain containers (`imagin4d.utils.safe_load.load_joblib_restricted`), so a crafted file is refused.
"""
import json
import os.path as osp
from typing import Optional, Sequence

import numpy as np

from imagin4d.registry import DATASETS
from imagin4d.utils.errors import DataError
from imagin4d.utils.safe_load import load_joblib_restricted

from .hoi_dataset import BaseHOIDataset
from .preprocessing import BadSequenceError, SkipSequence, as_str, read_field

__all__ = ['FBMDataset']


@DATASETS.register_module()
class FBMDataset(BaseHOIDataset):
    """FBM / OMOMO windows in the CHOIS protocol (see `BaseHOIDataset` for the common arguments).

    Layout under `data_root` (as downloaded; names configurable)::

        train_diffusion_manip_seq_joints24.p     joblib pickle {int: record}, subjects 1-15 (numpy arrays only)
        test_diffusion_manip_seq_joints24.p      subjects 16-17
        captured_objects/<obj>_cleaned_simplified.obj
        omomo_text_anno_json_data/<seq_name>.json        {"<seq_name>": "<sentence>"}
        contact_labels_w_semantics_npy_files/<seq_name>.npy   (T, 4) lh, rh, lf, rf
        smpl_all_models/smplx/SMPLX_{MALE,FEMALE,NEUTRAL}.npz   (`body_model_root`: default $IMAGIN4D_BODY_MODEL_DIR,
                                                         else data_root/smpl_all_models)

    Record keys read: seq_name, gender (0-d str array), betas (1, 16), trans (T, 3), root_orient (T, 3),
    pose_body (T, 63) (hands are flat), obj_trans (T, 3, 1), obj_rot (T, 3, 3), obj_scale (T,).
    Object vertices are `obj_scale * obj_rot @ v + obj_trans` with v from the template `.obj`.

    Args:
        seq_file: sequence file name pattern, `{split}` is replaced.
        object_dir, text_dir, contact_dir: folders under `data_root`.
        contact_source: 'file' (contact_dir, the CHOIS labels; a missing file is a bad sequence) or
            'geometry' (joint-to-object-vertex distance < `contact_threshold`, for the OMOMO release,
            which has no label files).
        require_text: skip sequences without a text file (CHOIS `filter_out_seq_wo_text`).
        skip_two_part_objects: skip mop and vacuum (and any record with `obj_bottom_*`), as CHOIS does.
        objects: keep only these object names (e.g. the CHOIS object split); None keeps all.
        num_betas: shape coefficients used (FBM stores 16 SMPL-X betas).
    """

    DATASET_NAME = 'fbm'
    BODY_MODEL_TYPE = 'smplx'
    POSE_DIM = 66
    TWO_PART_OBJECTS = ('mop', 'vacuum')

    def __init__(self, data_root: str, split: str = 'train',
                 seq_file: str = '{split}_diffusion_manip_seq_joints24.p', object_dir: str = 'captured_objects',
                 text_dir: str = 'omomo_text_anno_json_data', contact_dir: str = 'contact_labels_w_semantics_npy_files',
                 contact_source: str = 'file', require_text: bool = True, skip_two_part_objects: bool = True,
                 objects: Optional[Sequence[str]] = None, num_betas: int = 16, **kwargs):
        if contact_source not in ('file', 'geometry'):
            raise ValueError(f"contact_source must be 'file' or 'geometry', got {contact_source!r}")
        self.seq_file, self.object_dir, self.text_dir, self.contact_dir = seq_file, object_dir, text_dir, contact_dir
        self.contact_source = contact_source
        self.require_text = require_text
        self.skip_two_part_objects = skip_two_part_objects
        self.objects = None if objects is None else sorted(objects)
        self.num_betas = num_betas
        self._root = data_root
        super().__init__(data_root=data_root, split=split, **kwargs)

    # ------------------------------------------------------------------ hooks
    def _default_body_model_root(self, data_root: str) -> str:
        return osp.join(data_root, 'smpl_all_models')

    def _num_betas(self) -> int:
        return self.num_betas

    def _path(self, *parts) -> str:
        return osp.join(self._root, *parts)

    def _seq_path(self, split: str) -> str:
        return self._path(self.seq_file.format(split=split))

    def _reader_settings(self) -> dict:
        return dict(seq_file=self.seq_file, object_dir=self.object_dir, text_dir=self.text_dir,
                    contact_dir=self.contact_dir, contact_source=self.contact_source, require_text=self.require_text,
                    skip_two_part_objects=self.skip_two_part_objects, objects=self.objects, num_betas=self.num_betas)

    def _source_signature(self, split: str) -> list:
        return self._source_signature_of([self._seq_path(split), self._path(self.object_dir),
                                          self._path(self.text_dir), self._path(self.contact_dir)])

    def _load_object(self, name: str):
        path = self._path(self.object_dir, f'{name}_cleaned_simplified.obj')
        if not osp.isfile(path):
            raise BadSequenceError('missing_file', 'object template mesh not found', path, None, 'object mesh')
        import trimesh
        try:
            mesh = trimesh.load(path, force='mesh', process=False)
        except Exception as err:  # noqa: BLE001 - any parse failure means an unusable file
            raise BadSequenceError('bad_value', f'cannot read the mesh ({err})', path, None, 'object mesh') from None
        if len(mesh.vertices) == 0:
            raise BadSequenceError('bad_value', 'mesh has no vertices', path, None, 'object mesh')
        return np.asarray(mesh.vertices), np.asarray(mesh.faces)

    @classmethod
    def holds_release(cls, data_root: str) -> bool:
        """Whether `data_root` holds an FBM/OMOMO release in the default layout (a sequence file of either split)."""
        return any(osp.isfile(osp.join(data_root, f'{split}_diffusion_manip_seq_joints24.p')) for split in
                   ('train', 'test'))

    def _read_text(self, seq_name: str) -> Optional[str]:
        path = self._path(self.text_dir, f'{seq_name}.json')
        if not osp.isfile(path):
            return None
        try:
            with open(path) as f:
                payload = json.load(f)
        except (OSError, ValueError) as err:
            raise BadSequenceError('bad_value', f'unreadable JSON ({err})', path, seq_name, 'text') from None
        if isinstance(payload, dict):
            text = payload.get(seq_name, next(iter(payload.values()), None))
        else:
            text = payload
        if not isinstance(text, str):
            raise BadSequenceError('bad_value', f'expected {{"{seq_name}": "<sentence>"}}', path, seq_name, 'text')
        return text

    def _iter_sequences(self, split: str):
        path = self._seq_path(split)
        if not osp.isfile(path):
            from .behave import BEHAVEDataset
            hint = (" It holds a BEHAVE release: use type='BEHAVEDataset' (the tools' --dataset BEHAVEDataset)."
                    if BEHAVEDataset.holds_release(self._root) else ' See docs/user_guides/fbm.md.')
            raise FileNotFoundError(f'FBMDataset[{split}]: sequence file {path} not found. Expected the FBM/OMOMO '
                                    f'release layout under {self._root}.{hint}')
        data = load_joblib_restricted(path)                 # a pickle: numpy arrays and containers only
        if not isinstance(data, dict):
            raise DataError(f'{path}: expected a dict {{index: sequence record}}, got {type(data).__name__}')
        for key in sorted(data, key=str):
            try:
                yield self._convert(data[key], key, path)
            except (BadSequenceError, SkipSequence) as err:
                yield err

    def _convert(self, rec, key, source: str) -> dict:
        if not isinstance(rec, dict):
            raise BadSequenceError('bad_value', f'record is a {type(rec).__name__}, not a dict', source, f'#{key}')
        if 'seq_name' not in rec:
            raise BadSequenceError('missing_key', 'key missing', source, f'#{key}', 'seq_name')
        name = as_str(rec['seq_name'])
        parts = name.split('_')
        if len(parts) < 3:
            raise BadSequenceError('bad_value', "expected 'sub<N>_<object>_<NNN>'", source, name, 'seq_name')
        subject, obj = parts[0], parts[1]
        if self.skip_two_part_objects and (obj in self.TWO_PART_OBJECTS or 'obj_bottom_trans' in rec):
            raise SkipSequence('two_part_object', name, obj)
        if self.objects is not None and obj not in self.objects:
            raise SkipSequence('object_not_selected', name, obj)
        text = self._read_text(name)
        if text is None and self.require_text:
            raise SkipSequence('no_text', name)
        if 'gender' not in rec:
            raise BadSequenceError('missing_key', 'key missing', source, name, 'gender')
        dims = {}
        kw = dict(source=source, seq_name=name)
        trans = read_field(rec, 'trans', [('T', 3)], dims, **kw)
        root_orient = read_field(rec, 'root_orient', [('T', 3)], dims, **kw)
        pose_body = read_field(rec, 'pose_body', [('T', 63)], dims, **kw)
        betas = read_field(rec, 'betas', [(1, 'K'), ('K',)], dims, **kw).reshape(-1)
        if betas.shape[0] < self.num_betas:
            raise BadSequenceError('wrong_shape', f'{betas.shape[0]} betas, need at least {self.num_betas}',
                                   source, name, 'betas')
        obj_trans = read_field(rec, 'obj_trans', [('T', 3, 1), ('T', 3)], dims, **kw).reshape(-1, 3)
        obj_rot = read_field(rec, 'obj_rot', [('T', 3, 3)], dims, **kw)
        obj_scale = read_field(rec, 'obj_scale', [('T',), ('T', 1)], dims, **kw).reshape(-1)
        contacts = None
        if self.contact_source == 'file':
            cpath = self._path(self.contact_dir, f'{name}.npy')
            if not osp.isfile(cpath):
                raise BadSequenceError('missing_file', "contact label file not found (use contact_source='geometry' "
                                       'for data without label files)', cpath, name, 'contacts')
            contacts = read_field({'contacts': np.load(cpath, allow_pickle=False)}, 'contacts', [('T', 4)], dims,
                                  source=cpath, seq_name=name)
        return dict(seq_name=name, object_name=obj, subject=subject, gender=as_str(rec['gender']).lower(),
                    text=text or '', source=osp.basename(source), betas=betas[:self.num_betas],
                    pose=np.concatenate([root_orient, pose_body], 1), transl=trans,
                    obj_rot=obj_rot, obj_trans=obj_trans, obj_scale=obj_scale, contacts=contacts)
