"""Left-right mirroring of interaction geometry about the plane x = 0 of the canonical frame.

Owns `mirror_points` and `mirror_mesh` (the geometric half of the mirrored-reference test; the camera half is
`camera.mirror_camera`). Pure numpy. Mirroring swaps the body's left and right sides visually; the vertex
identities (which vertex is the "left hand") are unchanged.
"""
import numpy as np

__all__ = ['mirror_points', 'mirror_mesh']


def mirror_points(points: np.ndarray) -> np.ndarray:
    """points: (..., 3) -> (..., 3) copy with x negated."""
    out = np.array(points, dtype=np.result_type(np.asarray(points).dtype, np.float32), copy=True)
    out[..., 0] = -out[..., 0]
    return out


def mirror_mesh(vertices: np.ndarray, faces: np.ndarray):
    """Mirror a triangle mesh.  vertices: (V, 3), faces: (F, 3) int -> (vertices (V, 3), faces (F, 3)).

    A reflection reverses orientation, so each face is re-wound (v0, v1, v2) -> (v0, v2, v1) to keep its
    normal pointing outwards.
    """
    faces = np.asarray(faces)
    return mirror_points(vertices), faces[:, [0, 2, 1]].copy()
