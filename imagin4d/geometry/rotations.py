"""Rotation representations and conversions: axis-angle, matrix, quaternion (wxyz), 6D, yaw.

Owns every conversion between rotation representations used in imagin4d; pure batched torch, any
leading batch shape `...`. Matrices act on column vectors (`x' = R @ x`).

Conventions:
- quaternions are (w, x, y, z); `matrix_to_quaternion` returns the representative with w >= 0;
- 6D (CHOIS / pytorch3d): the first two ROWS of R, flattened `(R00, R01, R02, R10, R11, R12)`;
  decoding is Gram-Schmidt on those two rows, the third row is their cross product;
- axis-angle: axis * angle, angle in [0, pi] when produced by `matrix_to_axis_angle`.
"""
import torch
from einops import rearrange

__all__ = [
    'axis_angle_to_matrix', 'matrix_to_axis_angle', 'quaternion_to_matrix', 'matrix_to_quaternion',
    'axis_angle_to_quaternion', 'quaternion_to_axis_angle', 'rotation_6d_to_matrix',
    'matrix_to_rotation_6d', 'geodesic_distance', 'rotation_about_z', 'skew_symmetric',
]

# Below this angle (radians) the trigonometric ratios are replaced by their Taylor series; the
# second-order terms keep both values and gradients accurate in float32.
_SMALL_ANGLE = 1e-4


def skew_symmetric(v: torch.Tensor) -> torch.Tensor:
    """Cross-product matrix `[v]_x` with `[v]_x @ u = v x u`.  v: (..., 3) -> (..., 3, 3)."""
    x, y, z = v.unbind(-1)
    o = torch.zeros_like(x)
    rows = [torch.stack([o, -z, y], -1), torch.stack([z, o, -x], -1), torch.stack([-y, x, o], -1)]
    return torch.stack(rows, -2)


def _angle_and_safe_angle(aa: torch.Tensor):
    """(..., 3) -> angle (...), angle with small values replaced by 1 (safe to divide by), small mask."""
    angle_sq = (aa * aa).sum(-1)
    small = angle_sq < _SMALL_ANGLE ** 2
    safe_sq = torch.where(small, torch.ones_like(angle_sq), angle_sq)
    safe_angle = safe_sq.sqrt()
    return angle_sq, safe_angle, small


def axis_angle_to_matrix(aa: torch.Tensor) -> torch.Tensor:
    """Rodrigues' formula.  aa: (..., 3) axis * angle -> R: (..., 3, 3).

    R = I + A [aa]_x + B [aa]_x^2 with A = sin(t)/t, B = (1 - cos t)/t^2 (Taylor series near t = 0).
    """
    angle_sq, safe_angle, small = _angle_and_safe_angle(aa)
    a = torch.where(small, 1.0 - angle_sq / 6.0, torch.sin(safe_angle) / safe_angle)
    b = torch.where(small, 0.5 - angle_sq / 24.0, (1.0 - torch.cos(safe_angle)) / (safe_angle * safe_angle))
    k = skew_symmetric(aa)
    eye = torch.eye(3, dtype=aa.dtype, device=aa.device).expand_as(k)
    return eye + a[..., None, None] * k + b[..., None, None] * (k @ k)


def quaternion_to_matrix(q: torch.Tensor) -> torch.Tensor:
    """q: (..., 4) wxyz (need not be unit; it is normalised) -> R: (..., 3, 3)."""
    w, x, y, z = (q / q.norm(dim=-1, keepdim=True)).unbind(-1)
    rows = [
        torch.stack([1 - 2 * (y * y + z * z), 2 * (x * y - w * z), 2 * (x * z + w * y)], -1),
        torch.stack([2 * (x * y + w * z), 1 - 2 * (x * x + z * z), 2 * (y * z - w * x)], -1),
        torch.stack([2 * (x * z - w * y), 2 * (y * z + w * x), 1 - 2 * (x * x + y * y)], -1),
    ]
    return torch.stack(rows, -2)


def matrix_to_quaternion(R: torch.Tensor) -> torch.Tensor:
    """R: (..., 3, 3) rotation -> q: (..., 4) unit wxyz with w >= 0.

    Shepperd's method: four algebraically equivalent candidates, each divides by one of 4w^2, 4x^2,
    4y^2, 4z^2; the candidate with the largest divisor is numerically best and is selected per matrix.
    """
    m00, m01, m02 = R[..., 0, 0], R[..., 0, 1], R[..., 0, 2]
    m10, m11, m12 = R[..., 1, 0], R[..., 1, 1], R[..., 1, 2]
    m20, m21, m22 = R[..., 2, 0], R[..., 2, 1], R[..., 2, 2]
    four_sq = torch.stack([1 + m00 + m11 + m22,   # 4 w^2
                           1 + m00 - m11 - m22,   # 4 x^2
                           1 - m00 + m11 - m22,   # 4 y^2
                           1 - m00 - m11 + m22],  # 4 z^2
                          -1)
    # Candidate i (rows) is 4 * q_i * q, written with the matrix entries; dividing by 4 |q_i| gives q.
    candidates = torch.stack([
        torch.stack([four_sq[..., 0], m21 - m12, m02 - m20, m10 - m01], -1),
        torch.stack([m21 - m12, four_sq[..., 1], m10 + m01, m02 + m20], -1),
        torch.stack([m02 - m20, m10 + m01, four_sq[..., 2], m12 + m21], -1),
        torch.stack([m10 - m01, m02 + m20, m12 + m21, four_sq[..., 3]], -1),
    ], -2)  # (..., 4 candidates, 4 components)
    divisor = 2.0 * four_sq.clamp_min(1e-12).sqrt()  # 4 |q_i|
    candidates = candidates / divisor[..., None]
    best = four_sq.argmax(-1)  # (...)
    q = torch.gather(candidates, -2, best[..., None, None].expand(*best.shape, 1, 4)).squeeze(-2)
    q = q / q.norm(dim=-1, keepdim=True)
    return torch.where(q[..., :1] < 0, -q, q)


