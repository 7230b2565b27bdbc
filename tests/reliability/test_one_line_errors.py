"""Mistakes and faults around a run are one line naming the file or key and what was expected (no traceback;
`IMAGIN4D_DEBUG=1` shows it): bad `--cfg-options`, an unknown optimiser, outputs that cannot be written (checked
before training or evaluating), a disk that fills up during a checkpoint save, a truncated reference image."""
import errno
import os

import pytest
import torch
from testing_utils import REPO, TINY_TOY, one_line_error

from imagin4d.utils.errors import UserError

pytestmark = pytest.mark.fault


@pytest.mark.parametrize('option, expected', [
    ('train_cfg.max_iter=5', "train_cfg (IterBasedTrainLoop) has no setting 'max_iter'; it takes max_iters"),
    ('train_cfg.max_iters=abc', "train_cfg.max_iters='abc': expected a number (like 4)"),
    ('train_dataloader.batch_sise=2', "train_dataloader (DataLoader) has no setting 'batch_sise'"),
    ('optim_wrapper.clip_grad=abc', "optim_wrapper.clip_grad='abc': expected a dict or None (OptimWrapper.clip_grad)"),
    ('max_iters', "--cfg-options 'max_iters': expected KEY=VALUE"),
    ('optim_wrapper.optimizer.type=Adamz', "optim_wrapper.optimizer.type: unknown type 'Adamz' in the 'optimizer' "
                                           'registry (scope \'imagin4d\'); closest registered names: Adam'),
])
def test_bad_config_options(tools_runner, tmp_path, option, expected):
    line = one_line_error(tools_runner('tools/train.py', TINY_TOY, '--work-dir', tmp_path / 'w', '--cfg-options',
                                       option, check=False))
    assert expected in line
    assert not (tmp_path / 'w' / 'iter_2.pth').exists()


MINI = 'projects/imagin4d/mini_fbm_sfie.py'


@pytest.mark.parametrize('option, expected', [
    # no typed default in the config: the type comes from the component's annotation (nested ones too)
    ('optim_wrapper.clip_grad=abc', "expected a dict of settings like {'max_norm': 1.0}, or None"),
    ('optim_wrapper.optimizer.betas=abc', 'expected a tuple (AdamW.betas, default (0.9, 0.999))'),
    ('model.denoiser.stream_fusion=5', "expected a string (RoleAwareDenoiser.stream_fusion, default 'sum')"),
    ('model.denoiser.head_dim=abc', 'expected a number or None (RoleAwareDenoiser.head_dim)'),
    ('default_hooks.checkpoint.save_best=5', 'expected a string, a list or None (CheckpointHook.save_best)'),
    ('train_dataloader.prefetch_factor=[2]', 'expected a number or None (DataLoader.prefetch_factor)'),
    ('train_dataloader.pin_memory=yes', "train_dataloader.pin_memory='yes': expected True or False"),
    # a misspelt setting of a nested component (a cue encoder would drop it with a warning only)
    ('model.image_encoder.queries_per_rol=2', "model.image_encoder (SpatiallyFactorizedImageEncoder) has no setting "
                                              "'queries_per_rol'; it takes image_dim, out_dim, num_frames"),
])
def test_wrong_typed_option_without_a_typed_default(option, expected):
    from mmengine.config import Config

    from imagin4d.engine.config_checks import ConfigError, ConfigOptionsAction, check_cfg_options
    key, text = option.split('=', 1)
    with pytest.raises(ConfigError) as err:
        check_cfg_options(Config.fromfile(MINI), {key: ConfigOptionsAction._parse_iterable(text)})
    assert str(err.value).startswith(f'--cfg-options {key}') and expected in str(err.value)


@pytest.mark.parametrize('option', [
    'optim_wrapper.clip_grad=None', 'optim_wrapper.clip_grad.max_norm=2', 'optim_wrapper.optimizer.betas=(0.9,0.99)',
    'optim_wrapper.optimizer.betas=[0.9,0.99]', 'model.denoiser.stream_fusion=separate', 'model.denoiser.head_dim=32',
    'model.denoiser.head_dim=None', 'model.denoiser.stream_names=[base,waypoint]',
    'default_hooks.checkpoint.save_best=auto', 'default_hooks.checkpoint.save_best=[a,b]',
    'train_dataloader.prefetch_factor=2', 'model.diffusion.clip_x0=None',
    'train_dataloader.dataset.bps_frame=3',
    'model.image_encoder.type=GlobalTokenImageEncoder model.image_encoder.pool=mean',   # a setting of the new type
])
def test_well_typed_options_pass(option):
    from mmengine.config import Config

    from imagin4d.engine.config_checks import ConfigOptionsAction, check_cfg_options
    check_cfg_options(Config.fromfile(MINI), {key: ConfigOptionsAction._parse_iterable(text)
                                              for key, text in (item.split('=', 1) for item in option.split())})


