"""Storyboards (issue 29): SFIE and the frame-aware encoder read K reference images per sample.

With K = 1 both reproduce the single-image computation (written out here from the encoders' parts, the formula of
the single-image design), so K = 1 checkpoints and numbers are today's; with K > 1 each image gates its own window
and each frame reads the image nearest in time.
"""
import pytest
import torch

from imagin4d.models.cues import FrameAwareImageEncoder, SpatiallyFactorizedImageEncoder, gaussian_window

B, N, CI, T, C, DT = 3, 9, 24, 16, 32, 20


def _sfie(**kwargs):
    torch.manual_seed(0)
    cfg = dict(image_dim=CI, out_dim=C, num_frames=T, head_dim=32, depth=1, num_heads=4, role_latent_dim=8,
               ae_hidden_dim=32, placement_hidden_dim=32, window_sigma=4.0)
    cfg.update(kwargs)
    return SpatiallyFactorizedImageEncoder(**cfg).eval()


def _faie():
    torch.manual_seed(1)
    return FrameAwareImageEncoder(image_dim=CI, text_dim=DT, out_dim=C, dim=32, depth=1, num_heads=4).eval()


def _inputs(seed=0, k=1):
    gen = torch.Generator().manual_seed(seed)
    frame_mask = torch.ones(B, T, dtype=torch.bool)
    frame_mask[1, 11:] = False
    return dict(patches=torch.randn(B, k, N, CI, generator=gen), frame_mask=frame_mask,
                text_pooled=torch.randn(B, DT, generator=gen), text_tokens=torch.randn(B, 5, DT, generator=gen))


def _sfie_single_formula(sfie, patches, frame_mask):
    """Today's SFIE on one image (B, N, Ci), from its parts: window(t̂) * W_s s, and MLP(s)."""
    tokens = sfie.role_tokens(patches)
    summary = torch.cat(list(tokens.values()), -1)
    logits = sfie.placement(summary)[:, :T].masked_fill(~frame_mask, float('-inf'))
    t_hat = (logits.softmax(-1) * torch.arange(T, dtype=torch.float32)).sum(-1)
    window = gaussian_window(t_hat, T, sfie.window_sigma) * frame_mask
    return window[..., None] * sfie.to_spatial(summary)[:, None], sfie.to_base(summary), t_hat


def test_sfie_one_image_storyboard_equals_the_single_image_computation():
    sfie, x = _sfie(), _inputs()
    spatial, base, t_hat = _sfie_single_formula(sfie, x['patches'][:, 0], x['frame_mask'])
    single = sfie(x['patches'][:, 0], frame_mask=x['frame_mask'])
    board = sfie(x['patches'], frame_mask=x['frame_mask'], image_mask=torch.ones(B, 1, dtype=torch.bool))
    for out in (single, board):
        torch.testing.assert_close(out['spatial_image'], spatial, atol=1e-6, rtol=0)
        torch.testing.assert_close(out['base'], base, atol=1e-6, rtol=0)
    assert torch.equal(single['spatial_image'], board['spatial_image']) and torch.equal(single['base'], board['base'])
    torch.testing.assert_close(sfie.last_aux['image_times'][:, 0], t_hat, atol=1e-5, rtol=0)


def test_sfie_state_dict_keys_unchanged_and_head_losses_equal_for_one_image():
    sfie, x = _sfie(), _inputs()
    assert all(not k.startswith(('storyboard', 'image_')) for k in sfie.state_dict())
    motion = torch.randn(B, T, 220)
    from imagin4d.models.cues import role_quantities_from_motion
    t_star = torch.tensor([3, 7, 10])
    sfie(x['patches'][:, 0], frame_mask=x['frame_mask'])
    roles = role_quantities_from_motion(motion, t_star)
    single = sfie.head_losses(roles, t_star)
    sfie(x['patches'], frame_mask=x['frame_mask'], image_mask=torch.ones(B, 1, dtype=torch.bool))
    m, t = sfie.image_targets(motion, t_star, t_star[:, None])
    assert torch.equal(t, t_star) and torch.equal(m, motion)
    board = sfie.head_losses(role_quantities_from_motion(m, t), t)
    for key in single:
        torch.testing.assert_close(board[key], single[key], atol=1e-6, rtol=0)


