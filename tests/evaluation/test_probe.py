"""imagin4d.evaluation.functional.probe: the grouped cross-validated probe keeps a group's rows in one fold (a probe
that could memorise groups scores at chance, not 1), its folds as written by hand, and its errors."""
import numpy as np
import pytest

from imagin4d.evaluation.functional import grouped_cv_accuracy, linear_probe_accuracy


def test_rows_of_one_group_never_train_and_test_together():
    rng = np.random.default_rng(0)
    groups = np.repeat(np.arange(60), 3)                     # 60 sequences, 3 depicted frames each
    label_of = rng.choice(['left', 'right'], 60)              # a label per sequence, unrelated to anything else
    x = np.eye(60)[groups] + 0.01 * rng.standard_normal((180, 60))   # features that name the sequence only
    y = label_of[groups]
    acc, spread, folds = grouped_cv_accuracy(x, y, groups, folds=5, C=1.0)
    # an ungrouped split lets the probe look the label up by sequence; grouped, there is nothing to read
    leaky = linear_probe_accuracy(x[::3], y[::3], x[1::3], y[1::3], C=1.0)
    assert leaky == 1.0
    assert folds == 5 and 0.25 < acc < 0.75 and spread >= 0.0


def test_folds_are_contiguous_blocks_of_the_sorted_groups():
    # groups d, b, a, c sorted: a b | c d with two folds; labels constant inside each half
    groups = np.array(['d', 'b', 'a', 'c', 'a', 'd'])
    y = np.array(['n', 'm', 'm', 'n', 'm', 'n'])
    x = np.zeros((6, 2))
    # holding out {a, b} leaves only label 'n' to train on (a constant probe), and the other way round: all wrong
    assert grouped_cv_accuracy(x, y, groups, folds=2) == (0.0, 0.0, 2)
    # a real probe: the pooled accuracy is the per-fold accuracies weighted by the fold sizes, folds as above
    rng = np.random.default_rng(1)
    x = rng.standard_normal((6, 3))
    y = np.array(['n', 'm', 'm', 'n', 'n', 'm'])
    first = np.isin(groups, ['a', 'b'])
    by_hand = [linear_probe_accuracy(x[~held], y[~held], x[held], y[held], C=0.5) for held in (first, ~first)]
    acc, spread, _ = grouped_cv_accuracy(x, y, groups, folds=2, C=0.5)
    assert acc == pytest.approx((by_hand[0] * first.sum() + by_hand[1] * (~first).sum()) / 6)
    assert spread == pytest.approx(np.std(by_hand))


def test_fold_count_outside_the_groups_is_refused():
    x, y, groups = np.zeros((4, 1)), ['a', 'b', 'a', 'b'], [0, 0, 1, 1]
    with pytest.raises(ValueError, match='between 2 and the number of groups \\(2\\), got 3'):
        grouped_cv_accuracy(x, y, groups, folds=3)
    with pytest.raises(ValueError, match='got 1'):
        grouped_cv_accuracy(x, y, groups, folds=1)
