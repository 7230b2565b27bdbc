"""Probes: how well a label can be read from given features, as the test accuracy of a linear classifier.

Owns `linear_probe_accuracy` and its cross-validated form `grouped_cv_accuracy`, shared by the data-set analyses
(tools/analysis/factor_leak.py: the non-image conditions; tools/analysis/reference_probe.py: the frozen
reference-image features). scikit-learn is imported on use.
"""
from typing import Sequence

import numpy as np

__all__ = ['linear_probe_accuracy', 'grouped_cv_accuracy']


def linear_probe_accuracy(x_train: np.ndarray, y_train: Sequence, x_test: np.ndarray, y_test: Sequence,
                          C: float = 1.0) -> float:
    """Test accuracy of a standardised L2 logistic regression (inverse strength C) fitted on the training rows.

    x_train: (N, F), y_train: (N,) labels; x_test: (M, F), y_test: (M,). With a single training label the
    classifier is that constant (its test accuracy is the label's test frequency).
    """
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler
    y_train, y_test = np.asarray(y_train), np.asarray(y_test)
    if len(set(y_train.tolist())) < 2:
        return float(np.mean(y_test == y_train[0]))
    clf = make_pipeline(StandardScaler(), LogisticRegression(C=C, max_iter=5000)).fit(x_train, y_train)
    return float(np.mean(clf.predict(x_test) == y_test))


def grouped_cv_accuracy(x: np.ndarray, y: Sequence, groups: Sequence, folds: int = 5, C: float = 1.0):
    """K-fold cross-validated probe accuracy in which rows of one group (one sequence: its several depicted frames)
    never sit on both sides of a split. x: (N, F), y: (N,) labels, groups: (N,) ids.

    Returns (accuracy over all N held-out predictions, standard deviation of the per-fold accuracies, folds). Each
    row is predicted once, by the probe fitted on the other folds (`linear_probe_accuracy`, so the same
    standardisation and regularisation as a train/test probe). Folds are contiguous blocks of the sorted distinct
    groups (deterministic: no shuffling).
    """
    y, groups = np.asarray(y), np.asarray(groups)
    names = np.unique(groups)
    if not 2 <= folds <= len(names):
        raise ValueError(f'folds must be between 2 and the number of groups ({len(names)}), got {folds}')
    fold_of = dict(zip(names, np.arange(len(names)) * folds // len(names)))
    fold = np.array([fold_of[g] for g in groups])
    correct, per_fold = 0.0, []
    for k in range(folds):
        held = fold == k
        acc = linear_probe_accuracy(x[~held], y[~held], x[held], y[held], C=C)
        correct += acc * held.sum()
        per_fold.append(acc)
    return float(correct / len(y)), float(np.std(per_fold)), folds
