"""Writes a result's body skeleton animation as BVH (SMPL-X joint names) and parses BVH files back.

Owns `write_bvh` (Y-up by default, unit and Euler order as parameters) and `read_bvh` (hierarchy, offsets,
channels, frames).
"""
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Dict, List, Tuple, Union

import numpy as np
from scipy.spatial.transform import Rotation

from ._common import Z_UP_TO_Y_UP, check_result, local_rotmats, shaped_body

__all__ = ['write_bvh', 'read_bvh', 'BVHData', 'BVH_UNITS']

#: Length unit name -> BVH units per metre.
BVH_UNITS = {'m': 1.0, 'cm': 100.0, 'mm': 1000.0}
_BODY, _FACE, _HANDS = tuple(range(22)), (22, 23, 24), tuple(range(25, 55))


def write_bvh(result, path: Union[str, Path], unit: str = 'm', up_axis: str = 'Y', rotation_order: str = 'ZXY',
              hands: bool = True, face: bool = False, decimals: int = 6) -> Path:
    """Write the body animation of `result` as a BVH file.

    Skeleton: the SMPL-X joints with their names (`skeletons.SMPLX_JOINT_NAMES`): the 22 body joints, the 30
    finger joints when `hands`, jaw and eyes when `face` (their rotations are zero). OFFSETs are the shaped
    rest skeleton of `load_body_model(result.body_model_root, 'smplx', result.gender)` at `result.betas` (child
    joint minus parent joint); leaf joints get an End Site half their own offset long.
    Root: OFFSET 0 0 0 and six channels `Xposition Yposition Zposition <rotations>`; the position channels are
    the absolute pelvis position (smplx: rest pelvis + transl), which Blender and offset-adding readers agree on.
    Rotations: every joint has three Euler channels in `rotation_order` (default 'ZXY' = `Zrotation Xrotation
    Yrotation`), degrees, intrinsic: the local matrix is R = R_Z(a) R_X(b) R_Y(c) for channel values a, b, c in
    file order, and a child's position is parent_pos + parent_global_rot @ offset. Angles are unwrapped
    over time (no 360 degree jumps).
    Frame: `up_axis='Y'` (default, what BVH readers and Blender's importer expect) maps the world (x, y, z)
    (Z up) to (x, z, -y): up is +Y and the world's +Y becomes -Z (Blender's default "-Z forward, Y up"
    import puts it back). `up_axis='Z'` writes the world frame unchanged.
    Unit: `unit` in BVH_UNITS ('m' default: imports at true size in Blender at scale 1; 'cm' for tools that
    expect centimetres). Frame Time = 1 / result.fps. Returns the path written.
    """
    check_result(result, need_body_model=True)
    if unit not in BVH_UNITS:
        raise ValueError(f'write_bvh unit must be one of {sorted(BVH_UNITS)}, got {unit!r}')
    if up_axis not in ('Y', 'Z'):
        raise ValueError(f"write_bvh up_axis must be 'Y' or 'Z', got {up_axis!r}")
    order = str(rotation_order).upper()
    if sorted(order) != ['X', 'Y', 'Z']:
        raise ValueError(f"write_bvh rotation_order must be a permutation of 'XYZ', got {rotation_order!r}")
    path = Path(path)
    body = shaped_body(result)
    keep = list(_BODY) + (list(_FACE) if face else []) + (list(_HANDS) if hands else [])
    keep.sort()
    parents = body['parents']
    scale = BVH_UNITS[unit]
    axes = Z_UP_TO_Y_UP if up_axis == 'Y' else np.eye(3)

    rest = body['joints'] @ axes.T * scale                       # (55, 3) rest joints, output frame and unit
    rots = local_rotmats(result)[:, keep]                          # (T, J, 3, 3)
    rots = axes @ rots @ axes.T                                     # same rotations expressed in the output frame
    T, J = rots.shape[:2]
    with warnings.catch_warnings():  # exact gimbal lock (e.g. a 90 degree X turn): scipy still returns exact angles
        warnings.filterwarnings('ignore', message='Gimbal lock detected')
        eulers = Rotation.from_matrix(rots.reshape(-1, 3, 3)).as_euler(order, degrees=True).reshape(T, J, 3)
    eulers = np.unwrap(eulers, period=360.0, axis=0)
    pelvis = (body['joints'][0] + result.transl) @ axes.T * scale  # (T, 3) absolute pelvis positions

    children: Dict[int, List[int]] = {j: [] for j in keep}
    for j in keep[1:]:
        children[int(parents[j])].append(j)
    names = body['names']
    rot_channels = ' '.join(f'{axis}rotation' for axis in order)
    fmt = f'{{:.{int(decimals)}f}}'
    lines = ['HIERARCHY']

    def vec(v) -> str:
        return ' '.join(fmt.format(float(x)) for x in v)

    def emit(j: int, depth: int) -> None:
        pad = '\t' * depth
        offset = np.zeros(3) if j == 0 else rest[j] - rest[int(parents[j])]
        lines.append(f'{pad}{"ROOT" if j == 0 else "JOINT"} {names[j]}')
        lines.append(f'{pad}{{')
        lines.append(f'{pad}\tOFFSET {vec(offset)}')
        if j == 0:
            lines.append(f'{pad}\tCHANNELS 6 Xposition Yposition Zposition {rot_channels}')
        else:
            lines.append(f'{pad}\tCHANNELS 3 {rot_channels}')
        if children[j]:
            for c in children[j]:
                emit(c, depth + 1)
        else:
            lines.append(f'{pad}\tEnd Site')
            lines.append(f'{pad}\t{{')
            lines.append(f'{pad}\t\tOFFSET {vec(0.5 * offset)}')
            lines.append(f'{pad}\t}}')
        lines.append(f'{pad}}}')

    emit(0, 0)
    # Frame rows follow the hierarchy's depth-first order (the order `emit` visited the joints).
    visit = [j for j in _depth_first(0, children)]
    index = {j: i for i, j in enumerate(keep)}
    lines += ['MOTION', f'Frames: {T}', f'Frame Time: {1.0 / float(result.fps):.8f}']
    cols = [pelvis] + [eulers[:, index[j]] for j in visit]
    table = np.concatenate(cols, axis=1)
    row_fmt = ' '.join([fmt] * table.shape[1])
    lines += [row_fmt.format(*row) for row in table.tolist()]
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text('\n'.join(lines) + '\n')
    return path


