"""The depicted frame t* of a window: contact-centred for evaluation, contact-biased samples for training.

Owns `contact_intervals`, `contact_centred_frame` and `sample_depicted_frames` (docs/conventions.md). Contacts
are per-frame booleans (T, C) in the codec order (left hand, right hand, left foot, right foot); only the
hand columns count. Pure numpy.
"""
from typing import List, Sequence, Tuple

import numpy as np

__all__ = ['hand_contact', 'contact_intervals', 'contact_centred_frame', 'sample_depicted_frames']

HAND_COLUMNS = (0, 1)  # left hand, right hand


def hand_contact(contacts, hand_columns: Sequence[int] = HAND_COLUMNS) -> np.ndarray:
    """contacts: (T,) or (T, C) bool (numpy or torch) -> (T,) bool, True where any hand touches the object."""
    contacts = np.asarray(contacts)
    if contacts.ndim == 1:
        return contacts.astype(bool)
    if contacts.ndim != 2 or contacts.shape[1] <= max(hand_columns):
        raise ValueError(f'contacts must be (T,) or (T, C) with C > {max(hand_columns)}, got {contacts.shape}')
    return contacts[:, list(hand_columns)].astype(bool).any(axis=1)


def contact_intervals(contacts, hand_columns: Sequence[int] = HAND_COLUMNS) -> List[Tuple[int, int]]:
    """Maximal runs of hand contact as (start, end) inclusive frame indices, in time order."""
    mask = hand_contact(contacts, hand_columns).astype(np.int8)
    edges = np.diff(np.concatenate([[0], mask, [0]]))
    starts, ends = np.flatnonzero(edges == 1), np.flatnonzero(edges == -1) - 1
    return [(int(s), int(e)) for s, e in zip(starts, ends)]


def contact_centred_frame(contacts, hand_columns: Sequence[int] = HAND_COLUMNS) -> int:
    """Middle frame of the longest hand-object contact interval (the earliest one on ties): start + (len-1)//2.

    Without contact it is the window middle, (T - 1) // 2 (the same rule applied to the whole window).
    contacts: (T,) or (T, C) bool -> int in [0, T).
    """
    mask = hand_contact(contacts, hand_columns)
    if len(mask) == 0:
        raise ValueError('contacts is empty (T = 0): no frame to depict')
    intervals = contact_intervals(mask)
    if not intervals:
        return (len(mask) - 1) // 2
    start, end = max(intervals, key=lambda se: (se[1] - se[0], -se[0]))
    return start + (end - start) // 2


def sample_depicted_frames(contacts, num: int, rng: np.random.Generator, contact_bias: float = 0.8,
                           hand_columns: Sequence[int] = HAND_COLUMNS) -> List[int]:
    """`num` distinct depicted frames for training, sorted ascending.

    Each draw takes, with probability `contact_bias`, a not-yet-chosen hand-contact frame, otherwise any
    not-yet-chosen frame (uniformly); when the contact frames run out it falls back to any frame. With fewer
    than `num` frames in the window, all frames are returned. contacts: (T,) or (T, C) bool.
    """
    if not 0.0 <= contact_bias <= 1.0:
        raise ValueError(f'contact_bias must be in [0, 1], got {contact_bias}')
    mask = hand_contact(contacts, hand_columns)
    num_frames = len(mask)
    if num_frames == 0:
        raise ValueError('contacts is empty (T = 0): no frame to depict')
    available = np.ones(num_frames, dtype=bool)
    chosen = []
    for _ in range(min(int(num), num_frames)):
        pool = np.flatnonzero(available & mask)
        if len(pool) == 0 or rng.random() >= contact_bias:
            pool = np.flatnonzero(available)
        frame = int(pool[rng.integers(len(pool))])
        available[frame] = False
        chosen.append(frame)
    return sorted(chosen)
