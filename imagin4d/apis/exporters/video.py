"""Mesh video of one generated interaction (`HOIResult`): its camera, layout and frames (pyrender body + object
mesh beside the reference image, the depicted frame t^ marked) and the MP4 (`video_io.write_video`)."""
import math
from typing import Optional, Tuple

import numpy as np

from imagin4d.rendering.camera import Camera, intrinsics_from_fov, look_at_world_to_cam, project_points
from imagin4d.rendering.scene import get_renderer
from imagin4d.visualization.raster import CONTACT_JOINTS, DRAW_STYLE, _draw_floor
from imagin4d.visualization.sample_render import MARK_COLORS, _font_scale, _mark_panel, _put_text, render_layout
from imagin4d.visualization.video_io import write_video

__all__ = ['render_result_video', 'render_result_frames', 'result_camera', 'result_geometry', 'video_layout',
           'DEFAULT_VIDEO_SIZE', 'MARK_HALF_WIDTH']

#: Side of the square render panel in pixels (and of the reference panel). 120 frames took 13-16 s on two shared
#: CPU cores (Mesa llvmpipe; ~95 ms a frame: pyrender's 4x multisampled segmentation and shaded passes).
DEFAULT_VIDEO_SIZE = 384
#: Frames within this many frames of t^ carry the depicted-frame mark.
MARK_HALF_WIDTH = 2
_BAR_COLOR, _PAD_COLOR = (40, 40, 48), 255
_GRID = dict(floor=(255, 255, 255), floor_step=0.5)   # floor grid lines: drawn as alpha, darkened onto the floor
_GRID_STRENGTH = 0.28
_FRONT_SIDE_DEG, _ELEVATION_DEG, _FOV_DEG = -25.0, 22.0, 40.0  # camera azimuth from the body's facing, height
_BORDER = 0.04                                        # fraction of the image kept free on each side
_CONTACT_RADIUS = 0.07                                # metres: the ring around a hand in contact


def result_geometry(result) -> dict:
    """Per-frame meshes of a result, world frame: body_verts (T, V, 3) float32 from ONE batched body-model
    forward, body_faces (F, 3) int64, joints24 (T, 24, 3) of that forward, obj_verts (T, Vo, 3) float32,
    obj_faces (Fo, 3) int64."""
    import torch

    from imagin4d.body_models import load_body_model
    _require_result(result)
    if result.body_model_root is None:
        raise ValueError('HOIResult.body_model_root is required (the folder with smplx/SMPLX_{GENDER}.npz)')
    mesh = result.object_mesh
    if mesh is None or not hasattr(mesh, 'vertices') or not hasattr(mesh, 'faces'):
        raise ValueError(f'HOIResult.object_mesh must be a trimesh.Trimesh, got {type(mesh).__name__}')
    body = load_body_model(result.body_model_root, 'smplx', result.gender, num_betas=max(10, len(result.betas)))
    with torch.no_grad():
        out = body(betas=torch.as_tensor(result.betas), global_orient=torch.as_tensor(result.global_orient),
                   body_pose=torch.as_tensor(result.body_pose), transl=torch.as_tensor(result.transl),
                   left_hand_pose=torch.as_tensor(result.left_hand_pose),
                   right_hand_pose=torch.as_tensor(result.right_hand_pose))
    obj_verts = result.object_vertices()
    geometry = dict(body_verts=out['vertices'].numpy().astype(np.float32),
                    body_faces=body.faces.numpy().astype(np.int64), joints24=out['joints24'].double().numpy(),
                    obj_verts=obj_verts.astype(np.float32), obj_faces=np.asarray(mesh.faces, np.int64))
    for name in ('body_verts', 'obj_verts'):
        bad = np.flatnonzero(~np.isfinite(geometry[name]).all((1, 2)))
        if len(bad):
            raise ValueError(f'the result has non-finite {name} at frames {bad[:10].tolist()}: finite values '
                             'expected (a diverged generation?)')
    return geometry


def _require_result(result) -> None:
    from imagin4d.apis.results import HOIResult
    if not isinstance(result, HOIResult):
        raise TypeError(f'expected an imagin4d.apis.results.HOIResult, got {type(result).__name__}')


