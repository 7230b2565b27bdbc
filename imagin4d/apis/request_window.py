"""A request as a model window, and a prediction back in the user's world: the geometry of generation.

Owns how user inputs become the same canonical window a data set assembles (start body and object state,
waypoint mask and values, BPS of the object, object surface points) and how a generated window is mapped back to
the world frame as SMPL-X parameters and object poses (`HOIResult`). Conventions: docs/conventions.md.
"""
from dataclasses import dataclass
from typing import Dict, Optional

import numpy as np
import torch

from imagin4d.body_models import skeletons
from imagin4d.body_models.fk import forward_kinematics
from imagin4d.datasets.preprocessing import body_kinematics, placed_object_bps, template_tree
from imagin4d.geometry import canonical_transform, matrix_to_axis_angle, sample_surface_points

from .requests import RequestError, StartBody, WaypointSpec, up_axis_rotation
from .results import HOIResult

__all__ = ['ObjectTemplate', 'WindowGeometry', 'prepare_object', 'default_start_body', 'body_state',
           'build_window', 'window_to_result', 'decode_world', 'world_to_result', 'smplx_from_global_rotations']

#: Object templates are resampled until their longest edge is below this fraction of their largest extent, so the
#: BPS (nearest template vertex to each basis point) sees a mesh as dense as the training objects (mini-FBM: 1/13 to
#: 1/40); a coarse user box of 8 vertices would otherwise give a BPS unlike any training object.
MAX_EDGE_FRACTION = 1.0 / 30.0
MAX_TEMPLATE_VERTICES = 60000


@dataclass
class ObjectTemplate:
    """The object as the model sees it: verts (V, 3) in the mesh's units with its up axis turned to +Z (resampled
    for the BPS), faces (F, 3), centroid (3,) (the point whose trajectory the model generates: the mean of the mesh
    file's vertices, as the data sets define it; resampling adds vertices but does not move it), up (3, 3) the
    rotation from the file's axes to these, and a k-d tree over the vertices."""

    verts: np.ndarray
    faces: np.ndarray
    centroid: np.ndarray
    up: np.ndarray
    tree: object


def prepare_object(mesh, up_axis: str = 'z') -> ObjectTemplate:
    """A trimesh.Trimesh in file coordinates -> ObjectTemplate (Z up, resampled to a uniform density)."""
    import trimesh
    up = up_axis_rotation(up_axis)
    verts = np.asarray(mesh.vertices, np.float64) @ up.T
    faces = np.asarray(mesh.faces, np.int64)
    extent = float(np.ptp(verts, axis=0).max())
    if extent <= 0:
        raise RequestError('object mesh: all vertices coincide (zero size)')
    max_edge = extent * MAX_EDGE_FRACTION
    dense_v, dense_f = verts, faces
    for _ in range(8):       # trimesh.remesh.subdivide_to_size, bounded so a huge mesh cannot explode
        edges = np.linalg.norm(dense_v[dense_f[:, [1, 2, 0]]] - dense_v[dense_f], axis=-1).max()
        if edges <= max_edge or len(dense_v) * 4 > MAX_TEMPLATE_VERTICES:
            break
        dense_v, dense_f = trimesh.remesh.subdivide(dense_v, dense_f)
    return ObjectTemplate(verts=dense_v, faces=dense_f, centroid=verts.mean(0), up=up, tree=template_tree(dense_v))


def default_start_body(pose: Optional[np.ndarray]) -> StartBody:
    """The checkpoint's typical first-frame pose (66,) (canonical: facing +Y) with mean shape, neutral gender, or,
    for a checkpoint without one, a standing pose with the arms down. `transl` is set later (feet on the floor)."""
    if pose is None:
        pose = np.zeros(66)
        pose[:3] = [np.pi / 2, 0.0, 0.0]                 # SMPL-X rest (Y up, facing +Z) -> Z up, facing -Y
        arm = np.deg2rad(70.0)                          # shoulders: arms from the T pose down to the sides
        pose[3 + 3 * 15: 3 + 3 * 16] = [0.0, 0.0, -arm]
        pose[3 + 3 * 16: 3 + 3 * 17] = [0.0, 0.0, arm]
    pose = np.asarray(pose, np.float64)
    return StartBody(global_orient=pose[:3].copy(), body_pose=pose[3:66].copy(), transl=np.zeros(3),
                     betas=np.zeros(10), gender='neutral')


def body_state(body_model, start: StartBody) -> Dict[str, torch.Tensor]:
    """Rest joints (55, 3), joints24 (24, 3) and body global rotations (22, 3, 3) of a start body (float64)."""
    betas = torch.as_tensor(start.betas[:body_model.num_betas], dtype=torch.float32)[None]
    rest = body_model.rest_joints(betas)[0].double()
    pose = torch.as_tensor(np.concatenate([start.global_orient, start.body_pose]), dtype=torch.float64)
    kin = body_kinematics(rest, skeletons.SMPLX_PARENTS, skeletons.JOINTS24_FROM_SMPLX, pose.reshape(1, 22, 3),
                          torch.as_tensor(start.transl, dtype=torch.float64)[None], forward_kinematics)
    return dict(rest=rest, joints24=kin['joints24'][0], global_rot=kin['global_rot'][0])


