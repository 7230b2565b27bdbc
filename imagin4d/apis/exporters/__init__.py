"""Exporters of one generated interaction (`HOIResult`) to files animation tools open: AMASS SMPL-X npz,
object npz, BVH, animated glTF binary, the mesh video; plus the Khronos glTF validator runner.
"""
from .amass_npz import CONTACT_NAMES, resolve_mesh_path, write_object_npz, write_smplx_npz
from .bvh import BVH_UNITS, BVHData, read_bvh, write_bvh
from .gltf import GLB_LAYOUT, write_glb
from .gltf_validator import GLTF_VALIDATOR_VERSION, ValidatorNotFound, validate_gltf
from .video import render_result_frames, render_result_video

__all__ = ['write_smplx_npz', 'write_object_npz', 'resolve_mesh_path', 'CONTACT_NAMES', 'write_bvh', 'read_bvh',
           'BVHData', 'BVH_UNITS', 'write_glb', 'GLB_LAYOUT', 'validate_gltf', 'ValidatorNotFound',
           'GLTF_VALIDATOR_VERSION', 'render_result_video', 'render_result_frames']
