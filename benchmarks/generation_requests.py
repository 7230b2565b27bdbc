"""benchmarks/generation.py, part 1: the test windows of a data root as requests a user would write to files (new
sentences, a .ply mesh, a non-square picture, waypoints and an AMASS start body, in a seeded world frame), and the
evaluation of their results (waypoint errors as tools/test.py computes them, floor contact, joints against the
exported parameters, determinism)."""
import json
import os
from pathlib import Path

import numpy as np

XY_FRAMES = (29, 59, 89)
#: New sentences (not the data set's wording); {o} is the object's name in words.
PARAPHRASES = (
    'A person walks over to the {o}, picks it up and brings it somewhere else before setting it down.',
    'Someone grabs the {o} with both hands, moves it across the room and puts it back on the floor.',
    'They hoist the {o}, walk a few steps holding it, then lower it again.',
    'The subject takes hold of the {o}, relocates it and releases it.',
    'Pick the {o} up off the ground, carry it over there and place it down gently.',
    'A man repositions the {o}: he lifts it, shifts it to a new spot and lets go.',
    'Raise the {o}, transport it a short distance and return it to the floor.',
    'She moves the {o} to another place by lifting and carrying it.',
)
OBJECT_WORDS = dict(smallbox='small box', largebox='large box', trashcan='trash can', floorlamp='floor lamp',
                    woodchair='wooden chair', largetable='large table', smalltable='small table',
                    plasticbox='plastic box', whitechair='white chair', monitor='monitor', suitcase='suitcase')


def yaw_matrix(deg: float) -> np.ndarray:
    a = np.deg2rad(deg)
    return np.array([[np.cos(a), -np.sin(a), 0.0], [np.sin(a), np.cos(a), 0.0], [0.0, 0.0, 1.0]])


# ------------------------------------------------------------------------------------------------ user-style inputs
def non_square(image: np.ndarray, index: int):
    """The test reference (square) padded with white to 4:3 landscape (even windows) or 3:4 portrait (odd)."""
    h, w = image.shape[:2]
    if index % 2 == 0:
        width = int(round(h * 4 / 3))
        left = (width - w) // 2
        pad = ((0, 0), (left, width - w - left), (0, 0))
    else:
        height = int(round(w * 4 / 3))
        top = (height - h) // 2
        pad = ((top, height - h - top), (0, 0), (0, 0))
    return np.pad(image, pad, constant_values=255)


