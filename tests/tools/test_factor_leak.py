"""tools/analysis/factor_leak.py: a condition group that encodes the factor is found, one that does not stays at
chance; and the real first-window conditions on the small prepared mini-FBM."""
import json

import numpy as np
from testing_utils import REPO, load_tool, run_tool


def _module():
    return load_tool('tools/analysis/factor_leak.py')


def test_leak_table_separates_informative_and_uninformative_conditions():
    leak = _module()
    rng = np.random.default_rng(0)
    values = np.array(['left', 'right', 'both'])

    def split(n):
        y = values[rng.integers(0, 3, n)]
        code = (y[:, None] == values[None]).astype(float) + 0.05 * rng.standard_normal((n, 3))
        groups = {g: rng.standard_normal((n, 4)) for g in leak.GROUPS}
        groups['end_waypoint'] = code                      # this group encodes the value
        return groups, list(y)
    (train, y_train), (test, y_test) = split(300), split(300)
    acc = leak.leak_table(train, test, y_train, y_test)
    assert acc['end_waypoint'] == 1.0 and acc['all'] > 0.95
    for group in ('frame0_object', 'frame0_human', 'xy_waypoints'):   # noise: about 1/3
        assert acc[group] < 0.45, (group, acc[group])


def test_tool_on_the_prepared_mini_fbm(mini_fbm_prepared, tmp_path):
    out = tmp_path / 'leak.json'
    run_tool(['tools/analysis/factor_leak.py', '--data-root', mini_fbm_prepared, '--out', out], cwd=REPO)
    report = json.loads(out.read_text())
    assert report['train_windows'] == 16 and report['test_windows'] == 8
    for name in ('grasp_hand', 'carry_height', 'layout'):
        entry = report['factors'][name]
        assert set(entry['accuracy']) == {'frame0_object', 'frame0_human', 'xy_waypoints', 'end_waypoint',
                                          'object_prompt', 'all'}
        assert all(0.0 <= a <= 1.0 for a in entry['accuracy'].values())
        assert 0.0 < entry['chance'] <= entry['majority'] <= 1.0
        assert 0.0 < entry['prior'] <= 1.0 and 0.0 < entry['prior_majority'] <= 1.0
        assert 0.0 < entry['body_prior'] <= 1.0 and 0.0 < entry['no_image_ceiling'] <= 1.0


def test_object_prompt_codes_are_one_hot():
    leak = _module()
    train, test = leak.prompt_object_codes([('box', 'carry'), ('table', 'push')], [('table', 'push'), ('box', 'push')])
    # vocabulary sorted: (box, carry), (box, push), (table, push)
    assert train.tolist() == [[1, 0, 0], [0, 0, 1]] and test.tolist() == [[0, 0, 1], [0, 1, 0]]
