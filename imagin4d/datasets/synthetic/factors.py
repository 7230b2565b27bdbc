"""The hidden interaction factors of mini-FBM: how well they can be told apart, by chance, by a prior, by the data.

Owns the accuracy baselines of the factors (`chance_accuracy`, `prior_accuracy`, `distribution_accuracy`,
`factor_agreement`) and the per-subject body levels of the references. The factors themselves and how to read them
from a motion are geometry (`imagin4d.geometry.interaction_factors`).
"""
from collections import Counter
from typing import Dict, Hashable, Sequence, Tuple

import numpy as np

from imagin4d.geometry.interaction_factors import FACTOR_NAMES

__all__ = ['factor_agreement', 'chance_accuracy', 'prior_accuracy', 'distribution_accuracy', 'reference_levels',
           'LEVEL_NAMES']


def factor_agreement(pred: Sequence[Dict[str, str]], target: Sequence[Dict[str, str]]) -> Dict[str, float]:
    """Per-factor accuracy of recovered vs recorded factors (lists of dicts)."""
    out = {}
    for name in FACTOR_NAMES:
        hits = [p.get(name) == t.get(name) for p, t in zip(pred, target)]
        out[name] = float(np.mean(hits)) if hits else float('nan')
    return out


def chance_accuracy(values: Sequence[str]) -> Tuple[float, float]:
    """Accuracy levels that need no information about the sample, for factor values `values` of a test set:
    (sum of squared value frequencies: a guesser that follows those frequencies, majority-value frequency:
    always answering the commonest value)."""
    if not len(values):
        return float('nan'), float('nan')
    _, counts = np.unique(np.asarray(values), return_counts=True)
    freqs = counts / counts.sum()
    return float(np.sum(freqs ** 2)), float(freqs.max())


def prior_accuracy(train: Sequence[Tuple[Hashable, str]], test: Sequence[Tuple[Hashable, str]]) -> Tuple[float, float]:
    """Accuracy levels that need only what the prompt and object tell (not the image), for one factor.

    train / test: (key, value) pairs, key = what a model is given besides the image that fixes which values are
    possible (mini-FBM: (object, action)). With p(value | key) the training frequencies, returns (mean over test of
    p(true value | key): a generator that follows those frequencies, mean of [most frequent value for the key is
    the true one]). Keys unseen in training fall back to the overall training frequencies.
    """
    if not len(test):
        return float('nan'), float('nan')
    counts, overall = {}, Counter(v for _, v in train)
    for key, value in train:
        counts.setdefault(key, Counter())[value] += 1
    sampled, majority = [], []
    for key, value in test:
        c = counts.get(key, overall)
        total = sum(c.values())
        sampled.append(c[value] / total if total else 0.0)
        majority.append(bool(total) and c.most_common(1)[0][0] == value)
    return float(np.mean(sampled)), float(np.mean(majority))


def distribution_accuracy(dists: Sequence[Dict[str, float]], values: Sequence[str]) -> Tuple[float, float]:
    """Accuracy levels of answering from known distributions: dists[i] = {value: probability} for test sample i,
    values[i] its true value. Returns (mean of p(true value): a generator that samples from the distribution,
    mean of [true value is the most probable], a tie of k values counting 1/k: the best any answer from that
    distribution's information can do)."""
    if not len(values):
        return float('nan'), float('nan')
    sampled, best = [], []
    for dist, value in zip(dists, values):
        total = sum(dist.values())
        top = max(dist.values())
        modes = [v for v, p in dist.items() if p >= top - 1e-12]
        sampled.append(dist.get(value, 0.0) / total)
        best.append((value in modes) / len(modes))
    return float(np.mean(sampled)), float(np.mean(best))


#: the order of the levels in each tuple of `reference_levels`
LEVEL_NAMES = ('chance', 'majority', 'prior', 'prior_majority')


def reference_levels(sequences: Dict[str, dict]) -> Dict[str, Tuple[float, float, float, float]]:
    """{factor name: (chance, majority, prior, prior majority)} (in LEVEL_NAMES order): the accuracy levels that
    need no image, for the sequences of a mini_fbm_factors.json ({seq: {'split', 'object', 'action', <factor>:
    value, ...}}). Chance and majority from the test split (`chance_accuracy`); prior and prior majority from the
    training split's frequencies per (object, action) (`prior_accuracy`)."""
    rows = {split: [s for s in sequences.values() if s['split'] == split] for split in ('train', 'test')}
    levels = {}
    for name in FACTOR_NAMES:
        pairs = {split: [((s['object'], s['action']), s[name]) for s in seqs] for split, seqs in rows.items()}
        levels[name] = (*chance_accuracy([value for _, value in pairs['test']]),
                        *prior_accuracy(pairs['train'], pairs['test']))
    return levels
