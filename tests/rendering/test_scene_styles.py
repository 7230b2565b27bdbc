"""The `scene` and `degraded` styles: registry and cache identity, determinism per seed, the mirrored scene,
furniture that never hides the interaction, garment regions, the degradations and the white padding."""
import json

import numpy as np
import pytest

from imagin4d.registry import RENDER_STYLES
from imagin4d.rendering import (
    DegradedStyle,
    ReferenceRenderer,
    RenderCache,
    SceneStyle,
    build_style,
    camera_rng,
    mirror_camera,
    mirror_mesh,
    points_in_view,
    render_scene,
)
from imagin4d.rendering.appearance import PARTS, body_parts, dress_body, parts_from_skinning
from imagin4d.rendering.degrade import DEGRADE_DEFAULTS, degrade_image, pad_to_square
from imagin4d.rendering.room import mirror_scene_kwargs

P = {name: i for i, name in enumerate(PARTS)}


def silhouette_iou(a, b):
    return (a & b).sum() / max(1, (a | b).sum())


def test_styles_registered_and_identity_changes_with_options():
    assert isinstance(RENDER_STYLES.build(dict(type='scene')), SceneStyle)
    degraded = build_style('degraded')
    assert isinstance(degraded, DegradedStyle) and degraded.base.name == 'mesh'
    cfg = json.loads(json.dumps(build_style(dict(type='degraded', base='scene')).cache_config()))
    assert cfg['type'] == 'degraded' and cfg['base']['type'] == 'scene'
    assert cfg['jpeg_quality'] == list(DEGRADE_DEFAULTS['jpeg_quality'])
    ids = {json.dumps(build_style(s).cache_config(), sort_keys=True) for s in (
        'scene', dict(type='scene', room=False), 'degraded', dict(type='degraded', blur_sigma=(0.0, 2.0)),
        dict(type='degraded', base='scene'))}
    assert len(ids) == 5
    with pytest.raises(TypeError, match='blur'):
        build_style(dict(type='degraded', blurr=(0, 1)))


def test_pad_to_square_pads_with_white_centred():
    picture = np.zeros((2, 4, 3), np.uint8)
    picture[..., 1] = 7
    out = pad_to_square(picture)
    assert out.shape == (4, 4, 3)
    assert (out[0] == 255).all() and (out[3] == 255).all()          # one white row above and below
    assert np.array_equal(out[1:3], picture)


def test_degrade_identity_ranges_keep_the_image_and_defaults_change_it():
    rng = np.random.default_rng(0)
    image = (np.indices((32, 32)).sum(0)[..., None] * [2, 3, 4]).astype(np.uint8)   # smooth ramps
    identity = dict(gain=(1, 1), saturation=(1, 1), contrast=(1, 1), brightness=(0, 0), gamma=(1, 1),
                    blur_sigma=(0, 0), noise_sigma=(0, 0), jpeg_quality=(100, 100))
    same = degrade_image(image, rng, None, identity)
    assert same.shape == image.shape and np.abs(same.astype(int) - image).mean() < 2.0
    window = (8, 0, 24, 32)   # a 16 x 32 portrait picture
    out = degrade_image(image, np.random.default_rng(1), window)
    assert out.shape == image.shape and (out[:, :8] == 255).all() and (out[:, 24:] == 255).all()
    assert np.abs(out[:, 8:24].astype(int) - image[:, 8:24]).mean() > 3


def test_parts_from_skinning_weights_and_fallbacks():
    joints = np.array([15, 12, 9, 18, 20, 1, 4, 7, 22, 30])          # head, neck, spine3, elbow, wrist, ...
    weights = np.eye(55)[joints]
    expected = ['head', 'neck', 'torso', 'forearm', 'hand', 'thigh', 'shin', 'foot', 'head', 'hand']
    assert parts_from_skinning(weights, 'smplx').tolist() == [P[p] for p in expected]
    assert parts_from_skinning(np.eye(52)[[22]], 'smplh').tolist() == [P['hand']]   # a finger joint in SMPL-H
    # nearest bone of a standing joints24 skeleton: points next to the shins, forearms and above the head
    from imagin4d.body_models import skeletons
    joints24 = np.zeros((24, 3))
    names = skeletons.JOINTS24_NAMES
    for name, z in (('pelvis', 0.95), ('spine1', 1.05), ('spine2', 1.2), ('spine3', 1.3), ('neck', 1.5),
                    ('head', 1.6), ('left_collar', 1.4), ('right_collar', 1.4)):
        joints24[names.index(name)] = (0, 0, z)
    for side, x in (('left', -1), ('right', 1)):
        for name, pos in (('hip', (0.1, 0, 0.9)), ('knee', (0.1, 0, 0.5)), ('ankle', (0.1, 0, 0.08)),
                          ('foot', (0.1, 0.1, 0.02)), ('shoulder', (0.2, 0, 1.4)), ('elbow', (0.45, 0, 1.4)),
                          ('wrist', (0.7, 0, 1.4)), ('hand', (0.78, 0, 1.4))):
            joints24[names.index(f'{side}_{name}')] = (x * pos[0], pos[1], pos[2])
    points = np.array([[0.13, 0.0, 0.3], [-0.6, 0.04, 1.42], [0.0, 0.0, 1.75], [0.0, 0.1, 1.15]])
    assert body_parts(points, joints24=joints24).tolist() == [P['shin'], P['forearm'], P['head'], P['torso']]
    heights = np.array([[0, 0, 0.0], [0, 0, 1.8], [0, 0, 1.2]])
    assert body_parts(heights).tolist() == [P['foot'], P['head'], P['torso']]
    with pytest.raises(ValueError, match='body_parts'):
        body_parts(heights, parts=np.zeros(2, int))


