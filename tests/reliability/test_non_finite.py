"""A NaN feature or a non-finite gradient stops training with one line naming the iteration and the batch's
samples; no checkpoint with NaN weights is written and `--resume` picks the last good one."""
from types import SimpleNamespace

import pytest
import torch
from testing_utils import TINY_TOY, one_line_error

from imagin4d.engine.hooks import NonFiniteStopHook
from imagin4d.structures import HOIDataSample
from imagin4d.utils.errors import TrainingDivergedError

pytestmark = pytest.mark.fault


def _all_finite(path):
    ckpt = torch.load(path, weights_only=False)
    tensors = [*ckpt['state_dict'].values(), *ckpt.get('ema_state_dict', {}).values()]
    return all(bool(torch.isfinite(t).all()) for t in tensors if t.is_floating_point())


def test_nan_feature_stops_training_and_keeps_the_last_good_checkpoint(tools_runner, tmp_path):
    work = tmp_path / 'work'
    # sample 0's feature is NaN: with seed 0 it is first drawn in the batch of iteration 6
    result = tools_runner('tools/train.py', TINY_TOY, '--work-dir', work, '--cfg-options',
                          'train_dataloader.dataset.nan_index=0', 'train_cfg.max_iters=8',
                          'default_hooks.checkpoint.interval=1', check=False)
    line = one_line_error(result)
    assert 'training stopped at iteration 6: non-finite loss loss=nan' in line
    assert 'non-finite inputs: inputs' in line and f"last good checkpoint is {work / 'iter_5.pth'}" in line
    saved = sorted(work.glob('iter_*.pth'))
    assert saved and saved[-1].name == 'iter_5.pth' and all(_all_finite(p) for p in saved)
    assert (work / 'last_checkpoint').read_text().strip() == str(work / 'iter_5.pth')

    again = tools_runner('tools/train.py', TINY_TOY, '--work-dir', work, '--resume', '--cfg-options',
                         'train_cfg.max_iters=6', 'default_hooks.checkpoint.interval=1')
    assert 'resumed epoch: 0, iter: 5' in again.stdout + again.stderr
    assert _all_finite(work / 'iter_6.pth')


def _sample(name, start):
    sample = HOIDataSample()
    sample.set_metainfo(dict(seq_name=name, window_start=start))
    return sample


def test_non_finite_gradient_names_iteration_weights_and_samples(tmp_path):
    model = torch.nn.Linear(3, 2)
    runner = SimpleNamespace(model=model, iter=41, work_dir=str(tmp_path))
    batch = dict(inputs=dict(motion=torch.zeros(2, 3)), data_samples=[_sample('sub3_box_012', 0),
                                                                      _sample('sub5_chair_007', 60)])
    hook = NonFiniteStopHook()
    hook.after_train_iter(runner, 0, batch, dict(loss=torch.tensor(0.5)))       # all finite: nothing happens
    with torch.no_grad():
        model.bias[1] = float('inf')                                             # what an inf gradient leaves
    (tmp_path / 'last_checkpoint').write_text(str(tmp_path / 'iter_40.pth'))
    with pytest.raises(TrainingDivergedError) as info:
        hook.after_train_iter(runner, 0, batch, dict(loss=torch.tensor(0.5)))
    message = str(info.value)
    assert message.startswith('training stopped at iteration 42: non-finite weights after the update')
    assert "['bias']" in message and 'samples sub3_box_012@0, sub5_chair_007@60' in message
    assert f"last good checkpoint is {tmp_path / 'iter_40.pth'}" in message


@pytest.mark.parametrize('dtype', [torch.float32, torch.float64, torch.bfloat16])
def test_all_finite_finds_every_non_finite_element_and_only_those(dtype):
    from imagin4d.engine.hooks.non_finite_stop_hook import all_finite
    gen = torch.Generator().manual_seed(0)
    tensors = [torch.randn(shape, generator=gen).to(dtype) for shape in ((7,), (3, 5), (2, 3, 4), (0,))]
    big = torch.finfo(dtype).max
    tensors.append(torch.tensor([big, -big], dtype=dtype))    # finite, though x * x or a norm would overflow
    assert all_finite(tensors)
    for index in range(4):                                     # each position of a multi-element tensor
        for bad in (float('nan'), float('inf'), float('-inf')):
            broken = [t.clone() for t in tensors]
            broken[2].view(-1)[index * 5] = bad
            assert not all_finite(broken), (index, bad)
