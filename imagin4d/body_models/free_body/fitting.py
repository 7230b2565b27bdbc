"""The fitted parts of the free body: the shape space (whitened PCA of T-posed Anny bodies, beta 0 = stature) and
the sparse joint regressor (NNLS relaxed by ridge regression) that follows Anny's joints across phenotypes."""
from typing import Dict, Tuple

import numpy as np

NUM_BETAS = 10


def shape_space(offsets: np.ndarray, statures: np.ndarray, num_betas: int = NUM_BETAS):
    """Whitened PCA of (S, V*3) offsets from the template, rotated so that beta 0 follows stature.

    Returns (basis (num_betas, V*3), betas of the samples (S, num_betas), info dict).
    """
    num = offsets.shape[0]
    # SVD through the (S, S) Gram matrix (S << V*3).
    evals, evecs = np.linalg.eigh(offsets @ offsets.T)
    evals, evecs = evals[::-1].clip(min=0), evecs[:, ::-1]
    sing = np.sqrt(evals)
    vt = (evecs[:, :num_betas].T @ offsets) / sing[:num_betas, None]
    scale = sing[:num_betas] / np.sqrt(num)                   # RMS coefficient of each component
    basis = vt[:num_betas] * scale[:, None]                   # whitened: coefficients have unit RMS
    coeffs = offsets @ vt[:num_betas].T / scale               # (S, k)
    explained = float((sing[:num_betas] ** 2).sum() / (sing ** 2).sum())
    # Stature direction in coefficient space (least squares with intercept).
    design = np.concatenate([coeffs, np.ones((num, 1))], 1)
    slope = np.linalg.lstsq(design, statures, rcond=None)[0][:num_betas]
    u = slope / np.linalg.norm(slope)
    # Orthonormal rotation Q with u first; the rest ordered by vertex-space energy.
    q, _ = np.linalg.qr(np.concatenate([u[:, None], np.eye(num_betas)], 1))
    q = q[:, :num_betas]
    if q[:, 0] @ u < 0:
        q[:, 0] = -q[:, 0]
    rest = q[:, 1:]
    gram = rest.T @ (basis @ basis.T) @ rest
    evals, evecs = np.linalg.eigh(gram)
    rest = rest @ evecs[:, ::-1]
    q = np.concatenate([q[:, :1], rest], 1)
    new_basis = q.T @ basis                                   # (k, V*3)
    new_coeffs = coeffs @ q                                   # (S, k)
    # Deterministic signs for the non-stature directions: largest displacement positive.
    for i in range(1, num_betas):
        if new_basis[i, np.argmax(np.abs(new_basis[i]))] < 0:
            new_basis[i] *= -1
            new_coeffs[:, i] *= -1
    stature_per_beta = float(slope @ u)                       # metres per unit of beta 0
    return new_basis, new_coeffs, dict(explained_variance=explained, stature_per_beta0_m=stature_per_beta)


REGRESSOR_CANDIDATES = 384          # nearest template vertices a joint may use
REGRESSOR_RIDGE = (1e-5, 1e-6, 1e-7, 1e-8, 1e-9)   # tried from the most to the least non-negative
REGRESSOR_FIT_TOLERANCE = 1e-3      # mean fit error (m) over the sampled phenotypes that stops the search


def fit_joint_regressor(vertices: np.ndarray, joints: np.ndarray, template_weight: float = 1000.0,
                        num_candidates: int = REGRESSOR_CANDIDATES) -> Tuple[np.ndarray, Dict[str, float]]:
    """Sparse joint regressor (J, V), rows summing to 1, with `R @ vertices[s] ~ joints[s]` for every shape s.

    Args:
        vertices: (S, V, 3) rest shapes, sample 0 being the template (weighted `template_weight` times more).
        joints: (S, J, 3) target joints.

    Per joint, over its `num_candidates` nearest template vertices: first a non-negative least-squares fit
    (NNLS; a convex combination of nearby surface points). A convex combination cannot follow Anny's joints
    when fat and muscle move the surface (knees and spine: 8-10 mm mean error), so the NNLS weights are then
    relaxed by ridge regression towards them, `min |A w - b|^2 + lam tr(A'A)/K |w - w_nnls|^2`, taking the
    largest `lam` in REGRESSOR_RIDGE whose mean fit error is below REGRESSOR_FIT_TOLERANCE. Rows thus stay
    local, sum to 1 and are as close to non-negative as the fit allows. Returns the regressor and statistics.
    """
    from scipy.optimize import nnls
    num_samples, num_vertices, _ = vertices.shape
    num_joints = joints.shape[1]
    sample_w = np.ones(num_samples)
    sample_w[0] = template_weight
    sample_w = np.sqrt(sample_w / sample_w.sum())
    regressor = np.zeros((num_joints, num_vertices))
    template_err, fit_err, l1 = np.zeros(num_joints), np.zeros(num_joints), np.zeros(num_joints)
    big = 10.0  # weight of the sum-to-one equation
    for j in range(num_joints):
        cand = np.argsort(np.linalg.norm(vertices[0] - joints[0, j], axis=1))[:num_candidates]
        k = len(cand)
        a = (vertices[:, cand, :] * sample_w[:, None, None]).transpose(0, 2, 1).reshape(-1, k)
        b = (joints[:, j, :] * sample_w[:, None]).reshape(-1)
        a = np.concatenate([a, np.full((1, k), big)], 0)
        b = np.concatenate([b, [big]])
        w0, _ = nnls(a, b, maxiter=50 * k)
        w0 = w0 / w0.sum()
        decomposition = None
        for lam in (None,) + REGRESSOR_RIDGE:
            if lam is None:
                w = w0
            else:
                if decomposition is None:  # one decomposition serves every ridge strength
                    ata, atb = a.T @ a, a.T @ b
                    scale = np.trace(ata) / k
                    evals, evecs = decomposition = np.linalg.eigh(ata)
                rhs = evecs.T @ (atb + lam * scale * w0)
                w = evecs @ (rhs / (evals + lam * scale))
            w = w / w.sum()
            err = np.linalg.norm(np.einsum('v,svc->sc', w, vertices[:, cand]) - joints[:, j], axis=-1)
            if err.mean() < REGRESSOR_FIT_TOLERANCE:
                break
        regressor[j, cand] = w
        template_err[j], fit_err[j], l1[j] = err[0], err.mean(), np.abs(w).sum()
    stats = dict(regressor_template_error_max_mm=float(template_err.max() * 1e3),
                 regressor_fit_error_mean_mm=float(fit_err.mean() * 1e3),
                 regressor_fit_error_worst_joint_mm=float(fit_err.max() * 1e3),
                 regressor_row_l1_max=float(l1.max()),
                 regressor_min_weight=float(regressor.min()),
                 regressor_nonzeros_per_row=float((regressor != 0).sum(1).mean()))
    return regressor, stats
