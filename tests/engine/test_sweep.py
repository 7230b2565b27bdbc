"""Sweep specs: parsing, Cartesian expansion, applying a setting to a model, table output."""
import pytest
import torch

from imagin4d.engine.sweep import apply_setting, expand_grid, parse_sweep_specs, write_table
from imagin4d.utils.errors import UserError


def test_parse_and_expand_cartesian_product():
    parsed = parse_sweep_specs(['model.test_cfg.steps=10,50', 'model.test_cfg.sampler=ddim,ddpm',
                                'model.test_cfg.scale=2.5'])
    assert parsed[0] == ('model.test_cfg.steps', [10, 50])
    grid = expand_grid(parsed)
    assert len(grid) == 4
    assert grid[0] == {'model.test_cfg.steps': 10, 'model.test_cfg.sampler': 'ddim', 'model.test_cfg.scale': 2.5}
    assert grid[-1]['model.test_cfg.steps'] == 50 and grid[-1]['model.test_cfg.sampler'] == 'ddpm'


@pytest.mark.parametrize('spec', ['model.test_cfg.steps', 'steps=1,2', 'model.test_cfg.steps='])
def test_bad_specs_are_user_errors(spec):
    with pytest.raises(UserError):
        parse_sweep_specs([spec])


def test_apply_setting_unwraps_and_rejects_typos():
    model = torch.nn.Linear(2, 2)
    model.test_cfg = dict(guidance=dict(scale=1.0))
    wrapper = torch.nn.Module()
    wrapper.module = model
    apply_setting(wrapper, 'model.test_cfg.guidance.scale', 3.0)
    assert model.test_cfg['guidance']['scale'] == 3.0
    with pytest.raises(UserError, match="'scal' not found in model.test_cfg.guidance; available: \\['scale'\\]"):
        apply_setting(wrapper, 'model.test_cfg.guidance.scal', 3.0)


def test_write_table(tmp_path):
    csv_path, md_path = write_table([{'k': 1, 'm': 0.123456}, {'k': 2, 'm': 1.0, 'n': 'x'}], tmp_path / 't')
    assert csv_path.read_text().splitlines() == ['k,m,n', '1,0.123456,', '2,1.0,x']
    assert md_path.read_text().splitlines()[2] == '| 1 | 0.1235 |  |'
