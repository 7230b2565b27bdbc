"""Skeleton constants: SMPL-X (55), SMPL-H (52) and the CHOIS/OMOMO "joints24" skeleton, in one place.

Owns the joint names, parent lists, index maps into joints24, the left/right mirror permutation, the hand and
foot joint ids, and the rule (joint sets + npz key names) that defines the hand/foot vertex groups.
"""
from typing import Dict, Tuple

# --------------------------------------------------------------------------------------------------------
# Joint names (smplx order).
# --------------------------------------------------------------------------------------------------------
BODY_JOINT_NAMES = (
    'pelvis', 'left_hip', 'right_hip', 'spine1', 'left_knee', 'right_knee', 'spine2', 'left_ankle',
    'right_ankle', 'spine3', 'left_foot', 'right_foot', 'neck', 'left_collar', 'right_collar', 'head',
    'left_shoulder', 'right_shoulder', 'left_elbow', 'right_elbow', 'left_wrist', 'right_wrist')
_FINGERS = ('index', 'middle', 'pinky', 'ring', 'thumb')
LEFT_HAND_JOINT_NAMES = tuple(f'left_{f}{k}' for f in _FINGERS for k in (1, 2, 3))
RIGHT_HAND_JOINT_NAMES = tuple(f'right_{f}{k}' for f in _FINGERS for k in (1, 2, 3))

#: SMPL-X skeleton joints, (55,): 22 body, jaw, eyes, 15 left-hand, 15 right-hand joints.
SMPLX_JOINT_NAMES = BODY_JOINT_NAMES + ('jaw', 'left_eye', 'right_eye') + LEFT_HAND_JOINT_NAMES \
    + RIGHT_HAND_JOINT_NAMES
#: SMPL-H skeleton joints, (52,): SMPL-X without jaw and eyes.
SMPLH_JOINT_NAMES = BODY_JOINT_NAMES + LEFT_HAND_JOINT_NAMES + RIGHT_HAND_JOINT_NAMES
#: joints24: the 22 body joints + left/right middle-finger base as hand points.
JOINTS24_NAMES = BODY_JOINT_NAMES + ('left_hand', 'right_hand')

NUM_BODY_JOINTS = 22
NUM_SMPLX_JOINTS = 55
NUM_SMPLH_JOINTS = 52
NUM_JOINTS24 = 24

# --------------------------------------------------------------------------------------------------------
# Parent lists (-1 for the root).
# --------------------------------------------------------------------------------------------------------
BODY_PARENTS = (-1, 0, 0, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 9, 9, 12, 13, 14, 16, 17, 18, 19)


def _hand_parents(wrist: int, first: int) -> Tuple[int, ...]:
    """Parents of the 15 hand joints starting at index `first`: 5 fingers x 3 joints, chain from the wrist."""
    parents = []
    for finger in range(5):
        base = first + 3 * finger
        parents += [wrist, base, base + 1]
    return tuple(parents)


#: (55,) SMPL-X parents: jaw and eyes hang from the head (15); finger bases from the wrists (20, 21).
SMPLX_PARENTS = BODY_PARENTS + (15, 15, 15) + _hand_parents(20, 25) + _hand_parents(21, 40)
#: (52,) SMPL-H parents.
SMPLH_PARENTS = BODY_PARENTS + _hand_parents(20, 22) + _hand_parents(21, 37)
#: (24,) joints24 parents (HOIFHLI `smpl_parents_24.npy`): the hand points hang from the wrists.
JOINTS24_PARENTS = (-1, 0, 0, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 9, 9, 12, 13, 14, 16, 17, 18, 19, 20, 21)

# --------------------------------------------------------------------------------------------------------
# joints24 <- SMPL-X / SMPL-H.
# --------------------------------------------------------------------------------------------------------
#: (24,) SMPL-X joint ids of joints24: body 0..21, left_middle1 (28), right_middle1 (43).
JOINTS24_FROM_SMPLX = tuple(range(22)) + (28, 43)
#: (24,) SMPL-H joint ids of joints24: body 0..21, left_middle1 (25), right_middle1 (40).
JOINTS24_FROM_SMPLH = tuple(range(22)) + (25, 40)

PARENTS = {'smplx': SMPLX_PARENTS, 'smplh': SMPLH_PARENTS, 'joints24': JOINTS24_PARENTS}
JOINT_NAMES = {'smplx': SMPLX_JOINT_NAMES, 'smplh': SMPLH_JOINT_NAMES, 'joints24': JOINTS24_NAMES}
JOINTS24_FROM = {'smplx': JOINTS24_FROM_SMPLX, 'smplh': JOINTS24_FROM_SMPLH}


def _mirror_permutation(names: Tuple[str, ...]) -> Tuple[int, ...]:
    """Index permutation that swaps every `left_*` joint with its `right_*` twin (others map to themselves)."""
    index = {name: i for i, name in enumerate(names)}
    perm = []
    for name in names:
        if name.startswith('left_'):
            perm.append(index['right_' + name[5:]])
        elif name.startswith('right_'):
            perm.append(index['left_' + name[6:]])
        else:
            perm.append(index[name])
    return tuple(perm)


#: (24,) permutation swapping left/right joints24 (for mirroring: `mirrored = x[..., LEFT_RIGHT_JOINTS24, :]`
#: after negating the lateral coordinate).
LEFT_RIGHT_JOINTS24 = _mirror_permutation(JOINTS24_NAMES)
LEFT_RIGHT_SMPLX = _mirror_permutation(SMPLX_JOINT_NAMES)
LEFT_RIGHT_SMPLH = _mirror_permutation(SMPLH_JOINT_NAMES)

# --------------------------------------------------------------------------------------------------------
# Hands and feet.
# --------------------------------------------------------------------------------------------------------
#: joints24 ids of the (left, right) hand points.
HAND_JOINTS24 = (22, 23)
#: joints24 ids of the (left, right) ankles and of the (left, right) toe bases.
ANKLE_JOINTS24 = (7, 8)
TOE_JOINTS24 = (10, 11)
#: joints24 ids of all foot joints: left ankle, right ankle, left toe, right toe.
FOOT_JOINTS24 = (7, 8, 10, 11)
#: joints24 ids of the wrists.
WRIST_JOINTS24 = (20, 21)

#: Vertex groups of a body model, named; each is the set of vertices whose dominant skinning weight belongs to
#: one of these SMPL-X joints (the palm is driven by the wrist, so the wrist joint is part of the hand).
VERTEX_GROUP_NAMES = ('left_hand', 'right_hand', 'left_foot', 'right_foot')
VERTEX_GROUP_JOINTS_SMPLX: Dict[str, Tuple[int, ...]] = {
    'left_hand': (20,) + tuple(range(25, 40)),
    'right_hand': (21,) + tuple(range(40, 55)),
    'left_foot': (7, 10),
    'right_foot': (8, 11),
}
VERTEX_GROUP_JOINTS_SMPLH: Dict[str, Tuple[int, ...]] = {
    'left_hand': (20,) + tuple(range(22, 37)),
    'right_hand': (21,) + tuple(range(37, 52)),
    'left_foot': (7, 10),
    'right_foot': (8, 11),
}
VERTEX_GROUP_JOINTS = {'smplx': VERTEX_GROUP_JOINTS_SMPLX, 'smplh': VERTEX_GROUP_JOINTS_SMPLH}
#: Extra npz key of a vertex group (int32 vertex ids); smplx ignores unknown keys. The free body stores them,
#: for a real SMPL-X/SMPL-H file the wrapper derives them from the skinning weights with the same rule.
VERTEX_GROUP_KEY = 'vertex_group_{}'