def test_misspelt_setting_in_a_config_file_is_one_line(tools_runner, tmp_path):
    # not an option: the builder's TypeError, named with the class being built and where it sits
    config = tmp_path / 'typo.py'
    config.write_text(f"_base_ = [{str(REPO / MINI)!r}]\nmodel = dict(denoiser=dict(dept=5))\n")
    result = tools_runner('tools/train.py', config, '--work-dir', tmp_path / 'w',
                          env=dict(IMAGIN4D_MINI_FBM_ROOT=str(tmp_path / 'no_data')), check=False)
    line = one_line_error(result)
    assert "RoleAwareDenoiser (inside HOIDiffusion) has no setting 'dept'" in line and 'takes motion_dim, width, ' \
        'depth, num_heads' in line


def test_other_type_errors_keep_their_traceback():
    import toy_hoi  # noqa: F401  (registers the toy data set)

    from imagin4d.engine.config_checks import explain_unexpected_setting
    from imagin4d.registry import DATASETS
    with pytest.raises(TypeError) as err:
        DATASETS.build(dict(type='ToyRegressionDataset', size=4, sise=3))   # a class of the toy fixture package
    assert explain_unexpected_setting(err.value) == (
        "ToyRegressionDataset has no setting 'sise' (a misspelt key in the config or in --cfg-options?); it takes "
        'size, seed, nan_index')
    with pytest.raises(TypeError) as err:
        sorted([1, 'a'])
    assert explain_unexpected_setting(err.value) is None


def test_debug_still_shows_the_traceback(tools_runner, tmp_path):
    result = tools_runner('tools/train.py', TINY_TOY, '--work-dir', tmp_path, '--cfg-options',
                          'train_cfg.max_iters=abc', env=dict(IMAGIN4D_DEBUG='1'), check=False)
    assert result.returncode != 0 and 'Traceback' in result.stderr and 'ConfigError' in result.stderr


def test_outputs_that_cannot_be_written_are_found_first(tools_runner, toy_work_dir, tmp_path):
    blocker = tmp_path / 'a_file'
    blocker.write_text('not a folder')
    line = one_line_error(tools_runner('tools/train.py', TINY_TOY, '--work-dir', blocker / 'work', check=False))
    assert f'the work dir {blocker / "work"} cannot be written' in line
    result = tools_runner('tools/test.py', TINY_TOY, toy_work_dir / 'iter_4.pth', '--work-dir', tmp_path / 't',
                          '--out', blocker / 'metrics.json', check=False)
    assert f'--out {blocker / "metrics.json"} cannot be written' in one_line_error(result)
    assert 'Iter(test)' not in result.stdout + result.stderr            # refused before evaluating


def test_disk_full_during_a_checkpoint_save(tmp_path, monkeypatch, capsys):
    from mmengine.runner.checkpoint import save_checkpoint

    from imagin4d.engine.runner_setup import run_cli
    target = tmp_path / 'iter_4.pth'
    save_checkpoint(dict(state_dict=dict(w=torch.zeros(3))), str(target))
    before = target.read_bytes()

    def full(fd):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
    monkeypatch.setattr(os, 'fsync', full)
    with pytest.raises(UserError, match=rf'{target} could not be written \(No space left on device'):
        save_checkpoint(dict(state_dict=dict(w=torch.ones(1000))), str(target))
    assert target.read_bytes() == before and sorted(p.name for p in tmp_path.iterdir()) == ['iter_4.pth']
    with pytest.raises(SystemExit):
        run_cli(lambda: save_checkpoint(dict(state_dict=dict(w=torch.ones(3))), str(target)))
    lines = capsys.readouterr().err.strip().splitlines()
    assert lines[0].startswith(f'error: {target} could not be written (No space left on device')


def test_truncated_reference_image_says_re_render(tools_runner, tmp_path):
    import numpy as np
    from PIL import Image

    from imagin4d.datasets.transforms.reference_features import check_reference_image
    from imagin4d.utils.errors import DataError
    image = tmp_path / 'ref.png'
    Image.fromarray((np.random.default_rng(0).random((64, 64, 3)) * 255).astype(np.uint8)).save(image)
    check_reference_image(str(image))
    image.write_bytes(image.read_bytes()[:2000])
    with pytest.raises(DataError, match=rf'reference image {image} is truncated or corrupt .*re-render it'):
        check_reference_image(str(image))
    line = one_line_error(tools_runner('tools/data/cache_features.py', '--images', image, '--out',
                                       tmp_path / 'cache', check=False))
    assert f'reference image {image} is truncated or corrupt' in line and 're-render it' in line
