"""HOIRequest: what a user asks to generate, and the readers that turn its files into checked arrays.

Owns the request fields, the waypoint JSON schema (docs/user_guides/generate.md), and reading the object mesh
(trimesh: .obj / .ply / .stl / .glb), the reference image (any size; RGBA, grayscale), the waypoints and a start
body (`.npz` in the AMASS SMPL-X layout). Every problem is a `RequestError`: one line naming the file, the field
and what was expected.
"""
import json
import os
import os.path as osp
from dataclasses import dataclass, field
from typing import Dict, List, Optional, Sequence

import numpy as np

from imagin4d.models.backbones.feature_cache import decode_image
from imagin4d.utils.errors import UserError

__all__ = ['HOIRequest', 'RequestError', 'WaypointSpec', 'StartBody', 'load_object_mesh', 'load_reference_image',
           'load_waypoints', 'load_start_body', 'read_requests_jsonl', 'check_num_frames', 'up_axis_rotation',
           'WAYPOINT_SCHEMA_VERSION']

WAYPOINT_SCHEMA_VERSION = 1
UP_AXES = ('x', 'y', 'z', '-x', '-y', '-z')
MESH_SUFFIXES = ('.obj', '.ply', '.stl', '.glb', '.gltf', '.off')


class RequestError(UserError, ValueError):
    """A request input that cannot be used; the message names the file or field and what was expected."""


@dataclass
class HOIRequest:
    """One generation request (see docs/user_guides/generate.md for every field).

    text: the sentence (any wording). object_mesh: a mesh file path or a `trimesh.Trimesh`. object_scale: file
    units -> metres. object_up: the mesh's up axis ('z' default; 'y' for most glTF/OBJ exports).
    reference_image: an image path or an (H, W[, 3|4]) uint8 array; None for models without an image cue.
    images: a storyboard instead of reference_image: K >= 1 image paths / arrays, each showing another moment of
    the interaction; frames: optional, one entry per image, the frame of the motion (0..num_frames-1) it depicts
    (along a long motion it conditions the windows containing that frame) or None (the model places it, in every
    window). See docs/user_guides/generate.md (Storyboards).
    waypoints: a JSON path or the parsed dict (schema below), None: only the start state is given.
    start_body: an AMASS SMPL-X `.npz` path (its `start_frame` is used), or None: the checkpoint's typical
    standing pose with mean shape at the origin facing +Y. gender: overrides the start body file's.
    num_frames: the length of the motion (None: the waypoints' `num_frames`, else one model window); longer than
    the window, it is generated as overlapping windows chained and blended (docs: Long interactions).
    num_samples, sampler, steps, timestep_spacing, guidance_image, guidance_text, inpaint_waypoints (the given
    waypoint values and start state replace the model's at every step, so they are met exactly),
    reconstruction_guidance (the physical-cost guidance of the last steps: hands on the object where the model
    predicts contact, feet and object on the floor), seed: None takes the config's `test_cfg`.
    name: file prefix of the outputs (default: request_<index>).
    """

    text: str
    object_mesh: object
    reference_image: object = None
    waypoints: object = None
    object_scale: float = 1.0
    object_up: str = 'z'
    start_body: Optional[str] = None
    start_frame: int = 0
    gender: Optional[str] = None
    num_frames: Optional[int] = None
    num_samples: Optional[int] = None
    sampler: Optional[str] = None
    steps: Optional[int] = None
    timestep_spacing: Optional[str] = None
    guidance_image: Optional[float] = None
    guidance_text: Optional[float] = None
    inpaint_waypoints: Optional[bool] = None
    reconstruction_guidance: Optional[bool] = None
    seed: Optional[int] = None
    name: Optional[str] = None
    images: Optional[list] = None
    frames: Optional[list] = None

    @classmethod
    def from_dict(cls, data: dict, source: str = '<request>') -> 'HOIRequest':
        """A request from a dict (one line of a `--requests` JSONL file); unknown keys are an error."""
        if not isinstance(data, dict):
            raise RequestError(f'{source}: a request must be a JSON object, got {type(data).__name__}')
        known = set(cls.__dataclass_fields__)
        unknown = sorted(set(data) - known)
        if unknown:
            raise RequestError(f'{source}: unknown request field(s) {unknown}; known: {sorted(known)}')
        if 'text' not in data or 'object_mesh' not in data:
            raise RequestError(f"{source}: a request needs 'text' and 'object_mesh'")
        return cls(**data)


