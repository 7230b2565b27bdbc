"""Pure numpy/OpenCV drawing of one HOI frame: a flat-shaded object mesh, the joints24 skeleton as depth-scaled
capsules, contact discs, floor grid and drop shadows, seen through a pinhole `Camera` (painter's algorithm).

Owns `draw_hoi_frame`, `simplify_mesh` (vertex clustering that bounds the per-frame cost), `scale_camera`,
`overview_camera` and the palette `DRAW_STYLE`. No OpenGL: it runs in any process (also one that later forks,
and on a headless machine), at a few ms per panel. World frame Z up, metres; colours are RGB uint8.
"""
import math
from typing import Optional, Sequence, Tuple

import numpy as np

from imagin4d.body_models.skeletons import JOINTS24_NAMES, JOINTS24_PARENTS
from imagin4d.rendering.camera import Camera, intrinsics_from_fov, look_at_world_to_cam

__all__ = ['DRAW_STYLE', 'draw_hoi_frame', 'simplify_mesh', 'scale_camera', 'overview_camera', 'CONTACT_JOINTS']

#: Colours (RGB uint8) and sizes (metres) of the drawing. The object colour is the reference images' yellow.
DRAW_STYLE = dict(
    background=(255, 255, 255), floor=(214, 214, 214), shadow=(200, 200, 200), object=(250, 194, 64),
    left=(60, 110, 225), right=(225, 75, 60), centre=(105, 105, 120), contact=(30, 170, 70),
    bone_radius=0.028, head_radius=0.10, contact_radius=0.05, floor_step=0.5, floor_extent=2.5)

#: joints24 indices of the four contact labels (left hand, right hand, left foot, right foot).
CONTACT_JOINTS = tuple(JOINTS24_NAMES.index(n) for n in ('left_hand', 'right_hand', 'left_foot', 'right_foot'))
_HEAD = JOINTS24_NAMES.index('head')
_BONES = np.array([(j, p) for j, p in enumerate(JOINTS24_PARENTS) if p >= 0])                 # (23, 2)
_BONE_SIDE = ['left' if JOINTS24_NAMES[j].startswith('left') else 'right'
              if JOINTS24_NAMES[j].startswith('right') else 'centre' for j, _ in _BONES]
_NEAR = 0.05         # metres: geometry closer to the camera plane than this is clipped (lines) or dropped (faces)
_SHIFT = 3           # OpenCV fixed-point bits of the pixel coordinates (1/8 pixel precision)
_ONE = 1 << _SHIFT


def scale_camera(camera: Camera, width: int, height: int) -> Camera:
    """The same camera for an image of `width` x `height` pixels (intrinsics scaled, pixel centres kept)."""
    sx, sy = width / camera.width, height / camera.height
    K = camera.K.copy()
    K[0, 0], K[0, 1], K[0, 2] = K[0, 0] * sx, K[0, 1] * sx, (K[0, 2] + 0.5) * sx - 0.5
    K[1, 1], K[1, 2] = K[1, 1] * sy, (K[1, 2] + 0.5) * sy - 0.5
    return Camera(K=K, world_to_cam=camera.world_to_cam, width=width, height=height)


def overview_camera(points: np.ndarray, width: int, height: int, azimuth_deg: float = 65.0,
                    elevation_deg: float = 22.0, fov_deg: float = 50.0, margin: float = 1.1) -> Camera:
    """A camera that sees all `points` (N, 3): looking at their bounding-box centre from `azimuth_deg` (in the
    xy-plane from +x towards +y; the canonical body faces +y at frame 0, so 65 degrees is a front-side view) and
    `elevation_deg`, at the distance where the bounding sphere fits the smaller field of view (times `margin`)."""
    points = np.asarray(points, dtype=np.float64).reshape(-1, 3)
    points = points[np.isfinite(points).all(1)]
    if len(points) == 0:
        raise ValueError('overview_camera needs at least one finite point')
    centre = (points.min(0) + points.max(0)) / 2.0
    radius = max(float(np.linalg.norm(points - centre, axis=1).max()), 0.5)
    K = intrinsics_from_fov(fov_deg, width, height)
    half_fov = min(math.atan(0.5 * height / K[1, 1]), math.atan(0.5 * width / K[0, 0]))
    distance = margin * radius / math.sin(half_fov)
    az, el = math.radians(azimuth_deg), math.radians(elevation_deg)
    eye = centre + distance * np.array([math.cos(el) * math.cos(az), math.cos(el) * math.sin(az), math.sin(el)])
    return Camera(K=K, world_to_cam=look_at_world_to_cam(eye, centre), width=width, height=height)


