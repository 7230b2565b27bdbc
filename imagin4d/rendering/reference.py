"""Reference images for training and evaluation: camera sampling with re-tries, visibility checks, cache, style.

Owns `ReferenceRenderer` (sequence name + depicted frame + geometry -> `ReferenceImage`) and `look_at_point`.
Styles that draw per image (`scene`, `degraded`) get one generator per camera try, determined by (seed,
sequence, t*, try): it may vary the camera and picture window (`style.frame`), dress the scene
(`style.scene_kwargs`) and degrade the image; the seed is then part of the cache key.
It never returns a blank image: a camera that does not show the whole interaction is re-sampled (up to
`max_camera_tries`, deterministically from the seed, sequence and frame), then a `RenderError` names the
sequence and frame. With a cache, geometry is only built on a miss, so a second run neither renders nor
needs the meshes.
"""
from dataclasses import dataclass
from typing import Callable, Optional, Union

import numpy as np

from .cache import RenderCache
from .camera import (
                     DEFAULT_CAMERA_RANGES,
                     Camera,
                     camera_rng,
                     facing_azimuth,
                     mesh_footprint,
                     points_in_view,
                     project_points,
                     sample_camera,
)
from .errors import RenderError
from .scene import RENDERER_VERSION, get_renderer, render_scene, validate_mesh
from .styles import RenderStyle, build_style

__all__ = ['ReferenceRenderer', 'ReferenceImage', 'look_at_point']

GeometryLike = Union[dict, Callable[[], dict]]


@dataclass
class ReferenceImage:
    """image: (H, W, 3) uint8; camera: the camera it was rendered with; key: render-cache key (None without
    a cache); cached: True when read from the cache; attempt: index of the camera sample that was used."""
    image: np.ndarray
    camera: Camera
    key: Optional[str]
    cached: bool
    attempt: int


def look_at_point(*point_sets) -> np.ndarray:
    """(3,) centre of the bounding box of all given (N_i, 3) point sets (e.g. body vertices or joints and
    object vertices or centre)."""
    points = np.concatenate([np.asarray(p, dtype=np.float64).reshape(-1, 3) for p in point_sets])
    return (points.min(0) + points.max(0)) / 2.0


