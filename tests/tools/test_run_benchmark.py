"""tools/analysis/run_benchmark.py and imagin4d/engine/benchmark/: the claim verdicts and chance levels
(hand-computed), the archive, and the --smoke run end to end on the small prepared mini-FBM (the CI version of the
benchmark)."""
import json
import os

import pytest
from testing_utils import REPO, load_tool, run_tool

from imagin4d.engine.benchmark import archive, claims, runner
from imagin4d.engine.benchmark.page import busy_time


def _module():
    return load_tool('tools/analysis/run_benchmark.py')


def test_claim_verdicts_hand_computed():
    summary = {
        'sfie': dict(ia_success=(0.60, 0.05, 3), factor_accuracy=(0.50, 0.10, 3), waypoint_start_err=(105.0, 1, 3),
                     waypoint_end_err=(120.0, 1, 3), mirror_contact_side_flip_rate=(0.85, 0.07, 3),
                     mirror_layout_flip_rate=(0.5, 0.0, 3)),
        'global_token': dict(ia_success=(0.40, 0.05, 3), factor_accuracy=(0.45, 0.10, 3)),
        'no_image': dict(ia_success=(0.45, 0.02, 3), factor_accuracy=(0.30, 0.0, 3), waypoint_start_err=(100.0, 1, 3),
                         waypoint_end_err=(100.0, 1, 3)),
    }
    summary['sketch'] = dict(ia_success=(0.50, 0.02, 3), factor_accuracy=(0.55, 0.02, 3))
    summary['sfie_fused'] = dict(waypoint_start_err=(111.0, 1, 3))
    lines = '\n'.join(claims.claim_lines(summary, {}))
    assert '`waypoint_start_err` of the full model with summed streams within 10% of no image: NO (111.0 vs 100.0' \
        in lines and 'summed streams within 10% of no image: yes' not in lines
    # 0.60 - 0.40 = 0.20 > 0.05 + 0.05: clearly; 0.40 < 0.45: NO; 0.50 - 0.45 = 0.05 < 0.20: within the spread
    assert 'sfie > global_token: clearly (0.600 vs 0.400, gap +0.200' in lines
    assert 'global_token > no_image: NO (0.400 vs 0.450' in lines
    assert 'sfie > global_token: yes, within the seed spread (0.500 vs 0.450' in lines
    assert 'sfie_spatial > uniform_image: not measured' in lines
    # sfie_fused has only its start error: its end and xy errors are listed as not measured, not left out
    assert '`waypoint_end_err` of the full model with summed streams within 10% of no image: not measured.' in lines
    # sketch vs mesh: |0.50 - 0.60| = 0.10 > 0.02 + 0.05 -> NO; |0.55 - 0.50| = 0.05 <= 0.02 + 0.10 -> yes
    assert '`ia_success` of sketch references about that of mesh references (sfie): NO (0.500 vs 0.600' in lines
    assert '`factor_accuracy` of sketch references about that of mesh references (sfie): yes (0.550 vs 0.500' in lines
    assert '`waypoint_start_err` of the full model within 10% of no image: yes (105.0 vs 100.0 mm, +5%)' in lines
    assert '`waypoint_end_err` of the full model within 10% of no image: NO (120.0 vs 100.0 mm, +20%)' in lines
    # 0.85 - 0.8 = 0.05 < 0.07: above the bar within the seed spread; 0.5 below it
    assert ('`mirror_contact_side_flip_rate` of the full model at least 0.8: yes, within the seed spread '
            '(0.850 ± 0.070 over 3 seeds)') in lines
    assert '`mirror_layout_flip_rate` of the full model at least 0.8: NO (0.500 ± 0.000 over 3 seeds)' in lines
    summary['sfie']['mirror_layout_flip_rate'] = (0.9, 0.02, 3)   # 0.1 > 0.02: clearly
    assert ('`mirror_layout_flip_rate` of the full model at least 0.8: clearly (0.900 ± 0.020 over 3 seeds)'
            in '\n'.join(claims.claim_lines(summary, {})))


