"""pyrender/EGL scene rendering: determinism, non-blank output, projection agreement, mirror property, errors."""
import numpy as np
import pytest

from imagin4d.rendering import (
    Camera,
    RenderError,
    build_style,
    mirror_camera,
    mirror_mesh,
    points_in_view,
    project_points,
    render_scene,
)
from imagin4d.rendering.camera import look_at_world_to_cam

pytestmark = pytest.mark.slow  # renders images (software EGL on CPU machines)


def silhouette_iou(a: np.ndarray, b: np.ndarray) -> float:
    return float((a & b).sum() / max(1, (a | b).sum()))


def test_render_deterministic_non_blank_and_in_view(toy, make_camera):
    camera = make_camera(0, size=64)
    a = render_scene(**toy, camera=camera)
    b = render_scene(**toy, camera=camera)
    for key in ('rgb', 'depth', 'body_mask', 'object_mask', 'floor_mask'):
        assert np.array_equal(a[key], b[key]), key
    assert a['rgb'].shape == (64, 64, 3) and a['rgb'].dtype == np.uint8
    assert a['depth'].shape == (64, 64) and a['depth'].dtype == np.float32
    assert a['rgb'].std() > 10  # not blank
    assert a['body_mask'].sum() > 100 and a['object_mask'].sum() > 20 and a['floor_mask'].sum() > 200
    assert not (a['body_mask'] & a['object_mask']).any()
    # background is white, the body is light blue, the object yellow, the floor grey
    bg = ~(a['body_mask'] | a['object_mask'] | a['floor_mask'])
    assert (a['rgb'][bg] == 255).all(-1).mean() > 0.9  # white but for anti-aliased edge pixels
    body, obj = a['rgb'][a['body_mask']].mean(0), a['rgb'][a['object_mask']].mean(0)
    assert body[2] > body[0] and obj[0] > obj[2]
    assert points_in_view(camera, toy['body_verts']).all() and points_in_view(camera, toy['obj_verts']).all()


@pytest.mark.parametrize('index', [0, 1, 2])
def test_rendered_masks_and_depth_agree_with_projection(toy, make_camera, index):
    camera = make_camera(index, size=96)
    out = render_scene(**toy, camera=camera, with_floor=False, shading=False)
    verts = np.concatenate([toy['body_verts'], toy['obj_verts']])
    uv, z = project_points(camera, verts)
    silhouette = out['body_mask'] | out['object_mask']
    ys, xs = np.nonzero(silhouette)
    # OpenCV pixel centres: the mask's bounding box matches the projected vertices' to within a pixel
    assert abs(xs.min() - uv[:, 0].min()) < 1.0 and abs(xs.max() - uv[:, 0].max()) < 1.0
    assert abs(ys.min() - uv[:, 1].min()) < 1.0 and abs(ys.max() - uv[:, 1].max()) < 1.0
    px = np.round(uv).astype(int)
    on_mask = silhouette[px[:, 1], px[:, 0]]
    grown = silhouette | np.roll(silhouette, 1, 0) | np.roll(silhouette, -1, 0) | np.roll(silhouette, 1, 1) \
        | np.roll(silhouette, -1, 1)
    assert on_mask.mean() > 0.85 and grown[px[:, 1], px[:, 0]].mean() > 0.995  # silhouette vertices: +-1 px
    # rendered depth at the vertices that are visible equals their camera z
    rendered = out['depth'][px[:, 1], px[:, 0]]
    visible = on_mask & (np.abs(rendered - z) < 0.05)
    assert visible.mean() > 0.25  # about the camera-facing half
    footprint = np.median(z) / camera.K[0, 0]  # metres per pixel at the body: ~2.5 cm here
    assert np.median(np.abs(rendered[visible] - z[visible])) < footprint


@pytest.mark.parametrize('index', [0, 1, 2, 3])
def test_mirrored_interaction_renders_the_flipped_image(toy, make_camera, index):
    camera = make_camera(index, size=64)
    body = mirror_mesh(toy['body_verts'], toy['body_faces'])
    obj = mirror_mesh(toy['obj_verts'], toy['obj_faces'])
    a = render_scene(**toy, camera=camera)
    b = render_scene(*body, *obj, mirror_camera(camera))
    flip = lambda im: im[:, ::-1]  # noqa: E731
    iou = silhouette_iou(flip(a['body_mask'] | a['object_mask']), b['body_mask'] | b['object_mask'])
    assert iou >= 0.95
    assert silhouette_iou(flip(a['body_mask']), b['body_mask']) >= 0.95
    assert silhouette_iou(flip(a['object_mask']), b['object_mask']) >= 0.95
    # lights follow the camera, so even the shading flips (up to rasterisation at edges)
    assert np.abs(flip(a['rgb']).astype(int) - b['rgb']).mean() < 2.0
    sketch = build_style('sketch')
    sa = sketch(render_scene(**toy, camera=camera, shading=False))
    sb = sketch(render_scene(*body, *obj, mirror_camera(camera), shading=False))
    assert silhouette_iou(flip(sa[..., 0] < 128), sb[..., 0] < 128) >= 0.9


