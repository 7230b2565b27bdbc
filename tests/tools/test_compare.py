"""tools/analysis/compare.py: one row per config, mean ± std over runs of the same name, CSV beside Markdown."""
import csv
import json

from testing_utils import REPO, load_tool, run_tool


def test_compare_groups_runs_and_writes_tables(tmp_path):
    runs = {'a/seed0': dict(hand_jpe=10.0, ia_success=0.5), 'a/seed1': dict(hand_jpe=14.0, ia_success=0.7),
            'b/seed0': dict(hand_jpe=20.0, ia_success=0.1, fid=3.0, hand_penetration=0.0021361)}
    paths = []
    for name, metrics in runs.items():
        (tmp_path / name).mkdir(parents=True)
        path = tmp_path / name / 'metrics.json'
        path.write_text(json.dumps(metrics))
        paths.append(path)
    out = tmp_path / 'table.md'
    run_tool(['tools/analysis/compare.py', *paths, '--names', 'a', 'a', 'b', '--group-by-name', '--out', out],
             cwd=REPO)
    lines = out.read_text().splitlines()
    assert lines[0] == '| config | runs | hand_jpe | ia_success | fid | hand_penetration |'
    assert lines[2] == '| a | 2 | 12.000 ± 2.828 | 0.600 ± 0.141 | – | – |'      # stdev of (10, 14) = 2.828
    assert lines[3] == '| b | 1 | 20.000 | 0.100 | 3.000 | 0.00214 |'          # three significant digits below 0.1
    rows = list(csv.DictReader(open(tmp_path / 'table.csv')))
    assert float(rows[0]['hand_jpe']) == 12.0 and rows[1]['config'] == 'b'


def test_mirror_flip_rates_hand_computed():
    """flip_rates counts only one-sided originals; consistency needs both grasp hand and layout mirrored."""
    module = load_tool('tools/analysis/mirror_test.py')
    f = lambda g, lay: dict(grasp_hand=g, carry_height='hip', layout=lay)  # noqa: E731
    pairs = [(f('left', 'left'), f('right', 'right')),      # both flip
             (f('right', 'front'), f('right', 'front')),    # hand does not flip; front stays front (consistent)
             (f('both', 'right'), f('both', 'left'))]       # both-handed: not counted for the side; layout flips
    rates = module.flip_rates(pairs)
    assert rates['contact_side_windows'] == 2 and rates['contact_side_flip_rate'] == 0.5
    assert rates['layout_windows'] == 2 and rates['layout_flip_rate'] == 1.0
    assert abs(rates['mirror_consistency'] - 2 / 3) < 1e-12
