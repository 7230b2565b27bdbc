"""Procedural mini-FBM objects: trimesh meshes, FBM's template-scale convention, and how each is handled.

Owns `OBJECTS` (name -> `ObjectSpec`): the mesh in metres in the object frame (Z up, origin at the centre of
the footprint on the floor, the side a person approaches from is -Y), the FBM template scale (the `.obj`
stores `verts / scale`, the record's `obj_scale` is `scale`), and the interaction `Program`s: action
(carry / push), hands, body-object layout, allowed carry heights and the grip of each hand.
"""
import math
from dataclasses import dataclass, field, replace
from typing import Dict, List, Optional, Tuple

import numpy as np

__all__ = ['Grip', 'Program', 'ObjectSpec', 'OBJECTS', 'OBJECT_NAMES', 'build_mesh']

Vec = Tuple[float, float, float]
X, Y, Z = (1.0, 0.0, 0.0), (0.0, 1.0, 0.0), (0.0, 0.0, 1.0)
NX, NY, NZ = (-1.0, 0.0, 0.0), (0.0, -1.0, 0.0), (0.0, 0.0, -1.0)


@dataclass(frozen=True)
class Grip:
    """Where a hand holds the object, in the object frame (metres).

    point: (3,) the surface point under the palm; palm: (3,) unit direction the palm faces (into the object);
    fingers: (3,) the direction the fingers point (projected off the palm), or None: along the arm (shoulder to
    hand), which suits grips whose palm faces across the arm (box sides); set it where the arm may point along
    the palm direction (pushing a face, gripping a pole), where 'along the arm' is undefined.
    The hand point (SMPL-X middle-finger base, joints24 22/23) is placed `HAND_STANDOFF` before the surface.
    """
    point: Vec
    palm: Vec
    fingers: Optional[Vec] = None

    def mirrored(self) -> 'Grip':
        flip = lambda v: None if v is None else (-v[0], v[1], v[2])  # noqa: E731
        return Grip(flip(self.point), flip(self.palm), flip(self.fingers))


@dataclass(frozen=True)
class Program:
    """One way of interacting with an object; the hidden factors are (hands, layout, carry height).

    action: 'carry' (lift, carry, put down) or 'push' (slide on the floor); hands: 'left' | 'right' | 'both';
    layout: where the object is relative to the body during the interaction ('front' | 'left' | 'right');
    heights: carry heights this program allows (see factors.CARRY_HEIGHTS; pushes are 'low');
    grips: {hand: Grip} for each hand used; yaw: object yaw relative to the body heading (radians).
    """
    action: str
    hands: str
    layout: str
    heights: Tuple[str, ...]
    grips: Dict[str, Grip]
    yaw: float = 0.0

    def mirrored(self) -> 'Program':
        swap = {'left': 'right', 'right': 'left'}
        return replace(self, hands=swap.get(self.hands, self.hands), layout=swap.get(self.layout, self.layout),
                       grips={swap[h]: g.mirrored() for h, g in self.grips.items()}, yaw=-self.yaw)


@dataclass
class ObjectSpec:
    """A procedural object: name (FBM style, no underscore), template scale, mesh parts and programs.

    parts: list of (kind, params) consumed by `build_mesh`; low_lift: metres an object is lifted in a 'low'
    two-handed carry; programs: every allowed `Program` (both sides listed).
    """
    name: str
    scale: float
    parts: List[tuple]
    programs: List[Program]
    low_lift: float = 0.12
    _mesh: Optional[tuple] = field(default=None, repr=False)

    def mesh(self) -> Tuple[np.ndarray, np.ndarray]:
        """(verts (V, 3) metres, faces (F, 3)) in the object frame; built once."""
        if self._mesh is None:
            self._mesh = build_mesh(self.parts)
        return self._mesh

    def template(self) -> Tuple[np.ndarray, np.ndarray]:
        """The `.obj` content: (verts / scale, faces), FBM's convention `world = scale * R @ v + t`."""
        v, f = self.mesh()
        return v / self.scale, f

    @property
    def centre(self) -> np.ndarray:
        """(3,) vertex mean in the object frame (what the CHOIS codec calls the object centre)."""
        return self.mesh()[0].mean(0)

    @property
    def extents(self) -> np.ndarray:
        v = self.mesh()[0]
        return v.max(0) - v.min(0)


# ------------------------------------------------------------------ meshes
def _transform(t: Vec) -> np.ndarray:
    m = np.eye(4)
    m[:3, 3] = t
    return m


