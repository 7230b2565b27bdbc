"""Skeleton constants: parent lists, joints24 maps, mirror permutation."""
from imagin4d.body_models import skeletons as sk


def test_parent_lists_are_trees():
    for name, parents, count in (('smplx', sk.SMPLX_PARENTS, 55), ('smplh', sk.SMPLH_PARENTS, 52),
                                 ('joints24', sk.JOINTS24_PARENTS, 24)):
        assert len(parents) == count == len(sk.JOINT_NAMES[name])
        assert parents[0] == -1
        assert all(0 <= p < i for i, p in enumerate(parents) if i > 0)


def test_joints24_parents_and_maps():
    assert list(sk.JOINTS24_PARENTS) == [-1, 0, 0, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 9, 9, 12, 13, 14, 16, 17,
                                         18, 19, 20, 21]
    assert sk.JOINTS24_FROM_SMPLX == tuple(range(22)) + (28, 43)
    assert sk.JOINTS24_FROM_SMPLH == tuple(range(22)) + (25, 40)
    for model_type in ('smplx', 'smplh'):
        index, parents = sk.JOINTS24_FROM[model_type], sk.PARENTS[model_type]
        names = [sk.JOINT_NAMES[model_type][i] for i in index]
        assert names[:22] == list(sk.BODY_JOINT_NAMES)
        assert names[22:] == ['left_middle1', 'right_middle1']
        # The joints24 tree is the SMPL-X/H tree restricted to these joints.
        for j24, j in enumerate(index[1:], start=1):
            assert index[sk.JOINTS24_PARENTS[j24]] == parents[j]


def test_smplx_names_match_the_smplx_package():
    from smplx.joint_names import JOINT_NAMES
    assert list(sk.SMPLX_JOINT_NAMES[:22]) == JOINT_NAMES[:22]
    assert list(sk.SMPLX_JOINT_NAMES[25:55]) == JOINT_NAMES[25:55]
    assert sk.SMPLH_JOINT_NAMES == sk.SMPLX_JOINT_NAMES[:22] + sk.SMPLX_JOINT_NAMES[25:]


def test_left_right_permutation():
    perm = sk.LEFT_RIGHT_JOINTS24
    assert sorted(perm) == list(range(24))
    assert all(perm[perm[i]] == i for i in range(24))
    for i, j in enumerate(perm):
        a, b = sk.JOINTS24_NAMES[i], sk.JOINTS24_NAMES[j]
        assert a.replace('left', 'X').replace('right', 'X') == b.replace('left', 'X').replace('right', 'X')
        assert (a == b) == ('left' not in a and 'right' not in a)
    assert (perm[22], perm[7], perm[10]) == (23, 8, 11)


def test_hand_and_foot_ids():
    assert sk.HAND_JOINTS24 == (22, 23)
    assert set(sk.FOOT_JOINTS24) == {7, 8, 10, 11}
    assert [sk.JOINTS24_NAMES[i] for i in sk.FOOT_JOINTS24] == ['left_ankle', 'right_ankle', 'left_foot',
                                                               'right_foot']
    for model_type, groups in sk.VERTEX_GROUP_JOINTS.items():
        names = sk.JOINT_NAMES[model_type]
        assert all(names[j].startswith('left') for j in groups['left_hand'] + groups['left_foot'])
        assert all(names[j].startswith('right') for j in groups['right_hand'] + groups['right_foot'])
        assert len(groups['left_hand']) == 16
