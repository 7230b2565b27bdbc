"""silhouette_cue: an example imagin4d plugin that adds a new cue (the reference image's coarse silhouette).

Owns the package's public names. Importing it registers `LoadReferenceSilhouette` (a transform) and
`SilhouetteCueEncoder` (a cue encoder) in imagin4d's registries and in the scoped registries of
`silhouette_cue.registry`. Nothing in imagin4d knows about this package; see the README for the wiring.
"""
__version__ = '0.1.0'

from .encoder import SilhouetteCueEncoder  # noqa: E402
from .functional import CHANNELS, foreground_mask, grid_shape, silhouette_grid  # noqa: E402
from .registry import MODELS, SCOPE, TRANSFORMS  # noqa: E402
from .transforms import LoadReferenceSilhouette, read_rgb  # noqa: E402

__all__ = ['__version__', 'SilhouetteCueEncoder', 'LoadReferenceSilhouette', 'CHANNELS', 'foreground_mask',
           'grid_shape', 'silhouette_grid', 'read_rgb', 'MODELS', 'SCOPE', 'TRANSFORMS']