def test_single_runs_are_not_called_clear():
    summary = {'sfie': dict(ia_success=(0.60, 0.0, 1), factor_accuracy=(0.50, 0.0, 1)),
               'global_token': dict(ia_success=(0.40, 0.05, 3), factor_accuracy=(0.45, 0.1, 3)),
               'sketch': dict(ia_success=(0.61, 0.0, 1), factor_accuracy=(0.50, 0.0, 1))}
    lines = '\n'.join(claims.claim_lines(summary, {}))
    # a 0.20 gap is not 'clearly' when one side has a single run (std 0 says nothing about the seed spread)
    assert 'sfie > global_token: yes, one run: no seed spread to judge the gap (0.600 vs 0.400' in lines
    assert 'sketch references about that of mesh references (sfie): cannot judge, one run: no seed spread' in lines


def test_routing_check_is_judged_only_when_run(tmp_path):
    bench = _module()
    summary = {'sfie_spatial': dict(ia_success=(0.40, 0.05, 3), ia_pose_err=(0.095, 0.002, 3))}
    assert 'Check, not a claim' not in '\n'.join(claims.claim_lines(summary, {}))
    summary['sfie_spatial_separate'] = dict(ia_success=(0.52, 0.03, 3), ia_pose_err=(0.080, 0.010, 3))
    lines = '\n'.join(claims.claim_lines(summary, {}))
    # 0.52 - 0.40 = 0.12 > 0.05 + 0.03: clearly; pose 0.095 - 0.080 = 0.015 > 0.002 + 0.010: clearly
    assert '`ia_success` sfie_spatial_separate > sfie_spatial: clearly (0.520 vs 0.400, gap +0.120' in lines
    assert '`ia_pose_err` sfie_spatial > sfie_spatial_separate (lower is better): clearly (0.095 vs 0.080' in lines
    assert 'sfie_spatial_separate > uniform_image: not measured' in lines
    summary['global_token'] = dict(ia_success=(0.50, 0.01, 3))   # 0.52 - 0.50 = 0.02 < 0.03 + 0.01
    assert ('sfie_spatial_separate > global_token: yes, within the seed spread (0.520 vs 0.500'
            in '\n'.join(claims.claim_lines(summary, {})))
    # the check runs its own config, is not in the default benchmark, and joins a --collect page once it has run
    assert runner.config_file('sfie_spatial_separate') == 'projects/imagin4d/checks/mini_fbm_sfie_spatial_separate.py'
    assert 'sfie_spatial_separate' not in bench.parse_args([]).variants
    args = bench.parse_args(['--work-dir', str(tmp_path), '--archive', str(tmp_path / 'archive')])
    assert not archive.finished(args, 'sfie_spatial_separate', 1)
    (tmp_path / 'sfie_spatial_separate' / 'seed1').mkdir(parents=True)
    (tmp_path / 'sfie_spatial_separate' / 'seed1' / 'metrics.json').write_text('{}')
    assert archive.finished(args, 'sfie_spatial_separate', 1) and not archive.finished(args, 'sfie_spatial_separate', 0)


def test_wall_time_is_the_union_of_the_run_intervals():
    # two overlapping runs (0-10, 5-12: 12 s), one inside them (6-7), and a later session (100-103: 3 s)
    assert busy_time([(100, 103), (0, 10), (6, 7), (5, 12)]) == 15
    assert busy_time([(0, 4), (4, 6)]) == 6 and busy_time([]) == 0


def test_chance_levels_from_the_factors_file(tmp_path):
    rows = [('test', 'box', 'left', 'front'), ('test', 'box', 'left', 'front'), ('test', 'lamp', 'right', 'left'),
            ('test', 'box', 'both', 'front'),
            ('train', 'box', 'left', 'front'), ('train', 'box', 'both', 'front'), ('train', 'box', 'left', 'front'),
            ('train', 'lamp', 'right', 'right')]
    sequences = {f's{i}': dict(split=split, object=obj, action='carry', grasp_hand=g, carry_height='low', layout=lay)
                 for i, (split, obj, g, lay) in enumerate(rows)}
    (tmp_path / 'mini_fbm_factors.json').write_text(json.dumps(dict(sequences=sequences)))
    levels = claims.chance_levels(str(tmp_path))
    # test split: grasp hand 2/4, 1/4, 1/4 -> sum of squares 0.375, majority 0.5; height always low -> 1, 1;
    # layout 3/4 front, 1/4 left -> 0.625, 0.75.
    # prior from training: box -> hand left 2/3, both 1/3, layout front 1; lamp -> hand right 1, layout right 1.
    # grasp hand: box-left 2/3, box-left 2/3, lamp-right 1, box-both 1/3 -> 2.667 / 4; majority hits 1, 1, 1, 0
    # layout: box-front 1 (x3), lamp-left 0 -> 0.75; majority 0.75
    assert levels['factor_grasp_hand'] == pytest.approx((0.375, 0.5, 8 / 12, 0.75))
    assert levels['factor_carry_height'] == pytest.approx((1.0, 1.0, 1.0, 1.0))
    assert levels['factor_layout'] == pytest.approx((0.625, 0.75, 0.75, 0.75))
    assert levels['factor_accuracy'][:3] == pytest.approx(((0.375 + 1 + 0.625) / 3, (0.5 + 1 + 0.75) / 3,
                                                          (8 / 12 + 1 + 0.75) / 3))


