"""Sinusoidal, timestep and frame-index embeddings: hand-checked values and shapes."""
import math

import pytest
import torch

from imagin4d.models.layers import (
    FrameIndexEmbedding,
    PatchPositionEmbedding,
    TimestepEmbedding,
    grid_fourier_features,
    sinusoidal_embedding,
    sinusoidal_positions,
)


def test_sinusoidal_values_by_hand():
    emb = sinusoidal_embedding(torch.tensor([0.0, 2.0]), dim=4, max_period=100.0)
    # half = 2, frequencies 100^0 = 1 and 100^(-1/2) = 0.1
    expected = torch.tensor([[1.0, 1.0, 0.0, 0.0],
                             [math.cos(2.0), math.cos(0.2), math.sin(2.0), math.sin(0.2)]])
    torch.testing.assert_close(emb, expected)
    odd = sinusoidal_embedding(torch.tensor([1.0]), dim=5)
    assert odd.shape == (1, 5) and odd[0, -1] == 0
    assert sinusoidal_positions(7, 6).shape == (7, 6)
    torch.testing.assert_close(sinusoidal_positions(7, 6)[3], sinusoidal_embedding(torch.tensor(3), 6))


def test_timestep_embedding_shapes():
    emb = TimestepEmbedding(out_dim=32, freq_dim=16)
    assert emb(torch.tensor([0, 10, 999])).shape == (3, 32)
    assert emb(5).shape == (1, 32)
    assert emb(torch.tensor([0.5, 1.5])).shape == (2, 32)


def test_frame_index_embedding_modes():
    sin = FrameIndexEmbedding(16)
    assert sin(10).shape == (10, 16) and sin(200).shape == (200, 16)
    torch.testing.assert_close(sin(10), sin(12)[:10])
    learned = FrameIndexEmbedding(16, mode='learned', max_frames=12)
    assert learned(12).shape == (12, 16)
    with pytest.raises(ValueError, match='exceed'):
        learned(13)
    with pytest.raises(ValueError, match='mode'):
        FrameIndexEmbedding(16, mode='rope')


def test_grid_fourier_features_by_hand_and_under_mirroring():
    feats = grid_fourier_features(2, 3, num_bands=1)           # rows v in (-1, 1), columns u in (-1, 0, 1)
    assert feats.shape == (6, 4)
    # band 0 has w = pi / 2. Patch 5 = row 1, column 2: v = 1, u = 1 -> sin, cos of pi/2 twice;
    # patch 1 = row 0, column 1: v = -1, u = 0 -> sin(-pi/2), cos(-pi/2), sin 0, cos 0
    torch.testing.assert_close(feats[5], torch.tensor([1.0, 0.0, 1.0, 0.0]), atol=1e-6, rtol=0)
    torch.testing.assert_close(feats[1], torch.tensor([-1.0, 0.0, 0.0, 1.0]), atol=1e-6, rtol=0)
    two = grid_fourier_features(7, 7, num_bands=2)
    assert two.shape == (49, 8) and len(torch.unique(two.round(decimals=4), dim=0)) == 49   # every patch distinct
    # left-right mirror (column c -> 6 - c) negates the u-sines (columns 4, 5) and keeps the rest
    mirrored = two.reshape(7, 7, 8).flip(1).reshape(49, 8)
    sign = torch.tensor([1.0, 1, 1, 1, -1, -1, 1, 1])
    torch.testing.assert_close(mirrored, two * sign, atol=1e-5, rtol=0)


def test_patch_position_embedding_starts_at_zero_and_checks_the_grid():
    emb = PatchPositionEmbedding(context_dim=12, num_bands=2)
    assert emb(49).shape == (49, 12) and torch.count_nonzero(emb(49)) == 0
    with pytest.raises(ValueError, match='grid_hw'):
        emb(48)
    rect = PatchPositionEmbedding(context_dim=12, num_bands=2, grid_hw=(4, 12))
    assert rect(48).shape == (48, 12)
