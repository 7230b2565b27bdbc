"""The benchmark archive and the scoring protocol (issue 26): the metrics' protocol options (CHOIS's floor estimate,
body-model joints, raw object rotation) are left out of the config identity, recorded with each run, named on the
page, and runs scored with different protocols are not put on one page."""
import json

import pytest
from testing_utils import REPO, load_tool

from imagin4d.engine.benchmark import archive, runner

SFIE = 'projects/imagin4d/mini_fbm_sfie.py'
FIXED = dict(floor_height=0.0, joints_from='predicted', object_rotation='projected')


def _config(tmp_path, name, **hoi_options):
    """A config file: mini_fbm_sfie.py with HOIMotionMetric(**hoi_options) as its first evaluator."""
    path = tmp_path / f'{name}.py'
    path.write_text(f"_base_ = ['{REPO / SFIE}']\n"
                    f"val_evaluator = [dict(type='HOIMotionMetric', **{hoi_options!r}), "
                    "dict(type='ImageAdherenceMetric'), dict(type='DistributionMetric', evaluator_ckpt=None, "
                    "feature_cache='{data_root}/feature_cache')]\ntest_evaluator = val_evaluator\n")
    return str(path)


def test_protocol_options_are_not_part_of_the_config_identity(tmp_path):
    sfie = archive.config_identity(SFIE)
    fixed = _config(tmp_path, 'fixed', floor_height=0.0)
    chois = _config(tmp_path, 'chois', floor_height='estimate', joints_from='body_model', object_rotation='raw')
    other = _config(tmp_path, 'other', floor_height='estimate', contact_threshold=0.04)
    assert archive.config_identity(fixed)['digest'] == archive.config_identity(chois)['digest'] == sfie['digest']
    assert archive.config_identity(other)['digest'] != sfie['digest']     # any other evaluator setting counts
    # the protocol: what the config sets, the metric's defaults for the rest; the configs' default is CHOIS's floor
    assert archive.scoring_protocol(fixed) == {'HOIMotionMetric': FIXED}
    assert archive.scoring_protocol(chois) == {'HOIMotionMetric': dict(
        floor_height='estimate', joints_from='body_model', object_rotation='raw')}
    assert archive.scoring_protocol(SFIE) == {'HOIMotionMetric': dict(FIXED, floor_height='estimate')}


def test_sampling_defaults_are_not_the_run_and_the_benchmark_pins_its_own(tmp_path):
    """The configs' test_cfg (what users get) may move to other settings without touching archived runs: it is not
    part of the config identity, and every benchmark test samples with DDIM 20 'trailing', G 1, no reconstruction."""
    faster = tmp_path / 'faster.py'
    faster.write_text(f"_base_ = ['{REPO / SFIE}']\n"
                      "model = dict(test_cfg=dict(num_steps=5, timestep_spacing='linspace', guidance_image=2.0))\n")
    assert archive.config_identity(str(faster))['digest'] == archive.config_identity(SFIE)['digest']
    wider = tmp_path / 'wider.py'
    wider.write_text(f"_base_ = ['{REPO / SFIE}']\nmodel = dict(denoiser=dict(latent_dim=256))\n")
    assert archive.config_identity(str(wider))['digest'] != archive.config_identity(SFIE)['digest']
    import argparse

    from mmengine.config import Config

    from imagin4d.engine.config_checks import ConfigOptionsAction
    parser = argparse.ArgumentParser()
    parser.add_argument('--cfg-options', nargs='+', action=ConfigOptionsAction)
    cfg = Config.fromfile(str(faster))
    cfg.merge_from_dict(parser.parse_args(['--cfg-options', *runner.sampling_options(20)]).cfg_options)
    assert {k: cfg.model.test_cfg[k] for k in runner.BENCHMARK_SAMPLING} == dict(
        sampler='ddim', num_steps=20, timestep_spacing='trailing', guidance_image=1.0, reconstruction_guidance=False)


def _args(tmp_path):
    data = tmp_path / 'data'
    (data / 'references').mkdir(parents=True)
    (data / 'mini_fbm_factors.json').write_text(json.dumps(dict(version=2, seed=0, num_train=360, num_test=96,
                                                                sequences={})))
    (data / 'references' / 'test_mesh.json').write_text('[{"t_star": 40}]')
    bench = load_tool('tools/analysis/run_benchmark.py')
    return bench.parse_args(['--data-root', str(data), '--work-dir', str(tmp_path / 'work'), '--iters', '50',
                             '--archive', str(tmp_path / 'archive'), '--seeds', '1', '2'])


