"""DINOv2 backbone: local checkpoints only, official/timm/Hugging Face layouts, position-embedding resampling."""
import numpy as np
import pytest
import torch

from imagin4d.models.backbones import DINOV2_ARCHS, DINOv2Backbone, DINOv2ViT, to_official_layout
from imagin4d.registry import MODELS

TINY = dict(embed_dim=32, depth=2, num_heads=2)


def _images(n=2, seed=0):
    return list(np.random.default_rng(seed).integers(0, 255, (n, 80, 60, 3), dtype=np.uint8))


def test_no_checkpoint_is_a_clear_error():
    with pytest.raises(ValueError, match='checkpoint=<local weights file>.*never downloaded'):
        DINOv2Backbone(arch='vits14')
    with pytest.raises(FileNotFoundError, match='does not exist'):
        DINOv2Backbone(arch=TINY, checkpoint='/nonexistent/dinov2.pth')


def test_random_init_shapes_and_frozen():
    model = MODELS.build(dict(type='DINOv2Backbone', arch=TINY, allow_random_init=True,
                              preprocess=dict(size=56)))
    out = model.encode(_images())
    assert out['patch'].shape == (2, 16, 32) and out['pooled'].shape == (2, 32)
    assert model.grid_hw == (4, 4)
    assert model.weights_id.startswith('random-') and model.weights_files == ()
    assert not model.training and not any(p.requires_grad for p in model.parameters())
    with pytest.raises(ValueError, match='multiple of 14'):
        DINOv2Backbone(arch=TINY, allow_random_init=True, preprocess=dict(size=50))


def test_released_archs_have_the_published_sizes():
    sizes = {}
    for arch in ('vits14', 'vitb14'):
        with torch.device('meta'):  # shapes only, no memory or initialisation cost
            vit = DINOv2ViT(**DINOV2_ARCHS[arch])
        sizes[arch] = sum(p.numel() for p in vit.parameters())
    # ViT-S/14 and ViT-B/14 of DINOv2 hold 22.06 M and 86.58 M parameters (incl. mask token, 37x37 pos-embed).
    assert abs(sizes['vits14'] / 1e6 - 22.06) < 0.01 and abs(sizes['vitb14'] / 1e6 - 86.58) < 0.01


@pytest.mark.parametrize('suffix', ['.pth', '.safetensors'])
def test_checkpoint_round_trip(tmp_path, suffix):
    source = DINOv2Backbone(arch=TINY, allow_random_init=True, seed=3, preprocess=dict(size=56))
    state = {k: v.clone() for k, v in source.vit.state_dict().items()}
    path = tmp_path / f'tiny{suffix}'
    if suffix == '.pth':
        torch.save({'model': state}, path)
    else:
        from safetensors.torch import save_file
        save_file(state, str(path))
    loaded = DINOv2Backbone(arch=TINY, checkpoint=path, preprocess=dict(size=56))
    images = _images()
    torch.testing.assert_close(loaded.encode(images)['patch'], source.encode(images)['patch'], rtol=0, atol=0)
    assert len(loaded.weights_id) == 16 and loaded.weights_files == (str(path.resolve()),)
    other = DINOv2Backbone(arch=TINY, allow_random_init=True, seed=4, preprocess=dict(size=56))
    assert (other.encode(images)['patch'] - source.encode(images)['patch']).abs().max() > 1e-3


def test_timm_layout_with_registers_loads(tmp_path):
    source = DINOv2Backbone(arch=TINY, num_register_tokens=4, allow_random_init=True, preprocess=dict(size=56))
    state = source.vit.state_dict()
    timm_state = {('reg_token' if k == 'register_tokens' else k): v for k, v in state.items()
                  if k != 'mask_token'}
    torch.save(timm_state, tmp_path / 'timm.pth')
    loaded = DINOv2Backbone(arch=TINY, num_register_tokens=4, checkpoint=tmp_path / 'timm.pth',
                            preprocess=dict(size=56))
    torch.testing.assert_close(loaded.encode(_images())['pooled'], source.encode(_images())['pooled'])


def test_matches_huggingface_dinov2():
    """Same weights through transformers' Dinov2Model and our ViT give the same tokens (native grid and
    resampled grid, the latter with the Hugging Face resampling: interpolate_offset=0)."""
    transformers = pytest.importorskip('transformers')
    torch.manual_seed(0)
    config = transformers.Dinov2Config(hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                                       image_size=56, patch_size=14, layerscale_value=0.3)
    reference = transformers.Dinov2Model(config).eval()
    state = {k: v + 0.02 * torch.randn_like(v) for k, v in reference.state_dict().items()}
    reference.load_state_dict(state)
    ours = DINOv2ViT(**TINY, pretrain_grid=4, interpolate_offset=0).eval()
    ours.load_state_dict(to_official_layout(state), strict=True)
    for side in (56, 84):
        pixels = torch.randn(2, 3, side, side)
        with torch.no_grad():
            expected = reference(pixel_values=pixels).last_hidden_state
            cls, patches = ours(pixels)
        torch.testing.assert_close(cls, expected[:, 0], rtol=1e-5, atol=1e-5)
        torch.testing.assert_close(patches, expected[:, 1:], rtol=1e-5, atol=1e-5)


def test_position_embeddings_resample_to_other_grids():
    vit = DINOv2ViT(**TINY, pretrain_grid=37)
    assert vit.position_embeddings(16, 16).shape == (1, 257, 32)
    assert vit.position_embeddings(37, 37) is vit.pos_embed
