"""Where body models are found: the one search order of data sets, metrics and tools, and the one "not found" error.

A data set config sets `body_model_root` once (`{{$IMAGIN4D_BODY_MODEL_DIR:<the data set's folder>}}`; the runner
setup hands it to the data sets and the metrics). Code given no folder searches `$IMAGIN4D_BODY_MODEL_DIR`, then the
data set's own folder under its root (`<root>/smpl_all_models` for FBM, `<root>` for BEHAVE). Either way a missing
file is a `BodyModelNotFoundError` that names every folder searched.
"""
import os
from typing import Iterable, List, Optional

from .body_model import model_path

__all__ = ['BODY_MODEL_ENV', 'BodyModelNotFoundError', 'body_model_dirs', 'find_body_model_root']

#: The environment variable naming the body-model folder (the data set configs' `body_model_root` reads it).
BODY_MODEL_ENV = 'IMAGIN4D_BODY_MODEL_DIR'


class BodyModelNotFoundError(FileNotFoundError):
    """No `<type>/<TYPE>_<GENDER>.npz` in any searched folder; the message names them and the fix."""


def body_model_dirs(configured: Optional[str], defaults: Iterable[Optional[str]] = ()) -> List[str]:
    """The folders to search: `configured` alone when given, else $IMAGIN4D_BODY_MODEL_DIR then `defaults`."""
    if configured:
        return [str(configured)]
    dirs = []
    for d in [os.environ.get(BODY_MODEL_ENV), *defaults]:
        if d and str(d) not in dirs:
            dirs.append(str(d))
    return dirs


def find_body_model_root(dirs: List[str], model_type: str, gender: str, who: str) -> str:
    """The first folder of `dirs` holding `model_type/<TYPE>_<GENDER>.npz`; else `BodyModelNotFoundError`."""
    for d in dirs:
        if model_path(d, model_type, gender).is_file():
            return d
    expected = model_path('', model_type, gender)
    searched = ', '.join(dirs) if dirs else '(no folder given)'
    raise BodyModelNotFoundError(
        f'{who}: no {gender} {model_type.upper()} body model ({expected}) in the folders searched: {searched}. '
        f'Set body_model_root once (--cfg-options body_model_root=DIR, or {BODY_MODEL_ENV}=DIR; tools given a data '
        f'root instead of a config: --body-model-root DIR) to the folder holding {model_type}/; '
        f'python tools/data/build_body_model.py --out DIR builds a free stand-in')
