"""Pinhole cameras for reference images: the `Camera` record, look-at extrinsics, sampling, projection, mirroring.

Owns the camera convention of the renderer: OpenCV (camera x right, y down, z forward; pixel (0, 0) is the
centre of the top-left pixel), world Z-up in metres. Pure numpy, no rendering and no framework glue.
"""
import hashlib
import json
import math
from dataclasses import dataclass
from typing import Optional, Sequence, Tuple

import numpy as np

__all__ = [
    'Camera', 'intrinsics_from_fov', 'look_at_world_to_cam', 'sample_camera', 'facing_azimuth', 'camera_rng',
    'project_points',
    'points_in_view', 'mesh_footprint', 'mirror_camera', 'MIRROR_WORLD', 'DEFAULT_CAMERA_RANGES',
]

# Reflection x -> -x: the left-right mirror of the canonical frame (the body faces +Y, so x is its left-right).
MIRROR_WORLD = np.diag([-1.0, 1.0, 1.0])

# Sampling ranges of `sample_camera` (degrees, metres): an elevated, downward-looking view from 2.5-3.3 m with a
# fairly wide field of view (at least 2 m of view at the look-at point), so that a standing body and a
# hand-held object usually fit (the reference renderer re-samples when they do not). The azimuth is measured from
# the direction the body faces and stays within 70 degrees of it: the camera sees the body's front, so the body's
# left is on the image's right. Over the full circle the side of a grasp is unreadable from an untextured body
# (front and back views look alike at 224 px); measured on mini-FBM: the trained models got the side right from
# front views and reversed from back views, at chance overall
# (docs/results/archive/results_mini_fbm_2000_front_3seeds.md).
DEFAULT_CAMERA_RANGES = dict(azimuth_range=(-70.0, 70.0), elevation_range=(10.0, 35.0),
                             distance_range=(2.5, 3.3), fov_range=(45.0, 55.0))


@dataclass(eq=False)
class Camera:
    """A pinhole camera.

    K: (3, 3) intrinsics in pixels (OpenCV: pixel (0, 0) is the centre of the top-left pixel).
    world_to_cam: (4, 4) rigid extrinsics, OpenCV camera axes (x right, y down, z forward), so that
        `x_cam = R @ x_world + t` with R = world_to_cam[:3, :3], t = world_to_cam[:3, 3].
    width, height: image size in pixels.
    """
    K: np.ndarray
    world_to_cam: np.ndarray
    width: int
    height: int

    def __post_init__(self):
        self.K = np.asarray(self.K, dtype=np.float64).reshape(3, 3)
        self.world_to_cam = np.asarray(self.world_to_cam, dtype=np.float64).reshape(4, 4)
        self.width, self.height = int(self.width), int(self.height)
        if self.width <= 0 or self.height <= 0:
            raise ValueError(f'camera image size must be positive, got {self.width}x{self.height}')
        if not (np.isfinite(self.K).all() and np.isfinite(self.world_to_cam).all()):
            raise ValueError('camera K and world_to_cam must be finite')

    @property
    def R(self) -> np.ndarray:
        """(3, 3) world-to-camera rotation."""
        return self.world_to_cam[:3, :3]

    @property
    def t(self) -> np.ndarray:
        """(3,) world-to-camera translation."""
        return self.world_to_cam[:3, 3]

    @property
    def cam_to_world(self) -> np.ndarray:
        """(4, 4) inverse of `world_to_cam` (columns: camera x, y, z axes and centre in world coordinates)."""
        out = np.eye(4)
        out[:3, :3] = self.R.T
        out[:3, 3] = -self.R.T @ self.t
        return out

    @property
    def position(self) -> np.ndarray:
        """(3,) camera centre in world coordinates."""
        return -self.R.T @ self.t

    @property
    def forward(self) -> np.ndarray:
        """(3,) viewing direction (camera +z) in world coordinates."""
        return self.R[2].copy()

    def to_dict(self) -> dict:
        """JSON-ready dict: K and world_to_cam as nested lists, width, height."""
        return dict(K=self.K.tolist(), world_to_cam=self.world_to_cam.tolist(),
                    width=self.width, height=self.height)

    @classmethod
    def from_dict(cls, data: dict) -> 'Camera':
        return cls(K=data['K'], world_to_cam=data['world_to_cam'], width=data['width'], height=data['height'])

    def fingerprint(self, decimals: int = 6) -> str:
        """Stable hex digest of the camera rounded to `decimals` (cache keys; float noise below it is ignored)."""
        values = np.concatenate([self.K.ravel(), self.world_to_cam.ravel()])
        rounded = [float(v) for v in np.round(values, decimals) + 0.0]  # + 0.0 turns -0.0 into 0.0
        text = json.dumps(dict(v=rounded, w=self.width, h=self.height), sort_keys=True)
        return hashlib.sha256(text.encode()).hexdigest()

    def allclose(self, other: 'Camera', atol: float = 1e-9) -> bool:
        return (self.width, self.height) == (other.width, other.height) and np.allclose(self.K, other.K, atol=atol) \
            and np.allclose(self.world_to_cam, other.world_to_cam, atol=atol)


