"""Distribution metrics on text / motion embeddings of a trained evaluator (text-to-motion protocol, Guo et al. 2022).

Owns the math of FID (Frechet distance of Gaussians fitted to two embedding sets), R-precision and matching
score (batches of matched text/motion pairs), diversity, multimodality, and the mean with a 95 % interval over
replications. Conventions (as the T2M evaluation code, differences noted):
- distances are Euclidean between embeddings; R-precision ranks, for each text of a batch, the batch's motions
  by distance and counts the text's own motion within the top k (chance k / batch size); only full batches are
  used; matching score is the mean distance of matched pairs over all pairs;
- diversity and multimodality average distances of randomly drawn pairs of DISTINCT samples (T2M may draw a
  sample against itself, which biases its numbers slightly low);
- the 95 % interval half-width is 1.96 std / sqrt(n) with the population std (ddof = 0), as T2M.
Pure numpy / scipy (float64); embeddings (N, E) may be numpy arrays or torch tensors.
"""
from typing import Optional, Sequence, Tuple

import numpy as np

__all__ = ['as_embeddings', 'gaussian_statistics', 'frechet_distance', 'fid', 'euclidean_distance_matrix',
           'r_precision', 'r_precision_chance', 'matching_score', 'diversity', 'multimodality', 'mean_and_ci95']


def as_embeddings(x, name: str = 'embeddings', ndim: int = 2) -> np.ndarray:
    """float64 array with `ndim` dims ((N, E) by default) from an array or torch tensor; raises on NaN / inf."""
    if hasattr(x, 'detach'):
        x = x.detach().cpu().numpy()
    x = np.asarray(x, dtype=np.float64)
    if x.ndim != ndim:
        raise ValueError(f'{name}: expected {ndim} dims, got shape {x.shape}')
    if not np.all(np.isfinite(x)):
        raise ValueError(f'{name} contains NaN or inf')
    return x


def gaussian_statistics(embeddings) -> Tuple[np.ndarray, np.ndarray]:
    """Mean (E,) and covariance (E, E) (unbiased, N - 1) of (N, E) embeddings; N >= 2."""
    x = as_embeddings(embeddings)
    if x.shape[0] < 2:
        raise ValueError(f'embeddings: need at least 2 samples for a covariance, got {x.shape[0]}')
    return x.mean(0), np.cov(x, rowvar=False).reshape(x.shape[1], x.shape[1])


def frechet_distance(mu1, sigma1, mu2, sigma2, eps: float = 1e-6) -> float:
    """||mu1 - mu2||^2 + tr(S1 + S2 - 2 (S1 S2)^(1/2)) of two Gaussians (mu (E,), sigma (E, E)).

    When the product is (numerically) singular the square root is taken of (S1 + eps I)(S2 + eps I); a
    negligible imaginary part of the root (round-off) is dropped, a large one raises.
    """
    from scipy import linalg
    mu1, mu2 = np.atleast_1d(as_embeddings(mu1, 'mu1', 1)), np.atleast_1d(as_embeddings(mu2, 'mu2', 1))
    sigma1, sigma2 = as_embeddings(sigma1, 'sigma1'), as_embeddings(sigma2, 'sigma2')
    if mu1.shape != mu2.shape or sigma1.shape != sigma2.shape or sigma1.shape != (mu1.shape[0],) * 2:
        raise ValueError(f'frechet_distance: mismatched shapes mu1 {mu1.shape}, mu2 {mu2.shape}, '
                         f'sigma1 {sigma1.shape}, sigma2 {sigma2.shape}')
    diff = mu1 - mu2
    root = linalg.sqrtm(sigma1 @ sigma2)
    if not np.all(np.isfinite(root)):
        offset = np.eye(sigma1.shape[0]) * eps
        root = linalg.sqrtm((sigma1 + offset) @ (sigma2 + offset))
    if np.iscomplexobj(root):
        if not np.allclose(np.diagonal(root).imag, 0, atol=1e-3):
            raise ValueError(f'frechet_distance: covariance product has a complex square root '
                             f'(max imaginary part {np.abs(root.imag).max():.3g})')
        root = root.real
    value = diff @ diff + np.trace(sigma1) + np.trace(sigma2) - 2.0 * np.trace(root)
    return float(max(value, 0.0))


def fid(embeddings_a, embeddings_b) -> float:
    """Frechet distance between Gaussians fitted to two embedding sets (Na, E) and (Nb, E)."""
    mu_a, sigma_a = gaussian_statistics(embeddings_a)
    mu_b, sigma_b = gaussian_statistics(embeddings_b)
    return frechet_distance(mu_a, sigma_a, mu_b, sigma_b)


def euclidean_distance_matrix(a, b) -> np.ndarray:
    """(N, E), (M, E) -> (N, M) Euclidean distances."""
    a, b = as_embeddings(a, 'a'), as_embeddings(b, 'b')
    if a.shape[1] != b.shape[1]:
        raise ValueError(f'euclidean_distance_matrix: embedding sizes differ ({a.shape[1]} vs {b.shape[1]})')
    squared = (a * a).sum(1)[:, None] + (b * b).sum(1)[None, :] - 2.0 * a @ b.T
    return np.sqrt(np.maximum(squared, 0.0))


