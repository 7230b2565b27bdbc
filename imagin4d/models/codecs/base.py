"""Base class of motion codecs: the per-frame motion representation <-> tensors, and its normalisation.

Owns the interface every motion codec implements (mmpose `BaseKeypointCodec` style): `dim`, named `slices`,
`encode(...) -> (..., D)`, `decode((..., D)) -> dict`, `normalize` / `denormalize` with saved statistics.
"""
from abc import ABCMeta, abstractmethod
from collections import OrderedDict
from typing import Dict

import torch


class BaseMotionCodec(metaclass=ABCMeta):
    """A motion representation of `dim` features per frame, split into named contiguous `slices`.

    Subclasses fill `self.slices` (an ordered name -> slice map that tiles [0, dim)) in `__init__`.
    """

    slices: 'OrderedDict[str, slice]'

    @property
    def dim(self) -> int:
        """Features per frame D."""
        return max(s.stop for s in self.slices.values())

    def take(self, x: torch.Tensor, name: str) -> torch.Tensor:
        """The features of one named part.  x: (..., D) -> (..., width of `name`)."""
        return x[..., self.slices[name]]

    @abstractmethod
    def encode(self, *args, **kwargs) -> torch.Tensor:
        """Motion quantities -> (..., D) un-normalised features."""

    @abstractmethod
    def decode(self, x: torch.Tensor) -> Dict[str, torch.Tensor]:
        """(..., D) un-normalised features -> dict of motion quantities."""

    @abstractmethod
    def normalize(self, x: torch.Tensor) -> torch.Tensor:
        """(..., D) raw -> (..., D) normalised (the diffusion model's space)."""

    @abstractmethod
    def denormalize(self, x: torch.Tensor) -> torch.Tensor:
        """(..., D) normalised -> (..., D) raw."""