def test_no_image_claim_is_judged_against_the_prior():
    chance = {key: (0.3, 0.4, 0.6, 0.7) for key in ('factor_accuracy', *runner.FACTORS)}
    summary = {'no_image': dict(factor_accuracy=(0.62, 0.01, 3), factor_grasp_hand=(0.70, 0.02, 3),
                                factor_carry_height=(0.50, 0.01, 3), factor_layout=(0.61, 0.05, 3)),
               'sfie': dict(factor_accuracy=(0.75, 0.05, 3)), 'global_token': dict(factor_accuracy=(0.63, 0.05, 3))}
    lines = '\n'.join(claims.claim_lines(summary, chance))
    # |0.62 - 0.6| <= 0.03 at; 0.70 - 0.6 > 0.03 above; 0.50 below; |0.61 - 0.6| <= 0.05 at
    assert 'factor_accuracy 0.620 ± 0.010: at the prior (object-action prior 0.600' in lines
    assert 'factor_grasp_hand 0.700 ± 0.020: above the prior' in lines
    assert 'factor_carry_height 0.500 ± 0.010: below the prior' in lines
    assert 'factor_layout 0.610 ± 0.050: at the prior' in lines
    # 0.75 - 0.6 = 0.15 > 0.05 clearly; 0.63 - 0.6 = 0.03 < 0.05 within the spread
    assert '`factor_accuracy` of sfie above the prior: clearly (0.750 ± 0.050 vs 0.600)' in lines
    assert '`factor_accuracy` of global_token above the prior: yes, within the seed spread' in lines
    # variants that were not run get no verdict (the smoke run has only no image and the full model)
    partial = '\n'.join(claims.claim_lines({'sfie': summary['sfie']}, chance))
    assert 'global_token above the prior' not in partial and 'factor_accuracy nan ± nan: not measured' in partial


def test_no_image_claim_is_judged_against_the_no_image_ceiling_when_the_body_levels_are_known():
    # (chance, majority, prior, prior majority, body prior, ceiling)
    chance = {key: (0.3, 0.4, 0.5, 0.55, 0.6, 0.65) for key in ('factor_accuracy', *runner.FACTORS)}
    summary = {'no_image': dict(factor_accuracy=(0.67, 0.01, 3), factor_grasp_hand=(0.75, 0.02, 3),
                                factor_carry_height=(0.55, 0.01, 3), factor_layout=(0.69, 0.05, 3)),
               'sfie': dict(factor_accuracy=(0.80, 0.05, 3))}
    lines = '\n'.join(claims.claim_lines(summary, chance))
    # |0.67 - 0.65| <= 0.03: at; 0.75 - 0.65 > 0.03: above the ceiling, a leak; 0.55: below; |0.69 - 0.65| <= 0.05
    assert 'factor_accuracy 0.670 ± 0.010: at the no-image ceiling (ceiling 0.650, body prior 0.600; ' \
        'object-action prior 0.500' in lines
    assert 'factor_grasp_hand 0.750 ± 0.020: ABOVE the no-image ceiling (a leak)' in lines
    assert 'factor_carry_height 0.550 ± 0.010: below the no-image ceiling' in lines
    assert 'factor_layout 0.690 ± 0.050: at the no-image ceiling' in lines
    assert '`factor_accuracy` of sfie above the no-image ceiling: clearly (0.800 ± 0.050 vs 0.650)' in lines


