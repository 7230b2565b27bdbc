"""The real tools/train.py and tools/test.py on a tiny config: train, resume, test, sweep, DDP, bad input."""
import csv
import json
import textwrap

import pytest
import torch
from testing_utils import TINY_TOY
from toy_hoi import ToyRegressionDataset


def _expected_mse(state_dict, scale=1.0):
    """Independent expectation: the val/test split (seed 1) evaluated with the given linear weights."""
    data = ToyRegressionDataset(size=32, seed=1)
    pred = (data.x @ state_dict['linear.weight'].T + state_dict['linear.bias']) * scale
    return ((pred - data.y) ** 2).mean(dim=1).mean().item()


def _ema_weights(ckpt):
    # EMAHook swaps before saving: `state_dict` holds the averaged weights that val/test evaluate.
    return ckpt['state_dict']


def test_train_resume_test_and_sweep(tools_runner, tmp_path):
    work = tmp_path / 'work'
    first = tools_runner('tools/train.py', TINY_TOY, '--work-dir', work)
    assert (work / 'iter_2.pth').is_file() and (work / 'iter_4.pth').is_file()
    assert 'Iter(train) [1/4]' in first.stderr + first.stdout

    ckpt4 = torch.load(work / 'iter_4.pth', weights_only=False)
    assert ckpt4['meta']['iter'] == 4
    assert 'toy_hoi' in ckpt4['meta']['imagin4d_plugins']

    second = tools_runner('tools/train.py', TINY_TOY, '--work-dir', work, '--resume',
                          '--cfg-options', 'train_cfg.max_iters=6')
    log = second.stdout + second.stderr
    assert 'resumed epoch: 0, iter: 4' in log
    assert 'Iter(train) [5/6]' in log and 'Iter(train) [1/6]' not in log
    ckpt6 = torch.load(work / 'iter_6.pth', weights_only=False)
    assert ckpt6['meta']['iter'] == 6

    out = tmp_path / 'metrics.json'
    tools_runner('tools/test.py', TINY_TOY, work / 'iter_6.pth', '--work-dir', tmp_path / 'test', '--out', out)
    metrics = json.loads(out.read_text())
    assert metrics['toy/mse'] == pytest.approx(_expected_mse(_ema_weights(ckpt6)), rel=1e-5)

    sweep_out = tmp_path / 'sweep.json'
    tools_runner('tools/test.py', TINY_TOY, work / 'iter_6.pth', '--work-dir', tmp_path / 'test',
                 '--out', sweep_out, '--sweep', 'model.test_cfg.scale=0.0,0.5,1.0')
    with open(tmp_path / 'sweep.csv') as f:
        rows = list(csv.DictReader(f))
    assert [float(r['model.test_cfg.scale']) for r in rows] == [0.0, 0.5, 1.0]
    for row in rows:
        expected = _expected_mse(_ema_weights(ckpt6), scale=float(row['model.test_cfg.scale']))
        assert float(row['toy/mse']) == pytest.approx(expected, rel=1e-5)
    assert (tmp_path / 'sweep.md').read_text().startswith('| model.test_cfg.scale | toy/mse |')


@pytest.mark.slow
def test_torchrun_two_processes_on_cpu(tools_runner, tmp_path):
    work = tmp_path / 'ddp'
    result = tools_runner('torchrun', '--nproc_per_node=2', '--master_port=29631', 'tools/train.py', TINY_TOY,
                          '--work-dir', work, '--launcher', 'pytorch')
    assert 'Distributed training: True' in result.stdout + result.stderr
    rank0 = torch.load(work / 'params_rank0.pt')
    rank1 = torch.load(work / 'params_rank1.pt')
    assert rank0.keys() == rank1.keys()
    for key in rank0:
        assert torch.equal(rank0[key], rank1[key]), key
    # training really happened: the weights moved away from the seeded initialisation of iteration 0
    assert (work / 'iter_4.pth').is_file()
    # the ranks leave through compat.exit_distributed_run (os._exit): the log file still has the last line logged
    logs = sorted(work.glob('*/*.log'))
    assert logs and 'toy/mse' in logs[-1].read_text()


