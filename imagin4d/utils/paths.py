"""Paths written relative to a data set's root: the '{data_root}' placeholder of configs shared by several data sets.

Owns `resolve_data_path`, the one place the placeholder is filled in (transforms, metrics and tools call it with the
data root of the data set they serve).
"""
from typing import Optional

from .errors import UserError

__all__ = ['DATA_ROOT_PLACEHOLDER', 'resolve_data_path']

DATA_ROOT_PLACEHOLDER = '{data_root}'


def resolve_data_path(path: Optional[str], data_root: Optional[str], what: str = 'path') -> Optional[str]:
    """`path` with '{data_root}' replaced by `data_root`; paths without the placeholder are returned unchanged."""
    if path is None or DATA_ROOT_PLACEHOLDER not in str(path):
        return path
    if not data_root:
        raise UserError(f"{what} {path!r} is relative to the data set's root, but no data_root is known here")
    return str(path).replace(DATA_ROOT_PLACEHOLDER, str(data_root))
