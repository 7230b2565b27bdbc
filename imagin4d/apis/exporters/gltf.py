"""Writes a result as one animated glTF 2.0 binary (.glb): the skinned SMPL-X body and the object mesh.

Owns `write_glb` and the GLB container writer (numpy + struct + json, no extra dependency).
"""
import json
import struct
from pathlib import Path
from typing import Dict, List, Optional, Sequence, Union

import numpy as np

from ._common import Z_UP_TO_Y_UP, check_result, check_rotations, local_rotmats, rotmat_to_quat_xyzw, shaped_body

__all__ = ['write_glb', 'GLB_LAYOUT']

_FLOAT, _UBYTE, _USHORT, _UINT = 5126, 5121, 5123, 5125
_ARRAY_BUFFER, _ELEMENT_ARRAY_BUFFER = 34962, 34963
_TYPES = {1: 'SCALAR', 2: 'VEC2', 3: 'VEC3', 4: 'VEC4', 16: 'MAT4'}
_NUMPY = {_FLOAT: np.float32, _UBYTE: np.uint8, _USHORT: np.uint16, _UINT: np.uint32}

#: Node layout of the files `write_glb` writes (node indices).
GLB_LAYOUT = dict(root=0, first_joint=1, num_joints=55, body=56, object=57)


class _Buffer:
    """The BIN chunk under construction: bufferViews (one per array, 4-byte aligned) and accessors."""

    def __init__(self):
        self.data = bytearray()
        self.buffer_views: List[dict] = []
        self.accessors: List[dict] = []

    def add(self, array: np.ndarray, component: int, target: Optional[int] = None, minmax: bool = False,
            width: Optional[int] = None) -> int:
        """Append `array` (N, width) or (N,) as one accessor; returns the accessor index."""
        array = np.ascontiguousarray(array, dtype=_NUMPY[component])
        count = array.shape[0]
        width = width or (1 if array.ndim == 1 else int(np.prod(array.shape[1:])))
        array = array.reshape(count, width)
        self.data += b'\0' * (-len(self.data) % 4)
        view = dict(buffer=0, byteOffset=len(self.data), byteLength=array.nbytes)
        if target is not None:
            view['target'] = target
        self.data += array.tobytes()
        self.buffer_views.append(view)
        accessor = dict(bufferView=len(self.buffer_views) - 1, componentType=component, count=count,
                        type=_TYPES[width])
        if minmax:  # exact float32/int values, as the validator recomputes them
            accessor['min'] = [v.item() for v in array.min(0)]
            accessor['max'] = [v.item() for v in array.max(0)]
        self.accessors.append(accessor)
        return len(self.accessors) - 1


def vertex_normals(vertices: np.ndarray, faces: np.ndarray) -> np.ndarray:
    """(V, 3) float32 unit area-weighted vertex normals; vertices on no (or only degenerate) faces get +Z."""
    tri = vertices[faces]
    face_n = np.cross(tri[:, 1] - tri[:, 0], tri[:, 2] - tri[:, 0])
    normals = np.zeros_like(vertices)
    for k in range(3):
        np.add.at(normals, faces[:, k], face_n)
    length = np.linalg.norm(normals, axis=1, keepdims=True)
    normals = np.where(length > 1e-12, normals / np.maximum(length, 1e-30), np.array([0.0, 0.0, 1.0]))
    normals = normals.astype(np.float32)
    return normals / np.linalg.norm(normals, axis=1, keepdims=True)


def skin_weights(weights: np.ndarray, max_influences: int = 8):
    """Top-`max_influences` (4 or 8) skinning weights per vertex, renormalised to sum 1 in float32.

    Returns joints (V, K) uint8/uint16 joint ids (unused slots: joint 0, weight 0), weights (V, K) float32,
    dropped (V,) the weight mass each vertex lost before renormalising (0 when no vertex has more influences).
    """
    if max_influences not in (4, 8):
        raise ValueError(f'write_glb max_influences must be 4 or 8, got {max_influences!r}')
    order = np.argsort(-weights, axis=1, kind='stable')[:, :max_influences]
    top = np.take_along_axis(weights, order, axis=1)
    top = np.where(top > 0, top, 0.0)
    dropped = 1.0 - top.sum(1) / np.maximum(weights.sum(1), 1e-30)
    if np.any(top.sum(1) <= 0):
        raise ValueError('body model skinning weights: a vertex has no positive weight')
    w = (top / top.sum(1, keepdims=True)).astype(np.float32)
    w[:, 0] += np.float32(1.0) - w.sum(1, dtype=np.float32)  # exact float32 sum of 1 for the validator
    joints = np.where(w > 0, order, 0)
    dtype = np.uint8 if weights.shape[1] < 256 else np.uint16
    return joints.astype(dtype), w, np.maximum(dropped, 0.0)


