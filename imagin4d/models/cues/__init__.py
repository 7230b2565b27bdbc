"""Cue encoders: text, object geometry, waypoints and the image encoders, each feeding named denoiser streams.

Importing this package registers them in `imagin4d.registry.MODELS`. Every encoder is a `CueEncoder`: it
declares `streams` (which of 'base', 'waypoint', 'spatial_image', 'frame_tokens' it feeds) and `input_keys`
(which `CONDITION_KEYS` of the conditioning batch it reads), and `encode(cond)` returns {stream: tensor}.
Encoders take cached frozen features, never images.

Sketch conditioning needs no special class: the same image encoders run on the features of the sketch
backbone (its own preprocessing / backbone config in the feature cache). Set `image_dim` to that backbone's
channels; if a batch carries both image and sketch features, name the sketch ones `sketch_patch`,
`sketch_pooled`, `sketch_patch_mask` and set `feature_key='sketch'` on the sketch encoders.
"""
from .base import CONDITION_KEYS, STREAMS, CueEncoder, resolve_frames
from .frame_aware import FrameAwareImageEncoder
from .image import GlobalTokenImageEncoder, UniformImageEncoder, masked_mean
from .sfie import (
                   ROLE_DIMS,
                   ROLE_SYMBOLS,
                   RoleAutoencoder,
                   SpatiallyFactorizedImageEncoder,
                   gaussian_window,
                   role_quantities_from_motion,
)
from .storyboard import NOT_GIVEN, as_storyboard, combine_images, nearest_image
from .text_object_waypoint import ObjectGeometryEncoder, TextCueEncoder, WaypointEncoder

__all__ = ['CONDITION_KEYS', 'STREAMS', 'CueEncoder', 'resolve_frames', 'FrameAwareImageEncoder',
           'GlobalTokenImageEncoder', 'UniformImageEncoder', 'masked_mean', 'ROLE_DIMS', 'ROLE_SYMBOLS',
           'RoleAutoencoder', 'SpatiallyFactorizedImageEncoder', 'gaussian_window', 'role_quantities_from_motion',
           'ObjectGeometryEncoder', 'TextCueEncoder', 'WaypointEncoder', 'NOT_GIVEN', 'as_storyboard',
           'combine_images', 'nearest_image']
