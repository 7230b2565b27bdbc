"""Models: the HOIDiffusion algorithm and its parts (codecs, cue encoders, frozen backbones, denoisers, layers,
schedulers, guidance, losses, data preprocessors).

Importing this package registers every model component (the `locations` of the MODELS registry).
"""
from . import backbones, codecs, cues, data_preprocessors, denoisers, evaluators, guidance, layers, losses, schedulers  # noqa: F401
from .hoi_diffusion import HOIDiffusion  # noqa: F401