def _matched(text_embeddings, motion_embeddings) -> Tuple[np.ndarray, np.ndarray]:
    text, motion = as_embeddings(text_embeddings, 'text embeddings'), as_embeddings(motion_embeddings,
                                                                                   'motion embeddings')
    if text.shape != motion.shape:
        raise ValueError(f'text embeddings {text.shape} and motion embeddings {motion.shape} must be matched '
                         'pairs of the same shape (N, E)')
    return text, motion


def r_precision(text_embeddings, motion_embeddings, batch_size: int = 32, top_k: int = 3,
                order: Optional[Sequence[int]] = None) -> np.ndarray:
    """Top-1..top_k retrieval accuracy (top_k,) of matched pairs (N, E), in batches of `batch_size`.

    Pairs are taken in `order` (a permutation of range(N); default the given order) and cut into
    N // batch_size full batches (the remainder is left out). In each batch, for every text the batch's motions
    are ranked by distance; entry k-1 is the fraction of texts whose own motion ranks within the first k.
    """
    text, motion = _matched(text_embeddings, motion_embeddings)
    n = text.shape[0]
    if not 1 <= top_k <= batch_size:
        raise ValueError(f'r_precision: need 1 <= top_k <= batch_size, got top_k={top_k}, batch_size={batch_size}')
    if n < batch_size:
        raise ValueError(f'r_precision: {n} pairs are fewer than one batch of {batch_size}; pass a smaller '
                         'batch_size (chance level is top_k / batch_size)')
    order = np.arange(n) if order is None else np.asarray(order)
    if sorted(order.tolist()) != list(range(n)):
        raise ValueError(f'r_precision: order must be a permutation of range({n})')
    hits = np.zeros(top_k)
    num_batches = n // batch_size
    for b in range(num_batches):
        idx = order[b * batch_size:(b + 1) * batch_size]
        dist = euclidean_distance_matrix(text[idx], motion[idx])
        rank = np.argsort(dist, axis=1, kind='stable')[:, :top_k] == np.arange(batch_size)[:, None]
        hits += np.cumsum(rank, axis=1).sum(0)
    return hits / (num_batches * batch_size)


def r_precision_chance(batch_size: int, top_k: int = 3) -> np.ndarray:
    """Expected top-1..top_k R-precision (top_k,) of embeddings unrelated to the texts: k / batch_size."""
    return np.arange(1, top_k + 1) / float(batch_size)


def matching_score(text_embeddings, motion_embeddings) -> float:
    """Mean Euclidean distance of matched (text, motion) pairs (N, E)."""
    text, motion = _matched(text_embeddings, motion_embeddings)
    return float(np.linalg.norm(text - motion, axis=1).mean())


def _distinct_pairs(n: int, times: int, rng: np.random.Generator) -> Tuple[np.ndarray, np.ndarray]:
    """`times` random pairs (i, j), i != j, of range(n): i uniform, j uniform among the others."""
    first = rng.integers(0, n, size=times)
    second = (first + rng.integers(1, n, size=times)) % n
    return first, second


def diversity(embeddings, times: int = 300, rng: Optional[np.random.Generator] = None) -> float:
    """Mean distance between `times` random pairs of distinct embeddings of a set (N, E), N >= 2."""
    x = as_embeddings(embeddings)
    if x.shape[0] < 2:
        raise ValueError(f'diversity: need at least 2 embeddings, got {x.shape[0]}')
    if times < 1:
        raise ValueError(f'diversity: times must be >= 1, got {times}')
    rng = np.random.default_rng(0) if rng is None else rng
    first, second = _distinct_pairs(x.shape[0], times, rng)
    return float(np.linalg.norm(x[first] - x[second], axis=1).mean())


def multimodality(embeddings, times: int = 10, rng: Optional[np.random.Generator] = None) -> float:
    """Mean distance between generations for the same condition: embeddings (N, R, E), R >= 2 per condition.

    For every condition `times` random pairs of distinct generations are drawn; the mean over all pairs of all
    conditions is returned.
    """
    x = as_embeddings(embeddings, 'generation embeddings', ndim=3)
    n, r = x.shape[:2]
    if r < 2:
        raise ValueError(f'multimodality: need at least 2 generations per condition, got shape {x.shape}')
    if times < 1:
        raise ValueError(f'multimodality: times must be >= 1, got {times}')
    rng = np.random.default_rng(0) if rng is None else rng
    first, second = _distinct_pairs(r, n * times, rng)
    rows = np.repeat(np.arange(n), times)
    return float(np.linalg.norm(x[rows, first] - x[rows, second], axis=1).mean())


def mean_and_ci95(values) -> Tuple[float, float]:
    """(mean, 95 % interval half-width 1.96 std / sqrt(n), population std) of replication values (n,)."""
    v = np.asarray(values, dtype=np.float64).reshape(-1)
    if v.size == 0:
        raise ValueError('mean_and_ci95: no values')
    if v.min() == v.max():  # constant: exactly 0 (np.std leaves round-off of the mean)
        return float(v[0]), 0.0
    return float(v.mean()), float(1.96 * v.std() / np.sqrt(v.size))
