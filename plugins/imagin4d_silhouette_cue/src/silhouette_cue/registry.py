"""The plugin's scoped registries: children of imagin4d's MODELS and TRANSFORMS with the scope 'silhouette_cue'.

Owns `MODELS` and `TRANSFORMS` of this package. They make scope-prefixed types work without any import in the
config: for `type='silhouette_cue.SilhouetteCueEncoder'` mmengine imports `silhouette_cue.registry` (this module;
importing it imports the package, which registers the classes) and looks the name up in the child registry of
that scope. Every class is registered here AND in imagin4d's own registry, so the plain name
(`type='SilhouetteCueEncoder'`) works too once the package is imported (`custom_imports`, or the
`imagin4d.plugins` entry point of an installed plugin).
"""
from mmengine.registry import Registry

from imagin4d.registry import MODELS as IMAGIN4D_MODELS
from imagin4d.registry import TRANSFORMS as IMAGIN4D_TRANSFORMS

__all__ = ['SCOPE', 'MODELS', 'TRANSFORMS', 'register_everywhere']

SCOPE = 'silhouette_cue'

MODELS = Registry('model', parent=IMAGIN4D_MODELS, scope=SCOPE, locations=['silhouette_cue.encoder'])
TRANSFORMS = Registry('transform', parent=IMAGIN4D_TRANSFORMS, scope=SCOPE, locations=['silhouette_cue.transforms'])


def register_everywhere(*registries):
    """Class decorator: register the class under its own name in each of `registries`."""
    def decorate(cls):
        for registry in registries:
            registry.register_module(module=cls)
        return cls
    return decorate