class WindowRequests:
    """The test windows of a data root and their user-style request files, in any world frame."""

    def __init__(self, data_root: str, inferencer, folder: Path):
        import cv2
        import trimesh

        from imagin4d.apis.requests import up_axis_rotation
        from imagin4d.datasets import FBMDataset
        from imagin4d.rendering.dataset_references import load_reference_index
        self.dataset = FBMDataset(data_root=data_root, split='test', pipeline=[])
        codec = self.dataset.codec
        references = {(e['seq_name'], int(e['window_start'])): e['image'] for e in
                      load_reference_index(os.path.join(data_root, 'references', 'test_mesh.json'))}
        known = {self.dataset.sequence_info(i)['text'].strip().lower() for i in range(len(self.dataset._sequences))}
        try:
            train = FBMDataset(data_root=data_root, split='train', pipeline=[])
            known |= {train.sequence_info(i)['text'].strip().lower() for i in range(len(train._sequences))}
        except (FileNotFoundError, ValueError):
            pass
        self.folder, self.items = folder, []
        y_up = up_axis_rotation('y')                                   # file (Y up) -> Z up
        for i in range(len(self.dataset)):
            w = self.dataset.assemble_window(self.dataset.get_data_info(i))
            assert not w['normalized']
            obj = self.dataset.object_template(w['object_name'])
            up = 'y' if i % 2 else 'z'
            verts = np.asarray(obj['verts'], np.float64)
            mesh_path = folder / f'w{i:02d}_{w["object_name"]}.ply'
            trimesh.Trimesh(verts @ y_up if up == 'y' else verts, obj['faces'], process=False).export(mesh_path)
            image = cv2.cvtColor(cv2.imread(references[(w['seq_name'], int(w['window_start']))]), cv2.COLOR_BGR2RGB)
            image = non_square(image, i)
            image_path = folder / f'w{i:02d}_reference.{"png" if i % 2 == 0 else "jpg"}'
            cv2.imwrite(str(image_path), cv2.cvtColor(image, cv2.COLOR_RGB2BGR),
                        [cv2.IMWRITE_JPEG_QUALITY, 95] if i % 2 else [])
            text = PARAPHRASES[i % len(PARAPHRASES)].format(o=OBJECT_WORDS.get(w['object_name'], w['object_name']))
            assert text.strip().lower() not in known, text
            scale = np.asarray(w['obj_scale'], np.float64)
            assert np.ptp(scale) < 1e-9, 'a window whose object scale changes'
            params = {k: np.asarray(v, np.float64) for k, v in w['smpl_params'].items()}
            body = inferencer.body_model(w['gender'])
            import torch
            pelvis = body.rest_joints(torch.as_tensor(params['betas'][:body.num_betas], dtype=torch.float32)[None])
            self.items.append(dict(
                index=i, seq_name=w['seq_name'], window_start=int(w['window_start']), object=w['object_name'],
                dataset_text=w['text'], text=text, mesh=str(mesh_path), scale=float(scale[0]), up=up,
                image=str(image_path), image_shape=list(image.shape[:2]), gender=w['gender'], params=params,
                pelvis=pelvis[0, 0].double().numpy(), com=codec.decode(w['motion'].double())['obj_com'].numpy(),
                rot0=np.asarray(w['obj_rot'][0], np.float64), template_centroid=np.asarray(obj['centroid'],
                                                                                           np.float64)))

    def requests(self, frames: list, tag: str, seed_base: int = 0):
        """HOIRequests of every window in the world frames [(R, d)], with their files written under `tag`."""
        import torch

        from imagin4d.apis import HOIRequest
        from imagin4d.geometry import axis_angle_to_matrix, matrix_to_axis_angle
        out = []
        for it, (R, d) in zip(self.items, frames):
            i, p = it['index'], it['params']
            root = axis_angle_to_matrix(torch.as_tensor(p['global_orient'][:1]))
            np.savez(self.folder / f'{tag}_w{i:02d}_start.npz',
                     root_orient=matrix_to_axis_angle(torch.as_tensor(R) @ root).numpy(),
                     pose_body=p['body_pose'][:1], trans=(p['transl'][:1] + it['pelvis']) @ R.T + d - it['pelvis'],
                     betas=p['betas'], gender=np.array(it['gender']), surface_model_type=np.array('smplx'),
                     mocap_frame_rate=np.array(30.0))
            world = it['com'] @ R.T + d
            waypoints = dict(version=1, num_frames=120, comment=f'{it["seq_name"]}@{it["window_start"]} ({tag})',
                             object_start=dict(position=world[0].tolist(), rotation=(R @ it['rot0']).tolist()),
                             waypoints=[dict(frame=f, position=world[f, :2].tolist()) for f in XY_FRAMES]
                             + [dict(frame=119, position=world[119].tolist())])
            wp_path = self.folder / f'{tag}_w{i:02d}_waypoints.json'
            wp_path.write_text(json.dumps(waypoints, indent=1))
            out.append(HOIRequest(text=it['text'], object_mesh=it['mesh'], object_scale=it['scale'], object_up=it['up'],
                                  reference_image=it['image'], waypoints=str(wp_path),
                                  start_body=str(self.folder / f'{tag}_w{i:02d}_start.npz'), seed=seed_base + i,
                                  name=f'{tag}_w{i:02d}'))
        return out