def _material(name: str, color: Sequence[float], double_sided: bool) -> dict:
    rgba = [float(c) for c in color] + ([1.0] if len(color) == 3 else [])
    return dict(name=name, doubleSided=double_sided,
                pbrMetallicRoughness=dict(baseColorFactor=rgba, metallicFactor=0.0, roughnessFactor=0.8))


def write_glb(result, path: Union[str, Path], max_influences: int = 8,
              body_color: Sequence[float] = (0.78, 0.72, 0.66), object_color: Sequence[float] = (0.25, 0.52, 0.85),
              include_object: bool = True) -> Path:
    """Write `result` as one animated glTF 2.0 binary file.

    Layout (node indices in GLB_LAYOUT): node 0 'world_z_up_to_y_up', a root rotating the Z-up world content
    by -90 degrees about X into glTF's Y up (+Y up, world +Y becomes -Z); its children are the skeleton root
    (pelvis) and the object. Nodes 1..55: the SMPL-X joints (names of `skeletons.SMPLX_JOINT_NAMES`, smplx
    order), rest translations = the shaped rest skeleton (child minus parent joint; the pelvis its absolute
    rest position) of the body model at `result.betas`. Node 56 'body': the skinned mesh (a scene root, as the
    spec recommends; its own transform is unused): the shaped rest mesh v_template + shapedirs . betas (metres,
    Z-up root space), smplx faces, NORMAL, JOINTS_0/WEIGHTS_0 (+ JOINTS_1/WEIGHTS_1 when max_influences=8):
    the largest lbs weights per vertex, renormalised; inverse bind matrices translate by -rest joint (bind
    space = node 0's space). Node 57 'object': the object mesh in its file's coordinates, animated
    translation / rotation / scale (world = scale * R @ v + t).
    Animation 0: one sampler per channel, LINEAR, keyframe times t / result.fps seconds (duration (T-1)/fps):
    rotation of every joint node (55), translation of the pelvis (rest pelvis + transl), and translation,
    rotation, scale of the object. Materials: `body_color`, `object_color` (RGB(A) in [0, 1]).

    Skinning reproduces the smplx vertices exactly only without pose correctives: true for the project's free
    body (zero posedirs, at most 7 influences per vertex, so max_influences=8 drops nothing); a licensed SMPL-X
    file has pose-dependent correctives that linear blend skinning in glTF leaves out (mm-to-cm differences at
    bent joints). Influences: set 0 holds each vertex's 4 largest weights, set 1 the next 4; a viewer that reads
    only JOINTS_0/WEIGHTS_0 (three.js renormalises them) sees the top-4 approximation, which moves free-body
    vertices by up to ~1.2 cm at bent joints; max_influences=4 writes that approximation for every reader.
    `include_object=False` (or a result without object_mesh) writes the body only.
    Returns the path written; the scene's `extras` hold fps, num_frames, the dropped skinning weight mass.
    """
    check_result(result, need_body_model=True)
    include_object = include_object and result.object_mesh is not None
    if include_object:
        check_rotations(result.obj_rot, 'obj_rot')
    path = Path(path)
    T = result.num_frames
    body = shaped_body(result)
    parents, names, rest = body['parents'], body['names'], body['joints']
    buf = _Buffer()

    # --- body mesh + skin ---------------------------------------------------------------------------------
    faces = body['faces']
    verts = body['vertices']
    joints_w, weights_w, dropped = skin_weights(body['weights'], max_influences)
    index_type = _USHORT if verts.shape[0] < 65535 else _UINT
    attributes = dict(POSITION=buf.add(verts, _FLOAT, _ARRAY_BUFFER, minmax=True),
                      NORMAL=buf.add(vertex_normals(verts, faces), _FLOAT, _ARRAY_BUFFER))
    joint_type = _UBYTE if joints_w.dtype == np.uint8 else _USHORT
    for s in range(max_influences // 4):
        attributes[f'JOINTS_{s}'] = buf.add(joints_w[:, 4 * s:4 * s + 4], joint_type, _ARRAY_BUFFER)
        attributes[f'WEIGHTS_{s}'] = buf.add(weights_w[:, 4 * s:4 * s + 4], _FLOAT, _ARRAY_BUFFER)
    meshes = [dict(name='body', primitives=[dict(
        attributes=attributes, indices=buf.add(faces.reshape(-1), index_type, _ELEMENT_ARRAY_BUFFER),
        material=0, mode=4)])]
    ibm = np.tile(np.eye(4), (55, 1, 1))
    ibm[:, :3, 3] = -rest
    # glTF matrices are column-major: write the transpose of each row-major matrix.
    ibm_accessor = buf.add(np.transpose(ibm, (0, 2, 1)).reshape(55, 16), _FLOAT, width=16)

    first = GLB_LAYOUT['first_joint']
    root_quat = rotmat_to_quat_xyzw(Z_UP_TO_Y_UP[None])[0]
    nodes: List[Dict] = [dict(name='world_z_up_to_y_up', rotation=[float(q) for q in root_quat],
                              children=[first])]
    for j in range(55):
        offset = rest[j] if parents[j] < 0 else rest[j] - rest[parents[j]]
        node = dict(name=names[j], translation=[float(x) for x in offset])
        kids = [first + c for c in range(55) if parents[c] == j]
        if kids:
            node['children'] = kids
        nodes.append(node)
    nodes.append(dict(name='body', mesh=0, skin=0))
    skins = [dict(name='smplx_skeleton', joints=list(range(first, first + 55)), inverseBindMatrices=ibm_accessor)]
    materials = [_material('body', body_color, False)]

    # --- animation ----------------------------------------------------------------------------------------
    times = buf.add(np.arange(T, dtype=np.float64) / float(result.fps), _FLOAT, minmax=True)
    samplers, channels = [], []

    def animate(node: int, prop: str, values: np.ndarray) -> None:
        samplers.append(dict(input=times, output=buf.add(values, _FLOAT), interpolation='LINEAR'))
        channels.append(dict(sampler=len(samplers) - 1, target=dict(node=node, path=prop)))

    quats = rotmat_to_quat_xyzw(local_rotmats(result)).astype(np.float32)  # (T, 55, 4)
    quats /= np.linalg.norm(quats, axis=-1, keepdims=True)
    for j in range(55):
        animate(first + j, 'rotation', quats[:, j])
    animate(first, 'translation', rest[0] + result.transl)

    # --- object ---------------------------------------------------------------------------------------------
    if include_object:
        mesh = result.object_mesh
        over = np.asarray(mesh.vertices, np.float64)
        ofaces = np.asarray(mesh.faces, np.int64).reshape(-1, 3)
        if over.shape[0] == 0 or ofaces.shape[0] == 0:
            raise ValueError('HOIResult.object_mesh has no vertices or no faces; write_glb needs a triangle mesh')
        otype = _USHORT if over.shape[0] < 65535 else _UINT
        meshes.append(dict(name='object', primitives=[dict(
            attributes=dict(POSITION=buf.add(over, _FLOAT, _ARRAY_BUFFER, minmax=True),
                            NORMAL=buf.add(vertex_normals(over, ofaces), _FLOAT, _ARRAY_BUFFER)),
            indices=buf.add(ofaces.reshape(-1), otype, _ELEMENT_ARRAY_BUFFER), material=1, mode=4)]))
        materials.append(_material('object', object_color, True))
        obj_node = GLB_LAYOUT['object']
        nodes.append(dict(name='object', mesh=1))
        nodes[0]['children'].append(obj_node)
        oq = rotmat_to_quat_xyzw(result.obj_rot).astype(np.float32)
        animate(obj_node, 'translation', result.obj_trans)
        animate(obj_node, 'rotation', oq / np.linalg.norm(oq, axis=-1, keepdims=True))
        animate(obj_node, 'scale', np.full((T, 3), float(result.obj_scale)))

    name = str(result.meta.get('name', 'imagin4d')) if isinstance(result.meta, dict) else 'imagin4d'
    extras = dict(fps=float(result.fps), num_frames=T, up_axis_of_content='Z (node 0 rotates it to Y up)',
                  skin_max_influences=max_influences, skin_dropped_weight_max=float(dropped.max()),
                  body_model_free=body['is_free_body'])
    gltf = dict(asset=dict(version='2.0', generator='imagin4d.apis.exporters.gltf'), scene=0,
                scenes=[dict(name=name, nodes=[0, GLB_LAYOUT['body']], extras=extras)], nodes=nodes,
                meshes=meshes, materials=materials, skins=skins,
                animations=[dict(name=name, samplers=samplers, channels=channels)],
                accessors=buf.accessors, bufferViews=buf.buffer_views, buffers=[dict(byteLength=len(buf.data))])
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(glb_bytes(gltf, bytes(buf.data)))
    return path


def glb_bytes(gltf: dict, binary: bytes) -> bytes:
    """The GLB container: 12-byte header, JSON chunk (space-padded), BIN chunk (zero-padded), 4-byte aligned."""
    text = json.dumps(gltf, separators=(',', ':'), allow_nan=False).encode('utf-8')
    text += b' ' * (-len(text) % 4)
    binary = binary + b'\0' * (-len(binary) % 4)
    total = 12 + 8 + len(text) + 8 + len(binary)
    return (struct.pack('<4sII', b'glTF', 2, total) + struct.pack('<I4s', len(text), b'JSON') + text
            + struct.pack('<I4s', len(binary), b'BIN\0') + binary)