def test_chance_levels_of_a_built_root_add_the_body_levels(mini_fbm_prepared):
    from imagin4d.datasets.synthetic import body_levels
    levels, body = claims.chance_levels(mini_fbm_prepared), body_levels(mini_fbm_prepared)
    assert levels['factor_carry_height'][4:] == body['carry_height']
    assert levels['factor_accuracy'][5] == pytest.approx(sum(b[1] for b in body.values()) / 3)


def _archive_args(tmp_path, seed=1):
    data = tmp_path / 'data'
    data.mkdir(exist_ok=True)
    meta = dict(version=2, seed=0, num_train=360, num_test=96, sequences={})
    (data / 'mini_fbm_factors.json').write_text(json.dumps(meta))
    (data / 'references').mkdir(exist_ok=True)
    (data / 'references' / 'test_mesh.json').write_text('[{"t_star": 40}]')
    return _module().parse_args(['--data-root', str(data), '--work-dir', str(tmp_path / 'work'), '--iters', '50',
                                 '--archive', str(tmp_path / 'archive'), '--seeds', str(seed)])


def test_archived_runs_are_reused_and_refused_on_other_data(tmp_path):
    args = _archive_args(tmp_path)
    run = runner.Runner(args.data_root, str(tmp_path / 'commands.jsonl'))
    wd1, wd10 = str(tmp_path / 'work' / 'sfie' / 'seed1'), str(tmp_path / 'work' / 'sfie' / 'seed10')
    records = [dict(command=f'tools/train.py x --work-dir {wd1} --cfg-options a=1', start=10.0, seconds=60.0),
               dict(command=f'tools/train.py x --work-dir {wd10} --cfg-options a=1', start=11.0, seconds=60.0),
               dict(command=f'tools/test.py x {wd1}/iter_50.pth --out {wd1}/test_metrics.json', start=80.0,
                    seconds=5.0)]
    with open(run.log_file, 'w') as f:
        f.writelines(json.dumps(r) + '\n' for r in records)
    config = archive.config_identity('projects/imagin4d/mini_fbm_sfie.py')
    archive.archive_run(run, args, 'sfie', 1, wd1, dict(ia_success=0.25), config)
    path = tmp_path / 'archive' / 'iters50_steps20' / 'sfie' / 'seed1.json'
    entry = json.loads(path.read_text())
    # the commands of this run only (seed10's work dir starts with seed1's name), the data it was measured on
    assert [r['start'] for r in entry['commands']] == [10.0, 80.0]
    assert {k: entry['data'][k] for k in ('version', 'seed', 'num_train', 'num_test')} == \
        dict(version=2, seed=0, num_train=360, num_test=96)
    assert (entry['variant'], entry['seed'], entry['iters'], entry['num_steps']) == ('sfie', 1, 50, 20)

    # a fresh work dir and an empty log: the run is restored, its commands logged once even when restored twice
    fresh = runner.Runner(args.data_root, str(tmp_path / 'fresh.jsonl'))
    metrics = tmp_path / 'restored' / 'metrics.json'
    assert archive.restore_archived(fresh, args, 'sfie', 1, str(metrics))
    assert archive.restore_archived(fresh, args, 'sfie', 1, str(metrics))
    assert json.loads(metrics.read_text()) == dict(ia_success=0.25)
    assert [r['start'] for r in fresh.records()] == [10.0, 80.0]
    assert not archive.restore_archived(fresh, args, 'sfie', 2, str(tmp_path / 'other.json'))

    # another mini-FBM build: refused, naming the archived file and the field; the archive is left as it was
    meta = json.loads((tmp_path / 'data' / 'mini_fbm_factors.json').read_text())
    (tmp_path / 'data' / 'mini_fbm_factors.json').write_text(json.dumps(dict(meta, num_test=48)))
    with pytest.raises(SystemExit, match=r'seed1.json: field "data" is .*num_test.: 96.* is mini-FBM .*48'):
        archive.restore_archived(fresh, args, 'sfie', 1, str(metrics))
    assert json.loads(path.read_text()) == entry
    # the same build with its references rendered again from other cameras: refused too
    (tmp_path / 'data' / 'mini_fbm_factors.json').write_text(json.dumps(meta))
    assert archive.restore_archived(fresh, args, 'sfie', 1, str(metrics))
    (tmp_path / 'data' / 'references' / 'test_mesh.json').write_text('[{"t_star": 41}]')
    with pytest.raises(SystemExit, match='references'):
        archive.restore_archived(fresh, args, 'sfie', 1, str(metrics))