@dataclass
class WaypointSpec:
    """Parsed waypoints in the user's world frame (Z up, metres): the object's centre at given frames.

    start_position (3,) / start_rotation (3, 3) or None (then placed like the training data); xy (K, 3) rows of
    (frame, x, y) for the intermediate frames; end_frame and end_position (3,) for the last frame, or None.
    """

    num_frames: int = 120
    start_position: Optional[np.ndarray] = None
    start_rotation: Optional[np.ndarray] = None
    xy: List[tuple] = field(default_factory=list)
    end_frame: Optional[int] = None
    end_position: Optional[np.ndarray] = None
    source: str = '<waypoints>'


@dataclass
class StartBody:
    """The body at frame 0: SMPL-X global_orient (3,), body_pose (63,), transl (3,), betas (B,), gender."""

    global_orient: np.ndarray
    body_pose: np.ndarray
    transl: np.ndarray
    betas: np.ndarray
    gender: str
    source: str = '<default start body>'


# ---------------------------------------------------------------------------------------------------- helpers
def _name(item) -> str:
    return os.fspath(item) if isinstance(item, (str, os.PathLike)) else f'<{type(item).__name__}>'


def _vector(value, size: Sequence[int], where: str) -> np.ndarray:
    try:
        array = np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError):
        raise RequestError(f'{where}: expected {" or ".join(map(str, size))} numbers, got {value!r}') from None
    if array.ndim != 1 or array.shape[0] not in size or not np.isfinite(array).all():
        raise RequestError(f'{where}: expected {" or ".join(map(str, size))} finite numbers, got {value!r}')
    return array


def up_axis_rotation(up: str) -> np.ndarray:
    """(3, 3) rotation that maps the given up axis of a mesh to +Z (a right-handed frame stays right-handed)."""
    if up not in UP_AXES:
        raise RequestError(f'object_up: expected one of {UP_AXES}, got {up!r}')
    sign = -1.0 if up.startswith('-') else 1.0
    axis = np.eye(3)['xyz'.index(up[-1])] * sign
    z = np.array([0.0, 0.0, 1.0])
    if np.allclose(axis, z):
        return np.eye(3)
    if np.allclose(axis, -z):
        return np.diag([1.0, -1.0, -1.0])                     # 180 degrees about x
    v = np.cross(axis, z)                                      # rotation by 90 degrees about axis x z
    k = np.array([[0, -v[2], v[1]], [v[2], 0, -v[0]], [-v[1], v[0], 0]])
    return np.eye(3) + k + k @ k                               # Rodrigues with sin = 1, 1 - cos = 1


# ---------------------------------------------------------------------------------------------------- readers
def load_object_mesh(mesh) -> 'object':
    """A mesh file (.obj / .ply / .stl / .glb / .gltf / .off; scenes are merged) or a trimesh.Trimesh -> Trimesh."""
    import trimesh
    where = _name(mesh)
    if isinstance(mesh, (str, os.PathLike)):
        path = os.fspath(mesh)
        if not osp.isfile(path):
            raise RequestError(f'object mesh {path}: no such file')
        if osp.splitext(path)[1].lower() not in MESH_SUFFIXES:
            raise RequestError(f'object mesh {path}: expected one of {MESH_SUFFIXES}')
        try:
            mesh = trimesh.load(path, force='mesh', process=False)
        except Exception as err:     # trimesh raises many types for unreadable files
            raise RequestError(f'object mesh {path}: cannot be read as a mesh ({type(err).__name__}: {err})') from None
    if not isinstance(mesh, trimesh.Trimesh):
        raise RequestError(f'object mesh {where}: expected a mesh file or a trimesh.Trimesh, got '
                           f'{type(mesh).__name__}')
    if len(mesh.faces) == 0 or len(mesh.vertices) < 3:
        raise RequestError(f'object mesh {where}: has no faces (a point cloud?); a triangle mesh is expected')
    if not np.isfinite(np.asarray(mesh.vertices)).all():
        raise RequestError(f'object mesh {where}: has NaN or infinite vertex coordinates')
    return mesh


