"""Tests of the prepared-mesh cache of imagin4d.geometry.sdf: a shared mesh is served from the cache only for the
same content, and the cached (and in-place) path gives the uncached values bit for bit.

Independent expectations: the winding number written out of place as a second formula, a mesh prepared afresh for
every query (`_Mesh`, no cache), and the known inside / outside of a sphere after its vertices or faces change.
"""
import math

import pytest
import torch
import trimesh

from imagin4d.geometry import penetration_depth, sdf, signed_distance, winding_number

QUERIES = {'winding': winding_number, 'signed': signed_distance, 'depth': penetration_depth}


@pytest.fixture(autouse=True)
def _empty_cache():
    sdf._MESH_CACHE.clear()
    yield
    sdf._MESH_CACHE.clear()


def _random_mesh(seed: int, dtype=torch.float64):
    """A closed, outward-oriented, bumpy sphere (radius ~1) and 300 points in [-1.5, 1.5]^3."""
    g = torch.Generator().manual_seed(seed)
    sphere = trimesh.creation.icosphere(subdivisions=2)
    verts = torch.tensor(sphere.vertices, dtype=dtype)
    verts = verts * (1 + 0.15 * torch.rand(verts.shape[0], 1, generator=g, dtype=dtype))
    points = (torch.rand(300, 3, generator=g, dtype=dtype) * 3 - 1.5)
    return points, verts, torch.tensor(sphere.faces, dtype=torch.long)


def _uncached(points, verts, faces, mode, max_pairs=1 << 12):
    """The query on a mesh prepared afresh (no cache involved)."""
    mesh = sdf._Mesh(verts[faces])
    return sdf._query_one_mesh(points, mesh, mode, max_pairs)


def _winding_out_of_place(p, mesh):
    """The winding-number expansion of `sdf._winding_rows`, written with out-of-place operations."""
    pp = (p * p).sum(-1)[:, None]
    pa, pb, pc, pn = (p @ mesh.linear.transpose(1, 2)).unbind(0)
    aa, bb, cc = mesh.corner_sq
    ab, ac, bc = mesh.corner_dots
    la = (pp - 2 * pa + aa).clamp_min(0).sqrt()
    lb = (pp - 2 * pb + bb).clamp_min(0).sqrt()
    lc = (pp - 2 * pc + cc).clamp_min(0).sqrt()
    denominator = (la * lb * lc + (pp - pa - pb + ab) * lc + (pp - pa - pc + ac) * lb + (pp - pb - pc + bc) * la)
    return torch.atan2(mesh.triple - pn, denominator).sum(-1) / (2.0 * math.pi)


@pytest.mark.parametrize('dtype', [torch.float64, torch.float32])
def test_in_place_winding_rows_equal_the_out_of_place_formula_bit_for_bit(dtype):
    points, verts, faces = _random_mesh(0, dtype)
    mesh = sdf._Mesh(verts[faces])
    p = points - mesh.origin
    assert torch.equal(sdf._winding_rows(p, mesh), _winding_out_of_place(p, mesh))


@pytest.mark.parametrize('mode', list(QUERIES))
def test_cached_queries_equal_uncached_exactly_on_random_meshes(mode):
    for seed in range(3):
        points, verts, faces = _random_mesh(seed)
        expected = _uncached(points, verts, faces, mode)
        first = QUERIES[mode](points, verts, faces, max_pairs=1 << 12)    # builds and caches
        again = QUERIES[mode](points, verts.clone(), faces.clone(), max_pairs=1 << 12)  # same content: cache
        assert torch.equal(first, expected) and torch.equal(again, expected)
        batched = QUERIES[mode](points.reshape(3, 100, 3), verts[None], faces, max_pairs=1 << 12)
        assert torch.equal(batched.reshape(-1), expected)
    assert len(sdf._MESH_CACHE) == 3
    inside = _uncached(points, verts, faces, 'winding') > 0.5
    assert 0 < int(inside.sum()) < len(points)    # the random points test both sides


def test_edited_vertices_or_faces_are_not_served_from_a_stale_cache():
    points, verts, faces = _random_mesh(1)
    before = winding_number(points, verts, faces)
    radius = points.norm(dim=-1)
    assert (before[radius < 0.9] > 0.5).all() and (before[radius > 1.2] < 0.5).all()
    verts.mul_(0.5)                                   # the same tensor, edited in place: a smaller sphere
    shrunk = winding_number(points, verts, faces)
    assert torch.equal(shrunk, _uncached(points, verts, faces, 'winding'))
    assert (shrunk[radius > 0.6] < 0.5).all() and (shrunk[radius < 0.45] > 0.5).all()
    flipped = faces[:, [0, 2, 1]]                     # inward-oriented: winding number -1 inside
    inward = winding_number(points, verts, flipped)
    assert torch.equal(inward, _uncached(points, verts, flipped, 'winding'))
    assert torch.equal(inward < -0.5, shrunk > 0.5)
    assert len(sdf._MESH_CACHE) == 3


def test_verts_with_grad_are_not_cached_and_get_a_gradient():
    points, verts, faces = _random_mesh(2)
    verts.requires_grad_(True)
    distance = signed_distance(points, verts, faces)
    distance.abs().sum().backward()
    assert len(sdf._MESH_CACHE) == 0
    assert verts.grad is not None and verts.grad.abs().sum() > 0
    assert torch.equal(distance.detach(), _uncached(points, verts.detach(), faces, 'signed', 1 << 20))


def test_the_cache_keeps_only_the_most_recently_used_meshes():
    points, verts, faces = _random_mesh(3)
    for k in range(sdf.MESH_CACHE_SIZE + 3):
        winding_number(points[:5], verts + k, faces)
    winding_number(points[:5], verts + 3, faces)       # a hit: now the most recent
    assert len(sdf._MESH_CACHE) == sdf.MESH_CACHE_SIZE
    newest = next(reversed(sdf._MESH_CACHE.values()))
    assert torch.equal(newest.origin, sdf._Mesh((verts + 3)[faces]).origin)
