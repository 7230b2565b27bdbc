"""tools/analysis/sampling_study.py and imagin4d/engine/sampling_study*.py: the plan (shared settings measured once,
cheapest first), the derived answers on hand-computed summaries, the page's numbers against the archive's
(statistics recomputed here), and the --smoke run end to end on the small prepared mini-FBM (resumed, then refused on
a retrained checkpoint)."""
import json
import re
import statistics

import pytest
from testing_utils import REPO, expected_cell, load_tool, markdown_table_rows, run_tool

from imagin4d.engine import sampling_study as study
from imagin4d.engine import sampling_study_page as page


def _args(*extra):
    return load_tool('tools/analysis/sampling_study.py').parse_args(['--study-dir', 'unused', *extra])


def test_plan_measures_shared_settings_once_and_cheapest_first():
    items = study.plan(_args('--seeds', '0', '--no-mirror'))
    keys = {(i['key'], i['variant']) for i in items}
    # sfie: 14 steps settings (DDIM 5-100, DPM-Solver++ 5-20, DDIM 5, 10, 20 on 'linspace' and 5, 10 on 'quadratic'
    # indices, DDPM 1000) + 5 new G values (G 1 is the base) + recon on, on at lr 1, the same + contact consistency +
    # CHOIS scoring + the depicted frame given + at the configs' defaults G 1.5, 2 and reconstruction guidance (lr 1)
    # at G 1 and 1.5 = 28; no_image: no G or frame sweep: 14 + 3 + 1 + reconstruction guidance at the defaults = 19
    assert len(items) == len(keys) == 47
    assert study.setting_label(next(i for i in items if i['key'] == 'ddim10_g1_rg0_qua')['setting']) == \
        'DDIM (quadratic) 10, G 1, recon off'
    assert study.setting_label(next(i for i in items if i['key'] == 'dpmpp10_g1_rg0')['setting']) == \
        'DPM-Solver++ 10, G 1, recon off'
    linspace = next(i for i in items if i['key'] == 'ddim5_g1_rg0_lin')
    assert study.setting_label(linspace['setting']) == 'DDIM (linspace) 5, G 1, recon off'
    assert '--sweep' in (command := study.test_command(_args('--seeds', '0'), linspace, 'o.json', 'w')) and \
        'model.test_cfg.timestep_spacing=linspace' in command
    base = next(i for i in items if i['key'] == 'ddim20_g1_rg0' and i['variant'] == 'sfie')
    assert base['sweeps'] == ['steps', 'guidance', 'recon', 'frame', 'protocol'] and not base['mirror']
    given = next(i for i in items if i['key'] == 'ddim20_g1_rg0_given')
    assert given['variant'] == 'sfie' and given['sweeps'] == ['frame'] and \
        'model.test_cfg.depicted_frame=given' in study.test_command(_args('--seeds', '0'), given, 'o.json', 'w')
    assert study.setting_label(given['setting']) == 'DDIM 20, G 1, recon off, depicted frame given'
    chois = next(i for i in items if i['key'] == 'ddim20_g1_rg0_jbm_rawrot' and i['variant'] == 'sfie')
    assert chois['sweeps'] == ['protocol'] and study.cost(chois['setting'], 'sfie', False) == 80
    # the evaluators' options are config options; the model's are --sweep settings (the row names them)
    command = study.test_command(_args('--seeds', '0'), chois, 'out.json', 'work')
    options = command[command.index('--cfg-options') + 1:]
    assert 'test_evaluator.0.joints_from=body_model' in options and 'test_evaluator.0.object_rotation=raw' in options
    assert 'model.test_cfg.num_steps=20' in command and not any('joints_from' in c for c in command[:-len(options)])
    assert not any(i['variant'] == 'no_image' and i['setting']['guidance_image'] != 1.0 for i in items)
    costs = [study.cost(i['setting'], i['variant'], False) for i in items]
    assert costs == sorted(costs) and items[0]['key'] == 'ddim5_g1_rg0' and items[-1]['key'] == 'ddpm1000_g1_rg0'
    # G = 3 on an image model: 20 steps x 2 passes = 40, between DDIM 20 (20) and DDIM 50 (50)
    assert study.cost(dict(study.BASE, guidance_image=3.0), 'sfie', False) == 40
    mirrored = study.plan(_args('--seeds', '0', '--mirror'))
    expected = {f'ddim20_g{g}_rg0' for g in ('0', '1', '1.5', '2', '3', '5')} | \
        {f'ddim5_g{g}_rg0_qua' for g in ('1', '1.5', '2')} | {f'ddim5_g{g}_rg1_lr1_qua' for g in ('1', '1.5')}
    assert {i['key'] for i in mirrored if i['mirror']} == expected
    assert not any(i['mirror'] for i in mirrored if i['variant'] == 'no_image')
    assert {i['variant'] for i in mirrored if i['key'] == 'ddim5_g1_rg1_lr1_qua'} == {'sfie', 'no_image'}
    defaults = next(i for i in mirrored if i['key'] == 'ddim5_g1_rg0_qua' and i['variant'] == 'sfie')
    assert defaults['sweeps'] == ['steps', 'defaults'] and defaults['mirror']


