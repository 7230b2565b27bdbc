"""Condition-matching (waypoint-following) errors of the CHOIS protocol: T_s, T_e and T_xy of the object centre.

Owns which frames the errors are measured at, read from the condition mask of the object-centre dims
(never hard-coded), and the errors themselves in millimetres:
- start: frame 0, when its object centre xyz is given (CHOIS T_s);
- end: the last frame after 0 whose object centre xyz is given (CHOIS T_e; the codec puts it at
  seq_len - 1, so a padded window is measured at its last valid frame, where CHOIS takes row T - 1);
- xy: the frames whose object centre x and y, but not z, are given (CHOIS 29, 59, 89); the per-frame xy
  L2 errors are averaged (CHOIS T_xy).
A kind of waypoint that the mask does not give yields NaN (the caller skips NaNs when averaging).
Pure numpy.
"""
from typing import Dict, List, Optional

import numpy as np

from .motion import M_TO_MM, as_numpy

__all__ = ['waypoint_frames', 'waypoint_errors']


def _com_mask(com_mask) -> np.ndarray:
    m = np.asarray(com_mask.detach().cpu() if hasattr(com_mask, 'detach') else com_mask).astype(bool)
    if m.ndim != 2 or m.shape[1] != 3 or m.shape[0] == 0:
        raise ValueError(f'com_mask must be (T, 3) (the object-centre columns of waypoint_mask), got {m.shape}')
    return m


def waypoint_frames(com_mask) -> Dict[str, object]:
    """Frames of each waypoint kind.  com_mask: (T, 3) bool, True where the object centre dim is given.

    Returns {'start': 0 or None, 'end': int or None, 'xy': list of ints} (see the module docstring).
    """
    m = _com_mask(com_mask)
    xyz = np.flatnonzero(m.all(-1))
    xy_only = np.flatnonzero(m[:, 0] & m[:, 1] & ~m[:, 2])
    start: Optional[int] = 0 if m[0].all() else None
    later = xyz[xyz > 0]
    end: Optional[int] = int(later[-1]) if later.size else None
    xy: List[int] = [int(f) for f in xy_only]
    return dict(start=start, end=end, xy=xy)


def waypoint_errors(pred_com, gt_com, com_mask) -> Dict[str, float]:
    """Object-centre errors at the given waypoints, mm.  pred_com, gt_com: (T, 3) metres; com_mask (T, 3) bool.

    Returns {'waypoint_start_err', 'waypoint_end_err', 'waypoint_xy_err'}; NaN for a kind the mask lacks.
    """
    pred, gt = as_numpy(pred_com, 'pred_com'), as_numpy(gt_com, 'gt_com')
    m = _com_mask(com_mask)
    if pred.shape != gt.shape or pred.shape != m.shape:
        raise ValueError(f'pred_com {pred.shape}, gt_com {gt.shape} and com_mask {m.shape} must all be (T, 3)')
    frames = waypoint_frames(m)
    err = np.linalg.norm(pred - gt, axis=-1) * M_TO_MM                    # (T,)
    xy_err = np.linalg.norm(pred[:, :2] - gt[:, :2], axis=-1) * M_TO_MM    # (T,)
    nan = float('nan')
    return dict(
        waypoint_start_err=float(err[frames['start']]) if frames['start'] is not None else nan,
        waypoint_end_err=float(err[frames['end']]) if frames['end'] is not None else nan,
        waypoint_xy_err=float(xy_err[frames['xy']].mean()) if frames['xy'] else nan,
    )
