"""motion_pair_length: the checks every metric makes on a GT / generated motion pair, and the valid length."""
import pytest
import torch

from imagin4d.evaluation.metrics.sample_access import motion_pair_length


def test_motion_pair_length_checks_and_length():
    gt, pred = torch.zeros(10, 220), torch.zeros(10, 220)
    assert motion_pair_length('M', dict(seq_name='s'), 0, gt, pred, 220) == 10          # no seq_len: T
    assert motion_pair_length('M', dict(seq_name='s', seq_len=7), 0, gt, pred, 220) == 7
    with pytest.raises(ValueError, match=r"M: sample 's'.*must both be \(T, 220\)"):
        motion_pair_length('M', dict(seq_name='s'), 0, gt, torch.zeros(9, 220), 220)
    with pytest.raises(ValueError, match='must both be'):
        motion_pair_length('M', {}, 0, torch.zeros(10, 219), torch.zeros(10, 219), 220)
    with pytest.raises(ValueError, match='normalised'):
        motion_pair_length('M', dict(normalized=True), 0, gt, pred, 220)
    for bad in (0, 11):
        with pytest.raises(ValueError, match=rf'seq_len {bad} outside 1\.\.10'):
            motion_pair_length('M', dict(seq_len=bad), 0, gt, pred, 220)