def axis_angle_to_quaternion(aa: torch.Tensor) -> torch.Tensor:
    """aa: (..., 3) -> q: (..., 4) unit wxyz, w = cos(angle / 2) (w >= 0 for angles <= pi)."""
    angle_sq, safe_angle, small = _angle_and_safe_angle(aa)
    half = 0.5 * safe_angle
    # sin(t/2)/t with its Taylor series 1/2 - t^2/48 near t = 0.
    ratio = torch.where(small, 0.5 - angle_sq / 48.0, torch.sin(half) / safe_angle)
    w = torch.where(small, 1.0 - angle_sq / 8.0, torch.cos(half))
    return torch.cat([w[..., None], aa * ratio[..., None]], -1)


def quaternion_to_axis_angle(q: torch.Tensor) -> torch.Tensor:
    """q: (..., 4) wxyz (need not be unit) -> aa: (..., 3), angle in [0, pi].

    The sign of q is chosen so that w >= 0; angle = 2 atan2(|v|, w), accurate near 0 and near pi.
    """
    q = q / q.norm(dim=-1, keepdim=True)
    q = torch.where(q[..., :1] < 0, -q, q)
    w, v = q[..., 0], q[..., 1:]
    n_sq = (v * v).sum(-1)
    small = n_sq < _SMALL_ANGLE ** 2
    n = torch.where(small, torch.ones_like(n_sq), n_sq).sqrt()
    # angle / |v|; near |v| = 0 (then w ~ 1): 2 atan2(n, w) / n = 2/w (1 - n^2 / (3 w^2)) + O(n^4).
    ratio = torch.where(small, 2.0 / w * (1.0 - n_sq / (3.0 * w * w)), 2.0 * torch.atan2(n, w) / n)
    return v * ratio[..., None]


def matrix_to_axis_angle(R: torch.Tensor) -> torch.Tensor:
    """R: (..., 3, 3) -> aa: (..., 3), angle in [0, pi] (via the quaternion; robust near 0 and pi)."""
    return quaternion_to_axis_angle(matrix_to_quaternion(R))


def rotation_6d_to_matrix(d6: torch.Tensor) -> torch.Tensor:
    """d6: (..., 6) = first two rows of R -> R: (..., 3, 3) by Gram-Schmidt (CHOIS / pytorch3d)."""
    a1, a2 = d6[..., :3], d6[..., 3:]
    b1 = torch.nn.functional.normalize(a1, dim=-1)
    b2 = torch.nn.functional.normalize(a2 - (b1 * a2).sum(-1, keepdim=True) * b1, dim=-1)
    b3 = torch.linalg.cross(b1, b2, dim=-1)
    return torch.stack([b1, b2, b3], dim=-2)


def matrix_to_rotation_6d(R: torch.Tensor) -> torch.Tensor:
    """R: (..., 3, 3) -> d6: (..., 6), the first two rows of R flattened row-major."""
    return rearrange(R[..., :2, :], '... row col -> ... (row col)')


def geodesic_distance(R1: torch.Tensor, R2: torch.Tensor) -> torch.Tensor:
    """Angle (radians, in [0, pi]) of the relative rotation R1^T R2.  R1, R2: (..., 3, 3) -> (...).

    Uses atan2(sin, cos) of the relative rotation instead of arccos((trace - 1) / 2): accurate for small
    angles and without the infinite arccos gradient at 0 and pi; the cosine is clamped to [-1, 1].
    """
    rel = R1.transpose(-1, -2) @ R2
    cos = ((rel.diagonal(dim1=-2, dim2=-1).sum(-1) - 1.0) * 0.5).clamp(-1.0, 1.0)
    # 2 sin(angle) * axis = vee(rel - rel^T)
    vee = torch.stack([rel[..., 2, 1] - rel[..., 1, 2],
                       rel[..., 0, 2] - rel[..., 2, 0],
                       rel[..., 1, 0] - rel[..., 0, 1]], -1)
    sin_sq = (0.25 * (vee * vee).sum(-1)).clamp(0.0, 1.0)
    small = sin_sq < 1e-30
    safe_sin_sq = torch.where(small, torch.ones_like(sin_sq), sin_sq)  # no NaN gradient at 0
    sin = torch.where(small, torch.zeros_like(sin_sq), safe_sin_sq.sqrt())
    return torch.atan2(sin, cos)


def rotation_about_z(yaw: torch.Tensor) -> torch.Tensor:
    """yaw: (...) radians, counter-clockwise seen from +z -> R: (..., 3, 3) rotation about the z axis."""
    if not torch.is_tensor(yaw):
        yaw = torch.as_tensor(yaw, dtype=torch.get_default_dtype())
    c, s = torch.cos(yaw), torch.sin(yaw)
    o, i = torch.zeros_like(yaw), torch.ones_like(yaw)
    rows = [torch.stack([c, -s, o], -1), torch.stack([s, c, o], -1), torch.stack([o, o, i], -1)]
    return torch.stack(rows, -2)

