"""Fixtures of the generation API tests: a ground-truth mini-FBM window as an `HOIResult` (the export round trip)."""
import numpy as np
import pytest


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
    import torch

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