def _error(result):
    assert result.returncode != 0
    assert 'Traceback' not in result.stderr, result.stderr[-2000:]
    return result.stderr


def test_unknown_type_names_registry_and_close_matches(tools_runner, tmp_path):
    result = tools_runner('tools/train.py', TINY_TOY, '--work-dir', tmp_path,
                          '--cfg-options', 'model.type=ToyRegresor', check=False)
    message = _error(result)
    assert "unknown type 'ToyRegresor' in the 'model' registry" in message
    assert 'ToyRegressor' in message.split('closest registered names:')[1]


def test_missing_config_and_nothing_to_resume(tools_runner, tmp_path):
    assert 'config file missing.py does not exist' in _error(
        tools_runner('tools/train.py', 'missing.py', check=False))
    message = _error(tools_runner('tools/train.py', TINY_TOY, '--work-dir', tmp_path / 'empty', '--resume',
                                  check=False))
    assert 'nothing to resume' in message and 'empty' in message
    assert 'does not exist' in _error(tools_runner('tools/train.py', TINY_TOY, '--resume',
                                                   tmp_path / 'nope.pth', check=False))


def test_corrupt_checkpoint_is_named(tools_runner, tmp_path):
    bad = tmp_path / 'broken.pth'
    bad.write_bytes(b'this is not a checkpoint')
    message = _error(tools_runner('tools/test.py', TINY_TOY, bad, '--work-dir', tmp_path, check=False))
    assert f'{bad} is not a readable checkpoint' in message


def _write_entry_point_plugins(root):
    """Two installed-looking distributions: a working plugin and a broken one (metadata on sys.path)."""
    (root / 'goodcues.py').write_text(textwrap.dedent('''
        from imagin4d.registry import MODELS
        from toy_hoi import ToyRegressor

        @MODELS.register_module()
        class EntryPointRegressor(ToyRegressor):
            pass
    '''))
    (root / 'brokencues.py').write_text('raise ImportError("deliberately broken plugin")\n')
    for dist, version, module in (('goodcues', '0.3.1', 'goodcues'), ('brokencues', '9.9', 'brokencues')):
        info = root / f'{dist}-{version}.dist-info'
        info.mkdir()
        (info / 'METADATA').write_text(f'Metadata-Version: 2.1\nName: {dist}\nVersion: {version}\n')
        (info / 'entry_points.txt').write_text(f'[imagin4d.plugins]\n{dist} = {module}\n')


def test_entry_point_plugins_are_loaded_reported_and_recorded(tools_runner, tmp_path):
    plugins = tmp_path / 'site'
    plugins.mkdir()
    _write_entry_point_plugins(plugins)
    work = tmp_path / 'work'
    result = tools_runner('tools/train.py', TINY_TOY, '--work-dir', work, '--cfg-options',
                          'model.type=EntryPointRegressor', 'train_cfg.max_iters=2', extra_pythonpath=[plugins])
    assert "plugin 'brokencues' (brokencues) failed to load" in result.stdout + result.stderr
    meta = torch.load(work / 'iter_2.pth', weights_only=False)['meta']['imagin4d_plugins']
    assert meta['goodcues'] == '0.3.1 (loaded)' and meta['brokencues'] == '9.9 (failed)'
    log = next(work.glob('*/*.log')).read_text()
    assert "'goodcues': '0.3.1 (loaded)'" in log

    off = tools_runner('tools/train.py', TINY_TOY, '--work-dir', tmp_path / 'off', '--cfg-options',
                       'model.type=EntryPointRegressor', extra_pythonpath=[plugins],
                       env={'IMAGIN4D_PLUGINS': '0'}, check=False)
    assert "unknown type 'EntryPointRegressor'" in _error(off)
