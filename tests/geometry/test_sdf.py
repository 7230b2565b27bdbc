"""Tests of imagin4d.geometry.sdf: point-triangle distance, winding-number sign, SDF, penetration depth.

Independent expectations: closed-form values, the analytic SDF of a box, analytic inside tests of a sphere
and a torus, trimesh's closest-point routines, and trimesh.proximity.signed_distance when rtree exists.
"""
import math

import numpy as np
import pytest
import torch
import trimesh
from scipy.spatial.transform import Rotation

from imagin4d.geometry import (
    closest_point_on_triangle,
    penetration_depth,
    place_object,
    point_triangle_distance,
    signed_distance,
    winding_number,
)


def _mesh_tensors(mesh, dtype=torch.float64):
    return torch.tensor(mesh.vertices, dtype=dtype), torch.tensor(mesh.faces, dtype=torch.long)


def _box_sdf(points, half):
    """Analytic SDF of an axis-aligned box centred at 0 (negative inside)."""
    q = np.abs(points) - half
    outside = np.linalg.norm(np.maximum(q, 0.0), axis=-1)
    inside = np.minimum(q.max(-1), 0.0)
    return outside + inside


# ---------------------------------------------------------------------------------- point-triangle
TRI = torch.tensor([[0.0, 0.0, 0.0], [1.0, 0.0, 0.0], [0.0, 1.0, 0.0]], dtype=torch.float64)


@pytest.mark.parametrize('point, distance, closest', [
    ((0.2, 0.2, 0.5), 0.5, (0.2, 0.2, 0.0)),                       # face region (above)
    ((0.2, 0.3, -0.25), 0.25, (0.2, 0.3, 0.0)),                    # face region (below)
    ((-1.0, -1.0, 0.0), math.sqrt(2), (0.0, 0.0, 0.0)),            # vertex a
    ((2.0, -1.0, 0.0), math.sqrt(2), (1.0, 0.0, 0.0)),             # vertex b
    ((-1.0, 2.0, 1.0), math.sqrt(3), (0.0, 1.0, 0.0)),             # vertex c
    ((0.5, -1.0, 0.0), 1.0, (0.5, 0.0, 0.0)),                      # edge ab
    ((-2.0, 0.5, 0.0), 2.0, (0.0, 0.5, 0.0)),                      # edge ac
    ((2.0, 2.0, 0.0), 3.0 / math.sqrt(2), (0.5, 0.5, 0.0)),        # edge bc
    ((0.5, 0.5, 1.0), 1.0, (0.5, 0.5, 0.0)),                       # on the bc boundary, above
    ((0.25, 0.25, 0.0), 0.0, (0.25, 0.25, 0.0)),                   # on the triangle
])
def test_point_triangle_distance_closed_form(point, distance, closest):
    p = torch.tensor(point, dtype=torch.float64)
    d = point_triangle_distance(p, TRI[0], TRI[1], TRI[2])
    assert d.item() == pytest.approx(distance, abs=1e-12)
    np.testing.assert_allclose(closest_point_on_triangle(p, *TRI).numpy(), closest, atol=1e-12)


def test_point_triangle_distance_matches_trimesh_on_random_triangles_and_points():
    rng = np.random.default_rng(0)
    triangles = rng.normal(size=(400, 3, 3))
    triangles[:20, 2] = triangles[:20, 0] + 0.5 * (triangles[:20, 1] - triangles[:20, 0])  # degenerate (collinear)
    triangles[20:30, 1] = triangles[20:30, 0]                                             # repeated vertex
    points = rng.normal(size=(400, 3)) * 2.0
    reference = trimesh.triangles.closest_point(triangles, points)
    t = torch.from_numpy(triangles)
    ours = closest_point_on_triangle(torch.from_numpy(points), t[:, 0], t[:, 1], t[:, 2]).numpy()
    np.testing.assert_allclose(ours, reference, atol=1e-9)
    distance = point_triangle_distance(torch.from_numpy(points), t[:, 0], t[:, 1], t[:, 2]).numpy()
    np.testing.assert_allclose(distance, np.linalg.norm(points - reference, axis=-1), atol=1e-9)


def test_point_triangle_distance_broadcasts_points_against_triangles():
    rng = np.random.default_rng(1)
    tri = torch.from_numpy(rng.normal(size=(5, 3, 3)))
    points = torch.from_numpy(rng.normal(size=(7, 1, 3)))
    d = point_triangle_distance(points, tri[:, 0], tri[:, 1], tri[:, 2])
    assert d.shape == (7, 5)
    torch.testing.assert_close(d[3, 2], point_triangle_distance(points[3, 0], tri[2, 0], tri[2, 1], tri[2, 2]))