def test_a_build_declared_the_same_is_reused_and_named_on_the_page(tmp_path):
    args = _archive_args(tmp_path)
    run = runner.Runner(args.data_root, str(tmp_path / 'commands.jsonl'))
    config = archive.config_identity('projects/imagin4d/mini_fbm_sfie.py')
    archive.archive_run(run, args, 'sfie', 1, str(tmp_path / 'work' / 'sfie' / 'seed1'), dict(ia_success=0.25), config)
    entry = json.loads((tmp_path / 'archive' / 'iters50_steps20' / 'sfie' / 'seed1.json').read_text())
    assert entry['machine']['cores'] == os.cpu_count() and entry['machine']['cpu']
    old = entry['data']['references']
    # the references of the data root change (another build): refused ...
    (tmp_path / 'data' / 'references' / 'test_mesh.json').write_text('[{"t_star": 41}]')
    from imagin4d.datasets.synthetic import build_identity
    new = build_identity(args.data_root)['references']
    assert new != old
    metrics = str(tmp_path / 'restored' / 'metrics.json')
    with pytest.raises(SystemExit, match='field "data"'):
        archive.restore_archived(run, args, 'sfie', 1, metrics)
    # ... until the old build is declared the same as the new one, with the evidence
    declared = tmp_path / 'archive' / 'equivalent_builds.json'
    declared.write_text(json.dumps({old: dict(same_as=new)}))
    with pytest.raises(SystemExit, match=rf'equivalent_builds.json: entry "{old}" needs "same_as" .* and "evidence"'):
        archive.restore_archived(run, args, 'sfie', 1, metrics)
    declared.write_text('{"%s": ' % old)
    with pytest.raises(SystemExit, match='equivalent_builds.json: not valid JSON'):
        archive.restore_archived(run, args, 'sfie', 1, metrics)
    declared.write_text(json.dumps({old: dict(same_as=new, evidence='same probe accuracies')}))
    assert archive.restore_archived(run, args, 'sfie', 1, metrics)
    # a run archived on the new build beside it: one build on the page, the earlier one named
    archive.archive_run(run, args, 'sfie', 2, str(tmp_path / 'work' / 'sfie' / 'seed2'), dict(ia_success=0.5), config)
    lines = archive.archive_provenance(args, [('sfie', 1), ('sfie', 2)])
    assert lines[0] == (f'Data: mini-FBM generator v2, seed 0, 360 train / 96 test sequences, references `{new}` (2 '
                        f'runs; 1 of them measured on the build `{old}`, declared the same in '
                        '`equivalent_builds.json`).')
    assert lines[1].startswith('Runs measured on: ') and '(2 runs)' in lines[1]
    # without the declaration the two runs are of different builds: no page
    declared.unlink()
    with pytest.raises(SystemExit, match='measured on different mini-FBM builds: .*sfie seed 1.*sfie seed 2'):
        archive.archive_provenance(args, [('sfie', 1), ('sfie', 2)])


