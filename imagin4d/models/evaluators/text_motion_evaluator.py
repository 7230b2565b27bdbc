"""The text-motion evaluator behind FID / R-precision: a motion encoder and a text encoder trained contrastively.

Owns `TextMotionEvaluator` (registered in MODELS), its self-contained checkpoint format (weights, motion
statistics as buffers, the config and training meta; loadable with `torch.load(weights_only=True)`), and
`CachedTextFeatures`, which turns sentences into padded frozen text features read from the feature cache (the
evaluator never runs a language model).
"""
import math
import os
import os.path as osp
from typing import Dict, Optional, Sequence, Tuple, Union

import numpy as np
import torch
import torch.nn.functional as F
from einops import rearrange
from torch import nn

from imagin4d.registry import MODELS
from imagin4d.utils.errors import CheckpointError

from ..backbones.feature_cache import FeatureCache

__all__ = ['TextMotionEvaluator', 'MotionStatistics', 'CachedTextFeatures', 'collate_text_features',
           'frame_differences', 'CHECKPOINT_FORMAT']

CHECKPOINT_FORMAT = 'imagin4d/text-motion-evaluator/v1'
STATISTICS_KEYS = ('motion_mean', 'motion_std', 'velocity_mean', 'velocity_std')


def frame_differences(motion: torch.Tensor) -> torch.Tensor:
    """(B, T, D) -> (B, T, D) x_t - x_{t-1}; frame 0 repeats frame 1's difference (T >= 2)."""
    diff = motion[:, 1:] - motion[:, :-1]
    return torch.cat([diff[:, :1], diff], 1)


class MotionStatistics:
    """Streaming per-dim mean and population std of motion features and of their frame differences.

    `update(motions (B, T, D))` for every training batch (float64 sums), then `result()` -> dict(motion_mean,
    motion_std, velocity_mean, velocity_std (D,) float32, num_frames) for `set_motion_statistics`.
    """

    def __init__(self):
        self.sums = None
        self.num_frames = 0

    def update(self, motions: torch.Tensor) -> None:
        motions = torch.as_tensor(motions).double()
        if motions.ndim != 3 or motions.shape[1] < 2:
            raise ValueError(f'motions: expected (B, T >= 2, D), got {tuple(motions.shape)}')
        parts = []
        for x in (motions, frame_differences(motions)):
            frames = x.reshape(-1, x.shape[-1])
            parts += [frames.sum(0), (frames * frames).sum(0)]
        self.sums = parts if self.sums is None else [a + b for a, b in zip(self.sums, parts)]
        self.num_frames += motions.shape[0] * motions.shape[1]

    def result(self) -> Dict[str, torch.Tensor]:
        if not self.num_frames:
            raise ValueError('MotionStatistics: no motion was added')
        out = dict(num_frames=self.num_frames)
        for prefix, (total, squares) in (('motion', self.sums[0:2]), ('velocity', self.sums[2:4])):
            mean = total / self.num_frames
            out[f'{prefix}_mean'] = mean.float()
            out[f'{prefix}_std'] = (squares / self.num_frames - mean * mean).clamp_min(0).sqrt().float()
        return out