def _depth_first(j: int, children: Dict[int, List[int]]) -> List[int]:
    out = [j]
    for c in children[j]:
        out += _depth_first(c, children)
    return out


@dataclass
class BVHData:
    """A parsed BVH file; joints in file (depth-first) order.

    names (J,), parents (J,) (-1 root), offsets (J, 3), channels: per joint the channel names in file order,
    end_sites {joint index: (3,) offset}, frame_time (s), motion (F, C) channel values, one column per channel
    in joint order. `joint_channels(j)` gives (F, n_j) of joint j and its channel names.
    """

    names: List[str] = field(default_factory=list)
    parents: List[int] = field(default_factory=list)
    offsets: np.ndarray = None
    channels: List[List[str]] = field(default_factory=list)
    end_sites: Dict[int, np.ndarray] = field(default_factory=dict)
    frame_time: float = 0.0
    motion: np.ndarray = None

    @property
    def num_frames(self) -> int:
        return int(self.motion.shape[0])

    def joint_channels(self, j: int) -> Tuple[np.ndarray, List[str]]:
        start = sum(len(c) for c in self.channels[:j])
        return self.motion[:, start:start + len(self.channels[j])], self.channels[j]


_CHANNEL_NAMES = {f'{a}{kind}' for a in 'XYZ' for kind in ('position', 'rotation')}


def read_bvh(path: Union[str, Path]) -> BVHData:
    """Parse a BVH file (HIERARCHY with ROOT/JOINT/End Site, OFFSET, CHANNELS; MOTION with Frames, Frame Time,
    rows). Raises ValueError naming the file and what was expected on malformed input."""
    path = Path(path)
    tokens = path.read_text().split()
    pos = 0
    data = BVHData()
    offsets: List[np.ndarray] = []

    def fail(what: str):
        got = f'got {tokens[pos]!r} at token {pos}' if pos < len(tokens) else 'the file ended'
        raise ValueError(f'{path}: malformed BVH: expected {what}, {got}')

    def take(expected=None) -> str:
        nonlocal pos
        if pos >= len(tokens) or (expected is not None and tokens[pos] != expected):
            fail(repr(expected) if expected else 'a token')
        pos += 1
        return tokens[pos - 1]

    def number(what: str) -> float:
        try:
            return float(take())
        except ValueError:
            raise ValueError(f'{path}: malformed BVH: expected a number for {what} at token {pos - 1}') from None

    def offset_line(what: str) -> np.ndarray:
        take('OFFSET')
        return np.array([number(f'{what} OFFSET') for _ in range(3)])

    def joint(parent: int) -> None:
        nonlocal pos
        j = len(data.names)
        data.names.append(take())
        data.parents.append(parent)
        take('{')
        offsets.append(offset_line(data.names[j]))
        take('CHANNELS')
        count = int(number(f'{data.names[j]} CHANNELS count'))
        chans = [take() for _ in range(count)]
        bad = [c for c in chans if c not in _CHANNEL_NAMES]
        if bad:
            raise ValueError(f'{path}: malformed BVH: unknown channel(s) {bad} of joint {data.names[j]}')
        data.channels.append(chans)
        while pos < len(tokens) and tokens[pos] != '}':
            word = take()
            if word == 'JOINT':
                joint(j)
            elif word == 'End':
                take('Site')
                take('{')
                data.end_sites[j] = offset_line(f'{data.names[j]} End Site')
                take('}')
            else:
                pos -= 1
                fail("'JOINT', 'End Site' or '}'")
        take('}')

    take('HIERARCHY')
    take('ROOT')
    joint(-1)
    if pos < len(tokens) and tokens[pos] == 'ROOT':
        raise ValueError(f'{path}: BVH files with several ROOT skeletons are not supported')
    take('MOTION')
    take('Frames:')
    frames = int(number('Frames'))
    take('Frame')
    take('Time:')
    data.frame_time = number('Frame Time')
    width = sum(len(c) for c in data.channels)
    values = tokens[pos:]
    if len(values) != frames * width:
        raise ValueError(f'{path}: malformed BVH: expected {frames} frames x {width} channel values, '
                         f'got {len(values)} values')
    try:
        data.motion = np.asarray(values, dtype=np.float64).reshape(frames, width)
    except ValueError:
        raise ValueError(f'{path}: malformed BVH: non-numeric value in the MOTION rows') from None
    data.offsets = np.stack(offsets)
    return data
