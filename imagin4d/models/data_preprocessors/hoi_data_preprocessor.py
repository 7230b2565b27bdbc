"""HOIDataPreprocessor: collated HOI samples -> the padded, normalised conditioning batch of the model.

Owns the batch layout the model reads (`HOIBatch` keys, below), padding of windows and token sequences with
their masks, moving to the device, and what a checkpoint must carry about its training data (buffers): the motion
normalisation statistics and the typical start state used by generation (`CodecStatsHook` fills both from the
training data set before the first step).
"""
from typing import Dict, List, Optional, Sequence, Union

import torch
from mmengine.model import BaseDataPreprocessor

from imagin4d.registry import MODELS, MOTION_CODECS

__all__ = ['HOIDataPreprocessor', 'pad_stack']


def pad_stack(items: Sequence[torch.Tensor], what: str = 'tensor', dtype: Optional[torch.dtype] = None):
    """Stack (L_i, ...) tensors into (B, L_max, ...) zero-padded (of `dtype`, default the items'), with a (B, L_max)
    bool mask (True = real)."""
    tails = {tuple(x.shape[1:]) for x in items}
    if len(tails) != 1:
        raise ValueError(f'{what}: samples disagree on the trailing shape {sorted(tails)}')
    longest = max(x.shape[0] for x in items)
    out = items[0].new_zeros((len(items), longest, *items[0].shape[1:]), dtype=dtype)
    mask = torch.zeros(len(items), longest, dtype=torch.bool, device=items[0].device)
    for i, x in enumerate(items):
        out[i, :x.shape[0]] = x
        mask[i, :x.shape[0]] = True
    return out, mask


