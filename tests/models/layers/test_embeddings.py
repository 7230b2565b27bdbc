"""Sinusoidal, timestep and frame-index embeddings: hand-checked values and shapes."""
import math

import pytest
import torch

from imagin4d.models.layers import (FrameIndexEmbedding, TimestepEmbedding, sinusoidal_embedding,
                                    sinusoidal_positions)


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