def load_reference_image(image) -> np.ndarray:
    """An image path or array -> (H, W, 3|4) or (H, W) uint8 array (RGB order; 16-bit files are scaled)."""
    where = _name(image)
    if isinstance(image, (str, os.PathLike)):
        path = os.fspath(image)
        if not osp.isfile(path):
            raise RequestError(f'reference image {path}: no such file')
        with open(path, 'rb') as f:
            data = f.read()
        try:
            image = decode_image(data, path)
        except ValueError:
            raise RequestError(f'reference image {path}: cannot be decoded as an image (PNG, JPEG, ... expected)') \
                from None
    array = np.asarray(image)
    if array.dtype != np.uint8:
        if not np.issubdtype(array.dtype, np.floating):
            raise RequestError(f'reference image {where}: expected uint8 or float in [0, 1], got {array.dtype}')
        array = (np.clip(array, 0.0, 1.0) * 255.0 + 0.5).astype(np.uint8)
    if array.ndim == 3 and array.shape[2] == 1:
        array = array[..., 0]
    if not (array.ndim == 2 or (array.ndim == 3 and array.shape[2] in (3, 4))) or min(array.shape[:2]) < 8:
        raise RequestError(f'reference image {where}: expected an (H, W), (H, W, 3) or (H, W, 4) image of at least '
                           f'8 x 8 pixels, got shape {array.shape}')
    return array


def _rotation(entry: dict, where: str) -> Optional[np.ndarray]:
    keys = [k for k in ('rotation', 'quaternion_wxyz', 'yaw_deg') if k in entry]
    if len(keys) > 1:
        raise RequestError(f'{where}: give one of rotation / quaternion_wxyz / yaw_deg, not {keys}')
    if not keys:
        return None
    if keys[0] == 'yaw_deg':
        yaw = np.deg2rad(float(_vector([entry['yaw_deg']], (1,), f'{where}.yaw_deg')[0]))
        c, s = np.cos(yaw), np.sin(yaw)
        return np.array([[c, -s, 0.0], [s, c, 0.0], [0.0, 0.0, 1.0]])
    if keys[0] == 'quaternion_wxyz':
        w, x, y, z = _vector(entry['quaternion_wxyz'], (4,), f'{where}.quaternion_wxyz') / max(
            np.linalg.norm(np.asarray(entry['quaternion_wxyz'], np.float64)), 1e-12)
        return np.array([[1 - 2 * (y * y + z * z), 2 * (x * y - w * z), 2 * (x * z + w * y)],
                         [2 * (x * y + w * z), 1 - 2 * (x * x + z * z), 2 * (y * z - w * x)],
                         [2 * (x * z - w * y), 2 * (y * z + w * x), 1 - 2 * (x * x + y * y)]])
    rot = np.asarray(entry['rotation'], dtype=np.float64)
    if rot.shape != (3, 3) or not np.isfinite(rot).all() or not np.allclose(rot @ rot.T, np.eye(3), atol=1e-4) \
            or np.linalg.det(rot) < 0:
        raise RequestError(f'{where}.rotation: expected a 3 x 3 rotation matrix (rows), got {entry["rotation"]!r}')
    return rot


