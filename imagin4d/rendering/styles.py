"""Reference-image styles: `mesh` (shaded body + object on a floor, plain background), `sketch` (line drawing),
`scene` (clothed body, textured object, procedural room, varied light) and `degraded` (framing + photo defects).

Owns the `RENDER_STYLES` entries `MeshStyle` ('mesh'), `SketchStyle` ('sketch'), `SceneStyle` ('scene'),
`DegradedStyle` ('degraded') and `build_style`. A style says which render it needs (`render_kwargs`, passed to
`scene.render_scene`), how it is identified in the render cache (`cache_config`) and turns a render dict into
the image: `style(render, rng) -> (H, W, 3) uint8`. Styles that draw per image (`randomised = True`) also get,
from `ReferenceRenderer`, generators determined by (seed, sequence, frame, camera try): `frame` may vary the
sampled camera and choose a non-square picture window, `scene_kwargs` adds per-image render arguments.
"""
from typing import Optional, Union

import numpy as np

from imagin4d.registry import RENDER_STYLES

from . import edges
from .scene import SCENE_DEFAULTS

__all__ = ['RenderStyle', 'MeshStyle', 'SketchStyle', 'SceneStyle', 'DegradedStyle', 'build_style']


class RenderStyle:
    """Base class: subclasses set `name`, fill `self.params` (JSON-able) and implement `__call__`."""
    name = 'style'
    randomised = False  # True: the image depends on the per-image generators (the renderer seed keys the cache)
    min_in_view = 1.0   # fraction of body/object vertices that must lie inside the picture (cropping styles: less)

    def frame(self, camera, look_at, rng: np.random.Generator):
        """(camera to render with, picture window (x0, y0, x1, y1) or None for the whole image)."""
        return camera, None

    def scene_kwargs(self, geometry: dict, camera, rng: np.random.Generator) -> dict:
        """Per-image keyword arguments for `render_scene` on top of `render_kwargs` (geometry: the frame's
        body_verts/faces, obj_verts/faces and optional joints24 (24, 3) / body_parts (Vb,))."""
        return {}

    def __init__(self, **params):
        self.params = params

    def render_kwargs(self) -> dict:
        """Keyword arguments for `render_scene` (with_floor, shading, appearance options)."""
        raise NotImplementedError

    def cache_config(self) -> dict:
        """JSON-able identity of the look: the style name and every parameter that changes pixels."""
        return dict(type=self.name, **{k: list(v) if isinstance(v, tuple) else v for k, v in self.params.items()})

    def __call__(self, render: dict, rng: Optional[np.random.Generator] = None) -> np.ndarray:
        raise NotImplementedError

    def __repr__(self) -> str:
        args = ', '.join(f'{k}={v!r}' for k, v in self.params.items())
        return f'{type(self).__name__}({args})'


def shaded_rgb(render: dict, style: str) -> np.ndarray:
    """The shaded colour image of a render (H, W, 3) uint8, a copy; `style` names the style that needs it."""
    if 'rgb' not in render:
        raise ValueError(f'{style} needs a shaded render (render_scene(..., shading=True))')
    return np.ascontiguousarray(render['rgb'], dtype=np.uint8).copy()


@RENDER_STYLES.register_module(name=['MeshStyle', 'mesh'])
class MeshStyle(RenderStyle):
    """Clean shaded render: light-blue body, yellow object, grey floor disc with the key light's shadow, plain
    background (the paper's MeshImg). Colours are linear RGB in [0, 1]."""
    name = 'mesh'

    def __init__(self, body_color=SCENE_DEFAULTS['body_color'], object_color=SCENE_DEFAULTS['object_color'],
                 floor: bool = True, floor_color=SCENE_DEFAULTS['floor_color'],
                 floor_radius: float = SCENE_DEFAULTS['floor_radius'], background=SCENE_DEFAULTS['background'],
                 shadows: bool = True, shadow_strength: float = SCENE_DEFAULTS['shadow_strength']):
        super().__init__(body_color=tuple(map(float, body_color)), object_color=tuple(map(float, object_color)),
                         floor=bool(floor), floor_color=tuple(map(float, floor_color)),
                         floor_radius=float(floor_radius), background=tuple(map(float, background)),
                         shadows=bool(shadows), shadow_strength=float(shadow_strength))

    def render_kwargs(self) -> dict:
        p = dict(self.params)
        return dict(with_floor=p.pop('floor'), shading=True, **p)

    def __call__(self, render: dict, rng: Optional[np.random.Generator] = None) -> np.ndarray:
        return shaded_rgb(render, type(self).__name__)


