"""A picture of a mini-FBM sequence: a strip of rendered frames read back from the written data root.

Owns `render_strip` (data root + sequence name -> (H, n * W, 3) uint8 image), `story_frames` and `save_strip`.
It renders what the files say (FBM record -> body model -> vertices; template `.obj` -> obj_scale * R v + t),
so it also checks the written layout by eye. Uses `imagin4d.rendering.render_scene` (pyrender over EGL).
"""
import math
import os.path as osp
from typing import Optional, Sequence

import numpy as np

__all__ = ['render_strip', 'save_strip', 'story_frames']


def _load(data_root: str, seq_name: str):
    import joblib
    import trimesh
    split = 'test' if int(seq_name.split('_')[0][3:]) >= 16 else 'train'
    data = joblib.load(osp.join(data_root, f'{split}_diffusion_manip_seq_joints24.p'))  # a file we wrote
    rec = next(r for r in data.values() if r['seq_name'] == seq_name)
    obj = seq_name.split('_')[1]
    mesh = trimesh.load(osp.join(data_root, 'captured_objects', f'{obj}_cleaned_simplified.obj'), force='mesh',
                        process=False)
    return rec, np.asarray(mesh.vertices), np.asarray(mesh.faces)


def story_frames(data_root: str, seq_name: str) -> list:
    """Frames that tell the story of a sequence: start, reaching, held, depicted frame (mid-hold), later in the
    carry / push, putting down, after the release (from the phases in mini_fbm_factors.json)."""
    from .writer import load_factors
    info = load_factors(data_root)['sequences'][seq_name]
    ph, T = info['phases'], info['num_frames']
    move = ph.get('carry') or ph.get('push')
    frames = [0, sum(ph['reach']) // 2, ph['reach'][1] + 2, info['depicted_frame'], (move[0] + 2 * move[1]) // 3]
    if 'put_down' in ph:
        frames.append(sum(ph['put_down']) // 2)
    frames.append(min(T - 1, ph['release'][1] + 5))
    return sorted(set(frames))


def render_strip(data_root: str, seq_name: str, frames: Optional[Sequence[int]] = None, num: int = 6,
                 size: int = 320, azimuth_deg: float = 80.0, distance: float = 3.0) -> np.ndarray:
    """Render `frames` (default: `num` frames evenly over the sequence) of one sequence side by side.

    The camera follows the interaction (looks at the body-object bounding box) from a fixed world azimuth
    relative to the first-frame heading, 20 degrees above the horizon, `distance` metres away.
    -> (size, n * size, 3) uint8.
    """
    import torch

    from imagin4d.body_models.body_model import load_body_model
    from imagin4d.geometry import axis_angle_to_matrix
    from imagin4d.rendering import Camera, intrinsics_from_fov, look_at_point, look_at_world_to_cam, render_scene
    rec, tv, tf = _load(data_root, seq_name)
    T = rec['trans'].shape[0]
    frames = list(frames) if frames is not None else np.linspace(0, T - 1, num).round().astype(int).tolist()
    gender = str(rec['gender'])
    model = load_body_model(osp.join(data_root, 'smpl_all_models'), 'smplx', gender, 10)
    betas = torch.as_tensor(rec['betas'][:, :model.num_betas], dtype=torch.float32)
    with torch.no_grad():
        out = model(betas, torch.as_tensor(rec['root_orient'][frames], dtype=torch.float32),
                    torch.as_tensor(rec['pose_body'][frames], dtype=torch.float32),
                    torch.as_tensor(rec['trans'][frames], dtype=torch.float32))
    verts = out['vertices'].numpy()
    faces = model.faces.numpy()
    R0 = axis_angle_to_matrix(torch.as_tensor(rec['root_orient'][0], dtype=torch.float64)).numpy()
    fwd = R0 @ np.array([0.0, 0.0, 1.0])         # model +Z is the body's forward
    az = math.atan2(fwd[1], fwd[0]) + math.radians(azimuth_deg)
    el = math.radians(20.0)
    direction = np.array([math.cos(el) * math.cos(az), math.cos(el) * math.sin(az), math.sin(el)])
    tiles = []
    for k, t in enumerate(frames):
        ov = float(rec['obj_scale'][t]) * tv @ rec['obj_rot'][t].T + rec['obj_trans'][t].reshape(3)
        target = look_at_point(verts[k], ov)
        target[2] = 0.85
        cam = Camera(K=intrinsics_from_fov(45.0, size, size),
                     world_to_cam=look_at_world_to_cam(target + distance * direction, target), width=size,
                     height=size)
        tiles.append(render_scene(verts[k], faces, ov, tf, cam, context=f'{seq_name} frame {t}')['rgb'])
    return np.concatenate(tiles, 1)


def save_strip(path: str, data_root: str, seq_name: str, **kwargs) -> str:
    """Render a strip (see `render_strip`) and write it as a PNG; returns the path."""
    from PIL import Image
    Image.fromarray(render_strip(data_root, seq_name, **kwargs)).save(path)
    return path