def test_dress_body_is_deterministic_and_colours_garments_apart_from_skin(toy):
    parts = body_parts(toy['body_verts'])
    a = dress_body(toy['body_verts'], parts, np.random.default_rng(5))
    b = dress_body(toy['body_verts'], parts, np.random.default_rng(5))
    c = dress_body(toy['body_verts'], parts, np.random.default_rng(6))
    assert a.shape == (len(parts), 3) and np.array_equal(a, b) and not np.array_equal(a, c)
    assert (a >= 0).all() and (a <= 1).all()
    neck = a[parts == P['neck']].mean(0)     # skin
    for garment in ('torso', 'hips', 'foot'):    # top, bottom, shoes: drawn apart from the skin tone
        assert np.abs(a[parts == P[garment]].mean(0) - neck).max() > 1e-3, garment


@pytest.mark.slow
@pytest.mark.parametrize('style', ['scene', 'degraded', dict(type='degraded', base='scene')])
def test_deterministic_per_seed_and_in_view(toy, style):
    a = ReferenceRenderer(style, width=64, height=64, seed=3)('fbm/s1', 40, toy)
    b = ReferenceRenderer(style, width=64, height=64, seed=3)('fbm/s1', 40, toy)
    c = ReferenceRenderer(style, width=64, height=64, seed=4)('fbm/s1', 40, toy)
    assert np.array_equal(a.image, b.image) and a.camera.allclose(b.camera)
    assert not np.array_equal(a.image, c.image)
    need = build_style(style).min_in_view
    for verts in (toy['body_verts'], toy['obj_verts']):
        assert points_in_view(a.camera, verts).mean() >= need


@pytest.mark.slow
def test_scene_differs_from_mesh_and_shows_a_room(toy, make_camera):
    style = build_style('scene')
    camera = make_camera(0, size=64)
    kwargs = {**style.render_kwargs(), **style.scene_kwargs(toy, camera, camera_rng(0, 'x'))}
    render = render_scene(**toy, camera=camera, **kwargs)
    assert render['room_mask'].mean() > 0.2 and render['floor_mask'].mean() > 0.1
    mesh = build_style('mesh')
    plain = mesh(render_scene(**toy, camera=camera, **mesh.render_kwargs()))
    assert np.abs(style(render).astype(int) - plain).mean() > 20


@pytest.mark.slow
@pytest.mark.parametrize('index', range(6))
def test_room_never_hides_the_interaction(toy, make_camera, index):
    """The furniture and walls are placed outside the line of sight: the body and object pixels are the same
    with and without the room."""
    style = build_style('scene')
    camera = make_camera(index, size=96)
    kwargs = {**style.render_kwargs(), **style.scene_kwargs(toy, camera, camera_rng(index, 'room'))}
    assert len(kwargs['room']) >= 3
    with_room = render_scene(**toy, camera=camera, **kwargs)
    without = render_scene(**toy, camera=camera, **{**kwargs, 'room': None})
    for name in ('body_mask', 'object_mask'):
        assert np.array_equal(with_room[name], without[name]), name


@pytest.mark.slow
@pytest.mark.parametrize('index', [0, 1, 2])
def test_mirrored_scene_renders_the_flipped_image(toy, make_camera, index):
    style = build_style('scene')
    camera = make_camera(index, size=64)
    kwargs = {**style.render_kwargs(), **style.scene_kwargs(toy, camera, camera_rng(index, 'mirror'))}
    body = mirror_mesh(toy['body_verts'], toy['body_faces'])
    obj = mirror_mesh(toy['obj_verts'], toy['obj_faces'])
    a = render_scene(**toy, camera=camera, **kwargs)
    b = render_scene(*body, *obj, mirror_camera(camera), **mirror_scene_kwargs(kwargs))
    flip = lambda im: im[:, ::-1]  # noqa: E731
    for name in ('body_mask', 'object_mask', 'room_mask', 'floor_mask'):
        assert silhouette_iou(flip(a[name]), b[name]) >= 0.95, name
    assert np.abs(flip(a['rgb']).astype(int) - b['rgb']).mean() < 3.0
    # guard: the unmirrored room under the mirrored camera is not the flipped image
    c = render_scene(*body, *obj, mirror_camera(camera), **kwargs)
    assert np.abs(flip(a['rgb']).astype(int) - c['rgb']).mean() > 3 * np.abs(flip(a['rgb']).astype(int)
                                                                               - b['rgb']).mean()


