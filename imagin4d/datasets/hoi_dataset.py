"""BaseHOIDataset: 120-frame canonical HOI windows from any sequence reader, with an on-disk cache.

Owns what FBMDataset and BEHAVEDataset share: the bad-sequence policy and skip report, body kinematics
and contacts per sequence, filling the preprocessed-frame cache next to the data (`frame_cache`: keyed by the
settings and the content of every source file) and training-split min-max statistics; windows are assembled by
`window_assembly.WindowAssemblyMixin`. Subclasses only read their release format.
"""
import json
import os
import os.path as osp
import time
from collections import Counter
from typing import Dict, Iterator, List, Optional, Sequence, Union

import numpy as np
import torch
from mmengine.dataset import BaseDataset
from mmengine.logging import MMLogger, print_log

from imagin4d.body_models.locate import body_model_dirs
from imagin4d.geometry import (
    axis_angle_to_matrix,
    canonicalize_window,
    make_bps_basis,
    matrix_to_axis_angle,
    matrix_to_rotation_6d,
)
from imagin4d.registry import MOTION_CODECS, TRANSFORMS
from imagin4d.utils.errors import DataError
from imagin4d.utils.paths import resolve_data_path

from .frame_cache import FrameWriter, SourceHasher, build_cache_folder, cache_folder, older_folders
from .preprocessing import (
    BAD_REASONS,
    BadSequenceError,
    SkipSequence,
    body_kinematics,
    geometry_contacts,
    window_starts,
)
from .window_assembly import WindowAssemblyMixin

__all__ = ['BaseHOIDataset']