@MODELS.register_module()
class TextMotionEvaluator(nn.Module):
    """Embeds motions (B, T, D) and sentences (cached frozen features) into one unit-norm space (B, E).

    Motion encoder (in the spirit of Guo et al. 2022's movement + motion encoders): the UN-normalised per-frame
    features and, with `use_velocity`, their frame-to-frame differences (the CHOIS features hold no velocities;
    with them, jitter and broken timing move the embedding) are z-scored with the evaluator's own statistics
    (buffers `motion_mean`, `motion_std`, `velocity_mean`, `velocity_std` (D,), set from the training split by
    `set_motion_statistics`), Linear (2)D -> H, `num_downsample` strided Conv1d
    (kernel 4, stride 2: T -> T / 2^n) with LeakyReLU, a bidirectional GRU over the downsampled steps whose two
    final states (B, 2H) go through LayerNorm -> Linear -> LeakyReLU -> Linear -> E.
    Text encoder: the pooled sentence feature (B, Dt) through LayerNorm -> Linear -> LeakyReLU (B, H); with
    `use_text_tokens`, a learned query also attention-pools the token features (B, L, Dt) (padding masked)
    and the two are concatenated; then Linear -> LeakyReLU -> Linear -> E.
    Both embeddings are L2-normalised, so distances lie in [0, 2]. Training: symmetric InfoNCE over the
    cosine similarities with a learned temperature; pairs whose sentences are identical (same `text_ids`)
    are not used as negatives of each other.

    Args:
        motion_dim: D (220 for the CHOIS codec).
        text_dim: Dt (384 for MiniLM-L6).
        embed_dim: E.
        hidden_dim: H.
        num_downsample: strided convolutions before the GRU (3: 120 frames -> 15 steps).
        use_velocity: also feed the z-scored frame differences x_t - x_{t-1} (frame 0 repeats frame 1's).
        use_text_tokens: also read the token features.
        dropout: dropout inside both encoders (training only).
        min_std: floor of the per-dim motion std (constant dims, e.g. always-on foot contacts).
        init_temperature: initial softmax temperature of the contrastive loss (learned; at least 0.01).
    """

    def __init__(self, motion_dim: int = 220, text_dim: int = 384, embed_dim: int = 128, hidden_dim: int = 128,
                 num_downsample: int = 3, use_velocity: bool = True, use_text_tokens: bool = False,
                 dropout: float = 0.1, min_std: float = 1e-2, init_temperature: float = 0.07):
        super().__init__()
        self.motion_dim, self.text_dim, self.embed_dim = int(motion_dim), int(text_dim), int(embed_dim)
        self.num_downsample = int(num_downsample)
        self.use_velocity, self.use_text_tokens = bool(use_velocity), bool(use_text_tokens)
        self.min_std = float(min_std)
        for name in STATISTICS_KEYS:
            self.register_buffer(name, (torch.zeros if name.endswith('mean') else torch.ones)(self.motion_dim))
        self.register_buffer('num_statistics_frames', torch.zeros((), dtype=torch.long))

        self.motion_in = nn.Linear(self.motion_dim * (2 if self.use_velocity else 1), hidden_dim)
        self.motion_conv = nn.Sequential(*[
            layer for _ in range(self.num_downsample)
            for layer in (nn.Conv1d(hidden_dim, hidden_dim, 4, stride=2, padding=1), nn.LeakyReLU(0.2),
                          nn.Dropout(dropout))])
        self.motion_gru = nn.GRU(hidden_dim, hidden_dim, batch_first=True, bidirectional=True)
        self.motion_out = nn.Sequential(nn.LayerNorm(2 * hidden_dim), nn.Linear(2 * hidden_dim, hidden_dim),
                                        nn.LeakyReLU(0.2), nn.Linear(hidden_dim, self.embed_dim))

        self.text_pooled = nn.Sequential(nn.LayerNorm(self.text_dim), nn.Linear(self.text_dim, hidden_dim),
                                         nn.LeakyReLU(0.2), nn.Dropout(dropout))
        text_width = hidden_dim
        if self.use_text_tokens:
            self.token_norm = nn.LayerNorm(self.text_dim)
            self.token_key = nn.Linear(self.text_dim, hidden_dim)
            self.token_value = nn.Linear(self.text_dim, hidden_dim)
            self.token_query = nn.Parameter(torch.randn(hidden_dim) / math.sqrt(hidden_dim))
            text_width = 2 * hidden_dim
        self.text_out = nn.Sequential(nn.Linear(text_width, hidden_dim), nn.LeakyReLU(0.2),
                                      nn.Linear(hidden_dim, self.embed_dim))
        self.logit_scale = nn.Parameter(torch.tensor(math.log(1.0 / init_temperature)))

    # ------------------------------------------------------------------ motion statistics
    def set_motion_statistics(self, stats: Dict[str, torch.Tensor]) -> None:
        """Store the training split's normalisation statistics (`MotionStatistics.result()`: motion_mean,
        motion_std, velocity_mean, velocity_std (D,), num_frames); stds are floored at `min_std`."""
        for name in STATISTICS_KEYS:
            value = torch.as_tensor(stats[name], dtype=torch.float32)
            if value.shape != (self.motion_dim,):
                raise ValueError(f'motion statistics: expected {name} of shape ({self.motion_dim},), got '
                                 f'{tuple(value.shape)}')
            getattr(self, name).copy_(value.clamp_min(self.min_std) if name.endswith('std') else value)
        self.num_statistics_frames.fill_(int(stats['num_frames']))

    # ------------------------------------------------------------------ encoders
    def encode_motion(self, motion: torch.Tensor) -> torch.Tensor:
        """Un-normalised motions (B, T, D), T >= 2^num_downsample -> unit-norm embeddings (B, E)."""
        if int(self.num_statistics_frames) == 0:
            raise RuntimeError('TextMotionEvaluator: motion statistics are not set; call set_motion_statistics '
                               '(training) or load a trained checkpoint with TextMotionEvaluator.from_checkpoint')
        min_frames = 2 ** self.num_downsample
        if motion.ndim != 3 or motion.shape[-1] != self.motion_dim or motion.shape[1] < min_frames:
            raise ValueError(f'motion: expected (B, T >= {min_frames}, {self.motion_dim}) un-normalised features, '
                             f'got {tuple(motion.shape)}')
        motion = motion.to(self.motion_mean)
        x = (motion - self.motion_mean) / self.motion_std
        if self.use_velocity:
            velocity = frame_differences(motion)
            x = torch.cat([x, (velocity - self.velocity_mean) / self.velocity_std], -1)
        x = self.motion_in(x)
        x = self.motion_conv(rearrange(x, 'b t h -> b h t'))
        _, last = self.motion_gru(rearrange(x, 'b h t -> b t h'))            # (2, B, H): forward, backward
        x = self.motion_out(rearrange(last, 'd b h -> b (d h)'))
        return F.normalize(x, dim=-1)

    def encode_text(self, pooled: torch.Tensor, tokens: Optional[torch.Tensor] = None,
                    token_mask: Optional[torch.Tensor] = None) -> torch.Tensor:
        """Cached sentence features: pooled (B, Dt) [, tokens (B, L, Dt), token_mask (B, L) True on real tokens]
        -> unit-norm embeddings (B, E)."""
        if pooled.ndim != 2 or pooled.shape[-1] != self.text_dim:
            raise ValueError(f'text pooled features: expected (B, {self.text_dim}), got {tuple(pooled.shape)}')
        pooled = pooled.to(self.motion_mean)
        x = self.text_pooled(pooled)
        if self.use_text_tokens:
            if tokens is None:
                raise ValueError('text tokens: this evaluator was built with use_text_tokens=True and needs the '
                                 'token features (B, L, Dt)')
            tokens = self.token_norm(tokens.to(pooled))
            if token_mask is None:
                token_mask = torch.ones(tokens.shape[:2], dtype=torch.bool, device=tokens.device)
            scores = self.token_key(tokens) @ self.token_query / math.sqrt(self.token_query.numel())  # (B, L)
            scores = scores.masked_fill(~token_mask.bool(), float('-inf'))
            weights = scores.softmax(-1).nan_to_num(0.0)
            x = torch.cat([x, torch.einsum('bl,blh->bh', weights, self.token_value(tokens))], -1)
        return F.normalize(self.text_out(x), dim=-1)

    # ------------------------------------------------------------------ training
    def contrastive_loss(self, motion_emb: torch.Tensor, text_emb: torch.Tensor,
                         text_ids: Optional[torch.Tensor] = None) -> Dict[str, torch.Tensor]:
        """Symmetric InfoNCE of matched pairs (B, E); pairs with the same text id are not each other's negatives.

        Returns loss, loss_motion_to_text, loss_text_to_motion, accuracy (top-1 text -> motion in the batch)
        and temperature.
        """
        scale = self.logit_scale.clamp(max=math.log(100.0)).exp()
        logits = scale * text_emb @ motion_emb.T                               # (B texts, B motions)
        if text_ids is not None:
            same = text_ids[:, None] == text_ids[None, :]
            same.fill_diagonal_(False)
            logits = logits.masked_fill(same, float('-inf'))
        target = torch.arange(logits.shape[0], device=logits.device)
        loss_t2m = F.cross_entropy(logits, target)
        loss_m2t = F.cross_entropy(logits.T, target)
        accuracy = (logits.argmax(1) == target).float().mean()
        return dict(loss=(loss_t2m + loss_m2t) / 2, loss_motion_to_text=loss_m2t, loss_text_to_motion=loss_t2m,
                    accuracy=accuracy.detach(), temperature=(1.0 / scale).detach())

    def forward(self, motion: torch.Tensor, text_pooled: torch.Tensor, text_tokens: Optional[torch.Tensor] = None,
                token_mask: Optional[torch.Tensor] = None,
                text_ids: Optional[torch.Tensor] = None) -> Dict[str, torch.Tensor]:
        """Training step: matched motions (B, T, D) and text features -> the `contrastive_loss` dict."""
        return self.contrastive_loss(self.encode_motion(motion), self.encode_text(text_pooled, text_tokens,
                                                                                  token_mask), text_ids)

    # ------------------------------------------------------------------ checkpoints
    def checkpoint(self, model_cfg: dict, meta: Optional[dict] = None) -> dict:
        """The self-contained checkpoint dict: format, state_dict (statistics included), model config, meta."""
        return dict(format=CHECKPOINT_FORMAT, state_dict={k: v.detach().cpu() for k, v in self.state_dict().items()},
                    model_cfg=dict(model_cfg), meta=dict(meta or {}))

    @classmethod
    def from_checkpoint(cls, path: Union[str, os.PathLike], cfg: Optional[dict] = None,
                        map_location: Union[str, torch.device] = 'cpu') -> 'TextMotionEvaluator':
        """Build the evaluator from its checkpoint (config from the file unless `cfg` is given), in eval mode.

        The checkpoint's meta (text encoder config, training data, retrieval scores) is on `.checkpoint_meta`.
        """
        path = os.fspath(path)
        if not osp.isfile(path):
            raise FileNotFoundError(f'evaluator checkpoint {path} does not exist (train one with '
                                    'tools/train_evaluator.py)')
        try:
            ckpt = torch.load(path, map_location=map_location, weights_only=True)
        except Exception as err:  # noqa: BLE001 - any failure means the file is unusable
            raise CheckpointError(f'{path} is not a readable evaluator checkpoint ({type(err).__name__}: '
                                  f'{err})') from None
        if not isinstance(ckpt, dict) or ckpt.get('format') != CHECKPOINT_FORMAT:
            found = ckpt.get('format') if isinstance(ckpt, dict) else type(ckpt).__name__
            raise CheckpointError(f'{path} is not a text-motion evaluator checkpoint (format {found!r}, expected '
                                  f'{CHECKPOINT_FORMAT!r}; written by tools/train_evaluator.py)')
        model_cfg = dict(cfg if cfg is not None else ckpt['model_cfg'])
        model = MODELS.build(model_cfg)
        if not isinstance(model, TextMotionEvaluator):
            raise CheckpointError(f'{path}: config type {model_cfg.get("type")!r} is not a TextMotionEvaluator')
        try:
            model.load_state_dict(ckpt['state_dict'])
        except RuntimeError as err:
            raise CheckpointError(f'{path}: weights do not fit the evaluator config {model_cfg}: {err}') from None
        model.checkpoint_meta = dict(ckpt.get('meta') or {}, model_cfg=model_cfg)
        return model.eval().to(map_location)