def test_defaults_sweep_is_the_configs_sampling():
    from mmengine.config import Config
    for variant in ('sfie', 'no_image'):
        model = Config.fromfile(f'{REPO}/projects/imagin4d/mini_fbm_{variant}.py').model
        assert {k: model.test_cfg[k] for k in study.CONFIG_SAMPLING} == study.CONFIG_SAMPLING
        assert model.test_cfg.reconstruction_guidance is study.CONFIG_RECONSTRUCTION['reconstruction_guidance']
        assert model.reconstruction_guidance.lr == study.CONFIG_RECONSTRUCTION['recon_lr']
    first = study.SWEEPS['defaults'][1][0]
    assert first == dict(study.CONFIG_SAMPLING, **study.CONFIG_RECONSTRUCTION, guidance_image=1.0)


def test_target_answer_hand_computed():
    summary = {'sfie': dict(ia_success=(0.66, 0.02, 3), waypoint_xy_err=(20.0, 1.0, 3), waypoint_end_err=(40.0, 1, 3)),
               'base': dict(ia_success=(0.3, 0.0, 3), waypoint_xy_err=(19.0, 1.0, 3), waypoint_end_err=(36.0, 1, 3))}
    text = page.target_answer(summary, 'sfie', 'base')
    # 20 <= 1.1 x 19 = 20.9: within; 40 > 1.1 x 36 = 39.6: not
    assert text.startswith('sfie: ia_success 0.660 ± 0.020 (3 seed(s); met)')
    assert 'waypoint_xy_err 20.0 vs 19.0 mm (within 10%)' in text and 'waypoint_end_err 40.0 vs 36.0 mm (NOT' in text
    summary['sfie']['ia_success'] = (0.6, 0.02, 3)
    assert '(3 seed(s); short by 0.050)' in page.target_answer(summary, 'sfie', None)
    assert page.target_answer(summary, 'other', 'base') == 'other: not measured yet.'


