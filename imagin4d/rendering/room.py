"""A procedural room around an interaction, made in code from a seed: a corner of two walls behind the subject,
a floor, a rug and a few pieces of furniture (boxes: tables, cabinets, sofas, plant pots), all textured.

Owns `build_room` (-> a list of surfaces), `mirror_room`, `mirror_scene_kwargs` (a `scene` style's per-image
render arguments for the mirrored scene) and `surface_mesh` (a surface -> pyrender.Mesh).
A surface is a dict(name, positions (N, 3) float32, normals (N, 3) float32, uv (N, 2) float32, indices (M, 3)
uint32, texture (h, w, 3) sRGB uint8, floor bool): flat-shaded triangles with their own vertices. The camera
looks into the corner (the paper's SceneImg corner camera); the walls are pushed back until they clear the
interaction, and a piece of furniture is kept only where it cannot hide the interaction: its projected box must
not overlap the interaction's projected box unless all of it lies at least `behind` (0.5 m) farther from the camera
than all of the interaction. World frame: Z-up metres, floor at z = 0.
"""
import math
from typing import List

import numpy as np

from .appearance import texture
from .camera import Camera, project_points

__all__ = ['build_room', 'mirror_room', 'mirror_scene_kwargs', 'surface_mesh', 'ROOM_RANGES']

# Documented ranges (metres, degrees) of the room drawn per image.
ROOM_RANGES = dict(corner_distance=(1.2, 3.0), corner_yaw=(-20.0, 20.0), wall_height=(2.6, 3.2),
                   furniture=(2, 5), clearance=0.35, behind=0.5)

_FLOOR_Z = -1e-3   # as scene._FLOOR_Z: the floor lies 1 mm below z = 0
_BOX_FACES = [(0, 1, 2, 3), (4, 7, 6, 5), (0, 4, 5, 1), (2, 6, 7, 3), (1, 5, 6, 2), (0, 3, 7, 4)]


def _front_facing(surface: dict) -> dict:
    """Wind each triangle counter-clockwise around its normal (the segmentation and depth passes cull back
    faces, whatever the material says)."""
    tri = surface['positions'][surface['indices'].astype(np.int64)]
    cross = np.cross(tri[:, 1] - tri[:, 0], tri[:, 2] - tri[:, 0])
    back = (cross * surface['normals'][surface['indices'][:, 0]]).sum(1) < 0
    surface['indices'][back] = surface['indices'][back][:, [0, 2, 1]]
    return surface


def _quad_surface(corners: np.ndarray, normal, u_axis, v_axis, scale, tex, name, floor=False) -> dict:
    """One planar quad (4, 3) corners (in order) as a surface; uv = position along u_axis/v_axis / scale."""
    uv = np.stack([corners @ u_axis, corners @ v_axis], 1) / scale
    return _front_facing(dict(name=name, positions=corners.astype(np.float32),
                              normals=np.tile(np.asarray(normal, np.float32), (4, 1)), uv=uv.astype(np.float32),
                              indices=np.array([[0, 1, 2], [0, 2, 3]], np.uint32), texture=tex, floor=floor))


def _box_surface(lo, hi, frame: np.ndarray, origin: np.ndarray, tex, name, scale=0.5) -> dict:
    """Box [lo, hi] (3,) in room coordinates (u, v, z) -> world surface with outward normals.
    frame: (3, 3) columns = world directions of u, v, z; origin: (3,) world position of the room origin."""
    lo, hi = np.asarray(lo, float), np.asarray(hi, float)
    local = np.array([[x, y, z] for z in (lo[2], hi[2]) for x, y in ((lo[0], lo[1]), (hi[0], lo[1]),
                                                                      (hi[0], hi[1]), (lo[0], hi[1]))])
    world = local @ frame.T + origin
    pos, nrm, uv, idx = [], [], [], []
    centre = world.mean(0)
    for face in _BOX_FACES:
        quad = world[list(face)]
        n = np.cross(quad[1] - quad[0], quad[2] - quad[0])
        n = n / max(np.linalg.norm(n), 1e-12)
        if n @ (quad.mean(0) - centre) < 0:
            n = -n
        lq = local[list(face)]
        span = np.ptp(lq, 0)
        axes = np.argsort(-span)[:2]
        base = len(pos) * 4
        pos.append(quad)
        nrm.append(np.tile(n, (4, 1)))
        uv.append(lq[:, axes] / scale)
        idx.append([[base, base + 1, base + 2], [base, base + 2, base + 3]])
    return _front_facing(dict(name=name, positions=np.concatenate(pos).astype(np.float32),
                              normals=np.concatenate(nrm).astype(np.float32), uv=np.concatenate(uv).astype(np.float32),
                              indices=np.concatenate(idx).astype(np.uint32), texture=tex, floor=False))


