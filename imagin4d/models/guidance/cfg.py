"""Classifier-free guidance per condition source, in x0 space (registered in MODELS as `ClassifierFreeGuidance`).

Owns the combination of the x0 predictions of one denoising step: the prediction with every condition
(`x0_full`) and, for each guided source s (e.g. 'image', 'text'), the prediction with s dropped
(`x0_without[s]`, the other sources kept):

    x0 = x0_full + sum_s w_s * (x0_full - x0_without[s])                                        (1)

Why this form:
- w_s = 0 for every s reproduces x0_full exactly (the plain conditional model); a source with w_s = 0 needs
  no extra network pass (`active_sources` lists the ones that do).
- Each source has its own scale, and the guidance directions add: x0_full - x0_without[s] is the effect of
  adding s to all the other conditions, so it needs only 1 + S passes (no all-dropped prediction).
- With one source it is the usual CFG written around the conditional prediction: with G = 1 + w,
  x0 = x0_without + G (x0_full - x0_without), i.e. IMAGIN-4D's G(x̂0 - x̂0^{∅img}) form with G = 1 + w_image
  (G = 1, w = 0: no guidance). The output moves away from x0_without linearly in w:
  x0 - x0_without = (1 + w) (x0_full - x0_without).
  (The nested InstructPix2Pix form x0_∅ + s_I (x0_I - x0_∅) + s_T (x0_IT - x0_I) would need the all-dropped
  pass and does not reduce to the conditional prediction when only one scale is 0.)
Shapes: every x0 is (B, T, D); a scale is a float or a (B,) tensor (per-sample scales).
"""
from typing import Callable, Dict, Mapping, Optional, Union

import torch
from torch import nn

from imagin4d.registry import MODELS

__all__ = ['ClassifierFreeGuidance']

Scale = Union[float, torch.Tensor]


@MODELS.register_module()
class ClassifierFreeGuidance(nn.Module):
    """Per-source classifier-free guidance in x0 space, eq. (1) of the module docstring.

    Args:
        scales: source name -> w_s, e.g. dict(image=2.0, text=0.0). The names are the condition sources the
            model can drop; w = 0 disables a source. Negative w (down to -1) interpolates toward
            x0_without[s].
    """

    def __init__(self, scales: Optional[Mapping[str, float]] = None):
        super().__init__()
        scales = dict(image=0.0, text=0.0) if scales is None else dict(scales)
        for name, w in scales.items():
            if not isinstance(name, str):
                raise TypeError(f'source names must be strings, got {name!r}')
            if not torch.isfinite(torch.as_tensor(float(w))):
                raise ValueError(f'guidance scale of {name!r} must be finite, got {w}')
        self.scales: Dict[str, float] = {k: float(v) for k, v in scales.items()}

    @property
    def sources(self) -> tuple:
        """All source names this guidance knows."""
        return tuple(self.scales)

    def active_sources(self, scales: Optional[Mapping[str, Scale]] = None) -> tuple:
        """Sources with a non-zero scale: the dropped-source predictions the model must compute."""
        scales = self._resolve(scales)
        return tuple(k for k, w in scales.items()
                     if (bool((w != 0).any()) if isinstance(w, torch.Tensor) else w != 0))

    def _resolve(self, scales: Optional[Mapping[str, Scale]]) -> Dict[str, Scale]:
        if scales is None:
            return dict(self.scales)
        unknown = set(scales) - set(self.scales)
        if unknown:
            raise KeyError(f'unknown guidance source(s) {sorted(unknown)}; known: {sorted(self.scales)}')
        merged = dict(self.scales)
        merged.update(scales)
        return merged

    def combine(self, x0_full: torch.Tensor, x0_without: Mapping[str, torch.Tensor],
                scales: Optional[Mapping[str, Scale]] = None) -> torch.Tensor:
        """Eq. (1).  x0_full: (B, T, D); x0_without: source -> (B, T, D) prediction with that source dropped
        (only the active sources are required); scales: optional per-call override of some scales
        (float or (B,) tensor). Returns (B, T, D); with every scale 0 it returns `x0_full` itself."""
        scales = self._resolve(scales)
        unknown = set(x0_without) - set(scales)
        if unknown:
            raise KeyError(f'predictions for unknown source(s) {sorted(unknown)}; known: {sorted(scales)}')
        out = x0_full
        for name in self.active_sources(scales):
            if name not in x0_without:
                raise KeyError(f'guidance scale of {name!r} is {scales[name]} but no prediction with {name!r} '
                               f'dropped was given (have {sorted(x0_without)})')
            w = scales[name]
            if isinstance(w, torch.Tensor):
                w = w.to(device=x0_full.device, dtype=x0_full.dtype).reshape(-1, *([1] * (x0_full.dim() - 1)))
            out = out + w * (x0_full - x0_without[name])
        return out

    def forward(self, x0_full: torch.Tensor, x0_without: Mapping[str, torch.Tensor],
                scales: Optional[Mapping[str, Scale]] = None) -> torch.Tensor:
        """Same as `combine`."""
        return self.combine(x0_full, x0_without, scales)

    def wrap(self, denoise_fn: Callable[..., torch.Tensor],
             scales: Optional[Mapping[str, Scale]] = None) -> Callable[[torch.Tensor, torch.Tensor], torch.Tensor]:
        """A sampler `denoise_fn(x_t, t) -> x0` from a conditional one `denoise_fn(x_t, t, drop) -> x0`,
        where `drop` is a frozenset of the source names to drop. Runs 1 + (number of active sources)
        passes one after the other (a model may instead batch them itself and call `combine`)."""
        active = self.active_sources(scales)

        def guided(x_t: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
            full = denoise_fn(x_t, t, frozenset())
            without = {name: denoise_fn(x_t, t, frozenset([name])) for name in active}
            return self.combine(full, without, scales)

        return guided

    def extra_repr(self) -> str:
        return f'scales={self.scales}'