def test_fewest_steps_guidance_and_change_answers_hand_computed():
    names = {n: f'ddim{n}' for n in (5, 10, 20)}
    summary = {'ddpm': dict(a=(1.0, 0.1, 3), b=(10.0, 1.0, 3)),
               'ddim5': dict(a=(1.5, 0.1, 3), b=(10.0, 1.0, 3)),      # |1.5 - 1.0| = 0.5 > 0.2: outside
               'ddim10': dict(a=(1.15, 0.1, 3), b=(11.9, 1.0, 3)),    # 0.15 <= 0.2 and 1.9 <= 2: within
               'ddim20': dict(a=(1.0, 0.1, 3), b=(10.0, 1.0, 3))}
    text = page.fewest_steps(summary, 'sfie', [5, 10, 20], 'ddpm', names)
    assert text.startswith('sfie: **10 steps**') and '5: outside on a (1.500 vs 1.000)' in text
    summary['ddim10']['b'] = (12.1, 1.0, 3)                            # 2.1 > 2: now outside
    assert page.fewest_steps(summary, 'sfie', [5, 10, 20], 'ddpm', names).startswith('sfie: **20 steps**')
    one_seed = {k: {m: (v[0], 0.0, 1) for m, v in row.items()} for k, row in summary.items()}
    assert page.fewest_steps(one_seed, 'sfie', [5, 10, 20], 'ddpm', names).startswith('sfie: not judged yet (')
    summary['ddim20']['a'] = (1.3, 0.1, 3)                            # 0.3 > 0.2: no step count is within
    assert 'none of the step counts' in page.fewest_steps(summary, 'sfie', [5, 10, 20], 'ddpm', names)
    # beyond the spread on the better side matches: a lower error (b), a higher ia_success
    summary['ddim10'].update(b=(7.5, 0.2, 3), ia_success=(0.7, 0.01, 3))
    summary['ddpm']['ia_success'] = (0.5, 0.01, 3)
    text = page.fewest_steps(summary, 'sfie', [5, 10, 20], 'ddpm', names)
    assert text.startswith('sfie: **10 steps**') and \
        '10: within on 1 metrics, better on b (7.500 vs 10.000), ia_success (0.700 vs 0.500)' in text
    summary['ddim10']['ia_success'] = (0.3, 0.01, 3)                  # lower ia_success: worse, outside
    assert '10: outside on ia_success (0.300 vs 0.500)' in page.fewest_steps(summary, 'sfie', [5, 10, 20], 'ddpm',
                                                                              names)

    g = {1.0: 'g1', 2.0: 'g2', 3.0: 'g3'}
    wp = dict(waypoint_start_err=(20.0, 1, 3), waypoint_end_err=(20.0, 1, 3), waypoint_xy_err=(20.0, 1, 3))
    summary = {'g1': dict(ia_success=(0.56, 0.05, 3), fid=(0.5, 0.1, 3), **wp),
               'g2': dict(ia_success=(0.70, 0.02, 3), fid=(0.6, 0.1, 3), **dict(wp, waypoint_xy_err=(23.0, 1, 3))),
               'g3': dict(ia_success=(0.66, 0.02, 3), fid=(0.9, 0.1, 3), **wp),
               'none': dict(waypoint_start_err=(21.0, 1, 3), waypoint_end_err=(25.0, 1, 3),
                            waypoint_xy_err=(20.0, 1, 3))}
    text = page.guidance_answer(summary, 'sfie', g, 'none')
    # peak at 2: 0.70 >= 0.65 (met); 0.70 - 0.56 = 0.14 > 0.07: beyond the spread; xy 23 vs 20: +15% vs G 1, and
    # 23 > 1.1 x 20 = 22 against no image: NOT within 10%; start 20 <= 1.1 x 21
    assert 'peaks at **G = 2** (0.700 ± 0.020, 3 seed(s); the issue asks 0.65: met)' in text
    assert '0.560 at G = 1 (beyond the seed spread)' in text and 'waypoint_xy_err 23.0 vs 20.0 (+15%)' in text
    assert 'waypoint_xy_err 23.0 vs 20.0 mm (+15%, NOT within 10%)' in text
    assert 'waypoint_start_err 20.0 vs 21.0 mm (-5%, within 10%)' in text and 'fid 0.6 vs 0.5 (+20%)' in text

    summary = {'off': dict(foot_sliding=(0.5, 0.1, 3), contact_f1=(0.7, 0.01, 3)),
               'on': dict(foot_sliding=(0.2, 0.1, 3), contact_f1=(0.71, 0.01, 3))}
    text = page.change_answer(summary, 'sfie', 'off', 'on', ('hand_penetration', 'foot_sliding', 'contact_f1'))
    assert text == 'sfie: foot_sliding 0.5 -> 0.2 (beyond the spread); contact_f1 0.7 -> 0.71 (within the spread).'


def test_collect_writes_the_archives_mean_and_std(tmp_path):
    archive = tmp_path / 'archive'
    args = _args('--seeds', '0', '1', '2', '--variants', 'sfie', '--sweeps', 'guidance', '--archive', str(archive),
                 '--mirror')
    values = {}
    for i, item in enumerate(study.plan(args)):
        g, seed = item['setting']['guidance_image'], item['seed']
        metrics = dict(ia_success=0.5 + 0.05 * g + 0.013 * seed ** 2, waypoint_xy_err=20.0 + g + 3.7 * seed,
                       factor_grasp_hand=0.8, factor_carry_height=0.7 - 0.1 * seed, factor_layout=0.9)
        values[(g, seed)] = metrics
        study.write_entry(args, item, dict(variant='sfie', seed=seed, setting=item['setting'], metrics=metrics,
                                           mirror=dict(mirror_layout_flip_rate=0.1 * seed + g / 10),
                                           commands=[dict(command=f'tools/test.py x{i}', start=i, seconds=60.0)]))
    out = tmp_path / 'page.md'
    run_tool(['tools/analysis/sampling_study.py', '--study-dir', tmp_path / 'none', '--seeds', '0', '1', '2',
              '--variants', 'sfie', '--sweeps', 'guidance', '--archive', archive, '--out', out, '--mirror',
              '--work-dir', tmp_path / 'work', '--collect'], cwd=REPO)
    text = out.read_text()
    rows = markdown_table_rows(text, 'Image guidance G')
    assert len(rows) == 6
    for g in (0.0, 1.0, 1.5, 2.0, 3.0, 5.0):
        row = rows[f'sfie · DDIM 20, G {g:g}, recon off']
        seeds = [values[(g, s)] for s in (0, 1, 2)]
        assert row['runs'] == '3'
        assert row['ia_success'] == expected_cell([m['ia_success'] for m in seeds])
        assert row['waypoint_xy_err'] == expected_cell([m['waypoint_xy_err'] for m in seeds])
        assert row['factor_accuracy'] == expected_cell([(0.8 + m['factor_carry_height'] + 0.9) / 3 for m in seeds])
        assert row['mirror_layout_flip_rate'] == expected_cell([0.1 * s + g / 10 for s in (0, 1, 2)])
    # ia_success rises with G: the peak is G = 5 (0.75 + 0.013 * 5 / 3)
    assert f'peaks at **G = 5** ({statistics.fmean(0.75 + 0.013 * s * s for s in (0, 1, 2)):.3f}' in text
    assert 'Not measured yet' not in text and 'tools/test.py x3' in text


