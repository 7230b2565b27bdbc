"""Reusable layers: the attention dispatch, embeddings, AdaLN-Zero modulation, transformer and Q-Former blocks."""
from .adaln import AdaLNZero, GatedStream, gated_residual, modulate
from .attention_dispatch import AttentionBackend, attention, available_backends, get_backend
from .dropout import Dropout, dropout
from .embeddings import (
                         FrameIndexEmbedding,
                         PatchPositionEmbedding,
                         TimestepEmbedding,
                         grid_fourier_features,
                         sinusoidal_embedding,
                         sinusoidal_positions,
)
from .interpolated_tokens import InterpolatedTokens, concat_tokens
from .qformer import PatchProjection, QFormer, QFormerBlock
from .stacked_qformer import StackedLayerNorm, StackedLinear, StackedQFormer
from .transformer import AdaLNFinalLayer, AdaLNTransformerBlock, Mlp, MultiHeadAttention, set_attn_backend

__all__ = ['AttentionBackend', 'attention', 'available_backends', 'get_backend', 'Dropout', 'dropout',
           'AdaLNZero', 'GatedStream', 'gated_residual', 'modulate',
           'FrameIndexEmbedding', 'TimestepEmbedding', 'sinusoidal_embedding', 'sinusoidal_positions',
           'PatchPositionEmbedding', 'grid_fourier_features',
           'InterpolatedTokens', 'concat_tokens', 'PatchProjection', 'QFormer', 'QFormerBlock',
           'StackedLayerNorm', 'StackedLinear', 'StackedQFormer',
           'AdaLNFinalLayer', 'AdaLNTransformerBlock', 'Mlp', 'MultiHeadAttention', 'set_attn_backend']
