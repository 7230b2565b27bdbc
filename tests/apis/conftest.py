"""Fixtures of the generation API tests: a ground-truth mini-FBM window as an `HOIResult` (the export round trip),
an untrained full model with the small mini-FBM's statistics and an inferencer on it, and user-style inputs."""
import json

import numpy as np
import pytest
import torch
from generation_model import CONFIG, untrained_checkpoint


@pytest.fixture(scope='session')
def gt_window(mini_fbm_root):
    """The first test window of the small mini-FBM, assembled (canonical frame) with its data set."""
    from imagin4d.datasets import FBMDataset
    dataset = FBMDataset(data_root=mini_fbm_root, split='test', pipeline=[])
    window = dataset.assemble_window(dataset.get_data_info(0))
    window['body_model_root'] = dataset.body_model_root
    return window


@pytest.fixture(scope='session')
def gt_joints(gt_window):
    """(T, 24, 3) joints24 of the window's body-model parameters, posed by the project's BodyModel."""

    from imagin4d.body_models import load_body_model
    params = gt_window['smpl_params']
    body = load_body_model(gt_window['body_model_root'], 'smplx', gt_window['gender'])
    with torch.no_grad():
        out = body(betas=params['betas'][None, :body.num_betas], global_orient=params['global_orient'],
                   body_pose=params['body_pose'], transl=params['transl'])
    return out['joints24'].double().numpy()


@pytest.fixture
def gt_result(gt_window):
    """The window's ground truth as an HOIResult (world frame = the window's canonical frame)."""
    import trimesh

    from imagin4d.apis.results import HOIResult
    w, params = gt_window, gt_window['smpl_params']
    mesh = trimesh.Trimesh(np.asarray(w['object_verts'], np.float64), np.asarray(w['object_faces']), process=False)
    joints = w['motion'][:, 12:84].reshape(-1, 24, 3).double().numpy()
    return HOIResult(global_orient=params['global_orient'].numpy(), body_pose=params['body_pose'].numpy(),
                     transl=params['transl'].numpy(), betas=params['betas'].numpy()[:10], gender=w['gender'],
                     joints=joints, obj_rot=w['obj_rot'].numpy(), obj_trans=w['obj_trans'].numpy(),
                     obj_scale=float(w['obj_scale'][0]), contacts=w['contacts'].numpy(), object_mesh=mesh,
                     body_model_root=w['body_model_root'], t_hat=float(w['t_star']),
                     meta=dict(name=f"{w['seq_name']}@{w['window_start']}"))


@pytest.fixture(scope='session')
def checkpoint(mini_fbm_prepared, tmp_path_factory):
    """The untrained full model (SFIE + frame-aware tokens)."""
    return untrained_checkpoint(CONFIG, mini_fbm_prepared, tmp_path_factory.mktemp('generation') / 'model.pth')


@pytest.fixture(scope='session')
def inferencer(checkpoint, free_body_root):
    from imagin4d.apis import HOIInferencer
    return HOIInferencer(CONFIG, checkpoint, body_model_root=str(free_body_root))


@pytest.fixture(scope='session')
def inputs(tmp_path_factory, gt_window):
    """User-style inputs: a mesh file the data set never held (Y up, centimetres), a non-square image, waypoints."""
    import cv2
    import trimesh
    folder = tmp_path_factory.mktemp('request_inputs')
    box = trimesh.creation.box(extents=(30.0, 20.0, 24.0))            # cm; Y up: 20 cm is its height
    box.apply_translation((0.0, 10.0, 0.0))
    box.export(folder / 'box.ply')
    image = np.full((180, 320, 3), 255, np.uint8)
    cv2.rectangle(image, (140, 40), (180, 150), (90, 120, 200), -1)
    cv2.imwrite(str(folder / 'ref.png'), image)
    waypoints = dict(version=1, num_frames=120, object_start=dict(position=[0.2, 0.6, 0.1], yaw_deg=10),
                     waypoints=[dict(frame=29, position=[0.2, 0.6]), dict(frame=59, position=[0.3, 0.7]),
                                dict(frame=89, position=[0.5, 1.0]), dict(frame=119, position=[0.5, 1.1, 0.1])])
    (folder / 'waypoints.json').write_text(json.dumps(waypoints))
    params = gt_window['smpl_params']
    np.savez(folder / 'start.npz', root_orient=params['global_orient'][:1].numpy(),
             pose_body=params['body_pose'][:1].numpy(), trans=params['transl'][:1].numpy(),
             betas=params['betas'].numpy(), gender=np.array(gt_window['gender']))
    return dict(folder=folder, mesh=str(folder / 'box.ply'), image=str(folder / 'ref.png'), waypoints=waypoints,
                start=str(folder / 'start.npz'))