@MODELS.register_module()
class HOIDataPreprocessor(BaseDataPreprocessor):
    """Pads, stacks, normalises and moves a collated batch (`pseudo_collate` or `default_collate`).

    Output `inputs` (the model's conditioning batch; keys present only when the samples had them):
        motion (B, T, D) normalised GT motion; waypoint_mask (B, T, D) bool; waypoint_values (B, T, D) =
        motion * waypoint_mask (normalised); frame_mask (B, T) bool (valid frames, from `seq_len` and padding);
        num_frames T; bps (B, P, 3); text_pooled (B, Dt); text_tokens (B, L, Dt) + text_mask (B, L);
        image_patch (B, N, Ci) + image_patch_mask (B, N) when grids differ in size; image_pooled (B, Ci) (and
        the same for sketch_*); object_points (B, P', 3); obj_scale (B, T); obj_ref_rot (B, 3, 3);
        rest_joints24 (B, 24, 3); t_star (B,) long (from the data samples).

    Args:
        codec: the motion codec (its layout and normalisation).
        stats_file: normalisation statistics (JSON of `codec.save_stats`); None: set later by `CodecStatsHook`
            from the training data set, or loaded from a checkpoint.
    """

    PER_FRAME = ('obj_scale',)
    VARIABLE_LENGTH = ('text_tokens', 'image_patch', 'sketch_patch')

    def __init__(self, codec: Union[dict, object] = None, stats_file: Optional[str] = None,
                 non_blocking: bool = False):
        super().__init__(non_blocking=non_blocking)
        codec = codec if codec is not None else dict(type='CHOISMotionCodec')
        self.codec = MOTION_CODECS.build(codec) if isinstance(codec, dict) else codec
        self._stat_names = [f'{n}_{e}' for n in self.codec.NORMALIZED for e in ('min', 'max')]
        for name in self._stat_names:
            width = self.codec.slices[name.rsplit('_', 1)[0]]
            self.register_buffer(f'stat_{name}', torch.zeros(width.stop - width.start, dtype=torch.float64))
        self.register_buffer('stats_ready', torch.zeros((), dtype=torch.bool))
        # The training data's typical start state (`imagin4d.datasets.start_state`), kept for generation.
        self.register_buffer('start_pose', torch.zeros(66, dtype=torch.float64))
        self.register_buffer('start_object_xy', torch.zeros(2, dtype=torch.float64))
        self.register_buffer('start_ready', torch.zeros((), dtype=torch.bool))
        self.register_load_state_dict_post_hook(lambda module, _: module._sync_codec())
        if stats_file:
            self.load_stats(stats_file)

    # ------------------------------------------------------------------ statistics
    def load_stats(self, stats_file: str) -> None:
        """Read a statistics JSON into the codec and the buffers."""
        self.set_stats(self.codec.load_stats(stats_file))

    def set_stats(self, stats: Dict[str, torch.Tensor]) -> None:
        """Use these statistics (keys as `codec.compute_stats` returns them) in the codec and the buffers."""
        self.codec.set_stats(stats)
        for name in self._stat_names:
            getattr(self, f'stat_{name}').copy_(self.codec.stats[name])
        self.stats_ready.fill_(True)

    def set_start_state(self, pose, object_xy) -> None:
        """Keep the training data's typical first frame: pose (66,) canonical axis-angle, object_xy (2,)."""
        self.start_pose.copy_(torch.as_tensor(pose, dtype=torch.float64).reshape(66))
        self.start_object_xy.copy_(torch.as_tensor(object_xy, dtype=torch.float64).reshape(2))
        self.start_ready.fill_(True)

    def _sync_codec(self) -> None:
        if bool(self.stats_ready):
            self.codec.set_stats({n: getattr(self, f'stat_{n}').cpu() for n in self._stat_names})

    def normalize(self, motion: torch.Tensor) -> torch.Tensor:
        self._require_stats()
        return self.codec.normalize(motion)

    def denormalize(self, motion: torch.Tensor) -> torch.Tensor:
        self._require_stats()
        return self.codec.denormalize(motion)

    def _require_stats(self) -> None:
        if not bool(self.stats_ready):
            raise RuntimeError('HOIDataPreprocessor has no normalisation statistics: set data_preprocessor.stats_file, '
                               'run through the Runner (CodecStatsHook takes them from the training set) or load a '
                               'checkpoint')
        if self.codec.stats is None:
            self._sync_codec()

    # ------------------------------------------------------------------ batching
    def forward(self, data: dict, training: bool = False) -> dict:
        data = self.cast_data(data)
        raw, samples = data['inputs'], data.get('data_samples') or []
        batch: Dict[str, object] = {}
        for key, value in raw.items():
            items = list(value) if isinstance(value, (list, tuple)) else list(value.unbind(0))
            batch[key] = items
        if 'motion' not in batch:
            raise KeyError(f"HOIDataPreprocessor: the batch has no 'motion' (inputs: {sorted(batch)}); is "
                           'PackHOIInputs the last transform of the pipeline?')
        if any(s.get('normalized') for s in samples if hasattr(s, 'get')):
            raise ValueError('HOIDataPreprocessor normalises the motion itself: build the data set with '
                             'normalize=False (its default)')
        out: Dict[str, object] = {}
        motion, pad_mask = pad_stack(batch.pop('motion'), 'motion')
        valid = self._frame_mask(samples, pad_mask)
        out['motion'] = self.normalize(motion.float())
        out['frame_mask'] = valid
        out['num_frames'] = motion.shape[1]
        mask, _ = pad_stack([m.bool() for m in batch.pop('waypoint_mask')], 'waypoint_mask')
        out['waypoint_mask'] = mask & valid[..., None]
        out['waypoint_values'] = out['motion'] * out['waypoint_mask']
        batch.pop('waypoint_values', None)          # recomputed in the normalised space
        for key, items in batch.items():
            if key in self.VARIABLE_LENGTH:
                out[key], item_mask = pad_stack(items, key, torch.float32)
                mask_key = 'text_mask' if key == 'text_tokens' else f'{key}_mask'
                if key == 'text_tokens' or not bool(item_mask.all()):
                    out[mask_key] = item_mask
            elif key in self.PER_FRAME:
                out[key], _ = pad_stack(items, key, torch.float32)
            else:
                out[key] = torch.stack([x.float() if x.is_floating_point() else x for x in items])
        if samples and all('t_star' in s for s in samples):
            out['t_star'] = torch.tensor([int(s.t_star) for s in samples], dtype=torch.long, device=motion.device)
        return dict(inputs=out, data_samples=samples)

    @staticmethod
    def _frame_mask(samples: List, pad_mask: torch.Tensor) -> torch.Tensor:
        """Padding mask AND each sample's `seq_len` (frames after seq_len are invalid)."""
        mask = pad_mask.clone()
        for i, sample in enumerate(samples):
            seq_len = sample.get('seq_len') if hasattr(sample, 'get') else None
            if seq_len is not None:
                mask[i, int(seq_len):] = False
        return mask
