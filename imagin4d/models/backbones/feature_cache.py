"""On-disk cache of frozen-backbone features: patch grids per image, token features per sentence.

Owns `FeatureSpec` (which extractor, which weights, which preprocessing), `FeatureCache` (get / put / has,
batch `compute` with a progress bar, an index that lets training find a backbone config's features without
loading the backbone) and the errors raised when an entry is missing or unreadable.

Layout: `root/<namespace>/<h[:2]>/<h>.npz`, where the namespace names (extractor architecture, weights_id,
preprocessing id) and h = sha256 of the image bytes or of the UTF-8 sentence; so every entry is keyed by
(content, backbone, weights, preprocessing). Entries (float16, no pickle):
  image: patch (N, C), pooled (C,), grid_hw (2,) int;   text: pooled (D,), tokens (L, D) (padding removed).
`root/index.json` maps canonical extractor configs to their namespace and weights files.
"""
import contextlib
import hashlib
import json
import os
import re
import shlex
import warnings
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Dict, Iterable, List, Optional, Sequence, Tuple, Union

import numpy as np

from imagin4d.utils.errors import UserError
from imagin4d.utils.fileio import atomic_open

from .base import FrozenExtractor, FrozenImageBackbone, file_sha256

# An image is named by its path or given as its encoded bytes; a sentence is a str.
Item = Union[str, os.PathLike, bytes]
BUILD_TOOL = 'tools/data/cache_features.py'
IMAGE_KEYS = ('patch', 'pooled', 'grid_hw')
TEXT_KEYS = ('pooled', 'tokens')


class MissingFeaturesError(UserError, LookupError):
    """No cached features for an image or sentence (the message names it and the command to build them)."""


class UnreadableFeaturesError(MissingFeaturesError):
    """A cache entry exists but cannot be read (truncated or corrupted file)."""


@dataclass(frozen=True)
class FeatureSpec:
    """What produced a set of features: kind ('image' | 'text'), extractor name, weights and preprocessing.

    `config` is the canonical registry config the extractor was built from ('' when unknown); it is used by
    the index and in error messages (the command that rebuilds the features), but is not part of the key.
    """

    kind: str
    name: str
    weights_id: str
    preprocess_id: str = ''
    config: str = ''

    @classmethod
    def of(cls, extractor: FrozenExtractor, config: Optional[dict] = None) -> 'FeatureSpec':
        is_image = isinstance(extractor, FrozenImageBackbone)
        return cls(kind='image' if is_image else 'text', name=extractor.feature_name,
                   weights_id=extractor.weights_id,
                   preprocess_id=extractor.preprocessor.config_id if is_image else '',
                   config=canonical_config(config) if config else '')

    @property
    def namespace(self) -> str:
        parts = [self.kind, self.name, self.weights_id] + ([self.preprocess_id] if self.preprocess_id else [])
        return re.sub(r'[^A-Za-z0-9_.+-]', '_', '--'.join(parts))


def canonical_config(cfg: dict) -> str:
    """Stable JSON of an extractor config: sorted keys, tuples as lists, None-valued keys dropped."""

    def clean(value):
        if isinstance(value, dict):
            return {str(k): clean(v) for k, v in sorted(value.items()) if v is not None}
        if isinstance(value, (list, tuple)):
            return [clean(v) for v in value]
        if isinstance(value, os.PathLike):
            return os.fspath(value)
        return value

    return json.dumps(clean(dict(cfg)), sort_keys=True)


def build_command(spec: FeatureSpec, root: Union[str, Path], hint: str = '') -> str:
    """The command line that builds the missing features of `spec` into `root`."""
    cfg = json.loads(spec.config) if spec.config else {}
    extractor_type = cfg.pop('type', spec.name.split('-')[0])
    flag = '--backbone' if spec.kind == 'image' else '--text-encoder'
    args = ['python', BUILD_TOOL, '--images' if spec.kind == 'image' else '--texts', hint or '<...>',
            flag, extractor_type]
    if cfg:
        args += [f'{flag}-cfg', json.dumps(cfg, sort_keys=True)]
    args += ['--out', str(root)]
    return ' '.join(a if a.startswith('<') else shlex.quote(a) for a in args)


def decode_image(data: bytes, name: str = '<bytes>') -> np.ndarray:
    """Encoded image bytes -> RGB(A) uint8 (H, W, 3|4) or grayscale (H, W) array (16-bit -> float [0, 1])."""
    import cv2
    image = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_UNCHANGED)
    if image is None:
        raise ValueError(f'cannot decode image {name}')
    if image.dtype == np.uint16:
        image = image.astype(np.float32) / 65535.0
    if image.ndim == 3 and image.shape[2] == 3:
        image = image[:, :, ::-1]
    elif image.ndim == 3 and image.shape[2] == 4:
        image = image[:, :, [2, 1, 0, 3]]
    return np.ascontiguousarray(image)