def load_waypoints(waypoints, num_frames: Optional[int] = None, window: int = 120) -> WaypointSpec:
    """A waypoints JSON file (or its parsed dict) -> WaypointSpec; the schema is in docs/user_guides/generate.md.

    num_frames: the length of the motion asked for (None: the file's `num_frames`, else one window); a file that
    names another length is an error. A motion is at least one model `window` long; longer ones are generated as
    chained windows (`imagin4d.apis.long_generation`), and their waypoints may lie anywhere in 1..num_frames - 1.
    """
    source = _name(waypoints) if not isinstance(waypoints, dict) else '<waypoints dict>'
    if isinstance(waypoints, (str, os.PathLike)):
        if not osp.isfile(waypoints):
            raise RequestError(f'waypoints {source}: no such file')
        try:
            with open(waypoints) as f:
                waypoints = json.load(f)
        except json.JSONDecodeError as err:
            raise RequestError(f'waypoints {source}: not valid JSON ({err})') from None
    if not isinstance(waypoints, dict):
        raise RequestError(f'waypoints {source}: expected a JSON object with "waypoints", got '
                           f'{type(waypoints).__name__}')
    unknown = sorted(set(waypoints) - {'version', 'num_frames', 'object_start', 'waypoints', 'comment'})
    if unknown:
        raise RequestError(f'waypoints {source}: unknown key(s) {unknown}; expected version, num_frames, '
                           'object_start, waypoints')
    version = waypoints.get('version', WAYPOINT_SCHEMA_VERSION)
    if version != WAYPOINT_SCHEMA_VERSION:
        raise RequestError(f'waypoints {source}: version {version!r} is not supported (expected '
                           f'{WAYPOINT_SCHEMA_VERSION})')
    frames = waypoints.get('num_frames', window if num_frames is None else num_frames)
    if not isinstance(frames, int) or isinstance(frames, bool):
        raise RequestError(f'waypoints {source}: num_frames must be an integer (frames at 30 fps), got {frames!r}')
    if num_frames is not None and frames != num_frames:
        raise RequestError(f'waypoints {source}: num_frames {frames} differs from the requested length '
                           f'({num_frames} frames: --frames / HOIRequest.num_frames)')
    num_frames = check_num_frames(frames, window, f'waypoints {source}: num_frames')
    spec = WaypointSpec(num_frames=num_frames, source=source)
    start = waypoints.get('object_start')
    if start is not None:
        where = f'waypoints {source}: object_start'
        if not isinstance(start, dict) or 'position' not in start:
            raise RequestError(f'{where}: expected {{"position": [x, y, z], optional rotation}}, got {start!r}')
        spec.start_position = _vector(start['position'], (3,), f'{where}.position')
        spec.start_rotation = _rotation(start, where)
    entries = waypoints.get('waypoints', [])
    if not isinstance(entries, list):
        raise RequestError(f'waypoints {source}: "waypoints" must be a list, got {type(entries).__name__}')
    last = num_frames - 1
    seen = set()
    for i, entry in enumerate(entries):
        where = f'waypoints {source}: waypoints[{i}]'
        if not isinstance(entry, dict) or 'frame' not in entry or 'position' not in entry:
            raise RequestError(f'{where}: expected {{"frame": f, "position": [x, y] or [x, y, z]}}, got {entry!r}')
        frame = entry['frame']
        if not isinstance(frame, int) or isinstance(frame, bool) or not 0 < frame <= last:
            raise RequestError(f'{where}.frame: {frame!r} is outside the motion (an integer in 1..{last}; frame 0 '
                               'is object_start)')
        if frame in seen:
            raise RequestError(f'{where}.frame: frame {frame} is given twice')
        seen.add(frame)
        if frame == last:
            spec.end_frame, spec.end_position = frame, _vector(entry['position'], (3,), f'{where}.position (the '
                                                                                       'last frame needs x, y, z)')
        else:
            x, y = _vector(entry['position'], (2, 3), f'{where}.position')[:2]
            spec.xy.append((frame, float(x), float(y)))
    spec.xy.sort()
    return spec