def build_mesh(parts: List[tuple], max_edge: float = 0.04) -> Tuple[np.ndarray, np.ndarray]:
    """Concatenate primitive parts, subdivide to `max_edge` metres (so contacts against vertices are
    meaningful, as for FBM's dense scans), merge duplicate vertices.  -> (verts (V, 3), faces (F, 3))."""
    import trimesh
    meshes = []
    for kind, p in parts:
        if kind == 'box':            # extents (3,), centre (3,)
            m = trimesh.creation.box(extents=p['extents'], transform=_transform(p['centre']))
        elif kind == 'cylinder':     # radius, z0, z1, (x, y)
            h = p['z1'] - p['z0']
            xy = p.get('xy', (0.0, 0.0))
            m = trimesh.creation.cylinder(radius=p['radius'], height=h, sections=p.get('sections', 24),
                                          transform=_transform((xy[0], xy[1], p['z0'] + h / 2)))
        elif kind == 'tube':         # r_min, r_max, z0, z1: an open-topped thin wall
            h = p['z1'] - p['z0']
            m = trimesh.creation.annulus(r_min=p['r_min'], r_max=p['r_max'], height=h, sections=32,
                                         transform=_transform((0.0, 0.0, p['z0'] + h / 2)))
        elif kind == 'revolve':      # profile [(r, z), ...] revolved about z
            m = trimesh.creation.revolve(np.asarray(p['profile'], float), sections=32)
        else:
            raise ValueError(f'unknown part kind {kind!r}')
        meshes.append(m)
    mesh = trimesh.util.concatenate(meshes)
    v, f = trimesh.remesh.subdivide_to_size(mesh.vertices, mesh.faces, max_edge=max_edge, max_iter=12)
    mesh = trimesh.Trimesh(v, f, process=False)
    mesh.merge_vertices()
    return np.asarray(mesh.vertices, np.float64), np.asarray(mesh.faces, np.int64)


# ------------------------------------------------------------------ programs


def _both_sides(program: Program) -> List[Program]:
    """A right-handed (or right-side) program and its mirror image."""
    return [program, program.mirrored()]


def _box_programs(w: float, d: float, h: float, one_hand: bool, push: bool,
                  carry_heights=('hip', 'chest', 'overhead')) -> List[Program]:
    zg, yg = 0.6 * h, -0.1 * d
    side_l, side_r = Grip((-w / 2, yg, zg), X), Grip((w / 2, yg, zg), NX)
    out = [Program('carry', 'both', 'front', carry_heights, {'left': side_l, 'right': side_r})]
    if one_hand:
        out += _both_sides(Program('carry', 'right', 'front', ('hip', 'chest'), {'right': side_r}))
    if push:
        near = lambda x: Grip((x, -d / 2, zg), Y, Z)  # noqa: E731
        out.append(Program('push', 'both', 'front', ('low',), {'left': near(-0.25 * w), 'right': near(0.25 * w)}))
        out += _both_sides(Program('push', 'right', 'front', ('low',), {'right': near(0.06)}))
    return out


def _box(w, d, h):
    return [('box', dict(extents=(w, d, h), centre=(0.0, 0.0, h / 2)))]


def _table(w, d, top, thick=0.04, leg=0.05, inset=0.06):
    parts = [('box', dict(extents=(w, d, thick), centre=(0.0, 0.0, top - thick / 2)))]
    for sx in (-1, 1):
        for sy in (-1, 1):
            parts.append(('box', dict(extents=(leg, leg, top - thick),
                                      centre=(sx * (w / 2 - inset), sy * (d / 2 - inset), (top - thick) / 2))))
    return parts


def _largebox() -> ObjectSpec:
    w, d, h = 0.50, 0.40, 0.40
    return ObjectSpec('largebox', 0.350, _box(w, d, h), _box_programs(w, d, h, one_hand=False, push=False))


def _smallbox() -> ObjectSpec:
    w, d, h = 0.32, 0.24, 0.22
    return ObjectSpec('smallbox', 0.0253, _box(w, d, h), _box_programs(w, d, h, one_hand=True, push=False))


def _suitcase() -> ObjectSpec:
    w, d, h, hz = 0.22, 0.40, 0.56, 0.60   # long axis along y (the walking direction at the body's side)
    parts = _box(w, d, h) + [
        ('box', dict(extents=(0.025, 0.16, 0.02), centre=(0.0, 0.0, hz))),
        ('box', dict(extents=(0.025, 0.02, hz - h), centre=(0.0, -0.07, (h + hz) / 2))),
        ('box', dict(extents=(0.025, 0.02, hz - h), centre=(0.0, 0.07, (h + hz) / 2)))]
    handle_r = Grip((0.0125, 0.0, hz), NX, NZ)  # beside the bar, palm towards the body's midline
    programs = _both_sides(Program('carry', 'right', 'right', ('low',), {'right': handle_r}))
    hug = {'left': Grip((0.0, d / 2, 0.55 * h), NY, (1.0, 0.0, -0.3)),
           'right': Grip((0.0, -d / 2, 0.55 * h), Y, (1.0, 0.0, -0.3))}
    programs.append(Program('carry', 'both', 'front', ('hip', 'chest'), hug, yaw=math.pi / 2))
    return ObjectSpec('suitcase', 0.030, parts, programs)


