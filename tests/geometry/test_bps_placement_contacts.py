"""Tests of imagin4d.geometry BPS encoding, object placement and contact labels."""
import numpy as np
import torch
from scipy.spatial import cKDTree
from scipy.spatial.transform import Rotation

from imagin4d.geometry import bps_encode, contact_labels, make_bps_basis, min_distance, place_object


def test_bps_basis_is_deterministic_inside_radius_and_uniform():
    basis = make_bps_basis()
    assert basis.shape == (1024, 3) and basis.dtype == torch.float32
    torch.testing.assert_close(basis, make_bps_basis(1024, 1.0, 0), rtol=0, atol=0)
    assert not torch.equal(basis, make_bps_basis(seed=1))
    radius = basis.double().norm(dim=-1)
    assert radius.max() <= 1.0
    # uniform in the ball: (r / R)^3 is uniform on [0, 1] (mean 1/2, sd of the mean ~0.009)
    assert abs((radius ** 3).mean().item() - 0.5) < 0.05
    assert basis.mean(0).abs().max() < 0.06
    small = make_bps_basis(num_points=300, radius=0.25, seed=7)
    assert small.shape == (300, 3) and small.norm(dim=-1).max() <= 0.25 + 1e-7
    # the first basis point pins the generator stream (numpy PCG64 + rejection sampling)
    rng = np.random.default_rng(0)
    cube = rng.random((2048, 3)) * 2.0 - 1.0
    first = cube[(cube * cube).sum(1) <= 1.0][0]
    np.testing.assert_array_equal(basis[0].numpy(), first.astype(np.float32))


def test_bps_encode_matches_kdtree_nearest_neighbours():
    g = torch.Generator().manual_seed(0)
    points = torch.randn(2, 500, 3, generator=g) * torch.tensor([0.3, 0.1, 0.2]) + torch.tensor([1.0, 2.0, 0.5])
    basis = make_bps_basis(256)
    offsets = bps_encode(points, basis)
    assert offsets.shape == (2, 256, 3)
    for b in range(2):
        centred = points[b].double().numpy() - points[b].double().numpy().mean(0)
        _, index = cKDTree(centred).query(basis.double().numpy())
        np.testing.assert_allclose(offsets[b].numpy(), centred[index] - basis.numpy(), atol=1e-5)
    # explicit centre, single cloud, and small chunks give the same answer
    centre = torch.tensor([[1.0, 2.0, 0.5], [0.0, 0.0, 0.0]])
    explicit = bps_encode(points, basis, centre)
    _, index = cKDTree((points[1] - centre[1]).numpy()).query(basis.numpy())
    np.testing.assert_allclose(explicit[1].numpy(), (points[1] - centre[1]).numpy()[index] - basis.numpy(), atol=1e-6)
    torch.testing.assert_close(bps_encode(points[0], basis), offsets[0])
    torch.testing.assert_close(bps_encode(points, basis, max_pairs=1000), offsets)


def test_bps_encode_is_translation_invariant():
    g = torch.Generator().manual_seed(1)
    points = torch.rand(3, 2000, 3, generator=g) * torch.tensor([0.6, 0.3, 0.4])
    basis = make_bps_basis(1024)
    shift = torch.tensor([[3.0, -2.0, 0.7], [-0.5, 0.25, 1.5], [0.0, 0.0, -4.0]])
    original = bps_encode(points, basis)
    translated = bps_encode(points + shift[:, None], basis)
    torch.testing.assert_close(translated, original, atol=1e-5, rtol=0)


def test_bps_encode_large_cloud_is_chunked():
    """1024 basis points x 20000 object points with the default chunking (pairwise block <= 4M)."""
    g = torch.Generator().manual_seed(2)
    points = torch.randn(1, 20000, 3, generator=g)
    points = 0.5 * points / points.norm(dim=-1, keepdim=True)  # a sphere shell of radius 0.5
    offsets = bps_encode(points, make_bps_basis())
    assert offsets.shape == (1, 1024, 3)
    # every basis point's nearest point lies on the shell: |basis + offset + centroid| = 0.5
    ends = make_bps_basis() + offsets[0]
    np.testing.assert_allclose((ends + points[0].mean(0)).norm(dim=-1).numpy(), 0.5, atol=1e-5)
    _, index = cKDTree(points[0].numpy() - points[0].numpy().mean(0)).query(make_bps_basis().numpy())
    np.testing.assert_allclose(ends.numpy(), points[0].numpy()[index] - points[0].numpy().mean(0), atol=1e-6)


