"""Shared machinery of the frozen feature extractors: freezing, weights identity, image preprocessing.

Owns `FrozenExtractor` (frozen nn.Module base with a `weights_id` for cache keys), `ImagePreprocessor`
(image arrays -> normalised (B, 3, S, S) tensors, with a stable `config_id`) and `FrozenImageBackbone`,
the interface every image backbone implements: `encode(images) -> {'patch': (B, N, C), 'pooled': (B, C)}`.
"""
import hashlib
import json
import os
from pathlib import Path
from typing import Dict, List, Optional, Sequence, Tuple, Union

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from imagin4d.utils.errors import UserError

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)

_FILE_HASHES: Dict[Tuple[str, int, int], str] = {}


class MissingWeightsError(UserError, ValueError):
    """An extractor was asked for without the local weights it needs (weights are never downloaded)."""


def file_sha256(path: Union[str, Path], chunk: int = 1 << 22) -> str:
    """sha256 hex digest of a file's bytes, memoised per process on (path, size, inode, mtime, ctime): any write,
    even one that restores the old size and modification time, changes ctime, so the file is read again."""
    path = os.path.realpath(os.fspath(path))
    stat = os.stat(path)
    memo_key = (path, stat.st_size, stat.st_ino, stat.st_mtime_ns, stat.st_ctime_ns)
    if memo_key not in _FILE_HASHES:
        digest = hashlib.sha256()
        with open(path, 'rb') as handle:
            for block in iter(lambda: handle.read(chunk), b''):
                digest.update(block)
        _FILE_HASHES[memo_key] = digest.hexdigest()
    return _FILE_HASHES[memo_key]


def weights_id_of_files(paths: Sequence[Union[str, Path]]) -> str:
    """A short identity of one or more weights files: the first 16 hex digits of the hash of their hashes."""
    if len(paths) == 1:
        return file_sha256(paths[0])[:16]
    joined = '|'.join(file_sha256(p) for p in paths)
    return hashlib.sha256(joined.encode()).hexdigest()[:16]


def load_state_dict_file(path: Union[str, Path]) -> Dict[str, torch.Tensor]:
    """Read a local weights file (`.safetensors`, or a torch `.pth/.pt/.bin` read with weights_only=True).

    A torch file that wraps the tensors (`{'state_dict': ...}`, `{'model': ...}`, `{'teacher': ...}`) is
    unwrapped. Never downloads anything: a missing file raises FileNotFoundError.
    """
    path = Path(path).expanduser()
    if not path.is_file():
        raise FileNotFoundError(f'weights file {path} does not exist')
    if path.suffix == '.safetensors':
        from safetensors.torch import load_file
        return load_file(str(path), device='cpu')
    obj = torch.load(str(path), map_location='cpu', weights_only=True)
    for wrapper in ('state_dict', 'model', 'teacher', 'module'):
        if isinstance(obj, dict) and wrapper in obj and isinstance(obj[wrapper], dict):
            obj = obj[wrapper]
    if not isinstance(obj, dict):
        raise ValueError(f'{path} holds a {type(obj).__name__}, not a state dict')
    return dict(obj)


class FrozenExtractor(nn.Module):
    """A feature extractor that is never trained: eval mode, no gradients, `weights_id` for cache keys.

    Subclasses call `self._set_weights(files)` (or set `_weights_id` for random weights) and
    `self._freeze()` at the end of `__init__`.
    `train(True)` is ignored (the module stays in eval mode), so a parent module's `.train()` cannot
    switch dropout or batch-norm statistics on.
    """

    _weights_id: str = 'unset'
    _weights_files: Tuple[str, ...] = ()

    @property
    def weights_id(self) -> str:
        """Short hash of the weights file(s) the module was loaded from (or a random-init tag)."""
        return self._weights_id

    @property
    def weights_files(self) -> Tuple[str, ...]:
        """The local files `weights_id` hashes (empty for random weights)."""
        return self._weights_files

    def _set_weights(self, files: Sequence[Union[str, Path]]) -> None:
        self._weights_files = tuple(os.path.realpath(os.fspath(f)) for f in files)
        self._weights_id = weights_id_of_files(self._weights_files)

    @property
    def device(self) -> torch.device:
        return next(self.parameters()).device

    def _freeze(self) -> None:
        for param in self.parameters():
            param.requires_grad_(False)
        super().train(False)

    def train(self, mode: bool = True):  # noqa: ARG002 - frozen: always eval
        return super().train(False)


