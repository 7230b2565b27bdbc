"""One body-model setting per data set config reaches the data sets and metrics; hooks named by type in
--cfg-options; short runs of the GPU-sized configs (EMA begin clamped, persistent workers off without workers)."""
import pytest
import torch

from imagin4d.engine.config_checks import ConfigError
from imagin4d.engine.runner_setup import load_config

CONFIGS = {'fbm': 'projects/imagin4d/fbm_sfie.py', 'behave': 'projects/imagin4d/behave_sfie.py',
           'mini_fbm': 'projects/imagin4d/mini_fbm_sfie.py'}


def _body_model_roots(cfg):
    """Every body_model_root the built components will get: the data sets', then the metrics' that take one."""
    roots = [cfg[f'{s}_dataloader'].dataset.body_model_root for s in ('train', 'val', 'test')]
    for name in ('val_evaluator', 'test_evaluator'):
        roots += [m.body_model_root for m in cfg[name] if m.type == 'ImageAdherenceMetric']
    return roots


@pytest.mark.parametrize('name', list(CONFIGS))
def test_one_body_model_root_reaches_data_sets_and_metrics(name, monkeypatch):
    monkeypatch.delenv('IMAGIN4D_BODY_MODEL_DIR', raising=False)
    default = load_config(CONFIGS[name])
    expected = '{data_root}' if name == 'behave' else '{data_root}/smpl_all_models'
    assert default.body_model_root == expected and set(_body_model_roots(default)) == {expected}
    assert len(_body_model_roots(default)) == 5           # 3 data sets + the metric of val and test
    moved = load_config(CONFIGS[name], {'body_model_root': '/models/here'})
    assert set(_body_model_roots(moved)) == {'/models/here'}
    monkeypatch.setenv('IMAGIN4D_BODY_MODEL_DIR', '/models/env')
    assert set(_body_model_roots(load_config(CONFIGS[name]))) == {'/models/env'}


def test_a_hook_is_addressed_by_its_type():
    cfg = load_config(CONFIGS['fbm'], {'custom_hooks.EMAHook.momentum': 0.001})
    ema = [h for h in cfg.custom_hooks if h.type == 'EMAHook']
    assert len(ema) == 1 and ema[0].momentum == 0.001 and ema[0].interval == 10
    with pytest.raises(ConfigError, match=r"custom_hooks.NoSuchHook.x: hook 'NoSuchHook' is not in custom_hooks "
                                          r'\(custom_hooks: 0: CodecStatsHook, 1: PluginInfoHook, 2: EMAHook\)'):
        load_config(CONFIGS['fbm'], {'custom_hooks.NoSuchHook.x': 1})
    with pytest.raises(ConfigError, match=r"custom_hooks.2.momentum='abc': expected a number"):
        load_config(CONFIGS['fbm'], {'custom_hooks.EMAHook.momentum': 'abc'})  # then checked as any option


def test_short_run_settings_are_adjusted_with_a_note(monkeypatch):
    notes = []
    monkeypatch.setattr('imagin4d.engine.config_derive._note', notes.append)
    cfg = load_config(CONFIGS['fbm'], {'train_cfg.max_iters': 3, 'train_dataloader.num_workers': 0})
    assert [h.begin_iter for h in cfg.custom_hooks if h.type == 'EMAHook'] == [3]
    assert cfg.train_dataloader.persistent_workers is False and cfg.val_dataloader.persistent_workers is True
    log = '\n'.join(notes)
    assert 'EMAHook.begin_iter=2000 is past train_cfg.max_iters=3' in log
    assert 'train_dataloader.num_workers=0: persistent_workers turned off' in log
    full = load_config(CONFIGS['fbm'])
    assert [h.begin_iter for h in full.custom_hooks if h.type == 'EMAHook'] == [2000]


def test_short_run_of_the_gpu_sized_config(mini_fbm_prepared, tools_runner, tmp_path, monkeypatch):
    """fbm_sfie.py (CHOIS size, GPU schedule) on the small mini-FBM (FBM release layout), overridden in iterations,
    batch size, workers and sampling steps: the EMA begins within the run, and the validation at the end finds the
    body model through the config's one body_model_root (the data set's and the silhouette metric's)."""
    monkeypatch.delenv('IMAGIN4D_BODY_MODEL_DIR', raising=False)      # the release's own smpl_all_models
    result = tools_runner('tools/train.py', CONFIGS['fbm'], '--work-dir', tmp_path / 'wd', '--cfg-options',
                          'train_cfg.max_iters=2', 'train_dataloader.batch_size=2', 'train_dataloader.num_workers=0',
                          'val_dataloader.batch_size=4', 'val_dataloader.num_workers=0', 'model.test_cfg.num_steps=2',
                          'custom_hooks.EMAHook.momentum=0.5', 'default_hooks.logger.interval=1',
                          env=dict(IMAGIN4D_FBM_ROOT=mini_fbm_prepared, OMP_NUM_THREADS='1'))
    log = result.stdout + result.stderr
    assert 'EMAHook.begin_iter=2000 is past train_cfg.max_iters=2' in log
    assert 'train_dataloader.num_workers=0: persistent_workers turned off' in log
    assert 'val_dataloader.num_workers=0: persistent_workers turned off' in log
    assert 'ia_iou_body:' in log                                  # silhouettes: the body model was found
    ckpt = torch.load(tmp_path / 'wd' / 'iter_2.pth', map_location='cpu', weights_only=False)
    assert ckpt['ema_state_dict'] and ckpt['meta']['iter'] == 2
