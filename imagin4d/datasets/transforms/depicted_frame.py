"""SampleDepictedFrame: chooses the depicted frame t* of a window (the frame the reference image shows).

Owns the t* rule of docs/conventions.md#depicted-frame: training samples t*, biased towards hand-contact frames;
evaluation uses the contact-centred frame (middle of the longest hand contact interval, else the middle).
"""
import numpy as np

from imagin4d.geometry.depicted_frame import contact_centred_frame, sample_depicted_frames
from imagin4d.registry import TRANSFORMS

__all__ = ['SampleDepictedFrame']


@TRANSFORMS.register_module()
class SampleDepictedFrame:
    """Set `results['t_star']` from `results['contacts']` (T, 4).

    Args:
        mode: 'sample' (training) or 'contact_centred' (evaluation, deterministic).
        contact_prob: in 'sample' mode, probability of drawing t* uniformly among the frames where a hand
            touches the object (when there are any); otherwise t* is uniform over the window.
    """

    def __init__(self, mode: str = 'sample', contact_prob: float = 0.75):
        if mode not in ('sample', 'contact_centred'):
            raise ValueError(f"mode must be 'sample' or 'contact_centred', got {mode!r}")
        if not 0.0 <= contact_prob <= 1.0:
            raise ValueError(f'contact_prob must be in [0, 1], got {contact_prob}')
        self.mode, self.contact_prob = mode, contact_prob

    def __call__(self, results: dict) -> dict:
        contacts = np.asarray(results['contacts'])
        T = int(results.get('seq_len', contacts.shape[0]))
        if self.mode == 'contact_centred':
            results['t_star'] = contact_centred_frame(contacts[:T])
            return results
        # Drawn from numpy's global state, which mmengine seeds per worker (reproducible runs).
        rng = np.random.default_rng(np.random.randint(2**31))
        results['t_star'] = sample_depicted_frames(contacts[:T], 1, rng, contact_bias=self.contact_prob)[0]
        return results

    def __repr__(self) -> str:
        return f'{type(self).__name__}(mode={self.mode!r}, contact_prob={self.contact_prob})'
