"""A sample's body model posed from decoded joint rotations, for the metrics that score body-model joints / vertices.

Owns finding the body model of a sample (`sample_body_model`: the configured folder, the data set's, then the data
root's, searched as `imagin4d.body_models.locate` does), the sample's shape (`sample_betas`) and the forward pass of
global joint rotations with the pelvis put at a given position (`pose_from_rotations`). Used by ImageAdherenceMetric
(silhouettes) and HOIMotionMetric (`joints_from='body_model'`, CHOIS's protocol).
"""
import os.path as osp
from typing import Dict, Optional

import numpy as np
import torch

from imagin4d.utils.paths import resolve_data_path

from .sample_access import sample_name

__all__ = ['sample_body_model', 'sample_betas', 'fit_betas', 'pose_from_rotations']


def sample_body_model(metric: str, sample: dict, num_betas: int, body_model_root: Optional[str],
                      data_root: Optional[str], dataset_meta: Optional[dict], body_model_type: str = 'auto',
                      purpose: str = ''):
    """The cached BodyModel of a sample: type ('auto': 'smplh' for dataset 'behave', else 'smplx') and gender from
    the sample; folders searched: `body_model_root` ('{data_root}' allowed) or the data set's
    (`dataset_meta['body_model_root']`), $IMAGIN4D_BODY_MODEL_DIR, `<data_root>/smpl_all_models`, `<data_root>`.
    `purpose` is named in the not-found error (what needs the model and how to do without it)."""
    from imagin4d.body_models import body_model_dirs, find_body_model_root, load_body_model
    model_type = body_model_type
    if model_type == 'auto':
        model_type = 'smplh' if str(sample.get('dataset', '')).lower() == 'behave' else 'smplx'
    configured = resolve_data_path(body_model_root, data_root, f'{metric} body_model_root')
    configured = configured or (dataset_meta or {}).get('body_model_root')
    dirs = body_model_dirs(configured, [osp.join(data_root, 'smpl_all_models'), data_root] if data_root else [])
    gender = str(sample.get('gender') or 'neutral')
    root = find_body_model_root(dirs, model_type, gender, f'{metric} ({purpose})' if purpose else metric)
    return load_body_model(root, model_type=model_type, gender=gender, num_betas=max(int(num_betas), 1))


def sample_betas(metric: str, sample: dict, index: int, purpose: str) -> torch.Tensor:
    """The sample's betas (nb,) float32 from `smpl_params['betas']`; KeyError naming the sample when missing."""
    params = sample.get('smpl_params')
    if not isinstance(params, dict) or params.get('betas') is None:
        raise KeyError(f'{metric}: sample {sample_name(sample, index)} lacks smpl_params (betas at least) for '
                       f'{purpose}')
    betas = params['betas']
    betas = betas.detach().cpu() if torch.is_tensor(betas) else torch.as_tensor(np.asarray(betas))
    return betas.to(torch.float32).reshape(-1)


def fit_betas(model, betas: torch.Tensor) -> torch.Tensor:
    """(nb,) betas -> (1, model.num_betas): cut, or zero-padded."""
    nb = model.num_betas
    return torch.cat([betas[:nb], betas.new_zeros(max(0, nb - betas.numel()))])[None]


def pose_from_rotations(model, betas: torch.Tensor, global_rot, pelvis) -> Dict[str, torch.Tensor]:
    """Forward pass of the body model posed by global joint rotations, moved so that joint 0 lies at `pelvis`.

    betas: (nb,) (cut or zero-padded to the model's count); global_rot: (T, 22, 3, 3) global rotations of the body
    joints (the codec's 'global_rot'); pelvis: (T, 3). Returns float64 joints24 (T, 24, 3) and vertices (T, V, 3)
    (flat hands, no expression).
    """
    from ..functional.image_adherence import body_params_from_global_rotations
    orient, body_pose = body_params_from_global_rotations(global_rot)
    with torch.no_grad():
        out = model(betas=fit_betas(model, betas), global_orient=torch.as_tensor(orient, dtype=torch.float32),
                    body_pose=torch.as_tensor(body_pose, dtype=torch.float32))
    shift = torch.as_tensor(np.asarray(pelvis)).to(out['joints24']) - out['joints24'][:, 0]
    return dict(joints24=(out['joints24'] + shift[:, None]).double(),
                vertices=(out['vertices'] + shift[:, None]).double())