class ReferenceRenderer:
    """Render (or fetch from the cache) the reference image of a sequence at its depicted frame t*.

    Args:
        style: 'mesh' | 'sketch' | a RENDER_STYLES config dict | a RenderStyle.
        width, height: image size (default 224).
        camera_ranges: overrides of `camera.DEFAULT_CAMERA_RANGES` (azimuth_range, elevation_range,
            distance_range, fov_range); the azimuth is measured from the `facing` given per call.
        seed: camera sampling seed; the camera of (sequence, t*, attempt) depends only on these.
        cache_root: folder of the render cache (None: no cache).
        max_camera_tries: cameras tried before giving up with a RenderError.
        min_in_view: fraction of the body's and of the object's vertices that must project inside the image
            (`view_margin` pixels from the border); 1.0 = the whole interaction is in frame.
        min_visible_pixels: visible (unoccluded) pixels the body and the object each need; default
            max(4, 5e-4 * width * height) (25 at 224 x 224).
        min_visible_fraction: the fraction of the body's and of the object's own silhouette that must not be
            hidden by the other (or the floor); 0 skips the check. The check renders a mesh alone (one extra
            flat pass) only where a bound computed without rendering does not already pass it.
        renderer_version, extra: parts of the cache key (see `RenderCache.key`).
    """

    def __init__(self, style='mesh', width: int = 224, height: int = 224, camera_ranges: Optional[dict] = None,
                 seed: int = 0, cache_root: Optional[str] = None, max_camera_tries: int = 10,
                 min_in_view: float = 1.0, view_margin: float = 1.0, min_visible_pixels: Optional[int] = None,
                 min_visible_fraction: float = 0.3, renderer_version: str = RENDERER_VERSION,
                 extra: Optional[dict] = None):
        self.style: RenderStyle = build_style(style)
        self.width, self.height = int(width), int(height)
        unknown = set(camera_ranges or {}) - set(DEFAULT_CAMERA_RANGES)
        if unknown:
            raise ValueError(f'unknown camera_ranges keys {sorted(unknown)}; known: {sorted(DEFAULT_CAMERA_RANGES)}')
        self.camera_ranges = {**DEFAULT_CAMERA_RANGES, **(camera_ranges or {})}
        self.seed = int(seed)
        self.cache = RenderCache(cache_root) if cache_root is not None else None
        if max_camera_tries < 1:
            raise ValueError('max_camera_tries must be >= 1')
        self.max_camera_tries = int(max_camera_tries)
        self.min_in_view = float(min_in_view)
        self.view_margin = float(view_margin)
        self.min_visible_pixels = int(min_visible_pixels if min_visible_pixels is not None
                                      else max(4, round(5e-4 * self.width * self.height)))
        self.min_visible_fraction = float(min_visible_fraction)
        self.renderer_version = renderer_version
        self.extra = extra
        self.renders = 0  # images rendered by this instance (cache hits and rejections excluded)

    @property
    def checks(self) -> dict:
        """The visibility rules a rejection marker was made under (markers under other rules are ignored)."""
        return dict(min_in_view=self.min_in_view, view_margin=self.view_margin,
                    min_visible_pixels=self.min_visible_pixels, min_visible_fraction=self.min_visible_fraction)

    def sample_camera(self, seq_name: str, t_star: int, look_at, attempt: int = 0, facing=None) -> Camera:
        """The camera of try `attempt` for (sequence, t*): deterministic in (seed, sequence, t*, attempt) and
        the body's `facing` (azimuth origin; None: world +x)."""
        rng = camera_rng(self.seed, seq_name, int(t_star), int(attempt))
        return sample_camera(rng, look_at, width=self.width, height=self.height, facing=facing,
                             **self.camera_ranges)

    def __call__(self, seq_name: str, t_star: int, geometry: GeometryLike, look_at=None,
                 camera: Optional[Camera] = None, facing=None) -> ReferenceImage:
        """The reference image of `seq_name` at frame `t_star`.

        geometry: dict(body_verts (Vb, 3), body_faces (Fb, 3), obj_verts (Vo, 3), obj_faces (Fo, 3)) at t*,
            world frame, or a callable returning it (called at most once, only when something must be
            rendered or checked).
        look_at: (3,) point the sampled cameras aim at; default the bounding-box centre of the geometry
            (which then has to be built even on a cache hit; pass e.g. `look_at_point(joints, obj_centre)`).
        camera: a fixed camera (no sampling and no re-tries; e.g. evaluation with a stored camera).
        facing: (2,) or (3,) horizontal direction the body faces at t* (e.g. `geometry.body_heading(joints)`):
            the sampled azimuths are measured from it, so the default range puts the camera in front of the body.
            None: from world +x (the side of a grasp is then as often mirrored in the image as not). A facing with
            no horizontal part (hips and shoulders vertical) raises a RenderError naming the frame.
        """
        context = f'sequence {seq_name!r} frame {int(t_star)}'
        loaded = {}

        def get_geometry() -> dict:
            if not loaded:
                geo = geometry() if callable(geometry) else geometry
                if not isinstance(geo, dict):
                    raise RenderError(f'missing geometry ({context}): expected a dict with body_verts, '
                                      f'body_faces, obj_verts, obj_faces, got {type(geo).__name__}')
                body = validate_mesh(geo.get('body_verts'), geo.get('body_faces'), 'body', context)
                obj = validate_mesh(geo.get('obj_verts'), geo.get('obj_faces'), 'object', context)
                loaded.update(body_verts=body[0], body_faces=body[1], obj_verts=obj[0], obj_faces=obj[1])
                loaded.update({k: geo[k] for k in ('joints24', 'body_parts') if geo.get(k) is not None})
            return loaded

        if camera is None and facing is not None:
            try:     # a body without a facing is this frame's failure (a RenderError), not a programming error
                facing_azimuth(facing)
            except ValueError as err:
                raise RenderError(f'{context}: {err}') from err
        if camera is None and look_at is None:
            geo = get_geometry()
            look_at = look_at_point(geo['body_verts'], geo['obj_verts'])
        tries = 1 if camera is not None else self.max_camera_tries
        reasons = []
        extra = dict(self.extra or {}, style_seed=self.seed) if self.style.randomised else self.extra
        for attempt in range(tries):
            cam = camera if camera is not None else self.sample_camera(seq_name, t_star, look_at, attempt, facing)
            key = None
            if self.cache is not None:
                key = self.cache.key(seq_name, t_star, cam, self.style, self.renderer_version, extra)
                entry = self.cache.lookup(key)
                if entry.status == 'ok':
                    self.cache.hits += 1
                    return ReferenceImage(entry.image, entry.camera, key, True, attempt)
                if entry.status == 'rejected' and entry.meta.get('checks') == self.checks and camera is None:
                    reasons.append(entry.reason)
                    continue
                self.cache.misses += 1
                if entry.status == 'corrupt':
                    self.cache.report_corrupt(entry, context)
            rng = camera_rng(self.seed, 'style', seq_name, int(t_star), attempt)
            window = None
            if camera is None:  # a given camera is already the final one (e.g. read from an index)
                cam, window = self.style.frame(cam, look_at, rng)
            image, reason = self._render_checked(get_geometry(), cam, context, rng, window)
            if image is None:
                reasons.append(reason)
                if self.cache is not None:
                    self.cache.put_rejection(key, reason, cam, dict(seq_name=seq_name, t_star=int(t_star),
                                                                    attempt=attempt, checks=self.checks))
                continue
            if self.cache is not None:
                self.cache.put(key, image, cam, dict(
                    seq_name=seq_name, t_star=int(t_star), attempt=attempt, style=self.style.cache_config(),
                    renderer_version=self.renderer_version, extra=extra, window=window))
            return ReferenceImage(image, cam, key, False, attempt)
        what = 'the given camera' if camera is not None else f'{tries} sampled cameras'
        reasons = '; '.join(dict.fromkeys(reasons))  # distinct reasons, in order
        raise RenderError(f'{context}: {what} did not show the body and the object ({reasons}). '
                          'Widen the camera ranges (distance, field of view) or check the geometry.')

    def _amodal_pixels(self, what: str, render: dict, verts, faces, camera: Camera, pixels: int, outside) -> int:
        """The pixels of `what` ('body'/'object', mesh `verts`/`faces`) in the render with its occluders ignored,
        or an upper bound of that count when the bound already passes the occlusion check.

        The bound needs no rendering: a pixel of the mesh drawn alone is either visible in the render or hidden by
        something drawn in front of it, so it lies in the render's `drawn_mask` (pixels where anything was drawn)
        and in the mesh's `mesh_footprint`. Where visible / bound >= min_visible_fraction, visible / exact is too,
        so the decision is the one the exact count gives; otherwise the mesh is drawn alone (one flat pass).
        `outside`: (H, W) bool of the pixels outside the picture window (None: no window)."""
        footprint = mesh_footprint(camera, verts, faces)
        if footprint is not None:
            bound = int(np.count_nonzero(footprint & render['drawn_mask']))  # drawn_mask is windowed already
            if pixels / max(1, bound) >= self.min_visible_fraction:
                return bound
        alone = get_renderer(camera.width, camera.height).amodal_mask(what)
        return int(np.count_nonzero(alone if outside is None else alone & ~outside))

    def _render_checked(self, geo: dict, camera: Camera, context: str, rng=None, window=None):
        """(image, '') when the camera (within the picture `window` (x0, y0, x1, y1), None: the whole image)
        shows both meshes, else (None, reason)."""
        need = min(self.min_in_view, self.style.min_in_view)
        for what, verts in (('body', geo['body_verts']), ('object', geo['obj_verts'])):
            inside = points_in_view(camera, verts, margin=self.view_margin)
            if window is not None:
                uv, _ = project_points(camera, verts)
                inside &= (uv[:, 0] >= window[0] - 0.5) & (uv[:, 0] <= window[2] - 0.5) \
                    & (uv[:, 1] >= window[1] - 0.5) & (uv[:, 1] <= window[3] - 0.5)
            inside = float(inside.mean())
            if inside < need:
                return None, f'{inside:.1%} of the {what} vertices in view (need {need:.0%})'
        rng = rng if rng is not None else np.random.default_rng(self.seed)
        kwargs = {**self.style.render_kwargs(), **self.style.scene_kwargs(geo, camera, rng)}
        mesh_geo = [geo[k] for k in ('body_verts', 'body_faces', 'obj_verts', 'obj_faces')]
        render = render_scene(*mesh_geo, camera, context=context, **kwargs)
        self.renders += 1
        outside = None
        if window is not None:  # only the picture counts: pixels outside it become padding
            outside = np.ones((camera.height, camera.width), bool)
            outside[window[1]:window[3], window[0]:window[2]] = False
            for name in [k for k in render if k.endswith('_mask')]:
                render[name] = render[name] & ~outside
            render['window'] = tuple(window)
        for what, verts, faces in (('body', geo['body_verts'], geo['body_faces']),
                                   ('object', geo['obj_verts'], geo['obj_faces'])):
            pixels = int(render[f'{what}_mask'].sum())
            if pixels < self.min_visible_pixels:
                return None, f'{pixels} visible {what} pixels (need {self.min_visible_pixels})'
            if self.min_visible_fraction > 0:
                fraction = pixels / max(1, self._amodal_pixels(what, render, verts, faces, camera, pixels, outside))
                if fraction < self.min_visible_fraction:
                    return None, (f'{fraction:.0%} of the {what} visible, the rest occluded '
                                  f'(need {self.min_visible_fraction:.0%})')
        image = self.style(render, rng)
        if image.min() == image.max():  # cannot happen with visible meshes; never let a blank image through
            raise RenderError(f'{context}: the {self.style.name} image is blank')
        return image, ''