# ------------------------------------------------------------------------------------------------ quality
def evaluate(results: list, items: list, frames: list, codec) -> dict:
    """Waypoint errors (tools/test.py's function), floor contact and joint consistency of one result per window."""
    from imagin4d.apis.exporters.video import result_geometry
    from imagin4d.evaluation.functional import waypoint_errors
    com_mask = codec.waypoint_mask(120, XY_FRAMES)[:, codec.slices['obj_com']].numpy()
    rows, lowest, consistency = [], [], []
    for result, it, (R, d) in zip(results, items, frames):
        row = waypoint_errors(np.asarray(result.meta['object_centre']), it['com'] @ R.T + d, com_mask)
        geometry = result_geometry(result)
        low = geometry['body_verts'][..., 2].min(1).astype(np.float64)                  # (T,)
        dist = np.linalg.norm(result.joints - geometry['joints24'], axis=-1) * 1000.0   # (T, 24) mm
        fk = rotation_joints(result, codec)
        row.update(seq_name=it['seq_name'], lowest_median_mm=float(np.median(low) * 1000),
                   joint_consistency_mean_mm=float(dist.mean()), joint_consistency_max_mm=float(dist.max()),
                   export_fidelity_max_mm=float(np.abs(fk - geometry['joints24']).max() * 1000.0))
        rows.append(row)
        lowest.append(low)
        consistency.append(dist)
    low, dist = np.concatenate(lowest) * 1000.0, np.concatenate([c.ravel() for c in consistency])
    summary = {k: float(np.nanmean([r[k] for r in rows])) for k in
               ('waypoint_start_err', 'waypoint_xy_err', 'waypoint_end_err')}
    summary.update(lowest_vertex_median_mm=float(np.median(low)), lowest_vertex_p5_mm=float(np.percentile(low, 5)),
                   lowest_vertex_p95_mm=float(np.percentile(low, 95)),
                   frames_within_5cm_of_floor=float(np.mean(np.abs(low) <= 50.0)),
                   frames_below_minus_5cm=float(np.mean(low < -50.0)), frames_above_5cm=float(np.mean(low > 50.0)),
                   joint_consistency_mean_mm=float(dist.mean()), joint_consistency_max_mm=float(dist.max()),
                   joint_consistency_p95_mm=float(np.percentile(dist, 95)),
                   export_fidelity_max_mm=float(max(r['export_fidelity_max_mm'] for r in rows)),
                   windows=len(rows), frames=int(low.size))
    return dict(summary=summary, rows=rows)


def rotation_joints(result, codec) -> np.ndarray:
    """(T, 24, 3) joints24 by forward kinematics of the result's rotations (global_orient, body_pose) on the shaped
    rest skeleton, rooted at the predicted pelvis: what the exported parameters should reproduce exactly, so that
    the body-model joints minus these isolate the exporter, and `result.joints` minus them the model."""
    import torch

    from imagin4d.body_models import load_body_model, skeletons
    from imagin4d.geometry import axis_angle_to_matrix
    body = load_body_model(result.body_model_root, 'smplx', result.gender)
    rest = body.rest_joints(torch.as_tensor(result.betas[:body.num_betas], dtype=torch.float32)[None])[0].double()
    pose = torch.as_tensor(np.concatenate([result.global_orient, result.body_pose], 1)).reshape(-1, 22, 3)
    local = axis_angle_to_matrix(pose)
    glob = [local[:, 0]]
    for j in range(1, 22):
        glob.append(glob[skeletons.BODY_PARENTS[j]] @ local[:, j])
    return codec.joints_from_rotations(torch.stack(glob, 1), rest[list(skeletons.JOINTS24_FROM_SMPLX)],
                                       torch.as_tensor(result.joints[:, 0])).numpy()


def max_difference(a, b) -> dict:
    """Largest absolute difference of every array of two results (metres, radians)."""
    keys = ('joints', 'global_orient', 'body_pose', 'transl', 'obj_rot', 'obj_trans', 'contacts')
    out = {k: float(np.abs(getattr(a, k) - getattr(b, k)).max()) for k in keys}
    centres = (np.asarray(r.meta['object_centre']) for r in (a, b))
    out['object_centre'] = float(np.abs(next(centres) - next(centres)).max())
    if a.t_hat is not None:
        out['t_hat'] = abs(a.t_hat - b.t_hat)
    out['max'] = max(out.values())
    return out


# ------------------------------------------------------------------------------------------------ speed