def simplify_mesh(vertices: np.ndarray, faces: np.ndarray, max_faces: int) -> Tuple[np.ndarray, np.ndarray]:
    """Vertex-clustering simplification to at most `max_faces` faces (for drawing only).

    vertices: (V, 3), faces: (F, 3) -> (vertices (V', 3) float64, faces (F', 3) int64). Vertices falling in the
    same cubic cell are merged into their mean; faces that collapse or repeat are dropped. The cell is grown until
    the face count fits. A mesh already within the budget is returned unchanged.
    """
    vertices = np.asarray(vertices, dtype=np.float64)
    faces = np.asarray(faces, dtype=np.int64)
    if len(faces) <= max_faces:
        return vertices, faces
    diagonal = float(np.linalg.norm(vertices.max(0) - vertices.min(0))) or 1.0
    cell = diagonal / (2.0 * math.sqrt(max_faces))
    for _ in range(40):
        keys = np.floor((vertices - vertices.min(0)) / cell).astype(np.int64)
        _, cluster, counts = np.unique(keys, axis=0, return_inverse=True, return_counts=True)
        cluster = cluster.reshape(-1)
        merged = np.zeros((len(counts), 3))
        np.add.at(merged, cluster, vertices)
        merged /= counts[:, None]
        collapsed = cluster[faces]
        collapsed = collapsed[(collapsed[:, 0] != collapsed[:, 1]) & (collapsed[:, 1] != collapsed[:, 2])
                              & (collapsed[:, 0] != collapsed[:, 2])]
        _, first = np.unique(np.sort(collapsed, axis=1), axis=0, return_index=True)
        new_faces = collapsed[np.sort(first)]                      # the first copy of a face keeps its winding
        if len(new_faces) <= max_faces:
            return merged, new_faces
        cell *= 1.3
    return merged, new_faces


def _to_camera(camera: Camera, points: np.ndarray) -> np.ndarray:
    return np.asarray(points, dtype=np.float64) @ camera.R.T + camera.t


def _pixels(camera: Camera, cam_points: np.ndarray) -> np.ndarray:
    """Camera-frame points (N, 3) with z > 0 -> fixed-point pixel coordinates (N, 2) int32."""
    pix = cam_points @ camera.K.T
    uv = pix[:, :2] / pix[:, 2:3]
    return np.round(np.clip(uv, -1e5, 1e5) * _ONE).astype(np.int32)