def result_camera(result, width: int, height: int, geometry: Optional[dict] = None) -> Camera:
    """The video's fixed camera: from the front-side of the body's frame-0 facing (25 degrees to its right),
    22 degrees above, vertical field of view 40 degrees, aimed and placed so that every body and object vertex
    of every frame projects inside the image with a 4% border on each side (tight: `_fit_distance`).

    geometry: `result_geometry(result)` when already computed."""
    geometry = geometry if geometry is not None else result_geometry(result)
    clouds = [geometry['body_verts'].reshape(-1, 3), geometry['obj_verts'].reshape(-1, 3)]
    joints = geometry['joints24'][0]
    across = joints[1] - joints[2] + joints[16] - joints[17]           # left - right (hips + shoulders)
    facing = math.atan2(-across[0], across[1]) if np.hypot(*across[:2]) > 1e-6 else math.pi / 2
    az, el = facing + math.radians(_FRONT_SIDE_DEG), math.radians(_ELEVATION_DEG)
    back = np.array([math.cos(el) * math.cos(az), math.cos(el) * math.sin(az), math.sin(el)])  # target -> eye
    K = intrinsics_from_fov(_FOV_DEG, width, height)
    axes = look_at_world_to_cam(back, np.zeros(3))[:3, :3]            # rows: image right, image down, forward
    half = (1.0 - 2 * _BORDER) * np.array([0.5 * width / K[0, 0], 0.5 * height / K[1, 1]])  # tan of half views
    # the frustum is convex and its four side planes have fixed normals: only the points extreme along those
    # normals (and the nearest one) can bind, whatever the target and distance, so the fit runs on those 5
    normals = np.stack([axes[0] - half[0] * axes[2], -axes[0] - half[0] * axes[2], axes[1] - half[1] * axes[2],
                        -axes[1] - half[1] * axes[2], -axes[2]])
    lo = np.min([c.min(0) for c in clouds], 0).astype(np.float64)
    hi = np.max([c.max(0) for c in clouds], 0).astype(np.float64)
    target = (lo + hi) / 2.0
    points = np.concatenate([c[(c @ normals.T.astype(np.float32)).argmax(0)] for c in clouds]).astype(np.float64)
    for _ in range(2):    # fit the distance, centre the projected extent on the image, fit again
        distance = _fit_distance(points - target, axes, half)
        rel = (points - target) @ axes.T
        ratios = rel[:, :2] / (distance + rel[:, 2:3])                 # normalised image coordinates
        mid = (ratios.min(0) + ratios.max(0)) / 2.0
        target = target + distance * (mid[0] * axes[0] + mid[1] * axes[1])
    distance = _fit_distance(points - target, axes, half)
    world_to_cam = look_at_world_to_cam(target + distance * back, target)
    return Camera(K=K, world_to_cam=world_to_cam, width=width, height=height)


def _fit_distance(rel: np.ndarray, axes: np.ndarray, half: np.ndarray) -> float:
    """The smallest camera distance from the target at which all points (rel (N, 3), relative to the target)
    satisfy |x| <= half_x z and |y| <= half_y z (camera axes `axes` (3, 3)) and lie 0.3 m in front."""
    cam = rel @ axes.T
    need = np.maximum(np.abs(cam[:, 0]) / half[0], np.abs(cam[:, 1]) / half[1]) - cam[:, 2]
    return float(max(need.max(), 0.3 - cam[:, 2].min(), 0.5))


def video_layout(size: int = DEFAULT_VIDEO_SIZE, with_reference: bool = True) -> dict:
    """Pixel layout of a video frame: `sample_render.render_layout` of (reference |) render panels of size x size
    (title bar of `bar` rows, panels from row `top`, bottom bar with caption and frame counter) plus
    `render_x0` / `reference_x0` (None without a reference), the first column of each panel."""
    layout = render_layout(size, 2 if with_reference else 1)
    layout.update(reference_x0=0 if with_reference else None, render_x0=size if with_reference else 0)
    return layout