def test_builds_declared_the_same_one_after_another_are_one_build(tmp_path):
    """A run on build A, A declared the same as B, and the data on disk now build C declared the same as A: the run is
    reused on C and the page puts runs of A and C in one table; a circle of declarations is refused."""
    args = _archive_args(tmp_path)
    run = runner.Runner(args.data_root, str(tmp_path / 'commands.jsonl'))
    config = archive.config_identity('projects/imagin4d/mini_fbm_sfie.py')
    archive.archive_run(run, args, 'sfie', 1, str(tmp_path / 'work' / 'sfie' / 'seed1'), dict(ia_success=0.25), config)
    from imagin4d.datasets.synthetic import build_identity
    build_a = build_identity(args.data_root)['references']
    (tmp_path / 'data' / 'references' / 'test_mesh.json').write_text('[{"t_star": 41}]')
    build_c = build_identity(args.data_root)['references']
    build_b = 'b' * 16
    declared = tmp_path / 'archive' / 'equivalent_builds.json'
    metrics = str(tmp_path / 'restored' / 'metrics.json')
    declared.write_text(json.dumps({build_a: dict(same_as=build_b, evidence='probe')}))
    with pytest.raises(SystemExit, match='field "data"'):   # C is not declared: another build
        archive.restore_archived(run, args, 'sfie', 1, metrics)
    declared.write_text(json.dumps({build_a: dict(same_as=build_b, evidence='probe'),
                                    build_c: dict(same_as=build_a, evidence='byte-identical indices')}))
    assert archive.restore_archived(run, args, 'sfie', 1, metrics)
    archive.archive_run(run, args, 'sfie', 2, str(tmp_path / 'work' / 'sfie' / 'seed2'), dict(ia_success=0.5), config)
    lines = archive.archive_provenance(args, [('sfie', 1), ('sfie', 2)])
    assert lines[0].startswith('Data: mini-FBM generator v2, seed 0, 360 train / 96 test sequences, references '
                               f'`{build_b}` (2 runs; ')
    assert f'1 of them measured on the build `{build_a}`' in lines[0]
    assert f'1 of them measured on the build `{build_c}`' in lines[0]
    declared.write_text(json.dumps({build_a: dict(same_as=build_c, evidence='probe'),
                                    build_c: dict(same_as=build_a, evidence='probe')}))
    with pytest.raises(SystemExit, match=f'go round in a circle \\({build_a} -> {build_c} -> {build_a}\\)'):
        archive.restore_archived(run, args, 'sfie', 1, metrics)


def test_committed_archive_is_of_one_build():
    """--collect on a fresh clone puts every committed run on one page: they must be of one build (or declared so)."""
    bench = _module()
    args = bench.parse_args(['--collect'])
    tasks = [(path.parent.name, int(path.stem[4:]))
             for path in sorted((REPO / 'benchmarks/results/mini_fbm_runs/iters2000_steps20').glob('*/seed*.json'))]
    args.iters, args.num_steps = 2000, 20
    lines = archive.archive_provenance(args, tasks)
    assert lines[0].startswith('Data: mini-FBM generator v2, seed 0, 360 train / 96 test sequences')
    assert f'({len(tasks)} runs' in lines[0]


def test_the_evaluator_of_each_run_is_recorded_and_named(tmp_path):
    import hashlib
    args = _archive_args(tmp_path)
    run = runner.Runner(args.data_root, str(tmp_path / 'commands.jsonl'))
    ckpt = tmp_path / 'evaluator.pth'
    ckpt.write_bytes(b'weights')
    config = archive.config_identity('projects/imagin4d/mini_fbm_sfie.py')
    archive.archive_run(run, args, 'sfie', 1, str(tmp_path / 'w1'), {}, config, str(ckpt))
    assert archive.evaluator_label(args, 'sfie', 1) == f'`{hashlib.sha256(b"weights").hexdigest()[:16]}`'
    # an entry from before the digest was recorded: the checkpoint its test command names
    path = tmp_path / 'archive' / 'iters50_steps20' / 'sfie' / 'seed1.json'
    entry = json.loads(path.read_text())
    entry.pop('evaluator')
    entry['commands'] = [dict(command='tools/test.py c k --cfg-options a=1 test_evaluator.2.evaluator_ckpt=old/e.pth',
                              start=1.0, seconds=1.0)]
    path.write_text(json.dumps(entry))
    assert archive.evaluator_label(args, 'sfie', 1) == '`old/e.pth` (digest not recorded)'
    assert archive.evaluator_label(args, 'sfie', 7) is None


def test_config_identity_follows_the_resolved_config(tmp_path, monkeypatch):
    sfie, fused = (archive.config_identity(f'projects/imagin4d/mini_fbm_{v}.py') for v in ('sfie', 'sfie_fused'))
    # the two differ in one resolved value (stream_fusion); the digest tells them apart and names the file
    assert sfie['file'] == 'projects/imagin4d/mini_fbm_sfie.py' and len(sfie['digest']) == 16
    assert sfie['digest'] != fused['digest']
    # where the data lies is not part of the model: the digest is the same with the data root moved
    monkeypatch.setenv('IMAGIN4D_MINI_FBM_ROOT', str(tmp_path / 'elsewhere'))
    assert archive.config_identity('projects/imagin4d/mini_fbm_sfie.py') == sfie
    assert os.environ['IMAGIN4D_MINI_FBM_ROOT'] == str(tmp_path / 'elsewhere')