@pytest.mark.slow
def test_mirrored_degraded_scene_renders_the_flipped_image(toy, toy_look_at, make_camera):
    """Framing and photometric changes keep the mirror property when drawn once (no noise: it is per pixel)."""
    style = build_style(dict(type='degraded', base='scene', noise_sigma=(0.0, 0.0), p_nonsquare=1.0))
    camera, window = style.frame(make_camera(1, size=64), toy_look_at, camera_rng(0, 'frame'))
    kwargs = {**style.render_kwargs(), **style.scene_kwargs(toy, camera, camera_rng(0, 'look'))}
    body = mirror_mesh(toy['body_verts'], toy['body_faces'])
    obj = mirror_mesh(toy['obj_verts'], toy['obj_faces'])
    a = render_scene(**toy, camera=camera, **kwargs)
    b = render_scene(*body, *obj, mirror_camera(camera), **mirror_scene_kwargs(kwargs))
    x0, y0, x1, y1 = window
    assert x0 + x1 == 64 and (x1 - x0, y1 - y0) != (64, 64)   # non-square, centred: its mirror is itself
    ia = style(dict(a, window=window), camera_rng(0, 'photo'))
    ib = style(dict(b, window=window), camera_rng(0, 'photo'))
    assert np.abs(ia[:, ::-1].astype(int) - ib).mean() < 4.0


@pytest.mark.slow
def test_cache_keyed_by_options_and_seed(tmp_path, toy):
    first = ReferenceRenderer('scene', width=64, height=64, seed=1, cache_root=tmp_path)
    ref = first('fbm/s1', 10, toy)
    again = ReferenceRenderer('scene', width=64, height=64, seed=1, cache_root=tmp_path)('fbm/s1', 10, toy)
    assert again.cached and np.array_equal(again.image, ref.image)
    no_room = ReferenceRenderer(dict(type='scene', room=False), width=64, height=64, seed=1, cache_root=tmp_path)
    other = no_room('fbm/s1', 10, toy)
    assert not other.cached and other.key != ref.key
    # the same fixed camera with another seed: another look, so another key
    fixed = ReferenceRenderer('scene', width=64, height=64, seed=2, cache_root=tmp_path)('fbm/s1', 10, toy,
                                                                                          camera=ref.camera)
    assert not fixed.cached and fixed.key != ref.key and not np.array_equal(fixed.image, ref.image)
    meta = RenderCache(tmp_path).lookup(ref.key).meta
    assert meta['style']['type'] == 'scene' and meta['extra']['style_seed'] == 1


def test_write_mixture_index(tmp_path):
    from imagin4d.rendering.dataset_references import load_reference_index, write_mixture_index
    refs = tmp_path / 'references'
    refs.mkdir()
    for style, n in (('mesh', 2), ('scene', 3)):
        entries = [dict(seq_name=f's{i}', window_start=0, t_star=5, image=f'cache/{style}{i}.png', camera={},
                        style=style) for i in range(n)]
        (refs / f'train_{style}.json').write_text(json.dumps(entries))
    counts = write_mixture_index([str(refs / 'train_mesh.json'), str(refs / 'train_scene.json')],
                                 str(refs / 'train_mixture.json'))
    assert counts == {'mesh': 2, 'scene': 3}
    mixed = load_reference_index(str(refs / 'train_mixture.json'))
    assert sorted(e['image'] for e in mixed) == sorted(
        str(refs / 'cache' / f'{s}{i}.png') for s, n in (('mesh', 2), ('scene', 3)) for i in range(n))


@pytest.mark.parametrize('style', ['scene', 'degraded'])
def test_a_frame_no_camera_shows_is_reported(toy, style):
    """As for mesh: cameras too close to show the interaction are re-sampled, then the frame is named in the error
    (the index builder reports it and leaves it out)."""
    from imagin4d.rendering import RenderError
    renderer = ReferenceRenderer(style, width=64, height=64, seed=0, max_camera_tries=3,
                                 camera_ranges=dict(distance_range=(0.3, 0.4)))
    with pytest.raises(RenderError, match=r"sequence 'fbm/s9' frame 12: 3 sampled cameras did not show"):
        renderer('fbm/s9', 12, toy)
    assert renderer.renders == 0   # rejected by the in-view check before any render
