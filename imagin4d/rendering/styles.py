"""Reference-image styles: `mesh` (shaded body + object on a floor, plain background) and `sketch` (line drawing).

Owns the `RENDER_STYLES` entries `MeshStyle` (alias 'mesh') and `SketchStyle` (alias 'sketch') and
`build_style`. A style says which render it needs (`render_kwargs`, passed to `scene.render_scene`), how it is
identified in the render cache (`cache_config`) and turns a render dict into the image:
`style(render) -> (H, W, 3) uint8`.
"""
from typing import Union

import numpy as np

from imagin4d.registry import RENDER_STYLES

from . import edges
from .scene import SCENE_DEFAULTS

__all__ = ['RenderStyle', 'MeshStyle', 'SketchStyle', 'build_style']


class RenderStyle:
    """Base class: subclasses set `name`, fill `self.params` (JSON-able) and implement `__call__`."""
    name = 'style'

    def __init__(self, **params):
        self.params = params

    def render_kwargs(self) -> dict:
        """Keyword arguments for `render_scene` (with_floor, shading, appearance options)."""
        raise NotImplementedError

    def cache_config(self) -> dict:
        """JSON-able identity of the look: the style name and every parameter that changes pixels."""
        return dict(type=self.name, **{k: list(v) if isinstance(v, tuple) else v for k, v in self.params.items()})

    def __call__(self, render: dict) -> np.ndarray:
        raise NotImplementedError

    def __repr__(self) -> str:
        args = ', '.join(f'{k}={v!r}' for k, v in self.params.items())
        return f'{type(self).__name__}({args})'


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

    def __call__(self, render: dict) -> np.ndarray:
        if 'rgb' not in render:
            raise ValueError('MeshStyle needs a shaded render (render_scene(..., shading=True))')
        return np.ascontiguousarray(render['rgb'], dtype=np.uint8).copy()


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

    def __call__(self, render: dict) -> np.ndarray:
        p = self.params
        labels = edges.label_map(render)
        strength = edges.sketch_lines(render['depth'], labels, render['K'], depth_jump=p['depth_jump'],
                                      crease_angle=p['crease_angle'], crease_strength=p['crease_strength'],
                                      floor_outline=p['floor_outline'] if p['floor'] else 0.0)
        scale = labels.shape[1] / 224.0
        return edges.ink(strength, line_width=p['line_width'] * scale, blur_sigma=p['blur_sigma'] * max(scale, 1.0))


def build_style(style: Union[str, dict, RenderStyle]) -> RenderStyle:
    """A style from an instance, a registered name ('mesh', 'sketch', 'MeshStyle', ...) or a config dict."""
    if isinstance(style, RenderStyle):
        return style
    cfg = dict(type=style) if isinstance(style, str) else dict(style)
    return RENDER_STYLES.build(cfg)
