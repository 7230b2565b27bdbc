"""Probes: how well a label can be read from given features, as the test accuracy of a linear classifier.

Owns `linear_probe_predict` / `linear_probe_accuracy` and their cross-validated forms (`grouped_cv_predictions`,
`grouped_cv_accuracy`, scored by `cv_scores`), shared by the data-set analyses
(tools/analysis/factor_leak.py: the non-image conditions; tools/analysis/reference_probe.py: the frozen
reference-image features). scikit-learn is imported on use.
"""
from typing import Sequence

import numpy as np

__all__ = ['linear_probe_predict', 'linear_probe_accuracy', 'grouped_cv_predictions', 'cv_scores',
           'grouped_cv_accuracy']


def linear_probe_predict(x_train: np.ndarray, y_train: Sequence, x_test: np.ndarray, C: float = 1.0) -> np.ndarray:
    """Labels (M,) predicted for the rows of x_test (M, F) by a standardised L2 logistic regression (inverse strength
    C) fitted on x_train (N, F), y_train (N,). With a single training label the classifier is that constant."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler
    y_train = np.asarray(y_train)
    if len(set(y_train.tolist())) < 2:
        return np.full(len(x_test), y_train[0], dtype=y_train.dtype)
    return make_pipeline(StandardScaler(), LogisticRegression(C=C, max_iter=5000)).fit(x_train, y_train).predict(x_test)


def linear_probe_accuracy(x_train: np.ndarray, y_train: Sequence, x_test: np.ndarray, y_test: Sequence,
                          C: float = 1.0) -> float:
    """Test accuracy of `linear_probe_predict`.  x_train: (N, F), y_train: (N,); x_test: (M, F), y_test: (M,)."""
    return float(np.mean(linear_probe_predict(x_train, y_train, x_test, C) == np.asarray(y_test)))


def grouped_cv_predictions(x: np.ndarray, y: Sequence, groups: Sequence, folds: int = 5, C: float = 1.0):
    """K-fold cross-validated probe predictions in which rows of one group (one sequence: its several depicted
    frames) never sit on both sides of a split. x: (N, F), y: (N,) labels, groups: (N,) ids.

    Returns (predictions (N,), fold (N,) int): each row predicted once, by `linear_probe_predict` fitted on the
    other folds. Folds are contiguous blocks of the sorted distinct groups (deterministic: no shuffling).
    """
    y, groups = np.asarray(y), np.asarray(groups)
    names = np.unique(groups)
    if not 2 <= folds <= len(names):
        raise ValueError(f'folds must be between 2 and the number of groups ({len(names)}), got {folds}')
    fold_of = dict(zip(names, np.arange(len(names)) * folds // len(names)))
    fold = np.array([fold_of[g] for g in groups])
    pred = np.empty(len(y), dtype=y.dtype)
    for k in range(folds):
        held = fold == k
        pred[held] = linear_probe_predict(x[~held], y[~held], x[held], C)
    return pred, fold


def cv_scores(pred: np.ndarray, y: Sequence, fold: np.ndarray):
    """(accuracy over all N held-out predictions, standard deviation of the per-fold accuracies) of pred (N,)
    against y (N,), fold (N,) as returned by `grouped_cv_predictions`."""
    correct = pred == np.asarray(y)
    return float(correct.mean()), float(np.std([correct[fold == k].mean() for k in np.unique(fold)]))


def grouped_cv_accuracy(x: np.ndarray, y: Sequence, groups: Sequence, folds: int = 5, C: float = 1.0):
    """(accuracy, per-fold standard deviation: `cv_scores`, folds) of `grouped_cv_predictions`."""
    pred, fold = grouped_cv_predictions(x, y, groups, folds, C)
    return (*cv_scores(pred, y, fold), folds)
