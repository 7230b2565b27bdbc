"""Models: codecs, cue encoders, frozen backbones, denoisers, layers, schedulers, guidance and losses.

Importing this package registers every model component (the `locations` of the MODELS registry).
"""
from . import backbones, codecs, cues, denoisers, guidance, layers, losses, schedulers  # noqa: F401