def _checkpoints(config, root, folder, seeds):
    """Untrained mini models carrying the data statistics, one per seed (seed k: weights perturbed by seed k)."""
    import torch
    from generation_model import untrained_checkpoint
    for seed in seeds:
        path = folder / 'sfie' / f'seed{seed}' / 'iter_2.pth'
        path.parent.mkdir(parents=True)
        untrained_checkpoint(config, root, path)
        saved = torch.load(path, weights_only=True)
        generator = torch.Generator().manual_seed(seed)
        for key, value in saved['state_dict'].items():
            if key.startswith('denoiser.') and value.is_floating_point():
                value += 0.05 * torch.randn(value.shape, generator=generator)
        torch.save(saved, path)


@pytest.mark.slow
def test_smoke_run_end_to_end_resumes_and_refuses_a_retrained_checkpoint(mini_fbm_prepared, tmp_path):
    studied = tmp_path / 'study'
    _checkpoints(str(REPO / 'projects' / 'imagin4d' / 'mini_fbm_sfie.py'), mini_fbm_prepared, studied, (0, 1))
    command = ['tools/analysis/sampling_study.py', '--smoke', '--study-dir', studied, '--data-root', mini_fbm_prepared,
               '--iters', '2', '--variants', 'sfie', '--seeds', '0', '1', '--sweeps', 'steps', 'recon',
               '--ready', 'checkpoint', '--evaluator-ckpt', 'none', '--work-dir', tmp_path / 'work']
    env = dict(OMP_NUM_THREADS='1')
    run_tool(command, cwd=REPO, env=env, timeout=900)
    archive, text = tmp_path / 'work' / 'archive', (tmp_path / 'work' / 'sampling.md').read_text()
    entries = {(p.parent.parent.name, p.parent.name, p.stem): json.loads(p.read_text())
               for p in archive.glob('*/*/*.json')}
    # DDIM 2 (the base), DDPM 3 and reconstruction guidance on, for 2 seeds
    assert {k[0] for k in entries} == {'ddim2_g1_rg0', 'ddpm3_g1_rg0', 'ddim2_g1_rg1_lr1_cc1'}
    assert len(entries) == 6
    for (key, _, _), entry in entries.items():
        assert entry['checkpoint']['digest'] and entry['data']['num_test'] == 8 and entry['commands']
        assert f'--sweep model.test_cfg.num_steps={entry["setting"]["num_steps"]}' in entry['commands'][0]['command']
    command_line = entries[('ddim2_g1_rg1_lr1_cc1', 'sfie', 'seed1')]['commands'][0]['command']
    assert '--sweep model.reconstruction_guidance.terms.contact_consistency.enabled=True' in command_line
    assert '--sweep model.reconstruction_guidance.lr=1.0' in command_line
    for title, key in (('Steps and sampler', 'ddpm3_g1_rg0'), ('Reconstruction guidance', 'ddim2_g1_rg1_lr1_cc1')):
        setting = entries[(key, 'sfie', 'seed0')]['setting']
        row = markdown_table_rows(text, title)[f'sfie · {study.setting_label(setting)}']
        for metric in ('ia_success', 'waypoint_start_err', 'contact_f1', 'foot_sliding'):
            assert row[metric] == expected_cell([entries[(key, 'sfie', s)]['metrics'][metric]
                                                  for s in ('seed0', 'seed1')])
    assert re.search(r'Fewest DDIM steps as good as DDPM-3 on every metric', text)
    # resumed: nothing is evaluated again
    again = run_tool(command, cwd=REPO, env=env)
    assert 'sampling study: 0 evaluations to do' in again.stdout and '+ tools/test.py' not in again.stdout
    # a retrained checkpoint: its archived results are refused, naming the file and the field
    with open(studied / 'sfie' / 'seed1' / 'iter_2.pth', 'ab') as f:
        f.write(b'\0')
    result = run_tool(command, cwd=REPO, env=env, check=False)
    assert result.returncode != 0
    assert re.search(r'error: \S+seed1\.json: field "checkpoint" is .* move the archived evaluation away',
                     result.stderr + result.stdout)