def intrinsics_from_fov(fov_deg: float, width: int, height: int) -> np.ndarray:
    """(3, 3) K for a vertical field of view `fov_deg`, square pixels, principal point at the image centre."""
    if not 0.0 < fov_deg < 180.0:
        raise ValueError(f'field of view must be in (0, 180) degrees, got {fov_deg}')
    f = 0.5 * height / math.tan(math.radians(fov_deg) / 2.0)
    return np.array([[f, 0.0, (width - 1) / 2.0], [0.0, f, (height - 1) / 2.0], [0.0, 0.0, 1.0]])


def look_at_world_to_cam(eye: Sequence[float], target: Sequence[float],
                         up: Sequence[float] = (0.0, 0.0, 1.0)) -> np.ndarray:
    """(4, 4) OpenCV world_to_cam of a camera at `eye` (3,) looking at `target` (3,), image-up along `up`."""
    eye, target, up = (np.asarray(v, dtype=np.float64) for v in (eye, target, up))
    forward = target - eye
    norm = np.linalg.norm(forward)
    if norm < 1e-9:
        raise ValueError('camera eye and target coincide')
    forward = forward / norm
    right = np.cross(forward, up)
    if np.linalg.norm(right) < 1e-6:  # looking straight along `up`: any right vector orthogonal to it
        right = np.cross(forward, np.array([0.0, 1.0, 0.0]) if abs(forward[1]) < 0.9 else np.array([1.0, 0.0, 0.0]))
    right = right / np.linalg.norm(right)
    down = np.cross(forward, right)
    out = np.eye(4)
    out[:3, :3] = np.stack([right, down, forward])
    out[:3, 3] = -out[:3, :3] @ eye
    return out


def sample_camera(rng: np.random.Generator, look_at: Sequence[float],
                  azimuth_range: Tuple[float, float] = DEFAULT_CAMERA_RANGES['azimuth_range'],
                  elevation_range: Tuple[float, float] = DEFAULT_CAMERA_RANGES['elevation_range'],
                  distance_range: Tuple[float, float] = DEFAULT_CAMERA_RANGES['distance_range'],
                  fov_range: Tuple[float, float] = DEFAULT_CAMERA_RANGES['fov_range'],
                  width: int = 224, height: int = 224, facing: Optional[Sequence[float]] = None) -> Camera:
    """A camera on a sphere around `look_at` (3,), looking at it, image-up towards world +z.

    Azimuth (degrees) is measured in the xy-plane counter-clockwise (seen from above) from `facing`, the
    horizontal direction the body faces ((2,) or (3,); z is ignored), so 0 puts the camera straight in front of
    the body and +90 on its left; without `facing`, from world +x. Elevation (degrees) is above the horizontal
    plane through `look_at`, distance (metres) from `look_at`, fov (degrees) vertical. Each is drawn uniformly
    from its (low, high) range with `rng`, in that order (azimuth, elevation, distance, fov).
    """
    origin = 0.0 if facing is None else facing_azimuth(facing)
    azimuth = origin + math.radians(rng.uniform(*azimuth_range))
    elevation = math.radians(rng.uniform(*elevation_range))
    distance = float(rng.uniform(*distance_range))
    fov = float(rng.uniform(*fov_range))
    look_at = np.asarray(look_at, dtype=np.float64).reshape(3)
    direction = np.array([math.cos(elevation) * math.cos(azimuth), math.cos(elevation) * math.sin(azimuth),
                          math.sin(elevation)])
    eye = look_at + distance * direction
    return Camera(K=intrinsics_from_fov(fov, width, height), world_to_cam=look_at_world_to_cam(eye, look_at),
                  width=width, height=height)


def facing_azimuth(facing: Sequence[float]) -> float:
    """Azimuth (radians, from world +x towards +y) of the horizontal direction `facing` ((2,) or (3,); z is
    ignored). ValueError when it has no horizontal part (a body whose hips and shoulders are vertical)."""
    fx, fy = (float(v) for v in np.asarray(facing, dtype=np.float64).reshape(-1)[:2])
    if not (math.isfinite(fx) and math.isfinite(fy)) or math.hypot(fx, fy) < 1e-9:
        raise ValueError(f'the body has no horizontal facing (facing {facing}: a finite non-zero horizontal '
                         'direction was expected), so no camera can be placed in front of it')
    return math.atan2(fy, fx)


def camera_rng(seed: int, *keys) -> np.random.Generator:
    """A generator determined by `seed` and `keys` (e.g. sequence name, t*, attempt), independent of call order."""
    text = json.dumps([int(seed)] + [str(k) for k in keys])
    return np.random.default_rng(int.from_bytes(hashlib.sha256(text.encode()).digest()[:8], 'little'))


