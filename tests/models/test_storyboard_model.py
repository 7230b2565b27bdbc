"""HOIDiffusion with storyboards (issue 29): K = 1 as a (B, 1, N, Ci) storyboard gives today's conditions, loss and
generation; K > 1 with a mask trains (every image's SFIE heads get their own t*) and a K = 1 checkpoint loads
strictly and accepts K > 1."""
import copy

import pytest
import torch
from mmengine.config import Config
from mmengine.registry import init_default_scope
from testing_utils import REPO

from imagin4d.utils.errors import UserError

B, T, N, CI = 2, 24, 4, 1280


def _model(**overrides):
    init_default_scope('imagin4d')
    from imagin4d.registry import MODELS
    cfg = copy.deepcopy(Config.fromfile(str(REPO / 'projects' / 'imagin4d' / 'mini_fbm_sfie.py')).model)
    cfg.update(loss_weights=dict(fk=0.0, object_surface=0.0), condition_dropout=dict(image=0.0, text=0.0))
    cfg.test_cfg.update(reconstruction_guidance=False)      # the batches here carry no object points
    cfg.update(overrides)
    torch.manual_seed(0)
    model = MODELS.build(cfg)
    from testing_utils import perturb_adaln
    perturb_adaln(model)
    pre = model.data_preprocessor
    pre.set_stats({name: torch.full_like(getattr(pre, f'stat_{name}'), -1.0 if name.endswith('min') else 1.0)
                   for name in pre._stat_names})
    return model.eval()


def _inputs(k=1, seed=0):
    gen = torch.Generator().manual_seed(seed)
    frame_mask = torch.ones(B, T, dtype=torch.bool)
    frame_mask[1, 20:] = False
    wmask = torch.zeros(B, T, 220, dtype=torch.bool)
    wmask[:, 0] = True
    motion = torch.rand(B, T, 220, generator=gen) * 2 - 1
    return dict(motion=motion, frame_mask=frame_mask, num_frames=T, waypoint_mask=wmask,
                waypoint_values=motion * wmask, bps=torch.randn(B, 1024, 3, generator=gen),
                text_pooled=torch.randn(B, 384, generator=gen), text_tokens=torch.randn(B, 5, 384, generator=gen),
                text_mask=torch.ones(B, 5, dtype=torch.bool), image_patch=torch.randn(B, k, N, CI, generator=gen),
                t_star=torch.tensor([5, 12]))


def _as_single(inputs):
    return dict(inputs, image_patch=inputs['image_patch'][:, 0])


def test_one_image_storyboard_gives_todays_conditions_loss_and_generation():
    model, board = _model(), _inputs(k=1)
    board['image_mask'] = torch.ones(B, 1, dtype=torch.bool)
    single = _as_single(board)
    a, b = model.encode(model._condition(single, False)), model.encode(model._condition(board, False))
    for name in a['streams']:
        torch.testing.assert_close(b['streams'][name], a['streams'][name], atol=1e-6, rtol=0)
    torch.testing.assert_close(b['frame_tokens'], a['frame_tokens'], atol=1e-6, rtol=0)
    model.train()
    losses = []
    for inputs in (single, dict(board, image_t_star=board['t_star'][:, None])):
        torch.manual_seed(3)
        losses.append(model.loss(inputs))
    assert set(losses[0]) == set(losses[1]) and 'loss_sfie_depicted_frame' in losses[0]
    for key in losses[0]:
        torch.testing.assert_close(losses[1][key], losses[0][key], atol=1e-6, rtol=0)
    model.eval()
    model.test_cfg.update(num_steps=2)
    x_single, info_single = model.generate(single)
    x_board, info_board = model.generate(board)
    torch.testing.assert_close(x_board, x_single, atol=1e-5, rtol=0)
    torch.testing.assert_close(info_board['t_hat'], info_single['t_hat'])


def test_storyboard_of_three_trains_with_padding_and_loads_a_one_image_checkpoint(tmp_path):
    model = _model()
    path = tmp_path / 'k1.pth'
    torch.save(model.state_dict(), path)
    fresh = _model()
    fresh.load_state_dict(torch.load(path), strict=True)            # the storyboard code adds no parameters
    x = _inputs(k=3)
    x['image_mask'] = torch.tensor([[True, True, True], [True, False, False]])
    x['image_t_star'] = torch.tensor([[3, 10, 20], [12, -1, -1]])
    fresh.train()
    losses = fresh.loss(x)
    assert all(torch.isfinite(v) for v in losses.values())
    sum(losses.values()).backward()
    grads = {slot: sum(float(p.grad.norm()) for p in enc.parameters() if p.grad is not None)
             for slot, enc in fresh.encoders.items()}
    assert grads['image_encoder'] > 0 and grads['frame_image_encoder'] > 0
    # the frame head is supervised on the 4 real images, not on the padding
    assert fresh.encoders['image_encoder'].last_aux['frame_logits'].shape[0] == 4
    fresh.eval()
    fresh.test_cfg.update(num_steps=2)
    x['image_frames'] = torch.tensor([[-1, 10, -1], [-1, -1, -1]])
    _, info = fresh.generate(x)
    assert info['image_times'].shape == (B, 3) and float(info['image_times'][0, 1]) == 10.0
    assert torch.isnan(info['image_times'][1, 1:]).all()


def test_a_single_image_encoder_refuses_a_storyboard_in_one_line():
    model = _model(image_encoder=dict(type='GlobalTokenImageEncoder', image_dim=CI, out_dim=128),
                   frame_image_encoder=None)
    with pytest.raises(UserError, match='reads one reference image, but the batch has 2 per sample'):
        model.encode(model._condition(_inputs(k=2), False))


def test_given_depicted_frame_gates_the_image_at_the_true_frame_only_when_asked():
    model, inputs = _model(), _inputs(k=1)
    model.test_cfg.update(num_steps=2)
    _, predicted = model.generate(_as_single(inputs))
    model.test_cfg['depicted_frame'] = 'given'
    _, given = model.generate(_as_single(inputs))
    assert given['image_times'][:, 0].tolist() == [5.0, 12.0]                  # the data's t*, not SFIE's t-hat
    assert predicted['image_times'][:, 0].tolist() != [5.0, 12.0]
    board = dict(inputs, image_patch=torch.randn(B, 2, N, CI), image_mask=torch.ones(B, 2, dtype=torch.bool),
                 image_t_star=torch.tensor([[3, 9], [4, 15]]))
    _, info = model.generate(board)
    assert info['image_times'].tolist() == [[3.0, 9.0], [4.0, 15.0]]            # a storyboard's frames, each image
    model.test_cfg['depicted_frame'] = 'oracle'
    with pytest.raises(ValueError, match="depicted_frame must be 'predicted' or 'given'"):
        model.generate(_as_single(inputs))