def test_archived_run_of_another_config_is_refused(tmp_path):
    args = _archive_args(tmp_path)
    run = runner.Runner(args.data_root, str(tmp_path / 'commands.jsonl'))
    wd = str(tmp_path / 'work' / 'sfie' / 'seed1')
    # measured while mini_fbm_sfie.py resolved to what mini_fbm_sfie_fused.py resolves to now
    archive.archive_run(run, args, 'sfie', 1, wd, dict(ia_success=0.25),
                      archive.config_identity('projects/imagin4d/mini_fbm_sfie_fused.py'))
    path = tmp_path / 'archive' / 'iters50_steps20' / 'sfie' / 'seed1.json'
    before = path.read_text()
    with pytest.raises(SystemExit, match=r'seed1.json: field "config" is .*mini_fbm_sfie_fused.py.* resolves to'):
        archive.restore_archived(run, args, 'sfie', 1, str(tmp_path / 'metrics.json'))
    assert path.read_text() == before and not (tmp_path / 'metrics.json').exists()
    # an entry from before configs were recorded is refused as well
    entry = json.loads(before)
    del entry['config']
    path.write_text(json.dumps(entry))
    with pytest.raises(SystemExit, match='field "config" is None'):
        archive.restore_archived(run, args, 'sfie', 1, str(tmp_path / 'metrics.json'))


def test_committed_archive_matches_the_configs():
    """Every committed run was measured with the config its variant resolves to now (else --collect would put
    numbers of another model on the page)."""
    files = sorted((REPO / 'benchmarks' / 'results' / 'mini_fbm_runs').glob('iters*/*/seed*.json'))
    assert files
    for path in files:
        entry = json.loads(path.read_text())
        assert entry['variant'] == path.parent.name and f'seed{entry["seed"]}.json' == path.name, path
        config = runner.config_file(entry['variant'])
        assert entry['config'] == archive.config_identity(config), path
        assert all(config in r['command'] for r in entry['commands'] if 'train.py' in r['command']), path


def test_archive_defaults():
    bench = _module()
    assert bench.parse_args([]).archive.endswith('benchmarks/results/mini_fbm_runs')
    assert bench.parse_args(['--smoke']).archive is None
    assert bench.parse_args(['--archive', 'none']).archive is None


def test_smoke_run_writes_the_results_page(mini_fbm_prepared, tmp_path):
    out, work = tmp_path / 'results.md', tmp_path / 'bench'
    archive = tmp_path / 'archive'
    run_tool(['tools/analysis/run_benchmark.py', '--smoke', '--data-root', mini_fbm_prepared, '--work-dir', work,
              '--out', out, '--jobs', '2', '--archive', archive], cwd=REPO, env=dict(OMP_NUM_THREADS='1'),
             timeout=900)
    page = out.read_text()
    assert page.startswith('# mini-FBM benchmark (smoke run)')
    for variant in ('no_image', 'sfie'):
        merged = json.loads((work / variant / 'seed0' / 'metrics.json').read_text())
        expected = {'ia_success', 'factor_accuracy', 'waypoint_xy_err', 'contact_f1', 'fid', 'r_precision_top3'}
        assert expected <= set(merged)
        mean = sum(merged[k] for k in ('factor_grasp_hand', 'factor_carry_height', 'factor_layout')) / 3
        assert merged['factor_accuracy'] == pytest.approx(mean)
        row = next(line for line in page.splitlines() if line.startswith(f'| {variant} | 1 |'))
        assert f'{merged["ia_success"]:.3f}' in row
    sfie = json.loads((work / 'sfie' / 'seed0' / 'metrics.json').read_text())
    assert 'mirror_contact_side_flip_rate' in sfie and 'mirror_consistency' in sfie
    assert (work / 'sfie' / 'seed0' / 'mirror' / 'mirrored.npz').is_file()
    assert '## Claims' in page and 'prior' in page and '## Commands' in page
    assert page.count('tools/train.py projects/imagin4d/mini_fbm_') == 2
    # the archive alone rewrites the page from a fresh work dir (as a fresh clone does with the committed archive)
    again = tmp_path / 'again.md'
    run_tool(['tools/analysis/run_benchmark.py', '--smoke', '--data-root', mini_fbm_prepared, '--work-dir',
              tmp_path / 'fresh', '--out', again, '--archive', archive, '--collect'], cwd=REPO)
    table = [line for line in page.splitlines() if line.startswith('| ')]
    assert table and table == [line for line in again.read_text().splitlines() if line.startswith('| ')]
    assert again.read_text().count('tools/train.py projects/imagin4d/mini_fbm_') == 2
    # both runs were scored by the one evaluator the smoke run trained: all in the distribution table
    assert 'need one text-motion evaluator: their table has the 2 runs measured with evaluator `' in page
    assert 'not in it' not in page