def stand_on_floor(body_model, start: StartBody) -> StartBody:
    """Move a default start body so that its pelvis is at the xy origin and its lowest vertex at z = 0."""
    betas = torch.as_tensor(start.betas[:body_model.num_betas], dtype=torch.float32)[None]
    with torch.no_grad():
        out = body_model(betas=betas, global_orient=torch.as_tensor(start.global_orient, dtype=torch.float32)[None],
                         body_pose=torch.as_tensor(start.body_pose, dtype=torch.float32)[None])
    pelvis = out['joints'][0, 0].double().numpy()
    low = float(out['vertices'][0, :, 2].min())
    start.transl = np.array([-pelvis[0], -pelvis[1], -low])
    return start


@dataclass
class WindowGeometry:
    """What maps a generated window back: R, t (world -> canonical), the object's ref rotation and scale."""

    R: torch.Tensor
    t: torch.Tensor
    ref_rot: torch.Tensor
    scale: float
    start_position: np.ndarray
    start_rotation: np.ndarray
    start_from: str
    targets: list          # [(frame, (x, y) or (x, y, z))] the given object centre positions, world frame


def build_window(codec, template: ObjectTemplate, scale: float, start: StartBody, state: Dict[str, torch.Tensor],
                 waypoints: Optional[WaypointSpec], default_object_xy: np.ndarray, bps_basis: np.ndarray,
                 num_frames: int = 120, first_frame_human: bool = True, num_object_points: int = 100):
    """The model window of one request (the keys `BaseHOIDataset.assemble_window` gives, without ground truth)
    and the `WindowGeometry` that maps its prediction back to the world."""
    R, t = canonical_transform(state['joints24'])                     # world -> canonical
    joints_c = state['joints24'] @ R.T + t
    rot_c = R @ state['global_rot']
    c = torch.as_tensor(template.centroid, dtype=torch.float64)
    if waypoints is not None and waypoints.start_position is not None:
        start_pos = torch.as_tensor(waypoints.start_position)
        obj_rot_w = torch.as_tensor(waypoints.start_rotation if waypoints.start_rotation is not None else np.eye(3))
        start_from = f'{waypoints.source}: object_start'
    else:      # on the floor in front of the body, where the training data starts its objects
        obj_rot_w = torch.eye(3, dtype=torch.float64)
        height = scale * (c[2] - float(template.verts[:, 2].min()))
        xy_c = torch.as_tensor(default_object_xy, dtype=torch.float64)
        start_pos = (torch.cat([xy_c, height.reshape(1)]) - t) @ R
        start_pos[2] = height
        start_from = 'default: on the floor in front of the body, as the training data places it'
    obj_rot_c = R @ obj_rot_w
    com0 = R @ start_pos + t
    obj_trans_c = com0 - scale * obj_rot_c @ c
    motion = torch.zeros(num_frames, codec.dim, dtype=torch.float64)
    values = codec.encode(com0[None], torch.eye(3, dtype=torch.float64)[None], joints_c[None], rot_c[None])
    motion[0] = values[0]
    xy_frames = []
    if waypoints is not None:
        for frame, x, y in waypoints.xy:
            motion[frame, :2] = (R @ torch.tensor([x, y, 0.0], dtype=torch.float64) + t)[:2]
            xy_frames.append(frame)
        if waypoints.end_position is not None:
            motion[-1, :3] = R @ torch.as_tensor(waypoints.end_position) + t
    mask = codec.waypoint_mask(num_frames, xy_frames, first_frame_human=first_frame_human)
    if waypoints is None or waypoints.end_position is None:
        mask[-1, codec.slices['obj_com']] = False
    if num_frames - 1 in xy_frames:       # a long motion's xy waypoint that falls on a window's last frame
        mask[-1, codec.slices['obj_com'].start:codec.slices['obj_com'].start + 2] = True
    bps = placed_object_bps(template.tree, template.verts, scale, obj_rot_c.numpy(), obj_trans_c.numpy(),
                            com0.numpy(), bps_basis)
    rng = np.random.default_rng(0)
    points = sample_surface_points(template.verts, template.faces, num_object_points, rng) - template.centroid
    window = dict(
        motion=motion.float(), waypoint_mask=mask, waypoint_values=(motion * mask).float(),
        bps=torch.from_numpy(bps).float(), object_points=torch.from_numpy(points).float(),
        obj_scale=torch.full((num_frames,), float(scale)), obj_ref_rot=obj_rot_c.float(),
        rest_joints24=state['rest'][list(skeletons.JOINTS24_FROM_SMPLX)].float(),
        window_start=0, window_len=num_frames, seq_len=num_frames, gender=start.gender, fps=30, dataset='request',
        split='request', bps_frame=0, canonical_R=R.tolist(), canonical_t=t.tolist())
    targets = [(0, tuple(start_pos.tolist()))]
    if waypoints is not None:
        targets += [(frame, (x, y)) for frame, x, y in waypoints.xy]
        if waypoints.end_position is not None:
            targets.append((num_frames - 1, tuple(float(v) for v in waypoints.end_position)))
    geometry = WindowGeometry(R=R, t=t, ref_rot=obj_rot_c, scale=float(scale), start_position=start_pos.numpy(),
                              start_rotation=obj_rot_w.numpy(), start_from=start_from, targets=targets)
    return window, geometry