def _reference_panel(image, width: int, height: int) -> np.ndarray:
    """An (H, W), (H, W, 3) or (H, W, 4) uint8 image (RGBA composited on white), padded with white to the
    panel's aspect (not squashed) and resized to (height, width, 3)."""
    import cv2
    image = np.asarray(image)
    if image.dtype != np.uint8 or not (image.ndim == 2 or (image.ndim == 3 and image.shape[2] in (3, 4))) \
            or min(image.shape[:2]) == 0:
        raise ValueError(f'reference_image must be an (H, W), (H, W, 3) or (H, W, 4) uint8 array, got '
                         f'{image.shape} {image.dtype}')
    if image.ndim == 2:
        image = np.repeat(image[..., None], 3, axis=2)
    elif image.shape[2] == 4:
        alpha = image[..., 3:].astype(np.float32) / 255.0
        image = np.round(image[..., :3] * alpha + 255.0 * (1.0 - alpha)).astype(np.uint8)
    h, w = image.shape[:2]
    if w * height > h * width:                       # wider than the panel: pad rows
        pad = int(round(w * height / width)) - h
        image = np.pad(image, ((pad // 2, pad - pad // 2), (0, 0), (0, 0)), constant_values=_PAD_COLOR)
    else:
        pad = int(round(h * width / height)) - w
        image = np.pad(image, ((0, 0), (pad // 2, pad - pad // 2), (0, 0)), constant_values=_PAD_COLOR)
    shrink = image.shape[1] > width
    return cv2.resize(np.ascontiguousarray(image), (width, height),
                      interpolation=cv2.INTER_AREA if shrink else cv2.INTER_LINEAR)


def _grid_alpha(camera: Camera, centre_xy, extent: float) -> np.ndarray:
    """(H, W) float32 in [0, 1]: anti-aliased world-fixed floor grid lines (0.5 m) drawn through `camera`."""
    canvas = np.zeros((camera.height, camera.width, 3), np.uint8)
    _draw_floor(canvas, camera, centre_xy, dict(_GRID, floor_extent=extent))
    return canvas[..., 0].astype(np.float32) / 255.0


def _draw_contacts(panel: np.ndarray, camera: Camera, joints: np.ndarray, contacts: np.ndarray) -> None:
    """Green rings around the hands whose contact label is > 0.5 (contacts (4,), joints (24, 3))."""
    import cv2
    uv, depth = project_points(camera, joints[list(CONTACT_JOINTS[:2])])
    for k in range(2):
        if contacts[k] > 0.5 and depth[k] > 0.05:
            radius = max(3, int(round(camera.K[0, 0] * _CONTACT_RADIUS / depth[k])))
            centre = tuple(int(round(c)) for c in uv[k])
            cv2.circle(panel, centre, radius, DRAW_STYLE['contact'], max(1, camera.width // 192), cv2.LINE_AA)


def render_result_frames(result, reference_image=None, size: int = DEFAULT_VIDEO_SIZE, shadows: bool = True,
                         show_contacts: bool = True, title: Optional[str] = None) -> np.ndarray:
    """Render a result as video frames (T, H, W, 3) uint8 RGB; the layout is `video_layout(size, reference?)`.

    Left panel (when `reference_image` is given: (H, W) | (H, W, 3) | (H, W, 4) uint8, any aspect, padded):
    the reference image. Right panel (size x size): the body-model mesh (light blue) and the object (yellow) on
    a grey floor with a 0.5 m grid and shadows, seen by `result_camera`; green rings on hands in contact
    (contact > 0.5) when `show_contacts`. Frames within MARK_HALF_WIDTH of round(t_hat) get a purple border
    on both panels, 't^' badges and the caption 't^ = <frame>'. The bottom bar shows the title (default
    result.meta['name']) and 'frame t/T'.

    Renders in this process (an EGL context, Mesa llvmpipe on CPU): do not fork workers that render afterwards.
    """
    import cv2
    size = int(size)
    if size < 32:
        raise ValueError(f'size must be at least 32 pixels, got {size}')
    _require_result(result)
    layout = video_layout(size, reference_image is not None)
    pw, ph, bar, border, top = (layout[k] for k in ('panel_w', 'panel_h', 'bar', 'border', 'top'))
    reference = None if reference_image is None else _reference_panel(reference_image, pw, ph)
    if result.t_hat is not None and not math.isfinite(float(result.t_hat)):
        raise ValueError(f'HOIResult.t_hat must be a finite frame index or None, got {result.t_hat}')
    geometry = result_geometry(result)
    num_frames = result.num_frames
    x_ref, x_render = layout['reference_x0'], layout['render_x0']
    camera = result_camera(result, pw, ph, geometry)

    background = np.empty((layout['height'], layout['width'], 3), np.uint8)
    background[:] = _BAR_COLOR
    if x_ref is not None:
        background[top:top + ph, x_ref:x_ref + pw] = reference
        _put_text(background[:bar, x_ref:x_ref + pw], 'reference', 4, bar)
    _put_text(background[:bar, x_render:x_render + pw], 'generated', 4, bar)
    t_hat = None if result.t_hat is None else int(round(float(result.t_hat)))
    counter_width, mark_width = (cv2.getTextSize(text, cv2.FONT_HERSHEY_SIMPLEX, _font_scale(bar), 1)[0][0] for text in
                                 (f'frame {num_frames}/{num_frames}', f't^ = {t_hat}  '))
    caption_right = layout['width'] - counter_width - 12          # the mark caption and the counter stay right
    name = title if title is not None else str(result.meta.get('name', ''))
    _put_text(background[top + ph:], name, 4, bar, limit=max(8, caption_right - mark_width - 8))

    roots = geometry['joints24'][:, 0, :2]
    lo = np.minimum(geometry['body_verts'].min((0, 1)), geometry['obj_verts'].min((0, 1)))[:2]
    hi = np.maximum(geometry['body_verts'].max((0, 1)), geometry['obj_verts'].max((0, 1)))[:2]
    # the scene renderer centres its floor disc on each frame's meshes: make it cover the whole motion and more
    floor_radius = float(np.linalg.norm(hi - lo)) + 2.5
    grid = _grid_alpha(camera, roots.mean(0), floor_radius + 2.0)
    renderer = get_renderer(pw, ph)
    frames = np.empty((num_frames, layout['height'], layout['width'], 3), np.uint8)
    for t in range(num_frames):
        out = renderer.render(geometry['body_verts'][t], geometry['body_faces'], geometry['obj_verts'][t],
                              geometry['obj_faces'], camera, with_floor=True, shading=True,
                              floor_radius=floor_radius, shadows=shadows, context=f'frame {t}')
        rgb = out['rgb'].astype(np.float32)
        rgb *= 1.0 - _GRID_STRENGTH * (grid * out['floor_mask'])[..., None]
        frame = frames[t]
        frame[:] = background
        panel = frame[top:top + ph, x_render:x_render + pw]
        panel[:] = np.round(rgb).astype(np.uint8)
        if show_contacts:
            _draw_contacts(panel, camera, geometry['joints24'][t], result.contacts[t])
        _put_text(frame[top + ph:], f'frame {t}/{num_frames}', 4, bar, right=layout['width'] - 4)
        if t_hat is not None and abs(t - t_hat) <= MARK_HALF_WIDTH:
            _put_text(frame[top + ph:], f't^ = {t_hat}', 4, bar, right=caption_right,
                      color=MARK_COLORS['pred_t_star'])
            # sample_render's t^ mark (purple border band, 't^' badge in the title bar), on each panel
            for x0 in (x_render,) if x_ref is None else (x_ref, x_render):
                _mark_panel(frame, dict(pred_t_star=t), t, 'pred', x0, pw, ph, bar, border)
    return frames


def render_result_video(result, path: str, reference_image=None, size: int = DEFAULT_VIDEO_SIZE,
                        fps: Optional[float] = None, **options) -> Tuple[str, str]:
    """Render a result (`render_result_frames`, options: shadows, show_contacts, title) and write it as an MP4
    (`video_io.write_video`; a GIF where no MP4 encoder exists). fps: default result.fps.
    Returns (path written, encoder)."""
    frames = render_result_frames(result, reference_image=reference_image, size=size, **options)
    return write_video(path, frames, fps=float(fps if fps is not None else result.fps), fmt='mp4')