def test_sfie_storyboard_gates_each_image_with_its_own_window():
    sfie, x = _sfie(window_sigma=2.0), _inputs(k=2)
    frames = torch.tensor([[2, 12]] * B)
    out = sfie(x['patches'], num_frames=T, image_frames=frames)
    assert out['spatial_image'].shape == (B, T, C) and out['base'].shape == (B, C)
    torch.testing.assert_close(sfie.last_aux['image_times'], frames.float())
    # each image alone, at its given frame: its gated stream
    alone = [sfie(x['patches'][:, k:k + 1], num_frames=T, image_frames=frames[:, k:k + 1]) for k in range(2)]
    w = torch.stack([gaussian_window(frames[:, k].float(), T, 2.0) for k in range(2)], 1)    # (B, 2, T)
    share = w / w.sum(1, keepdim=True)
    expected = sum(share[:, k, :, None] * alone[k]['spatial_image'] for k in range(2))
    torch.testing.assert_close(out['spatial_image'], expected, atol=1e-6, rtol=1e-5)
    # far from the other image's window (5 sigma), a frame carries only its own image
    torch.testing.assert_close(out['spatial_image'][:, 2], alone[0]['spatial_image'][:, 2], atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(out['spatial_image'][:, 12], alone[1]['spatial_image'][:, 12], atol=1e-5, rtol=1e-5)
    # where the windows overlap the stream is a convex mix, not a sum: never above the larger gated stream
    norms = torch.stack([a['spatial_image'].norm(dim=-1) for a in alone])                 # (2, B, T)
    assert bool((out['spatial_image'].norm(dim=-1) <= norms.max(0).values + 1e-5).all())
    torch.testing.assert_close(out['base'], (alone[0]['base'] + alone[1]['base']) / 2)
    # a padded image changes nothing: K = 2 with the second masked out equals K = 1
    mask = torch.tensor([[True, False]] * B)
    padded = sfie(x['patches'], num_frames=T, image_frames=frames, image_mask=mask)
    torch.testing.assert_close(padded['spatial_image'], alone[0]['spatial_image'], atol=1e-6, rtol=0)
    torch.testing.assert_close(padded['base'], alone[0]['base'], atol=1e-6, rtol=0)
    assert torch.isnan(sfie.last_aux['image_times'][:, 1]).all()


def test_sfie_predicts_frames_not_given_and_keeps_given_ones():
    sfie, x = _sfie(), _inputs(k=2)
    sfie(x['patches'], num_frames=T)
    predicted = sfie.last_aux['image_times'].clone()
    sfie(x['patches'], num_frames=T, image_frames=torch.tensor([[5, -1]] * B))
    times = sfie.last_aux['image_times']
    assert torch.equal(times[:, 0], torch.full((B,), 5.0)) and torch.equal(times[:, 1], predicted[:, 1])
    assert sfie.provided()['image_times'].shape == (B, 2)
    with pytest.raises(ValueError, match='image_frames'):
        sfie(x['patches'], num_frames=T, image_frames=torch.tensor([[5, T]] * B))


def test_faie_one_image_storyboard_equals_the_single_image_computation():
    enc, x = _faie(), _inputs()
    queries = enc.frame_queries(B, T, x['text_pooled'], x['text_tokens'])
    expected = enc.out_proj(enc.qformer(x['patches'][:, 0], queries=queries, query_mask=x['frame_mask']))
    kw = dict(text_pooled=x['text_pooled'], text_tokens=x['text_tokens'], frame_mask=x['frame_mask'])
    single = enc(x['patches'][:, 0], **kw)['frame_tokens']
    board = enc(x['patches'], image_mask=torch.ones(B, 1, dtype=torch.bool), **kw)['frame_tokens']
    torch.testing.assert_close(single, expected, atol=1e-6, rtol=0)
    torch.testing.assert_close(board, expected, atol=1e-6, rtol=0)


def test_faie_frames_read_the_image_nearest_in_time():
    enc, x = _faie(), _inputs(k=2)
    times = torch.tensor([[3.0, 12.0]] * B)
    kw = dict(text_pooled=x['text_pooled'], text_tokens=x['text_tokens'], num_frames=T)
    board = enc(x['patches'], image_times=times, **kw)['frame_tokens']
    queries = enc.frame_queries(B, T, x['text_pooled'], x['text_tokens'])
    nearest0 = torch.arange(T) <= 7                       # |t - 3| <= |t - 12| (ties go to the earlier image)
    for k, frames in ((0, nearest0), (1, ~nearest0)):
        group = frames[None].expand(B, T)
        ref = enc.out_proj(enc.qformer(x['patches'][:, k], queries=queries, query_mask=group))
        torch.testing.assert_close(board[:, frames], ref[:, frames], atol=1e-5, rtol=1e-5)
    # swapping the images' times swaps which frames read which image
    swapped = enc(x['patches'], image_times=times.flip(1), **kw)['frame_tokens']
    assert not torch.allclose(swapped[:, 0], board[:, 0])