def test_each_run_records_its_protocol_and_the_page_names_it(tmp_path, monkeypatch):
    args = _args(tmp_path)
    run = runner.Runner(args.data_root, str(tmp_path / 'commands.jsonl'))
    identity = archive.config_identity(SFIE)
    for seed in (1, 2):
        archive.archive_run(run, args, 'sfie', seed, str(tmp_path / 'work' / f'seed{seed}'), {}, identity)
    path = tmp_path / 'archive' / 'iters50_steps20' / 'sfie' / 'seed1.json'
    entry = json.loads(path.read_text())
    assert entry['protocol'] == {'HOIMotionMetric': dict(FIXED, floor_height='estimate')}
    tasks = [('sfie', 1), ('sfie', 2)]
    line = archive.archive_provenance(args, tasks)[2]
    assert line == ('Scored with: HOIMotionMetric floor_height=estimate (CHOIS per-sequence floor), '
                    'joints_from=predicted, object_rotation=projected (2 runs).')
    # a run archived before protocols were recorded was scored with the metric's defaults of then (fixed floor)
    # and is still restored (the protocol is not the config), but one page does not mix it with seed 2
    entry.pop('protocol')
    path.write_text(json.dumps(entry))
    assert archive.restore_archived(run, args, 'sfie', 1, str(tmp_path / 'metrics.json'))
    with pytest.raises(SystemExit, match=r'different protocols: HOIMotionMetric floor_height=0.0 \(fixed floor\).*'
                                         r'\(sfie seed 1\); .*floor_height=estimate.*\(sfie seed 2\)'):
        archive.archive_provenance(args, tasks)
    # alone, the old run is named with its protocol, and the page says the configs now score otherwise
    line = archive.archive_provenance(args, tasks[:1])[2]
    assert line.startswith('Scored with: HOIMotionMetric floor_height=0.0 (fixed floor), joints_from=predicted')
    assert 'The configs now score with HOIMotionMetric floor_height=estimate' in line and 'foot sliding' in line


def test_committed_archive_is_labelled_with_its_protocol():
    """The committed runs were scored before the configs moved to CHOIS's floor: a fresh clone's --collect page
    says so (their foot_sliding is on the fixed floor z = 0)."""
    args = load_tool('tools/analysis/run_benchmark.py').parse_args(['--collect'])
    args.iters, args.num_steps = 2000, 20
    tasks = [(path.parent.name, int(path.stem[4:]))
             for path in sorted((REPO / 'benchmarks/results/mini_fbm_runs/iters2000_steps20').glob('*/seed*.json'))]
    line = archive.archive_provenance(args, tasks)[2]
    assert line.startswith('Scored with: HOIMotionMetric floor_height=0.0 (fixed floor)')
    assert 'The configs now score with HOIMotionMetric floor_height=estimate' in line


def test_protocol_groups_and_the_options_that_score_with_a_protocol(tmp_path):
    """Runs are grouped by their protocol (a run archived without one has the legacy protocol); the options given
    for a protocol, merged into the config, make its test evaluator score with exactly that protocol."""
    from mmengine.config import Config
    estimate = {'HOIMotionMetric': dict(FIXED, floor_height='estimate')}
    runs = [dict(variant='sfie', seed=0), dict(variant='sfie', seed=1, protocol=estimate),
            dict(variant='no_image', seed=0, protocol=archive.LEGACY_PROTOCOL)]
    groups = archive.protocol_groups(runs)
    assert [json.loads(key) for key in groups] == [archive.LEGACY_PROTOCOL, estimate]
    assert [[(r['variant'], r['seed']) for r in group] for group in groups.values()] == \
        [[('sfie', 0), ('no_image', 0)], [('sfie', 1)]]
    config = _config(tmp_path, 'scored', floor_height=0.0, joints_from='predicted')
    options = archive.protocol_cfg_options(config, estimate)
    assert options == ['test_evaluator.0.floor_height=estimate', 'test_evaluator.0.joints_from=predicted',
                       'test_evaluator.0.object_rotation=projected']
    cfg = Config.fromfile(config)
    cfg.merge_from_dict(dict(option.split('=', 1) for option in options))
    assert {k: cfg.test_evaluator[0][k] for k in FIXED} == estimate['HOIMotionMetric']
