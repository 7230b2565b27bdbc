"""tools/analysis/adherence_limits.py: the per-criterion rates of a dump written in the real dump format, checked
against the dump's own ia_success, and a dump whose success the criteria do not give refused by name."""
import pytest
from testing_utils import load_tool

from imagin4d.evaluation.metrics import write_samples


def _dump(path, rows):
    keys = ('ia_contact_both', 'ia_layout', 'ia_obj_pos_err', 'ia_pose_err', 'ia_success', 'ia_success_best')
    write_samples(str(path), [dict(seq_name=f's{i}', metrics=dict(zip(keys, row))) for i, row in enumerate(rows)])
    return str(path)


def test_breakdown_of_a_dump_and_a_mismatch_refused(tmp_path):
    tool = load_tool('tools/analysis/adherence_limits.py')
    rows = [(1, 1, 0.10, 0.05, 1, 1), (0, 1, 0.10, 0.05, 0, 1), (1, 1, 0.30, 0.05, 0, 0), (1, 0, 0.30, 0.20, 0, 0)]
    out = tool.breakdown(_dump(tmp_path / 'a.npz', rows))
    assert out['samples'] == 4 and out['success'] == 0.25 and out['success_best'] == 0.5
    assert out['pass_contact_both'] == 0.75 and out['pass_obj_pos'] == 0.5 and out['pass_pose'] == 0.75
    assert out['without_contact_both'] == 0.5 and out['without_obj_pos'] == 0.5 and out['without_layout'] == 0.25
    rows[0] = (1, 1, 0.20, 0.05, 1, 1)           # success claimed although the object is 20 cm off
    with pytest.raises(SystemExit, match='b.npz: the four criteria'):
        tool.breakdown(_dump(tmp_path / 'b.npz', rows))
    with pytest.raises(SystemExit, match=r"c.npz: sample 0 has no metrics field\(s\) \['ia_success_best'\]"):
        write_samples(str(tmp_path / 'c.npz'), [dict(seq_name='s', metrics=dict(zip(
            ('ia_contact_both', 'ia_layout', 'ia_obj_pos_err', 'ia_pose_err', 'ia_success'), rows[1][:5])))])
        tool.breakdown(str(tmp_path / 'c.npz'))
