"""Procedural appearance of the `scene` style: garment regions of the body, clothing, skin and hair colours,
object colours, and the small procedural textures (wood, tiles, fabric, paint) of objects and rooms.

Owns `body_parts` (which body part each vertex belongs to: from skinning weights, else the nearest bone of
joints24, else height bands), `dress_body` (per-vertex linear-RGB colours of one outfit), `textured_surface`
(per-face-corner UVs by box projection + a texture image, for flat-shaded meshes) and `texture`.
Everything is drawn from a numpy Generator, so one seed gives one look. Colours are linear RGB in [0, 1];
texture images are sRGB uint8 (pyrender converts them). Appearance is data attached to vertices (colours, UVs):
mirroring a scene keeps it, so the mirrored scene shows the mirrored look. Pure numpy.
"""
from typing import Optional

import numpy as np

from imagin4d.body_models import skeletons

__all__ = ['PARTS', 'parts_from_skinning', 'body_parts', 'dress_body', 'textured_surface', 'texture',
           'TEXTURE_KINDS']

# Body parts (index into PARTS); the garment regions are unions of them (see `dress_body`).
PARTS = ('head', 'neck', 'torso', 'upper_arm', 'forearm', 'hand', 'hips', 'thigh', 'shin', 'foot')
_P = {name: i for i, name in enumerate(PARTS)}
# The 22 body joints (smplx/smplh/joints24 order) -> the part a vertex they move belongs to.
_JOINT_PART = np.array([_P[p] for p in (
    'hips', 'thigh', 'thigh', 'torso', 'shin', 'shin', 'torso', 'foot', 'foot', 'torso', 'foot', 'foot', 'neck',
    'torso', 'torso', 'head', 'upper_arm', 'upper_arm', 'forearm', 'forearm', 'hand', 'hand')])

# Skin tones (linear RGB, light to dark) and hair colours; clothing colours are drawn in HSV.
_SKIN = np.array([[0.85, 0.62, 0.50], [0.72, 0.47, 0.34], [0.53, 0.32, 0.21], [0.30, 0.16, 0.09],
                  [0.14, 0.07, 0.04]])
_HAIR = np.array([[0.02, 0.015, 0.01], [0.12, 0.06, 0.025], [0.35, 0.2, 0.07], [0.62, 0.45, 0.2],
                  [0.45, 0.1, 0.03], [0.5, 0.5, 0.5]])
TEXTURE_KINDS = ('plain', 'stripes', 'checker', 'planks', 'tiles', 'noise')


def parts_from_skinning(lbs_weights: np.ndarray, model_type: str = 'smplx') -> np.ndarray:
    """(V, J) skinning weights of an SMPL-X/SMPL-H-layout model -> (V,) int part ids (PARTS) by dominant joint.
    Joints past the 22 body joints: jaw and eyes (smplx) are head, finger joints are hand."""
    dominant = np.asarray(lbs_weights).argmax(1)
    extra_head = 3 if model_type == 'smplx' else 0
    out = np.full(len(dominant), _P['hand'], np.int64)
    body = dominant < skeletons.NUM_BODY_JOINTS
    out[body] = _JOINT_PART[dominant[body]]
    out[(dominant >= skeletons.NUM_BODY_JOINTS) & (dominant < skeletons.NUM_BODY_JOINTS + extra_head)] = _P['head']
    return out