@RENDER_STYLES.register_module(name=['SketchStyle', 'sketch'])
class SketchStyle(RenderStyle):
    """Black-on-white line drawing from the render's silhouettes, depth discontinuities and normal creases
    (see `edges.sketch_lines`); needs no shaded pass. `line_width` is in pixels at a 224-pixel-wide image and
    scales with the image width; `floor_outline` is the strength of the floor disc's rim (0 hides it)."""
    name = 'sketch'

    def __init__(self, depth_jump: float = 0.03, crease_angle: float = 40.0, crease_strength: float = 0.85,
                 floor: bool = True, floor_outline: float = 0.5,
                 floor_radius: float = SCENE_DEFAULTS['floor_radius'], line_width: float = 1.0,
                 blur_sigma: float = 0.5):
        super().__init__(depth_jump=float(depth_jump), crease_angle=float(crease_angle),
                         crease_strength=float(crease_strength), floor=bool(floor),
                         floor_outline=float(floor_outline), floor_radius=float(floor_radius),
                         line_width=float(line_width), blur_sigma=float(blur_sigma))

    def render_kwargs(self) -> dict:
        return dict(with_floor=self.params['floor'], shading=False, floor_radius=self.params['floor_radius'])

    def __call__(self, render: dict, rng: Optional[np.random.Generator] = None) -> np.ndarray:
        p = self.params
        labels = edges.label_map(render)
        strength = edges.sketch_lines(render['depth'], labels, render['K'], depth_jump=p['depth_jump'],
                                      crease_angle=p['crease_angle'], crease_strength=p['crease_strength'],
                                      floor_outline=p['floor_outline'] if p['floor'] else 0.0)
        scale = labels.shape[1] / 224.0
        return edges.ink(strength, line_width=p['line_width'] * scale, blur_sigma=p['blur_sigma'] * max(scale, 1.0))