def _furniture(kind: str, rng) -> List[tuple]:
    """Boxes (lo, hi) of one piece in its own frame (u along the wall, v away from it, z up), and its size."""
    if kind == 'table':
        w, d, h = rng.uniform(0.8, 1.6), rng.uniform(0.5, 0.9), rng.uniform(0.7, 0.78)
        legs = [((x, y, 0), (x + 0.05, y + 0.05, h - 0.04)) for x in (0.02, w - 0.07) for y in (0.02, d - 0.07)]
        return [((0, 0, h - 0.04), (w, d, h))] + legs
    if kind == 'cabinet':
        w, d, h = rng.uniform(0.5, 1.2), rng.uniform(0.35, 0.5), rng.uniform(0.8, 2.0)
        return [((0, 0, 0), (w, d, h))]
    if kind == 'sofa':
        w, d = rng.uniform(1.4, 2.2), rng.uniform(0.8, 0.95)
        return [((0, 0, 0), (w, d, 0.42)), ((0, 0, 0.42), (w, 0.2, 0.85)), ((0, 0, 0.42), (0.18, d, 0.62)),
                ((w - 0.18, 0, 0.42), (w, d, 0.62))]
    s = rng.uniform(0.3, 0.45)  # plant: a pot and a block of foliage
    return [((0, 0, 0), (s, s, 0.4)), ((-0.1, -0.1, 0.4), (s + 0.1, s + 0.1, 0.4 + rng.uniform(0.4, 1.0)))]


def build_room(interaction: np.ndarray, camera: Camera, look_at, rng: np.random.Generator) -> List[dict]:
    """The room of one image.  interaction: (N, 3) world points of the body and object (a subsample is
    enough), camera: the image's camera, look_at: (3,) the point it looks at; -> list of surfaces."""
    pts = np.asarray(interaction, np.float64)
    forward = np.asarray(look_at, float) - camera.position
    forward[2] = 0.0
    norm = float(np.linalg.norm(forward))
    forward = forward / norm if norm > 1e-6 else np.array([0.0, 1.0, 0.0])   # looking straight down: any
    yaw = math.radians(rng.uniform(*ROOM_RANGES['corner_yaw']))

    def rotated(angle):
        c, s = math.cos(angle), math.sin(angle)
        return np.array([-(c * forward[0] - s * forward[1]), -(s * forward[0] + c * forward[1]), 0.0])
    a1, a2 = rotated(math.pi / 4 + yaw), rotated(-math.pi / 4 + yaw)   # wall directions, back towards the camera
    clearance = ROOM_RANGES['clearance']
    look = np.array([look_at[0], look_at[1], 0.0])
    rel = pts - look
    rel[:, 2] = 0.0
    need = max(float(((clearance - rel @ a) / max(-(forward @ a), 1e-3)).max()) for a in (a1, a2))
    corner = look + max(rng.uniform(*ROOM_RANGES['corner_distance']), need) * forward
    corner[2] = _FLOOR_Z
    frame = np.stack([a1, a2, [0.0, 0.0, 1.0]], 1)                       # room (u, v, z) -> world
    reach = float(np.linalg.norm((camera.position - corner)[:2])) + 4.0
    height = max(rng.uniform(*ROOM_RANGES['wall_height']), float(camera.position[2]) + 0.4)

    def tex(kinds, base):
        return texture(kinds[rng.integers(len(kinds))], rng, np.asarray(base, float))
    wall_base = np.clip(rng.uniform(0.35, 0.9, 3) * rng.uniform(0.7, 1.0), 0, 1) ** 1.5
    floor_base = np.array([0.35, 0.2, 0.09]) * rng.uniform(0.5, 1.6) if rng.random() < 0.6 else rng.uniform(0.1, 0.7, 3)
    up = np.array([0.0, 0.0, 1.0])
    quads = [((0, 0), (reach, 0), (reach, reach), (0, reach))]
    surfaces = [_quad_surface(np.array([corner + u * a1 + v * a2 for u, v in quads[0]]), up, a1, a2,
                              rng.uniform(0.8, 2.0), tex(('planks', 'tiles', 'checker', 'noise'), floor_base),
                              'room_floor', floor=True)]
    wall_tex = tex(('plain', 'stripes', 'noise', 'plain'), wall_base)
    for i, (along, inward) in enumerate(((a1, a2), (a2, a1))):
        c = np.array([corner, corner + reach * along, corner + reach * along + height * up, corner + height * up])
        surfaces.append(_quad_surface(c, inward, along, up, rng.uniform(0.6, 1.5), wall_tex, f'room_wall{i}'))
    # the interaction in room coordinates and in the image: furniture keeps clear of both
    local = (pts - corner) @ frame
    foot_lo, foot_hi = local[:, :2].min(0) - clearance, local[:, :2].max(0) + clearance
    uv, depth = project_points(camera, pts)
    box_lo, box_hi = uv.min(0) - 0.02 * camera.width, uv.max(0) + 0.02 * camera.width
    far = float(depth.max())
    if rng.random() < 0.5:  # a rug under the interaction never hides it
        lo = np.append(np.maximum(local[:, :2].min(0) - rng.uniform(0.3, 0.8, 2), 0.05), 0.0)
        hi = np.append(local[:, :2].max(0) + rng.uniform(0.3, 0.8, 2), 0.004)
        surfaces.append(_box_surface(lo, hi, frame, corner, tex(('stripes', 'checker', 'noise'),
                                                                rng.uniform(0.05, 0.8, 3)), 'room_rug', 0.7))
    count, tries = int(rng.integers(*ROOM_RANGES['furniture'])), 0
    placed = 0
    while placed < count and tries < 12:
        tries += 1
        kind = ('table', 'cabinet', 'sofa', 'plant')[rng.integers(4)]
        boxes = _furniture(kind, rng)
        size = np.max([hi for _, hi in boxes], 0)
        wall = int(rng.integers(2))
        offset = np.array([rng.uniform(0.1, reach - 3.0), rng.uniform(0.02, 0.1), 0.0])
        offset = offset if wall == 0 else offset[[1, 0, 2]]
        size_uv = size[:2] if wall == 0 else size[[1, 0]]
        lo2, hi2 = offset[:2], offset[:2] + size_uv
        if np.all(lo2 < foot_hi) and np.all(hi2 > foot_lo):
            continue                                                       # stands in the interaction's way
        corners = np.array([[x, y, z] for x in (lo2[0], hi2[0]) for y in (lo2[1], hi2[1]) for z in (0, size[2])])
        c_uv, c_depth = project_points(camera, corners @ frame.T + corner)
        if c_depth.min() < 0.1:
            continue                                                       # at or behind the camera
        overlaps = np.all(c_uv.min(0) < box_hi) and np.all(c_uv.max(0) > box_lo)
        if overlaps and c_depth.min() < far + ROOM_RANGES['behind']:
            continue                                                       # could hide (or crowd) the interaction
        base = np.clip(rng.uniform(0.05, 0.8, 3), 0, 1)
        look_tex = tex(('planks', 'plain', 'noise', 'stripes'), base)
        for j, (lo, hi) in enumerate(boxes):
            lo, hi = np.asarray(lo, float), np.asarray(hi, float)
            if wall == 1:
                lo, hi = lo[[1, 0, 2]], hi[[1, 0, 2]]
            surfaces.append(_box_surface(lo + offset, hi + offset, frame, corner,
                                         look_tex if j or kind != 'plant' else tex(('noise',), base),
                                         f'room_{kind}{placed}_{j}'))
        placed += 1
    return surfaces


