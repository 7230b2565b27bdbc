"""Body models: the smplx wrapper (SMPL-X, SMPL-H), skeleton constants, forward kinematics, free body builder.

`free_body` (which imports anny lazily) is not imported here; use `imagin4d.body_models.free_body`.
"""
from . import skeletons
from .body_model import BodyModel, load_body_model, model_path
from .fk import forward_kinematics
from .locate import BODY_MODEL_ENV, BodyModelNotFoundError, body_model_dirs, find_body_model_root

__all__ = ['BodyModel', 'load_body_model', 'model_path', 'forward_kinematics', 'skeletons', 'BODY_MODEL_ENV',
           'BodyModelNotFoundError', 'body_model_dirs', 'find_body_model_root']
