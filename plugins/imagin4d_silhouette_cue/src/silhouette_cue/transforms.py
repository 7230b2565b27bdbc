"""LoadReferenceSilhouette: the coarse silhouette grid of a window's reference image, as a model input.

Owns reading the reference PNG named by `reference_image` (set by imagin4d's `LoadReferenceFeatures`) and
putting its `functional.silhouette_grid` into the sample. Registered in imagin4d's TRANSFORMS (plain name) and
in this plugin's scoped TRANSFORMS (`silhouette_cue.LoadReferenceSilhouette`).
"""
import os.path as osp
from typing import Sequence

import numpy as np
import torch

from imagin4d.registry import TRANSFORMS as IMAGIN4D_TRANSFORMS

from .functional import silhouette_grid
from .registry import TRANSFORMS, register_everywhere

__all__ = ['LoadReferenceSilhouette', 'read_rgb']


def read_rgb(path: str) -> np.ndarray:
    """(H, W, 3) uint8 RGB of an image file; a clear error when it is missing or unreadable."""
    import cv2
    if not osp.isfile(path):
        raise FileNotFoundError(f'LoadReferenceSilhouette: reference image {path} does not exist')
    image = cv2.imread(path, cv2.IMREAD_COLOR)
    if image is None:
        raise ValueError(f'LoadReferenceSilhouette: cannot decode the reference image {path}')
    return np.ascontiguousarray(image[..., ::-1])


@register_everywhere(IMAGIN4D_TRANSFORMS, TRANSFORMS)
class LoadReferenceSilhouette:
    """Add the silhouette grid of the reference image: (S, S) float32, or (2, S, S) with `with_shade`.

    Place it AFTER `PackHOIInputs` (recommended): it reads `reference_image` / `reference_style` from the data
    sample's metainfo and adds `inputs[key]`, so PackHOIInputs keeps its defaults. Placed before PackHOIInputs
    it reads them from the window dict and adds `results[key]`; then PackHOIInputs must list the key in
    `input_keys` (with the four defaults). Either way `LoadReferenceFeatures` (with a `reference_index`) must
    run earlier: it chooses the image.

    Args:
        grid_size: S, cells per side.
        with_shade: add the 'shade' channel (mean darkness of the foreground in each cell).
        fill_holes_styles: reference styles whose enclosed regions are filled (sketch outlines -> solid shapes).
        min_chroma, max_luminance: the foreground rule (`functional.foreground_mask`).
        key: the input name written (the encoder's `input_keys`).
    """

    def __init__(self, grid_size: int = 16, with_shade: bool = False, fill_holes_styles: Sequence[str] = ('sketch',),
                 min_chroma: float = 0.08, max_luminance: float = 0.35, key: str = 'silhouette'):
        if int(grid_size) < 1:
            raise ValueError(f'LoadReferenceSilhouette: grid_size must be a positive integer, got {grid_size}')
        self.grid_size, self.with_shade = int(grid_size), bool(with_shade)
        self.fill_holes_styles = tuple(fill_holes_styles)
        self.min_chroma, self.max_luminance, self.key = float(min_chroma), float(max_luminance), key

    def silhouette(self, image: np.ndarray, style: str = '') -> torch.Tensor:
        """(H, W, 3) image -> (S, S) or (2, S, S) float32 tensor."""
        grid = silhouette_grid(image, self.grid_size, with_shade=self.with_shade,
                               fill_holes=style in self.fill_holes_styles, min_chroma=self.min_chroma,
                               max_luminance=self.max_luminance)
        return torch.from_numpy(grid if self.with_shade else grid[0])

    def __call__(self, results: dict) -> dict:
        packed = 'inputs' in results and 'data_samples' in results
        source = results['data_samples'].metainfo if packed else results
        path = source.get('reference_image')
        if not path:
            name = f"{source.get('seq_name', '?')}@{source.get('window_start', '?')}"
            raise KeyError(f'LoadReferenceSilhouette: window {name} has no reference_image; put '
                           'LoadReferenceFeatures (with a reference_index) before it in the pipeline')
        value = self.silhouette(read_rgb(path), source.get('reference_style') or '')
        if packed:
            results['inputs'][self.key] = value
        else:
            results[self.key] = value
        return results

    def __repr__(self) -> str:
        return (f'{type(self).__name__}(grid_size={self.grid_size}, with_shade={self.with_shade}, '
                f'fill_holes_styles={self.fill_holes_styles}, key={self.key!r})')
