"""imagin4d: image-guided, controllable 4D human-object interaction generation on MMEngine.

Importing the package checks the mmengine version and applies the third-party workarounds of
`imagin4d.utils.compat` once.
"""
import mmengine
from mmengine.utils import digit_version

from .utils import compat
from .version import MMENGINE_MAX, MMENGINE_MIN, __version__

if not digit_version(MMENGINE_MIN) <= digit_version(mmengine.__version__) < digit_version(MMENGINE_MAX):
    raise ImportError(f'imagin4d {__version__} needs mmengine>={MMENGINE_MIN},<{MMENGINE_MAX}; '
                      f'found {mmengine.__version__}. Install requirements/runtime.txt.')

compat.apply_all()

__all__ = ['__version__']