def mirror_room(surfaces: List[dict]) -> List[dict]:
    """The room mirrored about x = 0 (positions and normals x -> -x, triangles re-wound); UVs and textures are
    kept, so the mirrored room shows the mirrored texture."""
    out = []
    for s in surfaces:
        m = dict(s)
        m['positions'], m['normals'] = s['positions'] * [-1, 1, 1], s['normals'] * [-1, 1, 1]
        m['positions'], m['normals'] = m['positions'].astype(np.float32), m['normals'].astype(np.float32)
        m['indices'] = s['indices'][:, [0, 2, 1]].copy()
        out.append(m)
    return out


def mirror_scene_kwargs(kwargs: dict) -> dict:
    """Per-image render arguments (`SceneStyle.scene_kwargs`) for the scene mirrored with `mirror_mesh`: the room
    mirrored, the object's per-corner UVs re-wound like its faces; vertex colours and lights stay as they are."""
    out = dict(kwargs)
    if out.get('room'):
        out['room'] = mirror_room(out['room'])
    if out.get('object_texture') is not None:
        uv, image = out['object_texture']
        out['object_texture'] = (np.asarray(uv).reshape(-1, 3, 2)[:, [0, 2, 1]].reshape(-1, 2), image)
    return out


def surface_mesh(pyrender, surface: dict):
    """A surface (see the module docstring) as a pyrender.Mesh with its texture (double-sided, rough)."""
    tex = pyrender.Texture(source=np.ascontiguousarray(surface['texture']), source_channels='RGB')
    material = pyrender.MetallicRoughnessMaterial(baseColorFactor=[1.0, 1.0, 1.0, 1.0], metallicFactor=0.0,
                                                  roughnessFactor=0.85, doubleSided=True, baseColorTexture=tex)
    primitive = pyrender.Primitive(positions=surface['positions'], normals=surface['normals'],
                                   texcoord_0=surface['uv'], indices=surface['indices'], material=material)
    return pyrender.Mesh(primitives=[primitive])