def collate_text_features(features: Sequence[Dict[str, np.ndarray]]) -> Tuple[torch.Tensor, torch.Tensor,
                                                                                 torch.Tensor]:
    """Per-sentence cache entries {'pooled': (Dt,), 'tokens': (L_i, Dt)} -> pooled (B, Dt), tokens padded
    (B, L, Dt), mask (B, L) True on real tokens (float32)."""
    if not features:
        raise ValueError('collate_text_features: no sentences')
    pooled = torch.as_tensor(np.stack([np.asarray(f['pooled'], np.float32) for f in features]))
    length = max(max(int(np.asarray(f['tokens']).shape[0]) for f in features), 1)
    tokens = torch.zeros(len(features), length, pooled.shape[1])
    mask = torch.zeros(len(features), length, dtype=torch.bool)
    for i, f in enumerate(features):
        t = torch.as_tensor(np.asarray(f['tokens'], np.float32))
        tokens[i, :t.shape[0]], mask[i, :t.shape[0]] = t, True
    return pooled, tokens, mask


class CachedTextFeatures:
    """Sentences -> frozen text features read from the feature cache (memoised per sentence).

    Args:
        cache_root: the feature cache folder (e.g. `<data_root>/feature_cache`).
        text_encoder: the extractor config the features were built with (default MiniLM, as
            tools/data/cache_features.py builds them).
    A missing sentence raises `MissingFeaturesError` naming it and the command that builds it.
    """

    def __init__(self, cache_root: Union[str, os.PathLike], text_encoder: Optional[dict] = None):
        self.text_encoder = dict(text_encoder or dict(type='MiniLMTextEncoder'))
        self.cache = FeatureCache(cache_root)
        self.spec = self.cache.spec_for(self.text_encoder)
        self._memo: Dict[str, Dict[str, np.ndarray]] = {}

    def get(self, sentence: str) -> Dict[str, np.ndarray]:
        if not isinstance(sentence, str):
            raise TypeError(f'text: expected a sentence (str), got {type(sentence).__name__}')
        if sentence not in self._memo:
            self._memo[sentence] = self.cache.get(sentence, self.spec)
        return self._memo[sentence]

    def __call__(self, sentences: Sequence[str]) -> Tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """-> pooled (B, Dt), tokens (B, L, Dt), mask (B, L) (see `collate_text_features`)."""
        return collate_text_features([self.get(s) for s in sentences])

    @property
    def namespace(self) -> str:
        return self.spec.namespace

