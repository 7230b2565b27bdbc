"""PackHOIInputs: the last transform of a HOI pipeline, packs an assembled window into model inputs + HOIDataSample.

Owns which assembled keys become model `inputs`, HOIDataSample metainfo, and HOIDataSample data fields, and how a
packed window travels from a loader worker to the main process (`share_one_storage`).
"""
from typing import Sequence

import torch
from torch.utils.data import get_worker_info

from imagin4d.registry import TRANSFORMS
from imagin4d.structures import HOIDataSample

__all__ = ['PackHOIInputs', 'share_one_storage']

_ALIGN = 8                                                  # bytes: every dtype's element size divides it


def share_one_storage(inputs: dict, sample: HOIDataSample) -> int:
    """Copy every tensor of a packed window (inputs, data fields, dicts of tensors in them) into one storage.

    A loader worker hands each storage of a batch to the main process separately (shared memory, one
    hand-over per storage): about 22 per window, most of a training's data_time. After this call a window
    has one. Values, dtypes and shapes are unchanged (tensors become contiguous); a tensor held twice (the
    inputs' `motion` is the sample's `gt_motion`) stays one object; non-tensor values are left alone.
    The tensors are views into the buffer: the sample's next pickle (the hand-over) keeps them so, later ones
    copy each field out (`HOIDataSample.__getstate__`); a plain `pickle` of one such tensor taken out of the
    sample or the inputs writes the whole buffer (torch pickles storages). Returns the buffer's size in bytes.
    """
    slots, order = {}, []                                   # id(tensor) -> new view; tensors in first-seen order

    def visit(value):
        if isinstance(value, torch.Tensor) and id(value) not in slots:
            slots[id(value)] = None
            order.append(value)
        elif isinstance(value, dict):
            for v in value.values():
                visit(v)

    for value in list(inputs.values()) + [v for _, v in sample.items()]:
        visit(value)
    offsets, total = [], 0
    for t in order:
        offsets.append(total)
        total += -(-t.numel() * t.element_size() // _ALIGN) * _ALIGN
    buffer = torch.empty(total, dtype=torch.uint8)
    for t, start in zip(order, offsets):
        view = buffer[start:start + t.numel() * t.element_size()].view(t.dtype).view(t.shape)
        view.copy_(t)
        slots[id(t)] = view

    def swap(value):
        if isinstance(value, torch.Tensor):
            return slots[id(value)]
        if isinstance(value, dict):
            return {k: swap(v) for k, v in value.items()}
        return value

    for k in list(inputs):
        inputs[k] = swap(inputs[k])
    for k, v in list(sample.items()):
        setattr(sample, k, swap(v))
    sample.keep_views_once()
    return total


@TRANSFORMS.register_module()
class PackHOIInputs:
    """dict from `BaseHOIDataset.assemble_window` -> {'inputs': {...}, 'data_samples': HOIDataSample}.

    inputs: `input_keys` tensors (default motion (T, D), waypoint_mask (T, D), waypoint_values (T, D),
    bps (N, 3)) plus whichever `OPTIONAL_INPUT_KEYS` the pipeline produced (cached image / sketch / text
    features, object points, the scale and reference rotation of the object, the rest skeleton) and the
    `extra_input_keys` a plugin's transform adds (required, converted to tensors); the data
    sample holds the same tensors (no copy) as gt_motion, waypoint_mask,
    waypoint_values, bps, plus contacts, text, `field_keys` tensors and the `meta_keys` metainfo.
    In a loader worker of a training data set every tensor of the window is then copied into one storage
    (`share_one_storage`): the main process receives one shared-memory block per window instead of one per
    tensor. Not for `test_mode` data sets: metrics keep views of a sample's fields (e.g. `DumpHOIResults`),
    which would keep each window's whole storage (its image features) alive until the evaluation ends.
    """

    META_KEYS = ('seq_name', 'window_start', 'window_len', 'seq_len', 'object_name', 'subject', 'gender', 'fps',
                 'dataset', 'split', 't_star', 'bps_frame', 'canonical_R', 'canonical_t', 'sample_idx', 'normalized',
                 'reference_image', 'reference_camera', 'reference_style', 'reference_images', 'reference_cameras',
                 'reference_t_stars')
    OPTIONAL_INPUT_KEYS = ('image_patch', 'image_pooled', 'sketch_patch', 'sketch_pooled', 'text_pooled', 'text_tokens',
                           'object_points', 'obj_scale', 'obj_ref_rot', 'rest_joints24',
                           'image_mask', 'image_t_star', 'image_frames', 'sketch_mask', 'sketch_t_star',
                           'sketch_frames')                                            # storyboards (K images)
    FIELD_KEYS = ('obj_rot', 'obj_trans', 'obj_scale', 'obj_ref_rot', 'template_centroid', 'object_verts',
                  'object_faces', 'smpl_params')

    def __init__(self, input_keys: Sequence[str] = ('motion', 'waypoint_mask', 'waypoint_values', 'bps'),
                 meta_keys: Sequence[str] = META_KEYS, field_keys: Sequence[str] = FIELD_KEYS,
                 extra_input_keys: Sequence[str] = ()):
        self.input_keys, self.meta_keys, self.field_keys = tuple(input_keys), tuple(meta_keys), tuple(field_keys)
        self.extra_input_keys = tuple(extra_input_keys)     # plugin cues: required, packed as tensors

    def __call__(self, results: dict) -> dict:
        missing = [k for k in self.input_keys + self.extra_input_keys if k not in results]
        if missing:
            raise KeyError(f'PackHOIInputs: the window lacks {missing} (have {sorted(results)})')
        inputs = {k: results[k] for k in self.input_keys}
        inputs.update({k: torch.as_tensor(results[k]) for k in self.OPTIONAL_INPUT_KEYS if k in results})
        inputs.update({k: torch.as_tensor(results[k]) for k in self.extra_input_keys})
        sample = HOIDataSample(metainfo={k: results[k] for k in self.meta_keys if k in results})
        sample.gt_motion = results['motion']
        sample.waypoint_mask = results['waypoint_mask']
        sample.waypoint_values = results['waypoint_values']
        sample.bps = results['bps']
        if 'contacts' in results:
            sample.contacts = torch.as_tensor(results['contacts'])
        if 'text' in results:
            sample.text = results['text']
        for k in self.field_keys:
            if k in results:
                sample.set_data({k: results[k]})
        worker = get_worker_info()                          # only a worker hands the window over
        if worker is not None and not getattr(worker.dataset, 'test_mode', False):
            share_one_storage(inputs, sample)
        return dict(inputs=inputs, data_samples=sample)

    def __repr__(self) -> str:
        return f'{type(self).__name__}(input_keys={self.input_keys})'
