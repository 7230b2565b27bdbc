"""On-disk render cache: reference images (PNG) and their camera/metadata (JSON), keyed by a content hash.

Owns `RenderCache`: the key of (sequence, t*, camera, style, renderer version[, extra]), atomic writes (safe with
several DataLoader workers), rejection markers for cameras that did not see the interaction, and the
recovery from unreadable entries (logged warning, re-render, overwrite). Layout: `<root>/<key[:2]>/<key>.png`
and `<key>.json`; the JSON is written last, so an entry without it is incomplete and counts as a miss.
"""
import hashlib
import json
import logging
import os
from dataclasses import dataclass, field
from typing import Callable, Optional, Union

import numpy as np

from imagin4d.utils.fileio import atomic_open

from .camera import Camera
from .scene import RENDERER_VERSION
from .styles import build_style

__all__ = ['RenderCache', 'CacheEntry', 'style_identity']

logger = logging.getLogger(__name__)


def style_identity(style) -> dict:
    """JSON-able identity of a style given as a RenderStyle, a registered name or a config dict: its full
    `cache_config()`, so 'mesh', dict(type='MeshStyle') and MeshStyle() give the same key."""
    return build_style(style).cache_config()


@dataclass
class CacheEntry:
    """A cache lookup result. status: 'ok' (image (H, W, 3) uint8 and camera set), 'rejected' (reason set:
    the camera was tried and did not see the interaction), 'miss', or 'corrupt' (reason set)."""
    status: str
    key: str
    image: Optional[np.ndarray] = None
    camera: Optional[Camera] = None
    meta: dict = field(default_factory=dict)
    reason: str = ''