def _clip_segments(a: np.ndarray, b: np.ndarray) -> Tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Clip camera-frame segments a-b (N, 3) to z >= _NEAR -> (a', b', kept (N,) bool)."""
    za, zb = a[:, 2], b[:, 2]
    kept = (za >= _NEAR) | (zb >= _NEAR)
    with np.errstate(divide='ignore', invalid='ignore'):
        s = np.clip((_NEAR - za) / (zb - za), 0.0, 1.0)[:, None]
    a2 = np.where((za < _NEAR)[:, None], a + s * (b - a), a)
    b2 = np.where((zb < _NEAR)[:, None], a + s * (b - a), b)
    return a2, b2, kept


def _draw_floor(canvas: np.ndarray, camera: Camera, centre_xy: Sequence[float], style: dict) -> None:
    import cv2
    step, extent = float(style['floor_step']), float(style['floor_extent'])
    cx, cy = (round(float(c) / step) * step for c in centre_xy)      # grid lines stay at world-fixed positions
    ticks = np.arange(-extent, extent + 1e-9, step)
    starts = np.concatenate([np.stack([cx + ticks, np.full_like(ticks, cy - extent)], 1),
                             np.stack([np.full_like(ticks, cx - extent), cy + ticks], 1)])
    ends = np.concatenate([np.stack([cx + ticks, np.full_like(ticks, cy + extent)], 1),
                           np.stack([np.full_like(ticks, cx + extent), cy + ticks], 1)])
    zeros = np.zeros((len(starts), 1))
    a, b, kept = _clip_segments(_to_camera(camera, np.hstack([starts, zeros])),
                                _to_camera(camera, np.hstack([ends, zeros])))
    color = tuple(int(c) for c in style['floor'])
    for p, q in zip(_pixels(camera, a[kept]), _pixels(camera, b[kept])):
        cv2.line(canvas, tuple(p.tolist()), tuple(q.tolist()), color, 1, cv2.LINE_AA, _SHIFT)


def _draw_shadows(canvas: np.ndarray, camera: Camera, joints: Optional[np.ndarray], obj_verts: Optional[np.ndarray],
                  style: dict) -> None:
    """Vertical drop shadows on z = 0: the object's footprint (convex hull) and the skeleton's."""
    import cv2
    color = tuple(int(c) for c in style['shadow'])
    if obj_verts is not None:
        flat = np.asarray(obj_verts, np.float64).copy()
        flat[:, 2] = 0.0
        cam = _to_camera(camera, flat)
        if (cam[:, 2] > _NEAR).all():
            hull = cv2.convexHull(_pixels(camera, cam))
            cv2.fillConvexPoly(canvas, hull, color, cv2.LINE_AA, _SHIFT)
    if joints is not None:
        flat = np.asarray(joints, np.float64).copy()
        flat[:, 2] = 0.0
        a, b, kept = _clip_segments(_to_camera(camera, flat[_BONES[:, 0]]), _to_camera(camera, flat[_BONES[:, 1]]))
        if not kept.any():
            return
        depth = max(float(np.median(a[kept, 2])), _NEAR)
        width = int(np.clip(round(camera.K[0, 0] * style['bone_radius'] / depth), 1, 255))
        for p, q in zip(_pixels(camera, a[kept]), _pixels(camera, b[kept])):
            cv2.line(canvas, tuple(p.tolist()), tuple(q.tolist()), color, width, cv2.LINE_AA, _SHIFT)


def _face_colors(tri_world: np.ndarray, camera: Camera, base: Sequence[int]) -> np.ndarray:
    """Flat two-sided shading of faces (F, 3, 3) -> (F, 3) uint8: ambient + a headlight + a light from above."""
    normal = np.cross(tri_world[:, 1] - tri_world[:, 0], tri_world[:, 2] - tri_world[:, 0])
    normal /= np.maximum(np.linalg.norm(normal, axis=1, keepdims=True), 1e-12)
    head = np.abs(normal @ camera.forward)
    top = np.abs(normal[:, 2])
    intensity = np.clip(0.45 + 0.4 * head + 0.2 * top, 0.0, 1.05)
    return np.clip(np.asarray(base, np.float64)[None] * intensity[:, None], 0, 255).astype(np.uint8)


def draw_hoi_frame(canvas: np.ndarray, camera: Camera, joints: Optional[np.ndarray] = None,
                   obj_verts: Optional[np.ndarray] = None, obj_faces: Optional[np.ndarray] = None,
                   contacts: Optional[np.ndarray] = None, floor_centre: Optional[Sequence[float]] = None,
                   style: Optional[dict] = None) -> np.ndarray:
    """Draw one interaction state onto `canvas` (H, W, 3) uint8 (in place; returned) as seen by `camera`
    (whose size must be the canvas size).

    joints: (24, 3) joints24 positions; obj_verts: (V, 3) placed object vertices with obj_faces (F, 3);
    contacts: (4,) contact values (lh, rh, lf, rf; > 0.5 = in contact: a green disc at that joint);
    floor_centre: (2,) xy around which the floor grid is drawn (None: no floor, no shadows).
    Object faces and skeleton bones are drawn far to near (painter's algorithm on their mean depth), so the body
    and the object occlude each other; faces with a vertex behind the camera are skipped.
    """
    import cv2
    style = {**DRAW_STYLE, **(style or {})}
    if canvas.shape[:2] != (camera.height, camera.width):
        raise ValueError(f'canvas is {canvas.shape[1]}x{canvas.shape[0]} but the camera is '
                         f'{camera.width}x{camera.height}')
    if floor_centre is not None:
        _draw_floor(canvas, camera, floor_centre, style)
        _draw_shadows(canvas, camera, joints, obj_verts, style)

    depths, kinds, items = [], [], []                # painter's list: depth, kind, drawing payload
    if obj_verts is not None and obj_faces is not None and len(obj_faces):
        obj_verts = np.asarray(obj_verts, np.float64)
        obj_faces = np.asarray(obj_faces, np.int64)
        cam = _to_camera(camera, obj_verts)
        front = (cam[obj_faces, 2] > _NEAR).all(1)
        faces = obj_faces[front]
        if len(faces):
            pix = _pixels(camera, np.where(cam[:, 2:3] > _NEAR, cam, 1.0))
            colors = _face_colors(obj_verts[faces], camera, style['object'])
            depths.append(cam[faces, 2].mean(1))
            kinds.append(np.zeros(len(faces), np.int8))
            items.extend(zip(pix[faces], colors.tolist()))
    if joints is not None:
        joints = np.asarray(joints, np.float64)
        cam = _to_camera(camera, joints)
        a, b, kept = _clip_segments(cam[_BONES[:, 0]], cam[_BONES[:, 1]])
        a, b = a[kept], b[kept]
        f = float(camera.K[0, 0])
        mid = 0.5 * (a[:, 2] + b[:, 2])
        width = np.clip(np.round(2 * f * style['bone_radius'] / np.maximum(mid, _NEAR)), 1, 255).astype(int)
        colors = [tuple(int(c) for c in style[side]) for side, k in zip(_BONE_SIDE, kept) if k]
        bones = list(zip(map(tuple, _pixels(camera, a).tolist()), map(tuple, _pixels(camera, b).tolist()),
                         width.tolist(), colors))
        depths.append(mid)
        kinds.append(np.ones(len(bones), np.int8))
        items.extend(bones)
        discs = []                                    # (joint, radius in metres, colour)
        if cam[_HEAD, 2] > _NEAR:
            discs.append((_HEAD, style['head_radius'], style['centre']))
        if contacts is not None:
            contacts = np.asarray(contacts, np.float64).reshape(-1)
            discs += [(j, style['contact_radius'], style['contact']) for j, c in zip(CONTACT_JOINTS, contacts)
                      if c > 0.5 and cam[j, 2] > _NEAR]
        if discs:
            ids = [d[0] for d in discs]
            pix = _pixels(camera, cam[ids])
            disc_items = [(tuple(p), min(255, max(1, int(round(f * r / cam[j, 2])))) * _ONE,
                           tuple(int(x) for x in c)) for p, (j, r, c) in zip(pix.tolist(), discs)]
            depths.append(cam[ids, 2] - 1e-3)         # a disc sits just in front of its bone ends
            kinds.append(np.full(len(discs), 2, np.int8))
            items.extend(disc_items)
    if not depths:
        return canvas

    kind_of = np.concatenate(kinds).tolist()
    aa = cv2.LINE_AA
    for index in np.argsort(-np.concatenate(depths), kind='stable').tolist():   # far to near
        kind, item = kind_of[index], items[index]
        if kind == 0:                                 # face: (pixels (3, 2), colour)
            cv2.fillConvexPoly(canvas, item[0], item[1], cv2.LINE_8, _SHIFT)
        elif kind == 1:                               # bone: (pixel, pixel, width, colour)
            cv2.line(canvas, item[0], item[1], item[3], item[2], aa, _SHIFT)
        else:                                         # disc: (pixel, radius, colour)
            cv2.circle(canvas, item[0], item[1], item[2], -1, aa, _SHIFT)
    return canvas