def smplx_from_global_rotations(global_rot: torch.Tensor, pelvis: torch.Tensor, rest_joints: torch.Tensor):
    """SMPL-X body parameters from body global rotations and the pelvis position.

    global_rot: (T, 22, 3, 3) world rotations of the 22 body joints; pelvis: (T, 3) root joint position;
    rest_joints: (J >= 22, 3) shaped rest joints of the body model. Returns global_orient (T, 3), body_pose (T, 63)
    (local axis-angle: R_local = R_parent^T R_joint) and transl (T, 3) (pelvis - rest pelvis: smplx rotates about
    the rest root joint and then adds transl).
    """
    parents = torch.tensor(skeletons.BODY_PARENTS[1:])
    local = global_rot[:, parents].transpose(-1, -2) @ global_rot[:, 1:]
    return (matrix_to_axis_angle(global_rot[:, 0]), matrix_to_axis_angle(local).reshape(-1, 63),
            pelvis - rest_joints[0])


def decode_world(codec, pred_motion: torch.Tensor, geometry: WindowGeometry) -> Dict[str, torch.Tensor]:
    """A generated window (T, D) (un-normalised, canonical) -> its motion in the world frame (float64): joints
    (T, 24, 3), global_rot (T, 22, 3, 3), obj_rot (T, 3, 3) (of the up-turned template), obj_com (T, 3), contacts
    (T, 4) in [0, 1]."""
    dec = codec.decode(pred_motion.double(), orthonormalize=True)
    R, t = geometry.R, geometry.t
    return dict(joints=(dec['joints'] - t) @ R,                          # p_w = R^T (p_c - t)
                global_rot=R.T @ dec['global_rot'],
                obj_rot=R.T @ (dec['obj_rot'] @ geometry.ref_rot),      # absolute, canonical -> world
                obj_com=(dec['obj_com'] - t) @ R,
                contacts=dec['contacts'].clamp(0, 1))


def world_to_result(world: Dict[str, torch.Tensor], geometry: WindowGeometry, template: ObjectTemplate,
                    start: StartBody, rest_joints: torch.Tensor, mesh, mesh_path: Optional[str],
                    body_model_root: str, t_hat: Optional[float], meta: dict) -> HOIResult:
    """A world-frame motion (`decode_world`'s keys, T frames) -> HOIResult; the waypoint errors are measured at
    `geometry.targets` (frames of the whole motion)."""
    obj_rot, com = world['obj_rot'], world['obj_com']
    c = torch.as_tensor(template.centroid, dtype=torch.float64)
    obj_trans = com - geometry.scale * obj_rot @ c
    global_orient, body_pose, transl = smplx_from_global_rotations(world['global_rot'], world['joints'][:, 0],
                                                                   rest_joints)
    up = torch.as_tensor(template.up, dtype=torch.float64)
    errors = {f'frame_{f}': 1000.0 * float(np.linalg.norm(com[f, :len(p)].numpy() - np.asarray(p)))
              for f, p in geometry.targets}
    meta = dict(meta, object_start_position=geometry.start_position.tolist(),
                object_start_rotation=geometry.start_rotation.tolist(), object_start_from=geometry.start_from,
                object_centre=com.numpy(), waypoint_errors_mm=errors)
    return HOIResult(global_orient=global_orient.numpy(), body_pose=body_pose.numpy(), transl=transl.numpy(),
                     betas=np.asarray(start.betas[:10]), gender=start.gender, joints=world['joints'].numpy(),
                     obj_rot=(obj_rot @ up).numpy(), obj_trans=obj_trans.numpy(), obj_scale=geometry.scale,
                     contacts=world['contacts'].numpy(), object_mesh=mesh, object_path=mesh_path,
                     body_model_root=body_model_root, t_hat=t_hat, meta=meta)


def window_to_result(codec, pred_motion: torch.Tensor, geometry: WindowGeometry, template: ObjectTemplate,
                     start: StartBody, rest_joints: torch.Tensor, mesh, mesh_path: Optional[str],
                     body_model_root: str, t_hat: Optional[float], meta: dict) -> HOIResult:
    """A generated window (T, D) (un-normalised, canonical) -> HOIResult in the world frame of the request."""
    return world_to_result(decode_world(codec, pred_motion, geometry), geometry, template, start, rest_joints,
                           mesh, mesh_path, body_model_root, t_hat, meta)
