"""HOIDataSample: the data sample of one HOI window (mmengine `BaseDataElement`).

Owns the names of the per-window fields that flow from the datasets to the model, metrics and visualiser.
"""
from typing import Optional

import torch
from mmengine.structures import BaseDataElement

__all__ = ['HOIDataSample']


def _tensor_property(name: str, doc: str):
    private = f'_{name}'

    def getter(self) -> torch.Tensor:
        return getattr(self, private)

    def setter(self, value) -> None:
        if not isinstance(value, torch.Tensor):
            raise TypeError(f'HOIDataSample.{name} must be a torch.Tensor, got {type(value).__name__}')
        self.set_field(value, private, dtype=torch.Tensor)

    def deleter(self) -> None:
        delattr(self, private)

    return property(getter, setter, deleter, doc=doc)


def _own_storage(value):
    """A tensor that views part of a larger storage -> a copy of just its elements (dicts of tensors walked)."""
    if isinstance(value, dict):
        return {k: _own_storage(v) for k, v in value.items()}
    if isinstance(value, torch.Tensor) and value.untyped_storage().nbytes() > value.numel() * value.element_size():
        return value.clone(memory_format=torch.contiguous_format)
    return value


class HOIDataSample(BaseDataElement):
    """One HOI window: ground truth, conditions and (after inference) predictions.

    Metainfo (set with `set_metainfo`, read-only afterwards):
        seq_name (str), window_start (int, first frame in the sequence), window_len (int), seq_len (int,
        valid frames of the window), object_name (str), subject (str), gender (str), fps (int), dataset
        (str), t_star (int, depicted frame), bps_frame (int, the BPS reference frame), obj_scale (float),
        canonical_R ((3, 3) list: world -> canonical rotation), canonical_t ((3,) list), split (str).

    Data fields (typed properties; D = codec dim, T = window length, N = BPS points):
        gt_motion (T, D): encoded ground-truth motion (normalised iff the dataset normalises).
        pred_motion (T, D): generated motion, same space as `gt_motion`.
        waypoint_mask (T, D) bool: True where the value is given as a condition (CHOIS protocol).
        waypoint_values (T, D): `gt_motion * waypoint_mask` (zero where not given).
        bps (N, 3): BPS offsets of the object at `bps_frame`, centred on its centre.
        contacts (T, 4): contact labels lh, rh, lf, rf.
        text (str): the sentence describing the interaction.
    Other fields may be set freely (e.g. obj_ref_rot (3, 3), template_centroid (3,), smpl params).

    Pickling (and deep copies) writes each data field with its own elements only, although a loader worker's
    sample holds views into one storage (`PackHOIInputs`); only that worker's hand-over, marked by
    `keep_views_once`, sends the views of the shared storage as they are.
    """

    gt_motion = _tensor_property('gt_motion', 'Encoded ground-truth motion (T, D).')
    pred_motion = _tensor_property('pred_motion', 'Generated motion (T, D).')
    waypoint_mask = _tensor_property('waypoint_mask', 'Condition mask (T, D) bool, True = given.')
    waypoint_values = _tensor_property('waypoint_values', 'Masked copy of gt_motion (T, D).')
    bps = _tensor_property('bps', 'BPS offsets (N, 3) at the reference frame.')
    contacts = _tensor_property('contacts', 'Contact labels (T, 4): lh, rh, lf, rf.')

    def keep_views_once(self) -> None:
        """The next pickle of this sample keeps views as views (the loader hand-over of one shared storage)."""
        object.__setattr__(self, '_keep_views', True)        # not a data field: BaseDataElement's setattr is not used

    def __getstate__(self) -> dict:
        state = self.__dict__.copy()
        if state.pop('_keep_views', False):
            del self.__dict__['_keep_views']
            return state
        fields = state['_data_fields']
        return {k: _own_storage(v) if k in fields else v for k, v in state.items()}

    def __copy__(self) -> 'HOIDataSample':
        """A shallow copy shares every field with this sample (`__getstate__` is for pickles and deep copies)."""
        new = type(self).__new__(type(self))
        new.__dict__.update(self.__dict__)
        new.__dict__.pop('_keep_views', None)
        return new

    @property
    def text(self) -> Optional[str]:
        return getattr(self, '_text', None)

    @text.setter
    def text(self, value: str) -> None:
        if not isinstance(value, str):
            raise TypeError(f'HOIDataSample.text must be a str, got {type(value).__name__}')
        self.set_field(value, '_text', dtype=str)

    @text.deleter
    def text(self) -> None:
        del self._text
