"""Loading for test, resume and generation is strict: a checkpoint of another variant is one clear error naming
the keys and what it was trained with; `load_strict=False` is the explicit opt-out for fine-tuning."""
import pytest
import torch
from testing_utils import TINY_TOY, one_line_error

pytestmark = pytest.mark.fault


def test_test_tool_refuses_another_variant(tools_runner, toy_work_dir, tmp_path):
    result = tools_runner('tools/test.py', TINY_TOY, toy_work_dir / 'iter_4.pth', '--work-dir', tmp_path,
                          '--cfg-options', 'model.hidden=16', check=False)
    line = one_line_error(result)
    assert f"{toy_work_dir / 'iter_4.pth'} does not match the config {TINY_TOY}" in line
    assert "1 missing ['hidden.weight'" not in line and "missing ['hidden.weight', 'hidden.bias']" in line
    assert 'linear.weight (4, 8) vs (4, 16)' in line
    assert 'trained with hidden=None (here: 16)' in line and "experiment tiny_toy_" in line
    assert 'load_strict=False' in line


def test_load_strict_false_is_the_fine_tuning_opt_out(tools_runner, toy_work_dir, tmp_path):
    result = tools_runner('tools/train.py', TINY_TOY, '--work-dir', tmp_path / 'ft', '--cfg-options',
                          'model.hidden=16', f"load_from={toy_work_dir / 'iter_4.pth'}", 'load_strict=False',
                          'train_cfg.max_iters=2')
    log = result.stdout + result.stderr
    assert 'load_strict=False: loading only the matching weights' in log
    assert (tmp_path / 'ft' / 'iter_2.pth').is_file()


def test_resume_with_a_changed_model_is_one_line(tools_runner, toy_copy):
    result = tools_runner('tools/train.py', TINY_TOY, '--work-dir', toy_copy, '--resume', '--cfg-options',
                          'model.hidden=16', 'train_cfg.max_iters=6', check=False)
    line = one_line_error(result)
    assert f"{toy_copy / 'iter_4.pth'} does not match" in line and 'hidden.weight' in line
    assert not (toy_copy / 'iter_6.pth').exists()


def test_a_torch_file_that_is_not_a_checkpoint(tools_runner, tmp_path):
    bogus = tmp_path / 'tensor.pth'
    torch.save(torch.zeros(3), bogus)
    line = one_line_error(tools_runner('tools/test.py', TINY_TOY, bogus, '--work-dir', tmp_path, check=False))
    assert f'{bogus} holds no state_dict of tensors' in line


def test_resume_with_a_changed_learning_rate_is_refused(tools_runner, toy_copy):
    result = tools_runner('tools/train.py', TINY_TOY, '--work-dir', toy_copy, '--resume', '--cfg-options',
                          'optim_wrapper.optimizer.lr=0.1', 'train_cfg.max_iters=6', check=False)
    line = one_line_error(result)
    assert f"settings that {toy_copy / 'iter_4.pth'} restores: optim_wrapper.optimizer.lr=0.01 (here: 0.1)" in line
    assert f"load_from={toy_copy / 'iter_4.pth'}" in line
    assert not (toy_copy / 'iter_6.pth').exists()