# ---------------------------------------------------------------------------------- box
BOX = trimesh.creation.box(extents=(1.0, 1.0, 1.0))


@pytest.mark.parametrize('point, expected', [
    ((0.0, 0.0, 0.0), -0.5),                          # centre of a 1 m box
    ((0.2, 0.0, 0.0), -0.3),
    ((0.4, 0.45, 0.3), -0.05),                        # inside, nearest face +y
    ((1.0, 0.0, 0.0), 0.5),                           # outside, nearest to a face
    ((1.0, 1.0, 0.0), math.sqrt(0.5)),                # outside, nearest to an edge
    ((1.0, 1.0, 1.0), math.sqrt(0.75)),               # outside, nearest to a corner
    ((0.5, 0.1, -0.2), 0.0),                          # on a face
])
def test_box_known_values(point, expected):
    verts, faces = _mesh_tensors(BOX)
    sdf = signed_distance(torch.tensor([point], dtype=torch.float64), verts, faces)
    assert sdf.shape == (1,)
    assert sdf.item() == pytest.approx(expected, abs=1e-9)
    depth = penetration_depth(torch.tensor([point], dtype=torch.float64), verts, faces)
    assert depth.item() == pytest.approx(max(-expected, 0.0), abs=1e-9)


def test_box_random_points_against_analytic_sdf_in_a_moved_box():
    """A 0.6 x 0.4 x 1.0 box, scaled, rotated and translated per batch element (FBM placement)."""
    box = trimesh.creation.box(extents=(0.6, 0.4, 1.0))
    verts, faces = _mesh_tensors(box, torch.float32)
    rng = np.random.default_rng(2)
    B = 3
    rot = Rotation.random(B, random_state=0).as_matrix()
    trans = rng.normal(size=(B, 3))
    scale = np.array([1.0, 1.5, 0.5])
    local = rng.uniform(-1.0, 1.0, size=(B, 400, 3))
    world = np.einsum('bij,bnj->bni', rot, local * scale[:, None, None]) + trans[:, None]
    placed = place_object(verts, torch.tensor(scale, dtype=torch.float32), torch.tensor(rot, dtype=torch.float32),
                          torch.tensor(trans, dtype=torch.float32))
    sdf = signed_distance(torch.tensor(world, dtype=torch.float32), placed, faces)
    expected = _box_sdf(local, np.array([0.3, 0.2, 0.5])) * scale[:, None]
    np.testing.assert_allclose(sdf.numpy(), expected, atol=2e-5)
    # chunking does not change the answer; penetration depth is relu(-sdf)
    small_chunks = signed_distance(torch.tensor(world, dtype=torch.float32), placed, faces, max_pairs=100)
    torch.testing.assert_close(small_chunks, sdf)
    depth = penetration_depth(torch.tensor(world, dtype=torch.float32), placed, faces)
    torch.testing.assert_close(depth, torch.relu(-sdf))


def test_shared_verts_broadcast_over_batch_and_unbatched_points():
    verts, faces = _mesh_tensors(BOX, torch.float32)
    points = torch.rand(4, 50, 3) * 2 - 1
    shared = signed_distance(points, verts, faces)
    per_batch = signed_distance(points, verts.expand(4, -1, -1), faces)
    torch.testing.assert_close(shared, per_batch)
    torch.testing.assert_close(signed_distance(points[2], verts, faces), shared[2])
    np.testing.assert_allclose(shared.numpy(), _box_sdf(points.numpy(), 0.5), atol=1e-6)


def test_signed_distance_gradient_points_away_from_the_surface():
    verts, faces = _mesh_tensors(BOX)
    points = torch.tensor([[0.3, 0.0, 0.1], [0.9, 0.0, 0.0], [0.0, -0.2, -0.45]], dtype=torch.float64,
                          requires_grad=True)
    signed_distance(points, verts, faces).sum().backward()
    # the SDF grows towards the nearest face's outward normal, inside and outside
    np.testing.assert_allclose(points.grad.numpy(), [[1, 0, 0], [1, 0, 0], [0, 0, -1]], atol=1e-9)
    verts_grad = verts.clone().requires_grad_(True)
    signed_distance(points.detach(), verts_grad, faces).sum().backward()
    assert torch.isfinite(verts_grad.grad).all() and verts_grad.grad.abs().sum() > 0


# ---------------------------------------------------------------------------------- curved meshes
def _trimesh_unsigned(mesh, points):
    _, distance, _ = trimesh.proximity.closest_point_naive(mesh, points)
    return distance


