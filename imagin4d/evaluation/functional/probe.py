"""Probes: how well a label can be read from given features, as the test accuracy of a linear classifier.

Owns `linear_probe_accuracy`, shared by the data-set analyses (tools/analysis/factor_leak.py: the non-image
conditions; tools/analysis/reference_probe.py: the frozen reference-image features). scikit-learn is imported on use.
"""
from typing import Sequence

import numpy as np

__all__ = ['linear_probe_accuracy']


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