@RENDER_STYLES.register_module(name=['SceneStyle', 'scene'])
class SceneStyle(RenderStyle):
    """The paper's SceneImg look, made in code: the body dressed per image (skin tone, hair, a top and a bottom
    with plain, striped or heathered fabric, shoes; garment regions from the body's skinning weights or joints,
    `appearance.py`), the object coloured and textured, a room around them (`room.py`: textured floor and two
    walls, a rug, furniture that never hides the interaction) and varied light (key/fill/ambient intensity in
    the ranges below, warm to cool colour, key-light height). Everything is drawn from the per-image generator.
    `room=False` leaves the room out (plain `background`)."""
    name = 'scene'
    randomised = True
    LIGHT_RANGES = dict(key_light=(1.2, 3.5), fill_light=(0.15, 0.7), ambient=(0.1, 0.45), key_tilt=(0.2, 1.2),
                        warmth=(-1.0, 1.0))

    def __init__(self, room: bool = True, shadows: bool = True, shadow_strength: float = 0.4,
                 background=(0.85, 0.85, 0.85)):
        super().__init__(room=bool(room), shadows=bool(shadows), shadow_strength=float(shadow_strength),
                         background=tuple(map(float, background)))

    def render_kwargs(self) -> dict:
        p = self.params
        return dict(with_floor=not p['room'], shading=True, shadows=p['shadows'],
                    shadow_strength=p['shadow_strength'], background=p['background'], floor_radius=20.0)

    def scene_kwargs(self, geometry: dict, camera, rng: np.random.Generator) -> dict:
        from .appearance import body_parts, dress_body, texture, textured_surface
        from .room import build_room
        body, obj = geometry['body_verts'], geometry['obj_verts']
        parts = body_parts(body, geometry.get('body_parts'), geometry.get('joints24'))
        out = dict(body_colors=dress_body(body, parts, rng))
        base = np.clip(rng.uniform(0.05, 0.9, 3), 0, 1)
        kind = ('plain', 'stripes', 'checker', 'planks', 'noise')[rng.integers(5)]
        out['object_texture'] = (textured_surface(obj, geometry['obj_faces'], rng.uniform(0.1, 0.4)),
                                 texture(kind, rng, base, size=64))
        r = self.LIGHT_RANGES
        warmth = rng.uniform(*r['warmth'])
        out.update({k: float(rng.uniform(*r[k])) for k in ('key_light', 'fill_light', 'ambient', 'key_tilt')})
        out['light_color'] = tuple(np.clip(1.0 + 0.15 * warmth * np.array([1.0, 0.0, -1.0]), 0, 1.2))
        if self.params['room']:
            points = np.concatenate([body[::max(1, len(body) // 500)], obj[::max(1, len(obj) // 200)]])
            out['room'] = build_room(points, camera, (points.min(0) + points.max(0)) / 2.0, rng)
        return out

    def __call__(self, render: dict, rng: Optional[np.random.Generator] = None) -> np.ndarray:
        return shaded_rgb(render, type(self).__name__)


@RENDER_STYLES.register_module(name=['DegradedStyle', 'degraded'])
class DegradedStyle(RenderStyle):
    """A base style (default `mesh`; any registered style or config dict) photographed badly: the camera orbited,
    moved, zoomed and shifted (subject off-centre, partly cropped), a non-square picture padded with white as the
    inference path pads one, colour shift, blur, noise and JPEG (`degrade.py`, ranges `DEGRADE_DEFAULTS`, each
    overridable by keyword). `min_in_view`: the fraction of body and object vertices that must stay in the
    picture."""
    name = 'degraded'
    randomised = True

    def __init__(self, base='mesh', min_in_view: float = 0.8, **ranges):
        from .degrade import DEGRADE_DEFAULTS
        unknown = set(ranges) - set(DEGRADE_DEFAULTS)
        if unknown:
            raise TypeError(f'unknown degraded-style options {sorted(unknown)}; known: {sorted(DEGRADE_DEFAULTS)}')
        self.base = build_style(base)
        self.min_in_view = float(min_in_view)
        merged = {k: tuple(map(float, v)) if isinstance(v, (tuple, list)) else float(v)
                  for k, v in {**DEGRADE_DEFAULTS, **ranges}.items()}
        super().__init__(base=self.base.cache_config(), min_in_view=self.min_in_view, **merged)

    def _ranges(self) -> dict:
        return {k: v for k, v in self.params.items() if k not in ('base', 'min_in_view')}

    def render_kwargs(self) -> dict:
        return self.base.render_kwargs()

    def frame(self, camera, look_at, rng: np.random.Generator):
        from .degrade import vary_camera
        return vary_camera(camera, look_at, rng, self._ranges())

    def scene_kwargs(self, geometry: dict, camera, rng: np.random.Generator) -> dict:
        return self.base.scene_kwargs(geometry, camera, rng)

    def __call__(self, render: dict, rng: Optional[np.random.Generator] = None) -> np.ndarray:
        from .degrade import degrade_image
        rng = rng if rng is not None else np.random.default_rng(0)
        return degrade_image(self.base(render, rng), rng, render.get('window'), self._ranges())


def build_style(style: Union[str, dict, RenderStyle]) -> RenderStyle:
    """A style from an instance, a registered name ('mesh', 'sketch', 'MeshStyle', ...) or a config dict."""
    if isinstance(style, RenderStyle):
        return style
    cfg = dict(type=style) if isinstance(style, str) else dict(style)
    return RENDER_STYLES.build(cfg)