def _trashcan() -> ObjectSpec:
    r, h = 0.16, 0.42
    parts = [('tube', dict(r_min=r - 0.012, r_max=r, z0=0.0, z1=h)),
             ('cylinder', dict(radius=r - 0.012, z0=0.0, z1=0.012, sections=32))]
    rim_l, rim_r = Grip((-r, 0.0, h - 0.04), X), Grip((r, 0.0, h - 0.04), NX)
    programs = [Program('carry', 'both', 'front', ('hip', 'chest'), {'left': rim_l, 'right': rim_r})]
    # one hand on the rim at the side nearest the body, the can hanging beside the leg
    rim_near = Grip((-r, 0.0, h - 0.03), X, NZ)
    programs += _both_sides(Program('carry', 'right', 'right', ('low',), {'right': rim_near}))
    return ObjectSpec('trashcan', 0.020, parts, programs)


def _floorlamp() -> ObjectSpec:
    pr = 0.016
    parts = [('cylinder', dict(radius=0.16, z0=0.0, z1=0.03, sections=32)),
             ('cylinder', dict(radius=pr, z0=0.03, z1=1.42, sections=12)),
             ('revolve', dict(profile=[(0.21, 1.36), (0.12, 1.62)]))]
    # thumb-up grips on the pole: the palm faces across the pole (front) or forwards (beside the body)
    programs = [Program('carry', 'both', 'front', ('hip', 'chest'),
                        {'left': Grip((-pr, 0.0, 0.98), X, Y), 'right': Grip((pr, 0.0, 1.16), NX, Y)})]
    front, beside = Grip((pr, 0.0, 1.1), NX, Y), Grip((0.0, -pr, 0.8), Y, X)
    programs += _both_sides(Program('carry', 'right', 'front', ('hip', 'chest'), {'right': front}))
    # beside the body the lamp hangs from a low grip (higher, the hand would pass the shoulder)
    programs += _both_sides(Program('carry', 'right', 'right', ('hip',), {'right': beside}))
    return ObjectSpec('floorlamp', 0.020, parts, programs, low_lift=0.05)


def _largetable() -> ObjectSpec:
    w, d, top = 1.10, 0.65, 0.74
    edge = lambda x: Grip((x, -d / 2 + 0.05, top), NZ, Y)  # noqa: E731  palm down on the near edge
    programs = [Program('push', 'both', 'front', ('low',), {'left': edge(-0.3), 'right': edge(0.3)})]
    programs += _both_sides(Program('push', 'right', 'front', ('low',), {'right': edge(0.12)}))
    # the table beside the body, one hand on its near short edge
    short_edge = Grip((-w / 2 + 0.05, -0.12, top), NZ, (1.0, 0.5, 0.0))
    programs += _both_sides(Program('push', 'right', 'right', ('low',), {'right': short_edge}))
    lift = {'left': Grip((-0.3, -d / 2, top - 0.02), Y, NZ), 'right': Grip((0.3, -d / 2, top - 0.02), Y, NZ)}
    programs.append(Program('carry', 'both', 'front', ('low',), lift))
    return ObjectSpec('largetable', 0.0259, _table(w, d, top), programs, low_lift=0.12)


def _smalltable() -> ObjectSpec:
    w, d, top = 0.60, 0.45, 0.50
    programs = [Program('carry', 'both', 'front', ('low', 'hip', 'chest'),
                        {'left': Grip((-w / 2, 0.0, top - 0.015), X), 'right': Grip((w / 2, 0.0, top - 0.015), NX)})]
    return ObjectSpec('smalltable', 0.0163, _table(w, d, top, thick=0.03, leg=0.04, inset=0.04), programs,
                      low_lift=0.15)


def _woodchair() -> ObjectSpec:
    w, d, seat, back = 0.44, 0.42, 0.45, 0.92
    yb = -d / 2 + 0.02   # the backrest is on the near side
    parts = _table(w, d, seat, thick=0.04, leg=0.04, inset=0.03)
    for sx in (-1, 1):
        post_centre = (sx * (w / 2 - 0.03), yb, (seat + back) / 2)
        parts.append(('box', dict(extents=(0.04, 0.04, back - seat), centre=post_centre)))
    parts.append(('box', dict(extents=(w - 0.02, 0.03, 0.22), centre=(0.0, yb, back - 0.12))))
    post = w / 2 - 0.01
    programs = [Program('carry', 'both', 'front', ('low', 'hip'),
                        {'left': Grip((-post, yb, back - 0.08), X), 'right': Grip((post, yb, back - 0.08), NX)}),
                Program('push', 'both', 'front', ('low',),
                        {'left': Grip((-0.14, yb, back), NZ, Y), 'right': Grip((0.14, yb, back), NZ, Y)})]
    programs += _both_sides(Program('push', 'right', 'front', ('low',), {'right': Grip((0.08, yb, back), NZ, Y)}))
    return ObjectSpec('woodchair', 0.0250, parts, programs, low_lift=0.15)


#: name -> ObjectSpec, the mini-FBM object set (names follow FBM's, e.g. `sub3_largebox_012`).
OBJECTS: Dict[str, ObjectSpec] = {o.name: o for o in (
    _largebox(), _smallbox(), _suitcase(), _trashcan(), _floorlamp(), _largetable(), _smalltable(), _woodchair())}
OBJECT_NAMES: Tuple[str, ...] = tuple(OBJECTS)