class RenderCache:
    """Reference images on disk under `root`. Counters `hits`, `misses`, `renders` (calls of a render
    function by `get_or_render`) and `repaired` (unreadable entries re-rendered) are per instance."""

    def __init__(self, root: str):
        self.root = os.path.abspath(os.path.expanduser(str(root)))
        os.makedirs(self.root, exist_ok=True)
        self.hits = self.misses = self.renders = self.repaired = 0

    # -- keys and paths ---------------------------------------------------------------------------------
    @staticmethod
    def key(seq_name: str, t_star: int, camera: Camera, style, renderer_version: str = RENDERER_VERSION,
            extra: Optional[dict] = None) -> str:
        """sha256 hex digest of (sequence, t*, camera (rounded to 1e-6), style identity, renderer version,
        extra). `seq_name` should name the data set too (e.g. 'fbm/sub3_largebox_003'); `extra` holds
        anything else that changes pixels (e.g. the body model)."""
        payload = dict(seq=str(seq_name), t=int(t_star), camera=camera.fingerprint(), style=style_identity(style),
                       version=str(renderer_version), extra=extra or {})
        return hashlib.sha256(json.dumps(payload, sort_keys=True, default=str).encode()).hexdigest()

    def paths(self, key: str):
        """(png path, json path) of an entry."""
        folder = os.path.join(self.root, key[:2])
        return os.path.join(folder, key + '.png'), os.path.join(folder, key + '.json')

    # -- reading ----------------------------------------------------------------------------------------
    def lookup(self, key: str) -> CacheEntry:
        """Read an entry without rendering; never raises for a damaged entry (status 'corrupt')."""
        png_path, json_path = self.paths(key)
        if not os.path.exists(json_path):
            return CacheEntry('miss', key)
        try:
            with open(json_path) as f:
                meta = json.load(f)
            if not isinstance(meta, dict) or meta.get('key') != key:
                raise ValueError('metadata does not belong to this key')
            status = meta.get('status')
            if status == 'rejected':
                return CacheEntry('rejected', key, meta=meta, reason=str(meta.get('reason', '')))
            if status != 'ok':
                raise ValueError(f'unknown status {status!r}')
            camera = Camera.from_dict(meta['camera'])
            image = _read_png(png_path)
            if image.shape != (camera.height, camera.width, 3):
                raise ValueError(f'image shape {image.shape} does not match the camera '
                                 f'{camera.width}x{camera.height}')
        except Exception as err:  # noqa: BLE001 - any damage means "re-render this entry"
            return CacheEntry('corrupt', key, reason=f'{type(err).__name__}: {err}')
        return CacheEntry('ok', key, image=image, camera=camera, meta=meta)

    def report_corrupt(self, entry: CacheEntry, context: str) -> None:
        """Log (warning) and count an unreadable entry that is about to be re-rendered and overwritten."""
        self.repaired += 1
        logger.warning('render cache entry %s (%s) is unreadable (%s); re-rendering and overwriting it',
                       self.paths(entry.key)[1], context, entry.reason)

    # -- writing ----------------------------------------------------------------------------------------
    def put(self, key: str, image: np.ndarray, camera: Camera, meta: Optional[dict] = None) -> None:
        """Store an image (H, W, 3) uint8 with its camera and metadata (PNG first, then the JSON)."""
        image = np.asarray(image)
        if image.dtype != np.uint8 or image.shape != (camera.height, camera.width, 3):
            raise ValueError(f'expected a ({camera.height}, {camera.width}, 3) uint8 image, got {image.dtype} '
                             f'{image.shape}')
        png_path, json_path = self.paths(key)
        with atomic_open(png_path) as handle:
            handle.write(_encode_png(image))
        record = dict(meta or {}, key=key, status='ok', camera=camera.to_dict(), image_shape=list(image.shape))
        with atomic_open(json_path) as handle:
            handle.write(json.dumps(record, indent=1, default=str).encode())

    def put_rejection(self, key: str, reason: str, camera: Camera, meta: Optional[dict] = None) -> None:
        """Remember that this camera does not show the interaction, so a later run skips it without geometry."""
        png_path, json_path = self.paths(key)
        record = dict(meta or {}, key=key, status='rejected', reason=reason, camera=camera.to_dict())
        with atomic_open(json_path) as handle:
            handle.write(json.dumps(record, indent=1, default=str).encode())
        if os.path.exists(png_path):
            os.remove(png_path)

    # -- the common path --------------------------------------------------------------------------------
    def get_or_render(self, seq_name: str, t_star: int, camera: Camera, style,
                      render_fn: Callable[[], np.ndarray], renderer_version: str = RENDERER_VERSION,
                      extra: Optional[dict] = None, meta: Optional[dict] = None) -> np.ndarray:
        """The cached image of this (sequence, t*, camera, style, version), or `render_fn()` (-> (H, W, 3)
        uint8) stored and returned. A damaged entry is re-rendered and overwritten with a logged warning;
        a rejection marker is ignored here (the caller chose this camera)."""
        key = self.key(seq_name, t_star, camera, style, renderer_version, extra)
        entry = self.lookup(key)
        if entry.status == 'ok':
            self.hits += 1
            return entry.image
        self.misses += 1
        if entry.status == 'corrupt':
            self.report_corrupt(entry, f'sequence {seq_name!r} frame {int(t_star)}')
        image = render_fn()
        self.renders += 1
        self.put(key, image, camera, dict(meta or {}, seq_name=str(seq_name), t_star=int(t_star),
                                          style=style_identity(style), renderer_version=renderer_version))
        return image


def _encode_png(image: np.ndarray) -> bytes:
    import cv2
    ok, buf = cv2.imencode('.png', np.ascontiguousarray(image[..., ::-1]))
    if not ok:
        raise RuntimeError('PNG encoding failed')
    return buf.tobytes()


def _read_png(path: Union[str, os.PathLike]) -> np.ndarray:
    """(H, W, 3) uint8 RGB; raises ValueError for a missing or undecodable file."""
    import cv2
    with open(path, 'rb') as f:
        data = np.frombuffer(f.read(), dtype=np.uint8)
    image = cv2.imdecode(data, cv2.IMREAD_COLOR) if len(data) else None
    if image is None:
        raise ValueError(f'{path} is not a decodable PNG')
    return np.ascontiguousarray(image[..., ::-1])