class BaseHOIDataset(WindowAssemblyMixin, BaseDataset):
    """Windows of HOI sequences in the canonical frame, encoded with a motion codec.

    Subclasses implement `_iter_sequences(split)` (yield common records, or `BadSequenceError` /
    `SkipSequence` instances), `_load_object(name)`, `_source_signature(split)`, `_reader_settings()` and
    `_default_body_model_root()`; they set DATASET_NAME, BODY_MODEL_TYPE, POSE_DIM.

    A common record is a dict: seq_name, object_name, subject, gender, text (str), source (file name for
    messages), betas (K,), pose (T, POSE_DIM) axis-angle (root first), transl (T, 3) body-model `transl`,
    obj_rot (T, 3, 3), obj_trans (T, 3), obj_scale (T,) with vertices = scale * rot @ v + trans, contacts
    (T, 4) or None (then computed from geometry), and optionally frame_R (3, 3) (a rotation applied to
    body and object, e.g. BEHAVE camera -> Z-up) and floor_from_body (shift z so the lowest body vertex of
    the sequence is at 0).

    Args:
        data_root: the release folder, laid out as the user downloaded it.
        split: 'train' or 'test' (the release's split).
        window, stride: window length and training stride (frames); only full windows are used.
        first_window_only: keep only the window at frame 0 of each sequence (default: `test_mode`).
        codec: motion codec config (MOTION_CODECS).
        stats_file: normalisation statistics JSON; default: the training split's, computed and cached.
        normalize: return normalised `motion` / `waypoint_values` (default False: the model's
            data_preprocessor normalises with `metainfo['stats_file']`).
        bps_frame: 'random' (a random frame of the window, CHOIS training), 'first', 'middle' or an int;
            default 'random' for training and 'first' in test mode.
        bps_num_points, bps_radius, bps_seed: the fixed BPS basis, stored once in the cache folder.
        waypoint_frames: frames whose object centre xy is given (CHOIS: 29, 59, 89).
        first_frame_human: the frame-0 human pose is a condition (CHOIS `input_first_human_pose`).
        body_model_root: folder with `smplx/SMPLX_{MALE,FEMALE,NEUTRAL}.npz` or `smplh/SMPLH_*.npz` ('{data_root}'
            allowed; the data set configs set it); default $IMAGIN4D_BODY_MODEL_DIR, else the data set's folder.
        contact_threshold: metres, for contacts computed from geometry (see `geometry_contacts`).
        on_bad_sequence: 'skip' (count, log and go on) or 'raise' (stop at the first bad sequence).
        cache_dir: where preprocessed frames go (default `<data_root>/imagin4d_cache`).
        use_cache: False rebuilds (and overwrites) the cache.
        pipeline: transforms applied to each assembled window (TRANSFORMS configs or callables).
        test_mode: default `split != 'train'`.
    """

    DATASET_NAME = 'hoi'
    BODY_MODEL_TYPE = 'smplx'
    POSE_DIM = 66
    CACHE_VERSION = 2
    FPS = 30

    def __init__(self, data_root: str, split: str = 'train', window: int = 120, stride: int = 30,
                 first_window_only: Optional[bool] = None, codec: Union[dict, object] = None,
                 stats_file: Optional[str] = None, normalize: bool = False,
                 bps_frame: Union[str, int, None] = None, bps_num_points: int = 1024, bps_radius: float = 1.0,
                 bps_seed: int = 0, waypoint_frames: Sequence[int] = (29, 59, 89), first_frame_human: bool = True,
                 body_model_root: Optional[str] = None, contact_threshold: float = 0.05,
                 on_bad_sequence: str = 'skip', cache_dir: Optional[str] = None, use_cache: bool = True,
                 pipeline: Sequence = (), test_mode: Optional[bool] = None, lazy_init: bool = False, **kwargs):
        if on_bad_sequence not in ('skip', 'raise'):
            raise ValueError(f"on_bad_sequence must be 'skip' or 'raise', got {on_bad_sequence!r}")
        if not osp.isdir(data_root):
            raise FileNotFoundError(f'{type(self).__name__}: data_root {data_root!r} is not a folder')
        test_mode = split != 'train' if test_mode is None else test_mode
        self.split = split
        self.window, self.stride = int(window), int(stride)
        self.first_window_only = test_mode if first_window_only is None else bool(first_window_only)
        codec = codec if codec is not None else dict(type='CHOISMotionCodec')
        self.codec = MOTION_CODECS.build(codec) if isinstance(codec, dict) else codec
        self.stats_file = stats_file
        self.normalize = normalize
        self.bps_frame = bps_frame if bps_frame is not None else ('first' if test_mode else 'random')
        if not (isinstance(self.bps_frame, int) or self.bps_frame in ('random', 'first', 'middle')):
            raise ValueError(f"bps_frame must be 'random', 'first', 'middle' or an int, got {self.bps_frame!r}")
        self.bps_num_points, self.bps_radius, self.bps_seed = bps_num_points, bps_radius, bps_seed
        self.waypoint_frames = tuple(int(f) for f in waypoint_frames)
        self.first_frame_human = first_frame_human
        # the configured folder ('{data_root}' allowed), else $IMAGIN4D_BODY_MODEL_DIR, else the data set's own
        # (imagin4d.body_models.locate); the first searched folder holding the model type's folder is used
        self._body_model_dirs = body_model_dirs(resolve_data_path(body_model_root, data_root, 'body_model_root'),
                                                [self._default_body_model_root(data_root)])
        self.body_model_root = next((d for d in self._body_model_dirs if osp.isdir(osp.join(d, self.BODY_MODEL_TYPE))),
                                    self._body_model_dirs[-1])
        self.contact_threshold = float(contact_threshold)
        self.on_bad_sequence = on_bad_sequence
        self.cache_dir = cache_dir or osp.join(data_root, 'imagin4d_cache')
        self.use_cache = use_cache
        self._body_models: Dict[str, object] = {}
        self._arrays: Optional[Dict[str, np.ndarray]] = None
        self.skipped: Dict[str, int] = {}
        self.skip_messages: List[str] = []
        self.cache_hit: Optional[bool] = None
        pipeline = [TRANSFORMS.build(t) if isinstance(t, dict) else t for t in pipeline]
        super().__init__(data_root=data_root, pipeline=pipeline, test_mode=test_mode, lazy_init=lazy_init, **kwargs)

    # ------------------------------------------------------------------ subclass hooks
    def _iter_sequences(self, split: str) -> Iterator[Union[dict, BadSequenceError, SkipSequence]]:
        raise NotImplementedError

    def _load_object(self, name: str):
        """-> (verts (V, 3), faces (F, 3)) of the object template; raise BadSequenceError('missing_file')."""
        raise NotImplementedError

    def _source_signature(self, split: str) -> list:
        raise NotImplementedError

    def _reader_settings(self) -> dict:
        return {}

    def _default_body_model_root(self, data_root: str) -> str:
        raise NotImplementedError

    # ------------------------------------------------------------------ body model
    def _body_model(self, gender: str):
        if gender not in self._body_models:
            from imagin4d.body_models import find_body_model_root, load_body_model
            root = find_body_model_root(self._body_model_dirs, self.BODY_MODEL_TYPE, gender, type(self).__name__)
            self._body_models[gender] = load_body_model(root, model_type=self.BODY_MODEL_TYPE, gender=gender,
                                                        num_betas=self._num_betas())
        return self._body_models[gender]

    def _model_betas(self, gender: str, betas: np.ndarray) -> torch.Tensor:
        """(K,) -> (1, K') float32, K' = the betas the body model takes (e.g. 16 FBM betas on a 10-beta model)."""
        bm = self._body_model(gender)
        n = min(self._num_betas(), int(getattr(bm, 'num_betas', self._num_betas())))
        return torch.as_tensor(np.asarray(betas, dtype=np.float32)[:n])[None]

    def _num_betas(self) -> int:
        return 10

    def _skeleton(self):
        from imagin4d.body_models import skeletons
        if self.BODY_MODEL_TYPE == 'smplx':
            return skeletons.SMPLX_PARENTS, skeletons.JOINTS24_FROM_SMPLX
        return skeletons.SMPLH_PARENTS, skeletons.JOINTS24_FROM_SMPLH

    def _body_model_signature(self) -> list:
        return self._source_signature_of([osp.join(self.body_model_root, self.BODY_MODEL_TYPE)])

    def _rest_joints(self, gender: str, betas: np.ndarray) -> torch.Tensor:
        rest = self._body_model(gender).rest_joints(self._model_betas(gender, betas))
        return torch.as_tensor(rest, dtype=torch.float64).reshape(-1, 3)

    def _body_vertices_min_z(self, gender: str, betas: np.ndarray, pose: np.ndarray, transl: np.ndarray) -> float:
        """Lowest body vertex z over the given frames (pose (B, POSE_DIM), transl (B, 3))."""
        bm = self._body_model(gender)
        B = pose.shape[0]
        pose = torch.as_tensor(pose, dtype=torch.float32)
        kwargs = dict(betas=self._model_betas(gender, betas).expand(B, -1),
                      global_orient=pose[:, :3], body_pose=pose[:, 3:66],
                      transl=torch.as_tensor(transl, dtype=torch.float32))
        if pose.shape[1] >= 156:
            kwargs.update(left_hand_pose=pose[:, 66:111], right_hand_pose=pose[:, 111:156])
        with torch.no_grad():
            verts = bm(**kwargs)['vertices']
        return float(verts[..., 2].min())

    # ------------------------------------------------------------------ cache
    def _settings(self, split: str, first_only: bool) -> dict:
        return dict(dataset=self.DATASET_NAME, cache_version=self.CACHE_VERSION, split=split, window=self.window,
                    stride=self.stride, first_window_only=first_only, contact_threshold=self.contact_threshold,
                    body_model_type=self.BODY_MODEL_TYPE, body_model=self._body_model_signature(),
                    reader=self._reader_settings(), sources=self._source_signature(split))

    def _source_signature_of(self, paths: Sequence[str]) -> list:
        """Content signatures of the source files and folders a subclass reads (`SourceHasher`)."""
        hasher = SourceHasher(osp.join(self.cache_dir, 'source_hashes.json'))
        signature = [hasher.signature(p) for p in paths]
        hasher.save()
        return signature

    def _cache_prefix(self, split: str, first_only: bool) -> str:
        return f'{self.DATASET_NAME}_{split}_w{self.window}{"_first" if first_only else f"_s{self.stride}"}'

    def _prepare_cache(self, split: str, first_only: bool) -> dict:
        """Load the manifest of a cache folder for (split, settings), building the folder if needed."""
        settings = self._settings(split, first_only)
        prefix = self._cache_prefix(split, first_only)
        folder, digest = cache_folder(self.cache_dir, prefix, settings)
        manifest_path = osp.join(folder, 'manifest.json')
        if self.use_cache and osp.isfile(manifest_path):
            with open(manifest_path) as f:
                manifest = json.load(f)
            if manifest.get('hash') == digest:
                manifest['folder'] = folder
                manifest['cache_hit'] = True
                return manifest

        def build(tmp: str) -> dict:
            return dict(self._build(split, first_only, tmp), hash=digest, settings=settings)

        manifest = build_cache_folder(folder, build, prefix, f'{type(self).__name__}[{split}]',
                                      older_folders(self.cache_dir, prefix, folder))
        manifest['folder'] = folder
        manifest['cache_hit'] = False
        return manifest

    def _handle_bad(self, err: BadSequenceError, skipped: Counter, messages: List[str]) -> None:
        if self.on_bad_sequence == 'raise':
            raise err
        skipped[err.reason] += 1
        messages.append(str(err))
        print_log(f'{type(self).__name__}: skipping a sequence: {err}', logger='current', level=30)

    def _build(self, split: str, first_only: bool, folder: str) -> dict:
        """Read every sequence of `split`, run kinematics/contacts, write frames, windows and statistics."""
        t0 = time.time()
        print_log(f'{type(self).__name__}[{split}]: preprocessing sequences into {folder} (once; later starts '
                  f'read the cache)', logger='current')
        writer = FrameWriter(folder, self.POSE_DIM)
        sequences, windows, objects = [], [], {}
        skipped, messages = Counter(), []
        stat_lo = stat_hi = None
        try:
            for item in self._iter_sequences(split):
                if isinstance(item, SkipSequence):
                    skipped[item.reason] += 1
                    continue
                if isinstance(item, BadSequenceError):
                    self._handle_bad(item, skipped, messages)
                    continue
                try:
                    arrays, meta = self._process_record(item, objects)
                except BadSequenceError as err:
                    self._handle_bad(err, skipped, messages)
                    continue
                starts = window_starts(arrays['joints24'].shape[0], self.window, self.stride, first_only)
                meta['offset'] = writer.append(arrays)
                meta['num_frames'] = int(arrays['joints24'].shape[0])
                seq_idx = len(sequences)
                sequences.append(meta)
                windows.extend((seq_idx, s) for s in starts)
                lo, hi = self._window_minmax(arrays, starts, objects[meta['object_name']][2])
                if lo is not None:
                    stat_lo = lo if stat_lo is None else np.minimum(stat_lo, lo)
                    stat_hi = hi if stat_hi is None else np.maximum(stat_hi, hi)
        finally:
            specs = writer.close()
        if not sequences:
            raise DataError(f'{type(self).__name__}[{split}]: no usable sequence under {self.data_root} '
                            f'(skipped: {dict(skipped) or "none"}). First problems: {messages[:3]}')
        np.save(osp.join(folder, 'windows.npy'), np.asarray(windows, dtype=np.int64).reshape(-1, 2))
        np.savez(osp.join(folder, 'objects.npz'),
                 **{f'{k}__verts': v[0] for k, v in objects.items()},
                 **{f'{k}__faces': v[1] for k, v in objects.items()})
        stats = None
        if stat_lo is not None:
            stats = dict(obj_com_min=stat_lo[:3].tolist(), obj_com_max=stat_hi[:3].tolist(),
                         joints_min=stat_lo[3:].tolist(), joints_max=stat_hi[3:].tolist())
            self.codec.save_stats(osp.join(folder, 'stats.json'), stats,
                                  meta=dict(dataset=self.DATASET_NAME, split=split, num_windows=len(windows)))
        print_log(f'{type(self).__name__}[{split}]: {len(sequences)} sequences, {len(windows)} windows, '
                  f'{writer.count} frames in {time.time() - t0:.1f} s', logger='current')
        return dict(num_frames=writer.count, arrays=specs, sequences=sequences, skipped=dict(skipped),
                    skip_messages=messages, objects=sorted(objects), num_windows=len(windows),
                    created=time.strftime('%Y-%m-%d %H:%M:%S'))

    def _window_minmax(self, arrays: dict, starts: List[int], centroid: np.ndarray):
        """Per-dim min/max of canonical [obj_com (3) | joints (72)] over the windows of one sequence."""
        if not starts:
            return None, None
        idx = np.asarray(starts)[:, None] + np.arange(self.window)[None]          # (nw, W)
        joints = torch.from_numpy(arrays['joints24'][idx]).double()              # (nw, W, 24, 3)
        obj_rot = torch.from_numpy(arrays['obj_rot'][idx]).double()
        obj_trans = torch.from_numpy(arrays['obj_trans'][idx]).double()
        scale = torch.from_numpy(arrays['obj_scale'][idx]).double()
        cw = canonicalize_window(joints, obj_trans, obj_rot)
        com = self.codec.object_centre(cw.obj_rot, cw.obj_trans, scale, torch.from_numpy(centroid).double())
        feats = torch.cat([com, cw.joints.flatten(-2)], -1).reshape(-1, 3 + 72)
        return feats.min(0).values.numpy(), feats.max(0).values.numpy()

    def _process_record(self, rec: dict, objects: dict):
        """One common record -> per-frame arrays in the Z-up world frame, and its metadata."""
        name, source = rec['seq_name'], rec.get('source')
        T = int(rec['pose'].shape[0])
        if T < self.window:
            raise BadSequenceError('too_short', f'{T} frames, shorter than a window of {self.window}', source,
                                   name, 'frames')
        obj_name = rec['object_name']
        if obj_name not in objects:
            try:
                verts, faces = self._load_object(obj_name)
            except BadSequenceError as err:
                raise BadSequenceError(err.reason, err.problem, err.source, name, err.field) from None
            verts = np.asarray(verts, dtype=np.float64)
            objects[obj_name] = (verts.astype(np.float32), np.asarray(faces, dtype=np.int64), verts.mean(0))
        template = torch.from_numpy(objects[obj_name][0]).double()
        gender = rec['gender']
        if gender not in ('male', 'female', 'neutral'):
            raise BadSequenceError('bad_value', f"gender {gender!r} is not 'male', 'female' or 'neutral'", source,
                                   name, 'gender')
        betas = np.asarray(rec['betas'], dtype=np.float64).reshape(-1)
        pose = torch.as_tensor(rec['pose'], dtype=torch.float64)
        transl = torch.as_tensor(rec['transl'], dtype=torch.float64)
        obj_rot = torch.as_tensor(rec['obj_rot'], dtype=torch.float64)
        obj_trans = torch.as_tensor(rec['obj_trans'], dtype=torch.float64)
        obj_scale = torch.as_tensor(rec['obj_scale'], dtype=torch.float64)
        rest = self._rest_joints(gender, betas)
        parents, ids24 = self._skeleton()
        from imagin4d.body_models.fk import forward_kinematics
        kin = body_kinematics(rest, parents, ids24, pose.reshape(T, -1, 3), transl, forward_kinematics)
        joints, global_rot = kin['joints24'], kin['global_rot']
        rest_root = rest[0]
        frame_R = rec.get('frame_R')
        if frame_R is not None:
            R = torch.as_tensor(frame_R, dtype=torch.float64)
            joints, global_rot = joints @ R.T, R @ global_rot
            obj_rot, obj_trans = R @ obj_rot, obj_trans @ R.T
            root_rot = R @ axis_angle_to_matrix(pose[:, :3])
            pose = torch.cat([matrix_to_axis_angle(root_rot), pose[:, 3:]], 1)
            transl = (transl + rest_root) @ R.T - rest_root
        if rec.get('floor_from_body'):
            frames = np.arange(0, T, max(1, T // 32))
            z0 = self._body_vertices_min_z(gender, betas, pose[frames].numpy(), transl[frames].numpy())
            shift = torch.tensor([0.0, 0.0, -z0], dtype=torch.float64)
            joints, obj_trans, transl = joints + shift, obj_trans + shift, transl + shift
        contacts = rec.get('contacts')
        if contacts is None:
            contacts = geometry_contacts(joints, template, obj_scale, obj_rot, obj_trans, self.contact_threshold)
        contacts = np.asarray(contacts)
        arrays = dict(joints24=joints.numpy(), global_rot6d=matrix_to_rotation_6d(global_rot).numpy(),
                      obj_rot=obj_rot.numpy(), obj_trans=obj_trans.numpy(), obj_scale=obj_scale.numpy(),
                      contacts=(contacts > 0.5).astype(np.uint8), pose=pose.numpy(), transl=transl.numpy())
        for key in ('joints24', 'global_rot6d'):
            if not np.isfinite(arrays[key]).all():
                raise BadSequenceError('non_finite', f'body kinematics gave NaN/inf {key} (check betas and poses)',
                                       source, name, key)
        meta = dict(seq_name=name, object_name=obj_name, subject=rec.get('subject', ''), gender=gender,
                    text=rec.get('text') or '', betas=betas.tolist(), rest_root=rest_root.tolist(),
                    rest_joints24=rest[list(ids24)].tolist(),
                    source=source, contacts_from='file' if rec.get('contacts') is not None else 'geometry')
        return arrays, meta

    # ------------------------------------------------------------------ BaseDataset API
    def load_data_list(self) -> List[dict]:
        manifest = self._prepare_cache(self.split, self.first_window_only)
        self._manifest = manifest
        self._folder = manifest['folder']
        self.cache_hit = manifest['cache_hit']
        self.skipped = dict(manifest['skipped'])
        self.skip_messages = list(manifest['skip_messages'])
        self._sequences = manifest['sequences']
        self._arrays = None
        objects = np.load(osp.join(self._folder, 'objects.npz'))
        self._objects = {}
        for key in objects.files:
            obj, kind = key.rsplit('__', 1)
            self._objects.setdefault(obj, {})[kind] = objects[key]
        for obj in self._objects.values():
            obj['centroid'] = obj['verts'].astype(np.float64).mean(0)
        self._bps_basis = self._load_bps_basis()
        self._resolve_stats()
        self._report()
        bad = {k: v for k, v in self.skipped.items() if k in BAD_REASONS}
        if bad and self.on_bad_sequence == 'raise':
            raise DataError(f"{type(self).__name__}[{self.split}]: the cache at {self._folder} was built with "
                            f"bad sequences skipped ({bad}); on_bad_sequence='raise': {self.skip_messages[0]}")
        self._metainfo.update(dataset_name=self.DATASET_NAME, split=self.split, stats_file=self.stats_file,
                              cache_folder=self._folder, skipped=dict(self.skipped), fps=self.FPS,
                              window=self.window, codec=type(self.codec).__name__,
                              data_root=self.data_root, body_model_root=self.body_model_root)
        windows = np.load(osp.join(self._folder, 'windows.npy'))
        return [dict(seq_idx=int(s), window_start=int(t)) for s, t in windows]

    def _report(self) -> None:
        total = sum(self.skipped.values())
        where = 'cache hit' if self.cache_hit else 'built'
        msg = (f'{type(self).__name__}[{self.split}]: {len(self._sequences)} sequences, '
               f'{self._manifest["num_windows"]} windows ({where}: {self._folder})')
        if total:
            reasons = ', '.join(f'{k}: {v}' for k, v in sorted(self.skipped.items()))
            msg += f'; skipped {total} sequences ({reasons})'
        MMLogger.get_current_instance().info(msg)

    def _load_bps_basis(self) -> torch.Tensor:
        """The fixed BPS basis, generated once from its seed and stored in the cache folder."""
        path = osp.join(self.cache_dir, f'bps_basis_n{self.bps_num_points}_r{self.bps_radius:g}_s{self.bps_seed}.npy')
        if not osp.isfile(path):
            basis = make_bps_basis(self.bps_num_points, self.bps_radius, self.bps_seed).numpy()
            os.makedirs(self.cache_dir, exist_ok=True)
            tmp = f'{path}.tmp-{os.getpid()}.npy'
            np.save(tmp, basis)
            os.replace(tmp, path)
            print_log(f'{type(self).__name__}: wrote the BPS basis ({self.bps_num_points} points, seed '
                      f'{self.bps_seed}) to {path} (once; later starts read it)', logger='current')
        self.bps_basis_file = path
        return torch.from_numpy(np.load(path))

    def _resolve_stats(self) -> None:
        if self.stats_file is None:
            if self.split == 'train' and not self.first_window_only:
                folder = self._folder
            else:
                folder = self._prepare_cache('train', False)['folder']
            self.stats_file = osp.join(folder, 'stats.json')
        self.codec.load_stats(self.stats_file)

    def _frame_arrays(self) -> Dict[str, np.ndarray]:
        """Memory-mapped per-frame arrays (opened lazily, once per process)."""
        if self._arrays is None:
            n = self._manifest['num_frames']
            self._arrays = {k: np.memmap(osp.join(self._folder, f'{k}.bin'), dtype=s['dtype'], mode='r',
                                         shape=(n, *s['shape']))
                            for k, s in self._manifest['arrays'].items()}
        return self._arrays

    def __getstate__(self):
        state = self.__dict__.copy()
        state['_arrays'] = None
        state['_body_models'] = {}
        state['_kdtrees'] = {}
        return state

    def prepare_data(self, idx: int):
        return self.pipeline(self.assemble_window(self.get_data_info(idx)))
