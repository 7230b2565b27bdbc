"""Styles: registry, mesh (shaded with a floor), sketch (line drawing)."""
import json

import numpy as np
import pytest

from imagin4d.registry import RENDER_STYLES
from imagin4d.rendering import MeshStyle, SketchStyle, build_style, render_scene


def test_styles_registered_under_names_and_aliases():
    assert isinstance(RENDER_STYLES.build(dict(type='mesh')), MeshStyle)
    assert isinstance(RENDER_STYLES.build(dict(type='SketchStyle', line_width=2.0)), SketchStyle)
    assert isinstance(build_style('sketch'), SketchStyle)
    style = build_style(dict(type='MeshStyle', shadows=False))
    assert style.render_kwargs()['shadows'] is False and build_style(style) is style
    cfg = json.loads(json.dumps(style.cache_config()))
    assert cfg['type'] == 'mesh' and cfg['shadows'] is False
    assert build_style('mesh').cache_config() != style.cache_config()
    with pytest.raises(KeyError, match='render style'):
        build_style('watercolour')


@pytest.mark.slow
def test_mesh_style_is_shaded_with_visible_floor_and_shadow(toy, make_camera):
    style = build_style('mesh')
    render = render_scene(**toy, camera=make_camera(1, size=96), **style.render_kwargs())
    image = style(render)
    assert image.shape == (96, 96, 3) and image.dtype == np.uint8
    floor = render['floor_mask']
    floor_grey = image[floor].astype(int)
    assert floor.sum() > 500 and np.median(floor_grey) < 235  # the floor is visibly darker than the background
    assert (floor_grey.min(1) < np.median(floor_grey) - 40).sum() > 10  # shadow pixels on the floor
    body_grey = image[render['body_mask']].mean(-1)
    assert body_grey.std() > 5  # shaded, not flat
    no_floor = build_style(dict(type='mesh', floor=False))
    plain = no_floor(render_scene(**toy, camera=make_camera(1, size=96), **no_floor.render_kwargs()))
    assert (plain[~(render['body_mask'] | render['object_mask'])] == 255).mean() > 0.95


@pytest.mark.slow
def test_sketch_style_is_a_line_drawing(toy, make_camera):
    style = build_style('sketch')
    assert style.render_kwargs()['shading'] is False
    render = render_scene(**toy, camera=make_camera(2, size=96), **style.render_kwargs())
    assert 'rgb' not in render
    image = style(render)
    assert image.shape == (96, 96, 3) and np.array_equal(image[..., 0], image[..., 2])  # grey
    dark = image[..., 0] < 128
    assert (image[..., 0] == 255).mean() > 0.8  # mostly white paper
    assert 0.01 < dark.mean() < 0.15  # thin lines
    fg = render['body_mask'] | render['object_mask']
    # every silhouette pixel of body/object is drawn, and ink stays on or next to them (or the floor rim)
    from imagin4d.rendering.edges import label_map
    labels = label_map(render)
    edge = fg & ~(np.roll(fg, 1, 0) & np.roll(fg, -1, 0) & np.roll(fg, 1, 1) & np.roll(fg, -1, 1))
    assert dark[edge].mean() > 0.9
    interior = fg & ~edge
    assert dark[interior].mean() < 0.5  # not filled in
    assert dark[labels == 0].mean() < 0.05