@dataclass
class CacheReport:
    """Counts of one `FeatureCache.compute` call (items are de-duplicated by content first)."""

    namespace: str = ''
    total: int = 0
    unique: int = 0
    cached: int = 0
    computed: int = 0
    recomputed: int = 0
    workers: int = 1

    def __str__(self) -> str:
        return (f'{self.total} items ({self.unique} unique): {self.computed} computed '
                f'({self.recomputed} of them replaced unreadable entries), {self.cached} already cached')


class FeatureCache:
    """Features of frozen extractors on disk under `root`; see the module docstring for the layout.

    Reading (training): `spec = cache.spec_for(cfg)` (no model is built), then `cache.get(item, spec)`,
    where item is an image path or its bytes (image specs) or a sentence (text specs). A missing or
    unreadable entry raises `MissingFeaturesError` / `UnreadableFeaturesError` naming the item and the
    command that builds it.
    Writing: `cache.compute(items, extractor, batch_size, workers=N)` runs the extractor only on items without
    a readable entry (an unreadable one is recomputed with a warning) and returns a `CacheReport`.
    """

    def __init__(self, root: Union[str, Path]):
        self.root = Path(root).expanduser()

    # ---------------------------------------------------------------- keys and paths
    @staticmethod
    def content_hash(item: Item, spec: FeatureSpec) -> str:
        """sha256 of the image bytes (file content for a path) or of the UTF-8 sentence."""
        if spec.kind == 'text':
            if not isinstance(item, str):
                raise TypeError(f'text features are keyed by a sentence (str), got {type(item).__name__}')
            return hashlib.sha256(item.encode('utf-8')).hexdigest()
        if isinstance(item, (bytes, bytearray, memoryview)):
            return hashlib.sha256(bytes(item)).hexdigest()
        path = Path(item)
        if not path.is_file():
            raise FileNotFoundError(f'image {path} does not exist')
        return file_sha256(path)

    def entry_path(self, item: Item, spec: FeatureSpec, content_hash: Optional[str] = None) -> Path:
        digest = content_hash or self.content_hash(item, spec)
        return self.root / spec.namespace / digest[:2] / f'{digest}.npz'

    # ---------------------------------------------------------------- index (config -> spec)
    @property
    def index_path(self) -> Path:
        return self.root / 'index.json'

    def _read_index(self) -> dict:
        if not self.index_path.is_file():
            return {}
        try:
            return json.loads(self.index_path.read_text())
        except (OSError, ValueError) as err:
            warnings.warn(f'feature cache index {self.index_path} is unreadable ({err}); rebuilding it',
                          RuntimeWarning, stacklevel=3)
            return {}

    def register(self, extractor: FrozenExtractor, config: Optional[dict] = None) -> FeatureSpec:
        """Record `config -> spec` in the index (so training can find the features) and return the spec.

        Without `config` nothing is recorded: the index must never map a config to features that another
        configuration of the same extractor type produced.
        """
        spec = FeatureSpec.of(extractor, config)
        if not spec.config:
            return spec
        with self._index_lock():
            index = self._read_index()
            index[spec.config] = dict(asdict(spec), weights_files=list(extractor.weights_files))
            with atomic_open(self.index_path) as handle:
                handle.write(json.dumps(index, indent=1, sort_keys=True).encode())
        return spec

    def spec_for(self, config: dict, check_weights: bool = True) -> FeatureSpec:
        """The spec of features built with extractor `config`, without building the extractor.

        Raises MissingFeaturesError when nothing was built for this config. With `check_weights`, a weights
        file that still exists but no longer hashes to the recorded weights_id raises (stale features).
        """
        key = canonical_config(config)
        entry = self._read_index().get(key)
        if entry is None:
            spec = FeatureSpec(kind=_kind_of_type(config.get('type')), name=str(config.get('type')),
                               weights_id='?', config=key)
            raise MissingFeaturesError(
                f'the feature cache {self.root} has no features for extractor config {key}. '
                f'Build them with:\n'
                f'  {build_command(spec, self.root)}')
        files = entry.pop('weights_files', [])
        spec = FeatureSpec(**entry)
        if check_weights and files and all(os.path.isfile(f) for f in files):
            from imagin4d.models.backbones.base import weights_id_of_files
            current = weights_id_of_files(files)
            if current != spec.weights_id:
                raise MissingFeaturesError(
                    f'the weights of {key} changed since the cache {self.root} was built (weights_id '
                    f'{spec.weights_id} -> {current}); rebuild with:\n  {build_command(spec, self.root)}')
        return spec

    @contextlib.contextmanager
    def _index_lock(self):
        self.root.mkdir(parents=True, exist_ok=True)
        with open(self.root / '.index.lock', 'w') as lock:
            try:
                import fcntl
                fcntl.flock(lock, fcntl.LOCK_EX)
            except ImportError:  # pragma: no cover - non-POSIX: best effort
                pass
            yield

    # ---------------------------------------------------------------- get / put / has
    def has(self, item: Item, spec: FeatureSpec) -> bool:
        """True when an entry file exists (it may still be unreadable; `get` checks)."""
        return self.entry_path(item, spec).is_file()

    def get(self, item: Item, spec: FeatureSpec) -> Dict[str, np.ndarray]:
        """The cached features of one image or sentence, as float16 numpy arrays (see module docstring)."""
        digest = self.content_hash(item, spec)
        path = self.entry_path(item, spec, digest)
        label = _describe(item, spec.kind)
        if not path.is_file():
            raise MissingFeaturesError(
                f'no cached {spec.kind} features for {label} ({spec.namespace}) in {self.root}. '
                f'Build them with:\n  {build_command(spec, self.root, _hint(item, spec))}')
        try:
            return _read_entry(path, spec.kind)
        except Exception as err:  # noqa: BLE001 - any read failure means the entry is unusable
            raise UnreadableFeaturesError(
                f'cached {spec.kind} features for {label} at {path} are unreadable ({type(err).__name__}: '
                f'{err}). Recompute them with:\n  {build_command(spec, self.root, _hint(item, spec))}'
            ) from None

    def put(self, item: Item, spec: FeatureSpec, features: Dict[str, np.ndarray],
            content_hash: Optional[str] = None) -> Path:
        """Store one item's features (converted to float16); returns the entry path."""
        path = self.entry_path(item, spec, content_hash)
        keys = IMAGE_KEYS if spec.kind == 'image' else TEXT_KEYS
        arrays = {}
        for key in keys:
            value = np.asarray(features[key])
            if key != 'grid_hw':
                value = value.astype(np.float16)
                if not np.isfinite(value).all():
                    raise ValueError(f'non-finite {key} features for {_describe(item, spec.kind)} '
                                     '(float16 overflow?)')
            arrays[key] = value
        if spec.kind == 'image':
            arrays['grid_hw'] = arrays['grid_hw'].astype(np.int32)
        meta = dict(source=_describe(item, spec.kind), namespace=spec.namespace, config=spec.config)
        arrays['meta'] = np.array(json.dumps(meta))
        buffer = _npz_bytes(arrays)
        with atomic_open(path) as handle:
            handle.write(buffer)
        return path

    # ---------------------------------------------------------------- batch computation
    def plan(self, items: Iterable[Item], spec: FeatureSpec) -> Tuple[CacheReport, List[Tuple[str, object]]]:
        """Which items need computing: (report with total/unique/cached filled in, [(content hash, item)]).

        Items are de-duplicated by content; an entry that exists but cannot be read is scheduled again
        (with a warning) and counted in `report.recomputed`.
        """
        items = list(items)
        report = CacheReport(namespace=spec.namespace, total=len(items))
        seen, pending = set(), []
        for item in items:
            digest = self.content_hash(item, spec)
            if digest in seen:
                continue
            seen.add(digest)
            path = self.entry_path(item, spec, digest)
            if path.is_file():
                try:
                    _read_entry(path, spec.kind)
                    report.cached += 1
                    continue
                except Exception as err:  # noqa: BLE001 - any read failure means the entry is unusable
                    warnings.warn(f'unreadable feature cache entry {path} for {_describe(item, spec.kind)} '
                                  f'({type(err).__name__}: {err}); recomputing it', RuntimeWarning,
                                  stacklevel=3)
                    report.recomputed += 1
            pending.append((digest, item))
        report.unique = len(seen)
        return report, pending

    def compute(self, items: Iterable[Item], extractor: FrozenExtractor, batch_size: int = 16,
                config: Optional[dict] = None, progress: bool = True, workers: int = 1) -> CacheReport:
        """Compute and store the features of every item without a readable entry; return the counts.

        items: image paths / bytes for an image backbone, sentences for a text encoder. `config` is the
        registry config the extractor was built from (recorded in the index for `spec_for`).
        workers: processes for an image backbone on the CPU (forked, one torch thread each; both cores of a
        2-core machine). They take whole batches of the one-process order, so every entry holds the features
        one process writes (the CPU backbones run image by image). Text encoders and GPU backbones run here;
        `report.workers` says how many processes ran.
        """
        spec = self.register(extractor, config)
        report, pending = self.plan(items, spec)
        batches = [pending[start:start + batch_size] for start in range(0, len(pending), batch_size)]
        parallel = spec.kind == 'image' and extractor.device.type == 'cpu'
        report.workers = max(1, min(int(workers), len(batches))) if parallel else 1
        from tqdm import tqdm
        with tqdm(total=len(pending), desc=f'{spec.kind} features ({spec.name})', unit=spec.kind,
                  disable=not progress) as bar:
            if report.workers > 1:
                import multiprocessing
                _WORKER.update(cache=self, extractor=extractor, spec=spec)
                try:
                    with multiprocessing.get_context('fork').Pool(report.workers, _worker_init) as pool:
                        for done in pool.imap(_worker_batch, batches):
                            bar.update(done)
                finally:
                    _WORKER.clear()
            else:
                for chunk in batches:
                    bar.update(self._compute_batch(extractor, spec, chunk))
        report.computed = len(pending)
        return report

    def _compute_batch(self, extractor: FrozenExtractor, spec: FeatureSpec, chunk: Sequence) -> int:
        """Run the extractor on one batch of (content hash, item) and store every entry; returns its size."""
        for (digest, item), features in zip(chunk, _run(extractor, spec, [i for _, i in chunk])):
            self.put(item, spec, features, digest)
        return len(chunk)