def test_sphere_against_trimesh_distance_and_convex_inside_test():
    sphere = trimesh.creation.icosphere(subdivisions=3, radius=0.4)
    sphere.apply_translation([0.2, -0.1, 0.3])
    verts, faces = _mesh_tensors(sphere, torch.float32)
    rng = np.random.default_rng(3)
    points = rng.uniform(-0.4, 0.8, size=(600, 3)) + np.array([0.0, -0.3, 0.0])
    sdf = signed_distance(torch.tensor(points, dtype=torch.float32), verts, faces).numpy()
    np.testing.assert_allclose(np.abs(sdf), _trimesh_unsigned(sphere, points), atol=1e-5)
    # convex: inside iff on the inner side of every face plane
    normals, origins = sphere.face_normals, sphere.triangles[:, 0]
    plane = np.einsum('fc,pfc->pf', normals, points[:, None] - origins[None])
    inside = (plane < 0).all(-1)
    clear = np.abs(sdf) > 1e-4
    assert inside.any() and (~inside).any()
    np.testing.assert_array_equal((sdf < 0)[clear], inside[clear])


def test_torus_sign_matches_analytic_inside_test_non_convex():
    torus = trimesh.creation.torus(major_radius=0.5, minor_radius=0.15, major_sections=48, minor_sections=24)
    verts, faces = _mesh_tensors(torus, torch.float32)
    rng = np.random.default_rng(4)
    points = rng.uniform(-0.7, 0.7, size=(500, 3)) * np.array([1.0, 1.0, 0.3])
    points[:50] = rng.uniform(-0.05, 0.05, size=(50, 3))  # in the hole: outside, though inside the bounding box
    analytic = np.hypot(np.hypot(points[:, 0], points[:, 1]) - 0.5, points[:, 2]) - 0.15
    sdf = signed_distance(torch.tensor(points, dtype=torch.float32), verts, faces).numpy()
    clear = np.abs(analytic) > 0.01  # the polygonal approximation differs from the torus by < 5 mm
    assert (analytic[clear] < 0).sum() > 50
    np.testing.assert_array_equal((sdf < 0)[clear], (analytic < 0)[clear])
    np.testing.assert_allclose(np.abs(sdf), _trimesh_unsigned(torus, points), atol=1e-5)
    assert (sdf[:50] > 0).all()
    wn = winding_number(torch.tensor(points, dtype=torch.float32), verts, faces).numpy()
    np.testing.assert_allclose(wn[clear], (analytic[clear] < 0).astype(float), atol=1e-3)


def test_winding_number_tolerates_a_missing_face():
    sphere = trimesh.creation.icosphere(subdivisions=3, radius=1.0)
    verts, faces = _mesh_tensors(sphere)
    holed = faces[1:]
    points = torch.tensor([[0.0, 0.0, 0.0], [0.3, -0.2, 0.1], [0.0, 0.0, 1.5], [0.9, 0.9, 0.9]], dtype=torch.float64)
    wn = winding_number(points, verts, holed)
    assert (wn[:2] > 0.95).all() and (wn[2:] < 0.05).all()
    sdf = signed_distance(points, verts, holed)
    assert (sdf[:2] < 0).all() and (sdf[2:] > 0).all()


def test_penetration_depth_of_hand_like_points_is_relu_of_minus_sdf():
    sphere = trimesh.creation.icosphere(subdivisions=2, radius=0.2)
    verts, faces = _mesh_tensors(sphere, torch.float32)
    g = torch.Generator().manual_seed(5)
    # T = 3 frames x 200 points, most far away (bounding-box early out), some inside
    points = torch.randn(3, 200, 3, generator=g) * 0.3
    depth = penetration_depth(points, verts, faces)
    sdf = signed_distance(points, verts, faces)
    assert (depth > 0).any() and (depth == 0).any()
    torch.testing.assert_close(depth, torch.relu(-sdf))


def test_against_trimesh_signed_distance_when_rtree_is_available():
    pytest.importorskip('rtree')
    sphere = trimesh.creation.icosphere(subdivisions=2, radius=0.5)
    box = trimesh.creation.box(extents=(0.3, 0.5, 0.7))
    rng = np.random.default_rng(6)
    for mesh in (sphere, box):
        points = rng.uniform(-0.6, 0.6, size=(300, 3))
        reference = -trimesh.proximity.signed_distance(mesh, points)  # trimesh: positive inside
        ours = signed_distance(torch.from_numpy(points), *_mesh_tensors(mesh)).numpy()
        np.testing.assert_allclose(ours, reference, atol=1e-6)