def test_place_object_matches_hand_computation():
    rng = np.random.default_rng(0)
    verts = rng.normal(size=(7, 3))
    rot = Rotation.random(4, random_state=0).as_matrix()
    trans = rng.normal(size=(4, 3))
    scale = np.array([1.0, 0.5, 2.0, 0.1])
    out = place_object(torch.from_numpy(verts), torch.from_numpy(scale), torch.from_numpy(rot), torch.from_numpy(trans))
    assert out.shape == (4, 7, 3)
    for b in range(4):
        for v in range(7):
            expected = scale[b] * rot[b] @ verts[v] + trans[b]
            np.testing.assert_allclose(out[b, v].numpy(), expected, atol=1e-12)
    # float scale, (B, 1) scale and per-batch vertices
    out_float = place_object(torch.from_numpy(verts), 0.5, torch.from_numpy(rot), torch.from_numpy(trans))
    np.testing.assert_allclose(out_float[2].numpy(), 0.5 * verts @ rot[2].T + trans[2], atol=1e-12)
    out_col = place_object(torch.from_numpy(verts), torch.from_numpy(scale[:, None]), torch.from_numpy(rot),
                           torch.from_numpy(trans))
    torch.testing.assert_close(out_col, out)
    batched_verts = torch.from_numpy(np.stack([verts] * 4))
    torch.testing.assert_close(place_object(batched_verts, torch.from_numpy(scale), torch.from_numpy(rot),
                                            torch.from_numpy(trans)), out)
    # a rotation about z by 90 degrees and a shift, by hand
    quarter = torch.tensor([[[0.0, -1.0, 0.0], [1.0, 0.0, 0.0], [0.0, 0.0, 1.0]]])
    unit_points = torch.tensor([[1.0, 0.0, 0.0], [0.0, 0.0, 1.0]])
    placed = place_object(unit_points, 2.0, quarter, torch.tensor([[0.0, 0.0, 1.0]]))
    torch.testing.assert_close(placed, torch.tensor([[[0.0, 2.0, 1.0], [0.0, 0.0, 3.0]]]))


def test_min_distance_and_contact_labels_hand_made():
    surface = torch.tensor([[[0.0, 0.0, 0.0], [1.0, 0.0, 0.0], [0.0, 1.0, 0.0]]])
    hands = torch.tensor([[[0.0, 0.0, 0.04],     # 4 cm above a point: contact
                           [1.0, 0.0, 0.05],     # exactly 5 cm: not < 5 cm, no contact
                           [0.5, 0.5, 0.0],      # sqrt(0.5) from the nearest points
                           [0.0, 1.03, 0.0]]])   # 3 cm: contact
    distance = min_distance(hands, surface)
    torch.testing.assert_close(distance, torch.tensor([[0.04, 0.05, 0.5 ** 0.5, 0.03]]))
    labels = contact_labels(hands, surface)
    assert labels.dtype == torch.bool
    assert labels.tolist() == [[True, False, False, True]]
    assert contact_labels(hands, surface, threshold=0.8).all()
    # batch broadcast of a shared surface and chunking
    gen = torch.Generator().manual_seed(0)
    many = torch.rand(5, 40, 3, generator=gen)
    cloud = torch.rand(5, 300, 3, generator=gen)
    expected = torch.cdist(many.double(), cloud.double()).min(-1).values.float()
    torch.testing.assert_close(min_distance(many, cloud, max_pairs=500), expected)
    # the reference in float64: float32 cdist (matrix-product form for many points) is off by up to ~1e-4
    shared = torch.cdist(many.double(), cloud[:1].double().expand(5, -1, -1)).min(-1).values.float()
    torch.testing.assert_close(min_distance(many, cloud[:1]), shared)


def test_min_distance_is_differentiable():
    points = torch.tensor([[[0.0, 0.0, 0.3]]], requires_grad=True)
    surface = torch.tensor([[[0.0, 0.0, 0.0], [2.0, 0.0, 0.0]]])
    min_distance(points, surface).sum().backward()
    torch.testing.assert_close(points.grad, torch.tensor([[[0.0, 0.0, 1.0]]]))