_WORKER = {}  # what a forked cache worker computes with (set by the parent right before it forks)


def _worker_init():
    """A cache worker: one intra-op torch thread (the workers fill the cores)."""
    import torch
    torch.set_num_threads(1)


def _worker_batch(chunk) -> int:
    return _WORKER['cache']._compute_batch(_WORKER['extractor'], _WORKER['spec'], chunk)


def _kind_of_type(type_name) -> str:
    """'image' when the registered extractor type is an image backbone, else 'text'."""
    from imagin4d.registry import MODELS
    cls = MODELS.get(type_name) if isinstance(type_name, str) else type_name
    return 'image' if isinstance(cls, type) and issubclass(cls, FrozenImageBackbone) else 'text'


def _run(extractor: FrozenExtractor, spec: FeatureSpec, items: Sequence) -> List[Dict[str, np.ndarray]]:
    """Run the extractor on one batch; split the batch output into per-item numpy features."""
    if spec.kind == 'image':
        images = [decode_image(bytes(i) if not isinstance(i, (str, os.PathLike)) else Path(i).read_bytes(),
                               _describe(i, 'image')) for i in items]
        out = extractor.encode(images)
        grid_hw = np.asarray(extractor.grid_hw, np.int32)
        patch, pooled = out['patch'].float().cpu().numpy(), out['pooled'].float().cpu().numpy()
        return [dict(patch=patch[b], pooled=pooled[b], grid_hw=grid_hw) for b in range(len(items))]
    out = extractor.encode(list(items))
    tokens, pooled = out['tokens'].float().cpu().numpy(), out['pooled'].float().cpu().numpy()
    mask = out['mask'].cpu().numpy()
    return [dict(pooled=pooled[b], tokens=tokens[b][mask[b]]) for b in range(len(items))]


