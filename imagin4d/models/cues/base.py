"""The cue-encoder interface: which conditioning keys an encoder reads and which denoiser streams it feeds.

Owns `CueEncoder` (base nn.Module with the `streams` / `input_keys` class attributes and `encode(cond)`),
`CONDITION_KEYS` (the names and shapes of the conditioning batch the model assembles from the data sample
and the feature cache), `STREAMS` (the names the denoiser understands) and `build_cue_encoder` (a config's
encoder, settings its class does not take dropped with a warning).
"""
import inspect
import logging
from typing import Dict, Mapping, Optional, Tuple

import torch
from torch import nn

from imagin4d.registry import MODELS

__all__ = ['CueEncoder', 'CONDITION_KEYS', 'STREAMS', 'resolve_frames', 'build_cue_encoder']

#: Streams a cue can feed. 'base', 'waypoint', 'spatial_image' are AdaLN streams of `RoleAwareDenoiser`
#: ('base' (B, C) per sequence, the others (B, T, C) per frame); 'frame_tokens' (B, M, C) is read only by
#: the cross-attention of the denoiser's last layer.
STREAMS = ('base', 'waypoint', 'spatial_image', 'frame_tokens')

#: The conditioning batch (one dict per forward) and what each key holds. Image keys come from the feature
#: cache of a frozen backbone; a sketch model fills them from the sketch backbone's cache (or names them
#: `sketch_*` and sets `feature_key='sketch'` on its image encoders).
CONDITION_KEYS = {
    'text_pooled': '(B, Dt) pooled sentence feature of the frozen text encoder',
    'text_tokens': '(B, L, Dt) token features of the frozen text encoder',
    'text_mask': '(B, L) bool, True on real tokens',
    'bps': '(B, 1024, 3) BPS offsets of the object at the BPS reference frame',
    'waypoint_mask': '(B, T, D) bool, True where a motion value is given (CHOIS protocol)',
    'waypoint_values': '(B, T, D) normalised motion, meaningful where waypoint_mask is True',
    'image_patch': '(B, N, Ci) frozen patch grid of the reference image, or (B, K, N, Ci) of a storyboard',
    'image_pooled': '(B, Ci) frozen pooled feature of the reference image',
    'image_patch_mask': '(B, N) bool, True on valid patches (optional)',
    'image_mask': '(B, K) bool, True on real images of a storyboard (padding where K varies; optional)',
    'image_frames': '(B, K) long, the depicted frame of each image when given, -1 when SFIE predicts it (optional)',
    'image_t_star': '(B, K) long, the depicted frame of each storyboard image (training only; -1 on padding)',
    'image_times': '(B, K) float, each image\'s depicted frame as SFIE placed it (given or t̂; set by the model)',
    'image_tokens': '(B, K, N, P) SFIE\'s shared patch tokens (its patch_dim; set by the model for the frame-aware '
                    'encoder)',
    'num_frames': 'int T, the window length',
    'frame_mask': '(B, T) bool, True on valid (non-padded) frames (optional)',
    't_star': '(B,) long, the depicted frame (training only; SFIE may gate with it)',
}


def resolve_frames(num_frames: Optional[int], frame_mask: Optional[torch.Tensor]) -> int:
    """T from an explicit `num_frames` or from `frame_mask` (B, T); they must agree when both are given."""
    if frame_mask is not None:
        if num_frames is not None and int(num_frames) != frame_mask.shape[1]:
            raise ValueError(f'num_frames {num_frames} disagrees with frame_mask {tuple(frame_mask.shape)}')
        return frame_mask.shape[1]
    if num_frames is None:
        raise ValueError('pass num_frames (or frame_mask) to a per-frame image encoder')
    return int(num_frames)


class CueEncoder(nn.Module):
    """Base of every cue encoder: `forward(**inputs) -> {stream: tensor}` with keys exactly `streams`.

    Class attributes:
        streams: the streams this encoder feeds (see `STREAMS`); the model sums what several encoders put
            into the same stream.
        input_keys: the `CONDITION_KEYS` that `encode` forwards, by name, as keyword arguments (a key missing
            from the batch, or None, is not passed, so `forward`'s default applies).
    Instance attribute `out_dim`: C, the width of every stream tensor it returns; image encoders also set
    `image_dim` (the channels they expect, checked against the batch by the model).
    `per_frame_tokens`: True when frame token t belongs to frame t (the model masks tokens of padded frames).
    `storyboard`: True when the encoder reads K images per sample (image_patch (B, K, N, Ci); see cues/storyboard.py).
    `provided()`: condition keys this encoder's last forward adds to the batch for the encoders after it.
    """

    streams: Tuple[str, ...] = ()
    per_frame_tokens: bool = False
    storyboard: bool = False
    input_keys: Tuple[str, ...] = ()
    feature_key: str = 'image'

    def condition_key(self, key: str) -> str:
        """Where `key` is read from the batch: image keys follow `feature_key` ('image_patch' -> 'sketch_patch')."""
        if key.startswith('image_') and self.feature_key != 'image':
            return f'{self.feature_key}_{key[len("image_"):]}'
        return key

    def provided(self) -> Dict[str, torch.Tensor]:
        """Condition keys the last forward computed for later encoders (none by default)."""
        return {}

    def encode(self, cond: Mapping[str, object]) -> Dict[str, torch.Tensor]:
        """Pick this encoder's inputs out of the conditioning batch and run it."""
        kwargs = {}
        for key in self.input_keys:
            value = cond.get(self.condition_key(key))
            if value is not None:
                kwargs[key] = value
        out = self(**kwargs)
        if set(out) != set(self.streams):
            raise RuntimeError(f'{type(self).__name__} returned streams {sorted(out)}, declared {self.streams}')
        return out


def build_cue_encoder(cfg: Mapping, slot: str):
    """Build a cue encoder; settings its class does not take are dropped with a logged warning.

    This is what makes `--cfg-options model.image_encoder.type=GlobalTokenImageEncoder` work on a config written
    for another image encoder: the shared settings (image_dim, out_dim, ...) carry over, the other encoder's own
    (head_dim, window_sigma, ...) are reported and left out. An encoder taking **kwargs gets everything.
    """
    cfg = dict(cfg)
    cls = MODELS.get(cfg['type']) if isinstance(cfg['type'], str) else cfg['type']
    if cls is None:
        return MODELS.build(cfg)            # raises the registry's "unknown type" error
    params = inspect.signature(cls.__init__).parameters
    if not any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values()):
        dropped = sorted(k for k in cfg if k != 'type' and k not in params)
        if dropped:
            from mmengine.logging import print_log
            print_log(f'{slot}: {cls.__name__} takes no {dropped}; these config settings are not used',
                      logger='current', level=logging.WARNING)
            cfg = {k: v for k, v in cfg.items() if k not in dropped}
    return MODELS.build(cfg)