def test_an_interrupted_training_resumes_from_its_last_checkpoint(tmp_path):
    """A benchmark training saves a checkpoint every RESUME_INTERVAL iterations (at most its length) and a chain
    that finds the work dir's last_checkpoint resumes from it instead of starting again."""
    from imagin4d.engine.benchmark import jobs
    args = _archive_args(tmp_path)
    trains = []

    def run(*command):
        trains.append(command)
        raise InterruptedError      # stop the chain after its first command (the training)

    wd = tmp_path / 'work' / 'no_image' / 'seed0'
    for _ in range(2):
        with pytest.raises(InterruptedError):
            jobs.run_variant(run, args, 'evaluator.pth', 'no_image', 0)
        wd.mkdir(parents=True, exist_ok=True)
        (wd / 'last_checkpoint').write_text(str(wd / 'iter_25.pth'))
    first, second = trains
    assert first[0] == second[0] == 'tools/train.py' and '--resume' not in first and '--resume' in second
    assert 'default_hooks.checkpoint.interval=50' in first          # 50 iterations: min(50, RESUME_INTERVAL)
    args.iters = 2000
    with pytest.raises(InterruptedError):
        jobs.run_variant(run, args, 'evaluator.pth', 'no_image', 0)
    assert f'default_hooks.checkpoint.interval={jobs.RESUME_INTERVAL}' in trains[-1]


def test_amp_trains_in_bf16_and_keeps_its_runs_apart(tmp_path):
    """--amp: every training gets tools/train.py --amp, the runs are archived under iters<N>_steps<S>_bf16 (an fp32
    run of the same variant and seed is never reused for it, nor the other way round), the default work dir is its
    own and the fp32 page cannot be overwritten."""
    from imagin4d.engine.benchmark import jobs
    bench = _module()
    with pytest.raises(SystemExit):
        bench.parse_args(['--amp'])                                   # the default --out is the fp32 page
    assert bench.parse_args(['--amp', '--out', str(tmp_path / 'bf16.md')]).work_dir == 'work_dirs/benchmark_bf16'
    fp32 = _archive_args(tmp_path)
    amp = bench.parse_args(['--data-root', fp32.data_root, '--work-dir', str(tmp_path / 'work_bf16'), '--iters', '50',
                            '--archive', str(tmp_path / 'archive'), '--seeds', '1', '--amp', '--out',
                            str(tmp_path / 'bf16.md')])
    root = tmp_path / 'archive'
    assert archive.archive_file(fp32, 'sfie', 1) == str(root / 'iters50_steps20' / 'sfie' / 'seed1.json')
    assert archive.archive_file(amp, 'sfie', 1) == str(root / 'iters50_steps20_bf16' / 'sfie' / 'seed1.json')
    run = runner.Runner(fp32.data_root, str(tmp_path / 'commands.jsonl'))
    config = archive.config_identity('projects/imagin4d/mini_fbm_sfie.py')
    archive.archive_run(run, fp32, 'sfie', 1, str(tmp_path / 'work' / 'sfie' / 'seed1'), dict(ia_success=0.25), config)
    assert not archive.restore_archived(run, amp, 'sfie', 1, str(tmp_path / 'restored.json'))
    trains = []

    def record(*command):
        trains.append(command)
        raise InterruptedError
    for args in (amp, fp32):
        with pytest.raises(InterruptedError):
            jobs.run_variant(record, args, 'evaluator.pth', 'no_image', 1)
    assert trains[0][0] == 'tools/train.py' and '--amp' in trains[0] and '--amp' not in trains[1]