def _parts_from_joints(verts: np.ndarray, joints24: np.ndarray) -> np.ndarray:
    """Nearest bone (parent -> child segment of joints24, labelled by the parent, the joint that moves it);
    the head gets a short bone of its own above the head joint."""
    parents = np.array(skeletons.JOINTS24_PARENTS)
    child = np.arange(1, len(parents))
    starts, ends, labels = joints24[parents[child]], joints24[child], parents[child]
    head, neck = joints24[15], joints24[12]
    starts = np.concatenate([starts, head[None]])
    ends = np.concatenate([ends, (head + 0.6 * (head - neck))[None]])
    labels = np.concatenate([labels, [15]])
    seg = ends - starts                                                    # (B, 3)
    rel = verts[:, None, :] - starts[None]                                 # (V, B, 3)
    t = np.clip((rel * seg).sum(-1) / np.maximum((seg * seg).sum(-1), 1e-12), 0.0, 1.0)
    dist = np.linalg.norm(rel - t[..., None] * seg[None], axis=-1)
    joint = labels[dist.argmin(1)]
    return _JOINT_PART[np.minimum(joint, skeletons.NUM_BODY_JOINTS - 1)]


def body_parts(verts: np.ndarray, parts: Optional[np.ndarray] = None, joints24: Optional[np.ndarray] = None):
    """(V,) part ids of the body's vertices (V, 3): `parts` as given (e.g. `parts_from_skinning`), else the
    nearest bone of `joints24` (24, 3), else height bands of the body's bounding box (a coarse fallback)."""
    verts = np.asarray(verts, np.float64)
    if parts is not None:
        parts = np.asarray(parts, np.int64)
        if parts.shape != (len(verts),):
            raise ValueError(f'body_parts must be ({len(verts)},) part ids, got shape {parts.shape}')
        return parts
    if joints24 is not None:
        return _parts_from_joints(verts, np.asarray(joints24, np.float64).reshape(24, 3))
    z = verts[:, 2]
    f = (z - z.min()) / max(float(np.ptp(z)), 1e-6)
    bands = np.searchsorted([0.05, 0.27, 0.5, 0.82, 0.87], f, side='right')
    return np.array([_P[p] for p in ('foot', 'shin', 'hips', 'torso', 'neck', 'head')])[bands]


def _hsv(h, s, v):
    import colorsys
    return np.array(colorsys.hsv_to_rgb(h % 1.0, s, v)) ** 2.2  # sRGB-ish -> linear


def _garment_colour(rng) -> np.ndarray:
    if rng.random() < 0.35:  # greys, black, white, denim-like
        return np.array([[0.02, 0.02, 0.02], [0.6, 0.6, 0.6], [0.2, 0.2, 0.22], [0.05, 0.09, 0.22],
                         [0.85, 0.85, 0.82]][rng.integers(5)])
    return _hsv(rng.random(), rng.uniform(0.3, 0.9), rng.uniform(0.3, 0.95))