class ImagePreprocessor:
    """Turns decoded images into the normalised tensor a backbone expects.

    Input: a sequence of images, each an (H, W, 3) or (H, W, 4) uint8 RGB(A) array, an (H, W) uint8
    grayscale array, or an (H, W, 3) float array in [0, 1]. Alpha is composited over `background`
    (white by default), grayscale is replicated to 3 channels.
    Output: float32 (B, 3, size, size) tensor, `(x - mean) / std` with x in [0, 1].

    resize: 'squash' resizes to size x size ignoring the aspect ratio; 'pad' pads the short side with
    `background` to a square first; 'center_crop' crops the central square first.
    Resizing is bilinear with antialiasing (torch), so no image library is needed.
    """

    RESIZE_MODES = ('squash', 'pad', 'center_crop')

    def __init__(self, size: int = 224, mean: Sequence[float] = IMAGENET_MEAN,
                 std: Sequence[float] = IMAGENET_STD, resize: str = 'squash',
                 background: float = 1.0):
        if resize not in self.RESIZE_MODES:
            raise ValueError(f'resize must be one of {self.RESIZE_MODES}, got {resize!r}')
        self.size = int(size)
        self.mean = tuple(float(m) for m in mean)
        self.std = tuple(float(s) for s in std)
        self.resize = resize
        self.background = float(background)

    @property
    def config(self) -> dict:
        return dict(size=self.size, mean=list(self.mean), std=list(self.std), resize=self.resize,
                    background=self.background)

    @property
    def config_id(self) -> str:
        """Stable short hash of the preprocessing configuration (part of every image cache key)."""
        text = json.dumps(self.config, sort_keys=True)
        return hashlib.sha256(text.encode()).hexdigest()[:12]

    def _to_float_rgb(self, image: np.ndarray) -> torch.Tensor:
        array = np.asarray(image)
        if array.dtype == np.uint8:
            tensor = torch.from_numpy(array.astype(np.float32) / 255.0)
        else:
            tensor = torch.from_numpy(array.astype(np.float32))
        if tensor.ndim == 2:
            tensor = tensor[..., None].expand(-1, -1, 3)
        if tensor.ndim != 3 or tensor.shape[-1] not in (1, 3, 4):
            raise ValueError(f'expected an (H, W), (H, W, 3) or (H, W, 4) image, got shape {array.shape}')
        if tensor.shape[-1] == 1:
            tensor = tensor.expand(-1, -1, 3)
        if tensor.shape[-1] == 4:
            alpha = tensor[..., 3:]
            tensor = tensor[..., :3] * alpha + self.background * (1.0 - alpha)
        return tensor.permute(2, 0, 1).contiguous()  # (3, H, W)

    def _square(self, tensor: torch.Tensor) -> torch.Tensor:
        _, height, width = tensor.shape
        if self.resize == 'squash' or height == width:
            return tensor
        side = max(height, width) if self.resize == 'pad' else min(height, width)
        if self.resize == 'center_crop':
            top, left = (height - side) // 2, (width - side) // 2
            return tensor[:, top:top + side, left:left + side]
        canvas = torch.full((3, side, side), self.background, dtype=tensor.dtype)
        top, left = (side - height) // 2, (side - width) // 2
        canvas[:, top:top + height, left:left + width] = tensor
        return canvas

    def __call__(self, images: Sequence[np.ndarray]) -> torch.Tensor:
        batch = []
        for image in images:
            tensor = self._square(self._to_float_rgb(image))
            if tensor.shape[-2:] != (self.size, self.size):
                tensor = F.interpolate(tensor[None], size=(self.size, self.size), mode='bilinear',
                                       align_corners=False, antialias=True)[0]
            batch.append(tensor)
        pixels = torch.stack(batch).clamp_(0.0, 1.0)
        mean = torch.tensor(self.mean).view(1, 3, 1, 1)
        std = torch.tensor(self.std).view(1, 3, 1, 1)
        return (pixels - mean) / std


class FrozenImageBackbone(FrozenExtractor):
    """Interface of a frozen image backbone.

    `forward(pixels)` takes the preprocessed (B, 3, S, S) tensor and returns
    `{'patch': (B, N = h*w, C), 'pooled': (B, C)}`; `encode(images)` preprocesses a list of decoded
    images (see `ImagePreprocessor`) and runs `forward` without gradients.
    `feature_name` names the architecture (part of the cache key together with `weights_id` and
    `preprocessor.config_id`); `grid_hw` is the (h, w) patch grid for the configured input size.
    """

    out_channels: int
    default_preprocess: dict = dict(size=224, mean=IMAGENET_MEAN, std=IMAGENET_STD, resize='squash')

    def _build_preprocessor(self, preprocess: Optional[dict]) -> ImagePreprocessor:
        cfg = dict(self.default_preprocess)
        cfg.update(preprocess or {})
        return ImagePreprocessor(**cfg)

    @property
    def feature_name(self) -> str:
        return type(self).__name__

    @property
    def grid_hw(self) -> Tuple[int, int]:
        raise NotImplementedError

    @torch.no_grad()
    def encode(self, images: List[np.ndarray]) -> Dict[str, torch.Tensor]:
        pixels = self.preprocessor(images).to(self.device)
        return self(pixels)
