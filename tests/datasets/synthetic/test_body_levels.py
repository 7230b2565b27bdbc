"""The generator's choice distribution and the hidden-factor levels a model without the image can reach."""
import json
from collections import Counter
from types import SimpleNamespace

import numpy as np
import pytest

from imagin4d.datasets.synthetic import factors, writer


def _program(action, hands, layout):
    return SimpleNamespace(action=action, hands=hands, layout=layout)


OPTIONS = [(_program('carry', 'both', 'front'), 'chest'), (_program('carry', 'both', 'front'), 'hip'),
           (_program('carry', 'left', 'left'), 'hip'), (_program('push', 'right', 'right'), 'low')]


def test_option_distribution_hand_computed_and_as_drawn():
    dist = writer.option_distribution(OPTIONS)
    # three hands, 1/3 each; 'both' has one layout and two (program, height) pairs: 1/6 each
    assert dist == pytest.approx({('carry', 'both', 'front', 'chest'): 1 / 6, ('carry', 'both', 'front', 'hip'): 1 / 6,
                                  ('carry', 'left', 'left', 'hip'): 1 / 3, ('push', 'right', 'right', 'low'): 1 / 3})
    # what the generator's own draw gives
    rng = np.random.default_rng(0)
    drawn = Counter()
    for _ in range(6000):
        program, height = writer._pick_option(OPTIONS, rng)
        drawn[(program.action, program.hands, program.layout, height)] += 1 / 6000
    assert all(abs(drawn[k] - p) < 0.02 for k, p in dist.items())


def test_distribution_accuracy_hand_computed():
    # p(true) = 0.5 and 0.3; modes: a tie of two containing the truth (1/2), then 'a' against a true 'b' (0)
    assert factors.distribution_accuracy([dict(a=0.5, b=0.5), dict(a=0.7, b=0.3)], ['a', 'b']) == \
        pytest.approx((0.4, 0.25))
    assert all(np.isnan(factors.distribution_accuracy([], [])))


def test_body_levels_follow_the_feasible_options(mini_fbm_root, monkeypatch):
    """With every body given the OPTIONS above, the levels are what the factors file's values give by hand."""
    monkeypatch.setattr(writer, 'feasible_options', lambda obj, skel: OPTIONS)
    levels = writer.body_levels(mini_fbm_root)
    with open(f'{mini_fbm_root}/mini_fbm_factors.json') as f:
        test = [s for s in json.load(f)['sequences'].values() if s['split'] == 'test']
    carry = [s for s in test if s['action'] == 'carry']
    # carry: hands both 1/2, left 1/2 (a tie: 1/2 for either); push: right for sure
    expected_hand = np.mean([0.5 * (s['grasp_hand'] in ('both', 'left')) if s['action'] == 'carry'
                             else float(s['grasp_hand'] == 'right') for s in test])
    # carry heights: chest 1/4, hip 3/4 (the mode); push: low
    expected_height = np.mean([{'chest': 0.25, 'hip': 0.75}.get(s['carry_height'], 0.0) if s['action'] == 'carry'
                               else float(s['carry_height'] == 'low') for s in test])
    height_mode = np.mean([float(s['carry_height'] == ('hip' if s['action'] == 'carry' else 'low')) for s in test])
    assert carry and levels['grasp_hand'] == pytest.approx((expected_hand, expected_hand))
    assert levels['carry_height'] == pytest.approx((expected_height, height_mode))


def test_body_levels_of_the_real_generator(mini_fbm_root, monkeypatch):
    """Every test sequence's true value was drawn from its body's distribution, so none gets zero probability (a
    wrong body, action filter or factor position would give some)."""
    original, calls = factors.distribution_accuracy, []

    def record(dists, values):
        calls.append((dists, values))
        return original(dists, values)

    monkeypatch.setattr(factors, 'distribution_accuracy', record)
    levels = writer.body_levels(mini_fbm_root)
    assert set(levels) == {'grasp_hand', 'carry_height', 'layout'} and len(calls) == 3
    for dists, values in calls:
        assert values and all(dist.get(value, 0.0) > 0 for dist, value in zip(dists, values))
        assert all(abs(sum(dist.values()) - 1.0) < 1e-9 for dist in dists)