def dress_body(verts: np.ndarray, parts: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """(V, 3) linear-RGB vertex colours of one outfit drawn from `rng`: skin tone, hair (the top of the head,
    unless bald), a top (short or long sleeves), a bottom (shorts or trousers), shoes; each garment plain,
    striped (bands across the body's axis) or heathered (per-vertex noise).  verts: (V, 3), parts: (V,)."""
    verts = np.asarray(verts, np.float64)
    w = rng.dirichlet(np.ones(len(_SKIN)) * 0.3)
    skin = w @ _SKIN
    top, bottom, shoes = _garment_colour(rng), _garment_colour(rng), _garment_colour(rng) * 0.6
    long_sleeves, trousers = rng.random() < 0.5, rng.random() < 0.7
    region = {'top': ['torso', 'upper_arm'] + (['forearm'] if long_sleeves else []),
              'bottom': ['hips', 'thigh'] + (['shin'] if trousers else []), 'shoes': ['foot']}
    colors = np.tile(skin, (len(verts), 1))
    noise = rng.normal(size=len(verts))                                   # per-vertex: travels with the vertex
    centre = verts.mean(0)
    head = parts == _P['head']
    axis = (verts[head].mean(0) - centre) if head.any() else np.array([0.0, 0.0, 1.0])
    axis /= max(np.linalg.norm(axis), 1e-9)
    height = (verts - centre) @ axis                                      # along the body: mirror-invariant
    for name, base in (('top', top), ('bottom', bottom), ('shoes', shoes)):
        mask = np.isin(parts, [_P[p] for p in region[name]])
        pattern = rng.integers(3) if name != 'shoes' else 0
        col = np.tile(base, (int(mask.sum()), 1))
        if pattern == 1:
            period, other = rng.uniform(0.04, 0.12), _garment_colour(rng)
            band = np.sin(2 * np.pi * height[mask] / period) > 0
            col[band] = other
        elif pattern == 2:
            col *= np.clip(1.0 + 0.18 * noise[mask], 0.6, 1.4)[:, None]
        colors[mask] = col
    if head.any() and rng.random() > 0.1:
        head_h = height[head]
        cut = np.quantile(head_h, rng.uniform(0.35, 0.6))
        hair = np.zeros(len(verts), bool)
        hair[np.flatnonzero(head)[head_h > cut]] = True
        colors[hair] = _HAIR[rng.integers(len(_HAIR))] * np.clip(1.0 + 0.15 * noise[hair], 0.6, 1.4)[:, None]
    return np.clip(colors * np.clip(1.0 + 0.03 * noise, 0.9, 1.1)[:, None], 0.0, 1.0).astype(np.float32)


def textured_surface(vertices: np.ndarray, faces: np.ndarray, scale: float) -> np.ndarray:
    """(F*3, 2) texture coordinates of the flat-shaded corners (vertices[faces]) by box projection: each face
    takes the two coordinates across its dominant normal axis, `scale` metres per texture repeat."""
    tri = np.asarray(vertices, np.float64)[faces]                         # (F, 3, 3)
    normal = np.abs(np.cross(tri[:, 1] - tri[:, 0], tri[:, 2] - tri[:, 0]))
    axis = normal.argmax(1)
    keep = np.array([[1, 2], [0, 2], [0, 1]])[axis]                       # (F, 2)
    uv = np.take_along_axis(tri, np.repeat(keep[:, None, :], 3, 1), axis=2)
    return (uv.reshape(-1, 2) / scale).astype(np.float32)


def texture(kind: str, rng: np.random.Generator, base: np.ndarray, size: int = 128) -> np.ndarray:
    """(size, size, 3) sRGB uint8 tileable texture of `kind` (TEXTURE_KINDS) around the linear colour `base`."""
    if kind not in TEXTURE_KINDS:
        raise ValueError(f'texture kind must be one of {TEXTURE_KINDS}, got {kind!r}')
    y, x = np.mgrid[0:size, 0:size] / size
    second = np.clip(base * rng.uniform(0.5, 0.8) + rng.uniform(0, 0.1, 3), 0, 1)
    shade = np.ones((size, size))
    if kind == 'stripes':
        n = int(rng.integers(2, 8))
        shade = np.where(np.sin(2 * np.pi * n * x) > 0, 1.0, 0.0)
    elif kind == 'checker':
        n = int(rng.integers(1, 5))
        shade = ((np.floor(2 * n * x) + np.floor(2 * n * y)) % 2).astype(float)
    elif kind == 'planks':
        n = int(rng.integers(3, 7))
        row = np.floor(y * n)
        grain = 0.5 + 0.5 * np.sin(2 * np.pi * (x * rng.integers(1, 4) + 7.3 * row + 3 * (y * n % 1) ** 2))
        shade = 0.6 + 0.4 * grain * (0.8 + 0.2 * np.cos(row * 2.1))
        shade[(y * n % 1) < 0.04] = 0.0
    elif kind == 'tiles':
        n = int(rng.integers(2, 6))
        shade = np.where(((x * n % 1) < 0.05) | ((y * n % 1) < 0.05), 0.0, 1.0)
    rgb = shade[..., None] * base + (1 - shade[..., None]) * second
    if kind != 'plain':
        rgb = rgb * (1.0 + 0.06 * rng.standard_normal((size, size, 1)))
    return np.round(255 * np.clip(rgb, 0, 1) ** (1 / 2.2)).astype(np.uint8)
