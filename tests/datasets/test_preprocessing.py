"""Pure preprocessing helpers: field validation messages, window starts, BPS of a placed object, t* rule."""
import numpy as np
import pytest
import torch
from scipy.spatial import cKDTree

from imagin4d.datasets.preprocessing import (
    BadSequenceError,
    placed_object_bps,
    read_field,
    template_tree,
    window_starts,
)
from imagin4d.datasets.transforms import SampleDepictedFrame
from imagin4d.geometry import axis_angle_to_matrix, bps_encode, make_bps_basis, place_object
from imagin4d.geometry.depicted_frame import contact_centred_frame


def test_window_starts():
    assert window_starts(150, 120, 30) == [0, 30]
    assert window_starts(120, 120, 30) == [0]
    assert window_starts(119, 120, 30) == []
    assert window_starts(400, 120, 30, first_only=True) == [0]
    assert window_starts(400, 120, 30)[-1] == 270


def test_read_field_messages():
    rec = {'a': np.zeros((5, 3, 1)), 'b': np.zeros((4, 3)), 'c': np.array([1.0, np.inf])}
    dims = {}
    assert read_field(rec, 'a', [('T', 3, 1), ('T', 3)], dims, source='f.p', seq_name='s').shape == (5, 3, 1)
    assert dims == {'T': 5}
    with pytest.raises(BadSequenceError, match=r"\[wrong_shape\] file f.p, sequence 's', field 'b': shape \(4, 3\), "
                                               r"expected \(5, 3\)"):
        read_field(rec, 'b', [('T', 3)], dims, source='f.p', seq_name='s')
    with pytest.raises(BadSequenceError, match=r"field 'zz': key missing \(keys present: a, b, c\)"):
        read_field(rec, 'zz', [('T',)], dims, source='f.p', seq_name='s')
    with pytest.raises(BadSequenceError, match="field 'c': 1 NaN/inf values") as err:
        read_field(rec, 'c', [(2,)], {}, source='f.p', seq_name='s')
    assert err.value.reason == 'non_finite' and err.value.field == 'c' and err.value.seq_name == 's'


@pytest.mark.parametrize('flat', [False, True])
def test_placed_object_bps_equals_brute_force(flat):
    g = torch.Generator().manual_seed(0)
    verts = torch.randn(700, 3, generator=g, dtype=torch.float64) * 10.0
    if flat:          # a table top: the basis points lie far from most vertices (where the tree's layout matters)
        verts[:, 2] *= 0.01
    basis = make_bps_basis(256, 1.0, seed=1).double()
    tree = template_tree(verts.numpy())
    assert isinstance(tree, cKDTree)
    for k in range(3):
        scale = 0.02 + 0.01 * k
        rot = axis_angle_to_matrix(torch.randn(3, generator=g, dtype=torch.float64))
        trans = torch.randn(3, generator=g, dtype=torch.float64)
        placed = place_object(verts, scale, rot, trans)
        centre = placed.mean(0) + 0.01
        ref = bps_encode(placed, basis, centre=centre)
        fast = placed_object_bps(tree, verts.numpy(), scale, rot.numpy(), trans.numpy(), centre.numpy(),
                                 basis.numpy())
        assert np.abs(fast - ref.numpy()).max() < 1e-9


def test_depicted_frame_rules():
    c = np.zeros((120, 4))
    assert contact_centred_frame(c) == 59                     # no contact: the window middle
    c[10:20, 0] = 1
    c[50:81, 1] = 1                                           # longest hand contact 50..80
    c[0:119, 2] = 1                                           # feet do not count
    assert contact_centred_frame(c) == 65
    results = {'contacts': c}
    assert SampleDepictedFrame('contact_centred')(results)['t_star'] == 65
    np.random.seed(0)
    draws = [SampleDepictedFrame('sample', contact_prob=1.0)({'contacts': c})['t_star'] for _ in range(50)]
    assert all(c[t, :2].any() for t in draws)