def project_points(camera: Camera, points: np.ndarray) -> Tuple[np.ndarray, np.ndarray]:
    """Pinhole projection.  points: (N, 3) world -> (uv (N, 2) pixels (OpenCV), depth (N,) camera z in metres).

    Points behind the camera (depth <= 0) get non-finite or meaningless uv; check `depth` first.
    """
    points = np.asarray(points, dtype=np.float64).reshape(-1, 3)
    cam = points @ camera.R.T + camera.t
    depth = cam[:, 2]
    with np.errstate(divide='ignore', invalid='ignore'):
        pix = cam @ camera.K.T
        uv = pix[:, :2] / pix[:, 2:3]
    return uv, depth


def points_in_view(camera: Camera, points: np.ndarray, near: float = 0.05, margin: float = 0.0) -> np.ndarray:
    """bool (N,): the point is in front of the camera (depth > near) and projects inside the image,
    at least `margin` pixels from the border.  points: (N, 3) world."""
    uv, depth = project_points(camera, points)
    lo = -0.5 + margin
    with np.errstate(invalid='ignore'):
        return (depth > near) & (uv[:, 0] >= lo) & (uv[:, 0] <= camera.width - 0.5 - margin) \
            & (uv[:, 1] >= lo) & (uv[:, 1] <= camera.height - 0.5 - margin)


def mesh_footprint(camera: Camera, vertices: np.ndarray, faces: np.ndarray, near: float = 0.0,
                   slack: float = 0.05) -> Optional[np.ndarray]:
    """(H, W) bool: a superset of the pixels that rasterising the mesh can cover, or None when a vertex lies at or
    behind the plane `near` metres in front of the camera (its projection then bounds nothing).

    vertices: (V, 3) world, faces: (F, 3). A rasteriser covers a pixel when the pixel's centre lies in a projected
    triangle, hence in that triangle's bounding box: the footprint is the union of the triangles' boxes of pixel
    centres (OpenCV pixel centres are the integers), each widened by `slack` pixels for the rasteriser's
    sub-pixel snapping and float32 rounding. Pure numpy; O(F + the area of the mesh's box).
    """
    uv, depth = project_points(camera, vertices)
    if not (depth > near).all():
        return None
    corner = np.asarray(faces, dtype=np.int64).T                               # (3, F)
    box = []  # first and last covered column, then row, of every face (pairwise minima: 5x faster than .min(1))
    for coord, limit in ((uv[:, 0], camera.width - 1), (uv[:, 1], camera.height - 1)):
        c0, c1, c2 = coord[corner[0]], coord[corner[1]], coord[corner[2]]
        box.append(np.maximum(np.ceil(np.minimum(np.minimum(c0, c1), c2) - slack), 0))
        box.append(np.minimum(np.floor(np.maximum(np.maximum(c0, c1), c2) + slack), limit))
    keep = (box[0] <= box[1]) & (box[2] <= box[3])
    footprint = np.zeros((camera.height, camera.width), dtype=bool)
    if not keep.any():
        return footprint
    x0, x1, y0, y1 = (b[keep].astype(np.int64) for b in box)
    left, top = int(x0.min()), int(y0.min())
    x0, x1, y0, y1 = x0 - left, x1 - left + 1, y0 - top, y1 - top + 1     # half-open, relative to the crop
    height, width = int(y1.max()), int(x1.max())                          # the crop holding every box
    # the union of the boxes: +1/-1 at their corners of a difference array, summed along both axes
    stride, size = width + 1, (height + 1) * (width + 1)
    count = np.bincount(np.concatenate([y0 * stride + x0, y1 * stride + x1]), minlength=size) \
        - np.bincount(np.concatenate([y0 * stride + x1, y1 * stride + x0]), minlength=size)
    count = count.reshape(height + 1, stride).cumsum(0).cumsum(1)
    footprint[top:top + height, left:left + width] = count[:height, :width] > 0
    return footprint


def mirror_camera(camera: Camera) -> Camera:
    """The camera that sees the x -> -x mirrored world as the horizontally flipped image.

    With M = diag(-1, 1, 1) (world mirror) and F = diag(-1, 1, 1) (camera x flip): R' = F R M, t' = F t, so a
    mirrored point M p lands at camera coordinates F (R p + t); the principal point moves to cx' = W - 1 - cx
    (and a skew changes sign), so pixel u maps to W - 1 - u. R' is a proper rotation (det +1): the result is
    an ordinary camera at the mirrored position looking at the mirrored target.
    """
    F = MIRROR_WORLD  # the same matrix acting on camera axes
    w2c = np.eye(4)
    w2c[:3, :3] = F @ camera.R @ MIRROR_WORLD
    w2c[:3, 3] = F @ camera.t
    K = camera.K.copy()
    K[0, 2] = camera.width - 1 - camera.K[0, 2]
    K[0, 1] = -camera.K[0, 1]
    return Camera(K=K, world_to_cam=w2c, width=camera.width, height=camera.height)