def check_num_frames(num_frames, window: int, where: str) -> int:
    """The length of a requested motion: an integer of at least one model window (shorter ones are not generated)."""
    if not isinstance(num_frames, int) or isinstance(num_frames, bool) or num_frames < window:
        raise RequestError(f'{where}: {num_frames!r} frames; expected an integer >= the model window ({window} '
                           'frames); longer motions are generated as chained windows')
    return num_frames


AMASS_BODY_KEYS = ('root_orient', 'pose_body', 'trans', 'betas')


def load_start_body(path, frame: int = 0, gender: Optional[str] = None) -> StartBody:
    """One frame of an AMASS-layout SMPL-X `.npz` (root_orient, pose_body, trans, betas, gender) -> StartBody.

    `poses` (T, 165 | 156) is accepted instead of root_orient + pose_body. Z up, metres, as AMASS stores it.
    """
    path = os.fspath(path)
    if not osp.isfile(path):
        raise RequestError(f'start body {path}: no such file')
    try:
        data = dict(np.load(path, allow_pickle=False))
    except (ValueError, OSError) as err:
        raise RequestError(f'start body {path}: not a readable .npz without pickled objects ({err})') from None
    if 'poses' in data and ('root_orient' not in data or 'pose_body' not in data):
        poses = np.asarray(data['poses'])
        data.setdefault('root_orient', poses[:, :3])
        data.setdefault('pose_body', poses[:, 3:66])
    missing = [k for k in AMASS_BODY_KEYS if k not in data]
    if missing:
        raise RequestError(f'start body {path}: missing key(s) {missing}; an AMASS SMPL-X .npz has root_orient (T, 3), '
                           'pose_body (T, 63) (or poses (T, 165)), trans (T, 3), betas and gender')
    num = int(np.asarray(data['trans']).shape[0]) if np.asarray(data['trans']).ndim == 2 else 0
    if not 0 <= frame < num:
        raise RequestError(f'start body {path}: frame {frame} is outside its {num} frames')
    out: Dict[str, np.ndarray] = {}
    for key, width in (('root_orient', 3), ('pose_body', 63), ('trans', 3)):
        value = np.asarray(data[key], dtype=np.float64)
        if value.ndim != 2 or value.shape[1] != width or not np.isfinite(value[frame]).all():
            raise RequestError(f'start body {path}: {key} must be (T, {width}) and finite, got {value.shape}')
        out[key] = value[frame]
    if gender is None:
        gender = str(np.asarray(data['gender'])) if 'gender' in data else 'neutral'
    gender = gender.strip().lower()
    if gender not in ('neutral', 'male', 'female'):
        raise RequestError(f"start body {path}: gender {gender!r} is not 'neutral', 'male' or 'female'")
    betas = np.asarray(data['betas'], dtype=np.float64).reshape(-1)
    return StartBody(global_orient=out['root_orient'], body_pose=out['pose_body'], transl=out['trans'],
                     betas=betas, gender=gender, source=path)


def read_requests_jsonl(path: str) -> List[HOIRequest]:
    """Requests from a JSON-lines file, one object per line; relative paths are resolved from the file's folder."""
    if not osp.isfile(path):
        raise RequestError(f'requests {path}: no such file')
    base = osp.dirname(osp.abspath(path))
    requests = []
    with open(path) as f:
        for number, line in enumerate(f, 1):
            if not line.strip():
                continue
            where = f'{path}:{number}'
            try:
                data = json.loads(line)
            except json.JSONDecodeError as err:
                raise RequestError(f'{where}: not valid JSON ({err})') from None
            request = HOIRequest.from_dict(data, where)
            for key in ('object_mesh', 'reference_image', 'waypoints', 'start_body'):
                value = getattr(request, key)
                if isinstance(value, str) and not osp.isabs(value):
                    setattr(request, key, osp.join(base, value))
            if isinstance(request.images, list):
                request.images = [osp.join(base, v) if isinstance(v, str) and not osp.isabs(v) else v
                                  for v in request.images]
            requests.append(request)
    if not requests:
        raise RequestError(f'requests {path}: no request in the file')
    return requests