def _read_entry(path: Path, kind: str) -> Dict[str, np.ndarray]:
    keys = IMAGE_KEYS if kind == 'image' else TEXT_KEYS
    with np.load(path, allow_pickle=False) as data:
        arrays = {key: data[key] for key in keys}
    if kind == 'image':
        h, w = (int(v) for v in arrays['grid_hw'])
        if arrays['patch'].shape[0] != h * w or arrays['patch'].shape[1] != arrays['pooled'].shape[0]:
            raise ValueError(f'inconsistent shapes {arrays["patch"].shape}, {arrays["pooled"].shape}, '
                             f'grid {h}x{w}')
    elif arrays['tokens'].ndim != 2 or arrays['tokens'].shape[1] != arrays['pooled'].shape[0]:
        raise ValueError(f'inconsistent shapes {arrays["tokens"].shape}, {arrays["pooled"].shape}')
    return arrays


def _npz_bytes(arrays: Dict[str, np.ndarray]) -> bytes:
    import io
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)
    return buffer.getvalue()


def _describe(item, kind: str) -> str:
    """How an item is named in messages: the sentence, the image path, or a digest of image bytes."""
    if kind == 'text':
        return f'sentence {item[:200]!r}'
    if isinstance(item, (bytes, bytearray, memoryview)):
        return f'image <{len(item)} bytes, sha256 {hashlib.sha256(bytes(item)).hexdigest()[:12]}>'
    return f'image {os.fspath(item)!r}'


def _hint(item, spec: FeatureSpec) -> str:
    if spec.kind == 'image' and isinstance(item, (str, os.PathLike)):
        return str(Path(item).parent)
    return '<texts.json>' if spec.kind == 'text' else '<image dir>'
