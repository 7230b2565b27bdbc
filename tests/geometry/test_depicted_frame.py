"""Depicted frame t*: contact-centred frame for evaluation, contact-biased sampling for training."""
import numpy as np
import pytest
import torch

from imagin4d.geometry import contact_centred_frame, contact_intervals, sample_depicted_frames


def _contacts(T, runs, column=0, num_columns=4):
    c = np.zeros((T, num_columns), dtype=bool)
    for start, end in runs:
        c[start:end + 1, column] = True
    return c


def test_contact_centred_frame_is_middle_of_longest_hand_interval():
    c = _contacts(120, [(10, 19), (40, 79)])  # longest: 40..79 -> 40 + 39 // 2 = 59
    assert contact_intervals(c) == [(10, 19), (40, 79)]
    assert contact_centred_frame(c) == 59
    both = c.copy()
    both[85:120, 1] = True  # right hand, 35 frames: still shorter than 40
    assert contact_centred_frame(both) == 59
    # left and right hand contacts merge into one interval
    merged = _contacts(120, [(30, 49)], column=0) | _contacts(120, [(50, 89)], column=1)
    assert contact_centred_frame(merged) == 30 + 59 // 2


def test_contact_centred_frame_ties_feet_and_no_contact():
    assert contact_centred_frame(_contacts(60, [(5, 9), (30, 34)])) == 7  # tie: the earliest
    feet_only = _contacts(120, [(0, 119)], column=2)
    assert contact_centred_frame(feet_only) == 59  # feet do not count: window middle (T - 1) // 2
    assert contact_centred_frame(np.zeros(121, bool)) == 60
    assert contact_centred_frame(torch.from_numpy(_contacts(50, [(20, 20)]))) == 20
    with pytest.raises(ValueError):
        contact_centred_frame(np.zeros((0, 4), bool))


def test_sample_depicted_frames_distinct_sorted_deterministic():
    c = _contacts(120, [(40, 59)])
    a = sample_depicted_frames(c, 6, np.random.default_rng(3))
    b = sample_depicted_frames(c, 6, np.random.default_rng(3))
    assert a == b and a == sorted(a) and len(set(a)) == 6 and all(0 <= t < 120 for t in a)
    assert sample_depicted_frames(c[:4], 10, np.random.default_rng(0)) == [0, 1, 2, 3]


def test_sample_depicted_frames_bias_towards_contact():
    c = _contacts(120, [(40, 59)])  # 1/6 of the frames are contact frames
    rng = np.random.default_rng(0)
    draws = np.array([sample_depicted_frames(c, 1, rng)[0] for _ in range(4000)])
    in_contact = ((draws >= 40) & (draws <= 59)).mean()
    expected = 0.8 + 0.2 * 20 / 120  # biased draw, or uniform draw that lands in contact
    assert abs(in_contact - expected) < 0.03
    no_contact = np.array([sample_depicted_frames(np.zeros((120, 4), bool), 1, rng)[0] for _ in range(2000)])
    assert no_contact.min() < 10 and no_contact.max() > 110  # uniform without contact
    unbiased = np.array([sample_depicted_frames(c, 1, rng, contact_bias=0.0)[0] for _ in range(3000)])
    assert abs(((unbiased >= 40) & (unbiased <= 59)).mean() - 1 / 6) < 0.03
