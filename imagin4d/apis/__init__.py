"""The user surface of imagin4d: load a trained model, generate from your own inputs, export the result.

`init_model(config, checkpoint)`, `HOIInferencer(config, checkpoint)(request)`, `HOIRequest`, `HOIResult` and
`export_result` (AMASS SMPL-X npz, object npz, BVH, glTF binary, MP4). Guide: docs/user_guides/generate.md.
"""
from .export import EXPORT_FORMATS, export_result
from .inference import HOIInferencer, default_body_model_root, init_model
from .requests import HOIRequest, RequestError, load_waypoints
from .results import HOIResult

__all__ = ['init_model', 'HOIInferencer', 'HOIRequest', 'HOIResult', 'RequestError', 'load_waypoints',
           'export_result', 'EXPORT_FORMATS', 'default_body_model_root']