def test_mirror_of_asymmetric_pose_is_not_the_original(toy, make_camera):
    """Guards the mirror test: the toy pose is left-right asymmetric, so mirroring changes the image."""
    camera = make_camera(0, size=64)
    body = mirror_mesh(toy['body_verts'], toy['body_faces'])
    obj = mirror_mesh(toy['obj_verts'], toy['obj_faces'])
    a = render_scene(**toy, camera=camera)
    b = render_scene(*body, *obj, camera)
    assert silhouette_iou(a['body_mask'] | a['object_mask'], b['body_mask'] | b['object_mask']) < 0.8


def test_bad_meshes_raise_render_error_naming_the_frame(toy, make_camera):
    camera = make_camera(0, size=64)
    ctx = "sequence 'fbm/sub1_box' frame 42"
    cases = [
        dict(body_verts=None),
        dict(obj_faces=np.zeros((0, 3), int)),
        dict(body_verts=toy['body_verts'][:, :2]),
        dict(obj_verts=np.full_like(toy['obj_verts'], np.nan)),
        dict(body_faces=toy['body_faces'] + len(toy['body_verts'])),
        dict(obj_faces=toy['obj_faces'].astype(float)),
    ]
    for override in cases:
        with pytest.raises(RenderError, match="fbm/sub1_box' frame 42"):
            render_scene(**{**toy, **override}, camera=camera, context=ctx)
    with pytest.raises(TypeError, match="appearance"):
        render_scene(**toy, camera=camera, not_an_option=1)


def test_renderer_size_mismatch_and_empty_view(toy, make_camera):
    camera = make_camera(0, size=64)
    from imagin4d.rendering import get_renderer
    with pytest.raises(ValueError, match='64x64'):
        get_renderer(96, 96).render(**toy, camera=camera)
    away = Camera(camera.K, look_at_world_to_cam([0, -3, 1], [0, -6, 1]), 64, 64)  # looking away
    out = render_scene(**toy, camera=away, with_floor=False)
    assert out['body_mask'].sum() == 0 and (out['rgb'] == 255).all()  # the reference renderer rejects this


def test_shadow_darkening_is_byte_identical_to_the_whole_image_formula(toy, make_camera):
    """`_darken` only computes the pixels whose factor is not 1; the result equals the whole-image formula byte
    for byte on a real shaded render with its shadow, and on random inputs at 448 px."""
    import cv2

    from imagin4d.rendering import scene as scene_module

    def whole_image(rgb, shadow, floor, strength):
        soft = cv2.GaussianBlur(shadow.astype(np.float32), (0, 0), 0.6 * max(1.0, rgb.shape[1] / 224.0))
        factor = 1.0 - strength * soft * floor
        return np.clip(np.round(rgb * factor[..., None]), 0, 255).astype(np.uint8)

    camera = make_camera(0, size=96)
    out = render_scene(toy['body_verts'], toy['body_faces'], toy['obj_verts'], toy['obj_faces'], camera=camera,
                       shadows=False)
    rng = np.random.default_rng(0)
    shadow = np.zeros(out['floor_mask'].shape, bool)
    shadow[40:70, 20:60] = True
    cases = [(out['rgb'], shadow, out['floor_mask'], 0.35)]
    cases += [(rng.integers(0, 256, (448, 448, 3), dtype=np.uint8), rng.random((448, 448)) < p,
               rng.random((448, 448)) < 0.6, strength) for p, strength in ((0.02, 0.35), (0.5, 0.9), (0.0, 0.5))]
    for rgb, shadow, floor, strength in cases:
        got = scene_module._darken(rgb, shadow, floor, strength)
        assert got.dtype == np.uint8 and got.shape == rgb.shape
        np.testing.assert_array_equal(got, whole_image(rgb, shadow, floor, strength))


def test_draw_order_is_fixed_so_renders_repeat_byte_for_byte(toy, make_camera):
    """pyrender draws the meshes in the order of a set (object ids); ties between meshes at the same pose are
    now broken by name, so the same inputs give the same bytes however the nodes hash."""
    import pyrender

    from imagin4d.rendering.scene import OffscreenRenderer
    scene = pyrender.Scene()
    scene.add(pyrender.PerspectiveCamera(yfov=1.0), pose=np.eye(4))
    box = pyrender.Mesh.from_points(np.zeros((1, 3), np.float32))
    for name in ('shadow', 'object', 'body'):
        scene.add(box, name=name)
    far = np.eye(4)
    far[2, 3] = -5.0
    scene.add(box, name='floor', pose=far)
    assert [n.name for n in OffscreenRenderer._sorted_mesh_nodes(scene)] == ['floor', 'body', 'object', 'shadow']
    camera = make_camera(1, size=128)
    images = [render_scene(toy['body_verts'], toy['body_faces'], toy['obj_verts'], toy['obj_faces'], camera=camera)
              for _ in range(4)]
    for image in images[1:]:
        for key in ('rgb', 'depth', 'body_mask', 'object_mask', 'floor_mask'):
            np.testing.assert_array_equal(image[key], images[0][key])
