"""benchmarks/: each benchmark script runs end to end at a tiny size and writes the record its README promises
(the numbers themselves are measured by running the scripts, not here)."""
import json
import os
import sys

from testing_utils import REPO, run_tool


def test_render_throughput_writes_one_row_per_size_style_and_path(tmp_path):
    run_tool(['benchmarks/render_throughput.py', '--size', '48', '32', '--runs', '2', '--images', '1', '--warmup', '0',
              '--out-dir', tmp_path, '--tag', 'test'], cwd=REPO)
    record = json.loads((tmp_path / 'render_throughput_test.json').read_text())
    assert record['settings']['sizes'] == [48, 32]
    assert set(record['results']) == {'48px', '32px'}
    for styles in record['results'].values():
        assert set(styles) == {'mesh', 'sketch'}
        for paths in styles.values():
            assert set(paths) == {'render+style', 'ReferenceRenderer'}
            for variants in paths.values():   # {'current, 1 process': entry} (more with --baseline-tree etc.)
                assert list(variants) == ['current, 1 process']
                for entry in variants.values():
                    assert len(entry['images_per_s_runs']) == 2 and entry['images_per_s_median'] > 0
    table = (tmp_path / 'render_throughput_test.md').read_text()
    rows = [line for line in table.splitlines() if line.startswith('| 48px') or line.startswith('| 32px')]
    assert len(rows) == 8
    assert f'({os.cpu_count()} logical cores' in table and '--size 48 32' in table


def test_feature_throughput_measures_the_configs_backbone(tmp_path):
    from imagin4d.datasets.transforms.reference_features import DEFAULT_IMAGE_BACKBONE
    run_tool(['benchmarks/feature_throughput.py', '--repeats', '1', '--batch-size', '2', '--num-images', '2',
              '--image-size', '64', '--num-sentences', '4', '--threads', '1', '--out-dir', tmp_path], cwd=REPO)
    record = json.loads((tmp_path / 'feature_throughput.json').read_text())
    measured = record['measurements']
    size = DEFAULT_IMAGE_BACKBONE['preprocess']['size']
    assert measured['efficientnet_lite0_forward']['resolution'] == size
    # a 448-px read gives 14 x 14 patches of 1280 float16 channels (+ the pooled vector): at least 14*14*1280*2 bytes
    assert measured['image_cache_read']['entry_kib'] >= (size // 32) ** 2 * 1280 * 2 / 1024
    table = (tmp_path / 'feature_throughput.md').read_text()
    assert f'EfficientNet-Lite0 forward, {size} px, batch 2' in table and 'at start None' not in table


def test_training_step_breakdown_accounts_for_the_whole_step(tmp_path):
    run_tool(['benchmarks/training_step.py', '--parts', 'breakdown', '--sizes', 'mini', '--batch', '2',
              '--tag', 'test', '--out-dir', tmp_path], cwd=REPO)
    record = json.loads((tmp_path / 'training_step_test.json').read_text())
    results = record['breakdown']['results']
    assert set(results) == {'mini_fbm_sfie', 'mini_fbm_sfie_lean', 'mini_fbm_no_image'}
    full = {row['component']: row for row in results['mini_fbm_sfie']['components']}
    assert 'SFIE Q-Former K/V projection of the patches' in full and 'denoiser AdaLN modulation [spatial_image]' in full
    assert 'SFIE Q-Former K/V projection of the patches' not in {
        row['component'] for row in results['mini_fbm_no_image']['components']}
    assert abs(sum(row['share_of_step'] for row in full.values()) - 1) < 0.01
    # the per-component matmul FLOPs cover the step's FlopCounterMode total (attention kernels aside)
    assert 0.9 * results['mini_fbm_sfie']['gflops'] <= sum(row['matmul_gflops'] for row in full.values()) \
        <= 1.1 * results['mini_fbm_sfie']['gflops']
    lean = {row['component'] for row in results['mini_fbm_sfie_lean']['components']}
    assert 'SFIE shared patch projection (LN + Ci -> P, read by SFIE and FAIE)' in lean
    assert 'FAIE Q-Former patch LayerNorm + positions' in lean       # its own LN of the P-wide shared tokens
    assert 'training_step.py --parts breakdown' in (tmp_path / 'training_step_test.md').read_text()


def test_training_step_bound_classes_cover_the_step(tmp_path):
    """--parts bound: the classes add up to the profiled ops, the matmul FLOPs are the step's FlopCounterMode count
    (the configs' attention runs in SDPA kernels, which neither counts as matmuls), and the page has one row per
    config."""
    run_tool(['benchmarks/training_step.py', '--parts', 'bound', '--batch', '2', '--tag', 'test', '--out-dir',
              tmp_path], cwd=REPO)
    record = json.loads((tmp_path / 'training_step_test.json').read_text())
    bound = record['bound']
    assert set(bound['results']) == {'mini_fbm_no_image', 'mini_fbm_sfie_lean', 'mini_fbm_sfie'}
    for result in bound['results'].values():
        classes = result['classes']
        assert abs(sum(c['seconds'] for c in classes.values()) - result['profiled_s']) < 1e-3
        assert classes['matrix multiplies']['seconds'] > 0 and classes['optimiser (AdamW, clipping)']['seconds'] > 0
        assert result['matmul_alone_s'] > 0 and result['top_shapes']
    breakdown_gflop = {'mini_fbm_no_image': 16.406}                   # FlopCounterMode at batch 16 (the page above)
    assert abs(bound['results']['mini_fbm_no_image']['matmul_gflop'] * 8 - breakdown_gflop['mini_fbm_no_image']) \
        < 0.05 * breakdown_gflop['mini_fbm_no_image']
    page = (tmp_path / 'training_step_test.md').read_text()
    assert '## What bounds the step against the matmul peak' in page
    assert sum(line.startswith('| mini_fbm_') for line in page.splitlines()) == 3


def _event(name, parent=None):
    from types import SimpleNamespace
    return SimpleNamespace(name=name, cpu_parent=parent)


def test_training_step_precision_compares_fp32_and_bf16(mini_fbm_prepared, free_body_root, tmp_path):
    """--parts precision: every model in fp32, bf16 autocast and bf16 with bf16 attention on the same real batch; the
    last step's loss of bf16 close to fp32's but not equal (the networks really ran in bf16)."""
    run_tool(['benchmarks/training_step.py', '--parts', 'precision', '--sizes', 'mini', '--repeats', '1', '--tag',
              'test', '--out-dir', tmp_path], cwd=REPO, timeout=600,
             env=dict(IMAGIN4D_MINI_FBM_ROOT=mini_fbm_prepared, IMAGIN4D_BODY_MODEL_DIR=str(free_body_root)))
    part = json.loads((tmp_path / 'training_step_test.json').read_text())['precision']
    assert [r['model'] for r in part['rows']] == ['full', 'lean full', 'no image']
    for row in part['rows']:
        assert all(row['median_s'][p] > 0 for p in ('fp32', 'bf16', 'bf16, bf16 attention'))
        loss = row['last_loss']
        assert loss['bf16'] != loss['fp32'] and abs(loss['bf16'] - loss['fp32']) < 0.05 * abs(loss['fp32'])
    assert set(part['matmul']['gflops_per_s']) == {'float32', 'bfloat16'}
    page = (tmp_path / 'training_step_test.md').read_text()
    assert '## Training precision: fp32 against bf16 autocast' in page and '- mini: lean full / no image' in page


def test_training_step_dropout_part_times_both_dropouts_and_patches_every_user(mini_fbm_prepared, free_body_root,
                                                                              tmp_path):
    """--parts dropout: the lean and the no-image model in fp32 and bf16 with each dropout; inside `torch_dropout()`
    every imagin4d module that calls the 16-bit-mask dropout calls torch's instead (the mask's drop rate shows it)."""
    import torch
    sys.path.insert(0, str(REPO / 'benchmarks'))
    from training_step_precision import torch_dropout

    from imagin4d.models.layers import Dropout, MultiHeadAttention, stacked_qformer, transformer
    fast = transformer.dropout
    with torch_dropout():
        assert transformer.dropout is not fast and stacked_qformer.dropout is not fast
        torch.manual_seed(0)
        patched = Dropout(0.5)(torch.ones(4096))
    assert transformer.dropout is fast and stacked_qformer.dropout is fast
    torch.manual_seed(0)
    ours = Dropout(0.5)(torch.ones(4096))
    torch.manual_seed(0)
    assert torch.equal(patched, torch.nn.functional.dropout(torch.ones(4096), 0.5)) and not torch.equal(ours, patched)
    assert type(MultiHeadAttention(8, num_heads=2).out_dropout) is Dropout
    run_tool(['benchmarks/training_step.py', '--parts', 'dropout', '--repeats', '1', '--tag', 'test', '--out-dir',
              tmp_path], cwd=REPO, timeout=600,
             env=dict(IMAGIN4D_MINI_FBM_ROOT=mini_fbm_prepared, IMAGIN4D_BODY_MODEL_DIR=str(free_body_root)))
    part = json.loads((tmp_path / 'training_step_test.json').read_text())['dropout']
    assert [(r['model'], r['precision']) for r in part['rows']] == [
        ('lean full', 'fp32'), ('lean full', 'bf16'), ('no image', 'fp32'), ('no image', 'bf16')]
    assert all(v > 0 for r in part['rows'] for v in r['median_s'].values())
    assert abs(part['drop_rate_of_4m'] - 6554 / 65536) < 0.001
    page = (tmp_path / 'training_step_test.md').read_text()
    assert '## Dropout: torch\'s `F.dropout` against the 16-bit mask' in page


def test_training_step_bound_op_classes():
    import sys
    sys.path.insert(0, str(REPO / 'benchmarks'))
    from training_step_bound import matmul_operands, op_class
    step = _event('Optimizer.step#AdamW.step')
    assert op_class(_event('aten::mul_', _event('aten::_single_tensor_adamw', step))) == 'optimiser (AdamW, clipping)'
    assert op_class(_event('aten::_foreach_norm')) == 'optimiser (AdamW, clipping)'
    assert op_class(_event('aten::addmm', _event('aten::linear'))) == 'matrix multiplies'
    assert op_class(_event('aten::_scaled_dot_product_flash_attention_for_cpu')) == 'attention kernels'
    assert op_class(_event('aten::native_layer_norm_backward')) == 'norms and softmax'
    assert op_class(_event('aten::copy_')) == 'copies and layout'
    assert op_class(_event('aten::gelu')) == 'elementwise and reductions'
    addmm = type('E', (), dict(name='aten::addmm', input_shapes=[[512], [1920, 128], [128, 512], [], []]))()
    assert matmul_operands(addmm) == [[1920, 128], [128, 512]]


def test_loader_worker_times_batches_and_compares_them(mini_fbm_prepared, free_body_root, tmp_path):
    """benchmarks/loader_worker.py with the same code as both trees: CPU time per batch, the BPS share, and the
    digests of every batch agree between the runs (the same seeds give the same batches)."""
    run_tool(['benchmarks/loader_worker.py', '--old-tree', REPO, '--old-name', 'same', '--batches', '2', '--rounds',
              '1', '--out', tmp_path / 'worker'], cwd=REPO, timeout=600,
             env=dict(IMAGIN4D_MINI_FBM_ROOT=mini_fbm_prepared, IMAGIN4D_BODY_MODEL_DIR=str(free_body_root)))
    record = json.loads((tmp_path / 'worker.json').read_text())
    assert [r['name'] for r in record['runs']] == ['same', 'new']
    for run in record['runs']:
        assert len(run['cpu_s']) == 2 and all(t > 0 for t in run['cpu_s']) and 0 < run['bps_s'] < sum(run['cpu_s'])
        assert len(set(run['digests'])) == 2                          # two different batches
    assert record['same_batches']
    page = (tmp_path / 'worker.md').read_text()
    assert 'Batches: the same in every run of both trees' in page and 'new / same:' in page


def test_loader_worker_with_a_worker_process_counts_its_cpu(mini_fbm_prepared, free_body_root, tmp_path):
    """--workers 1: the worker process's CPU per batch (from /proc, hand-over included) and the main thread's time in
    next(); the batches of both trees agree."""
    run_tool(['benchmarks/loader_worker.py', '--old-tree', REPO, '--old-name', 'same', '--batches', '3', '--skip', '1',
              '--rounds', '1', '--workers', '1', '--out', tmp_path / 'worker'], cwd=REPO, timeout=600,
             env=dict(IMAGIN4D_MINI_FBM_ROOT=mini_fbm_prepared, IMAGIN4D_BODY_MODEL_DIR=str(free_body_root)))
    record = json.loads((tmp_path / 'worker.json').read_text())
    assert record['workers'] == 1 and record['same_batches']
    for run in record['runs']:
        assert run['workers'] == 1 and len(set(run['cpu_s'])) == 1 and run['cpu_s'][0] > 0
        assert run['bps_s'] == 0                                      # the queries ran in the worker, not here
        assert len(run['main_s']) == 3 and all(t >= 0 for t in run['main_s'])
    assert 'worker process(es)' in (tmp_path / 'worker.md').read_text()


def test_lean_rerun_check_verdicts(tmp_path):
    """benchmarks/training_step_rerun.py on hand-made archives: a single new run borrows the old spread."""
    def archive(variant, values):
        folder = tmp_path / variant
        folder.mkdir()
        for seed, (success, mpjpe) in enumerate(values):
            (folder / f'seed{seed}.json').write_text(json.dumps(dict(seed=seed, metrics=dict(
                ia_success=success, mpjpe=mpjpe))))
    archive('sfie', [(0.50, 60.0), (0.60, 64.0), (0.55, 62.0)])     # means 0.55 / 62, std 0.05 / 2
    archive('no_image', [(0.30, 80.0), (0.32, 78.0)])
    archive('sfie_lean', [(0.46, 66.5)])                                # 0.09 below (<= 0.1), 4.5 worse (> 4)
    run_tool(['benchmarks/training_step_rerun.py', '--runs', tmp_path, '--new-runs', tmp_path,
              '--out', tmp_path / 'rerun.md'], cwd=REPO)
    page = (tmp_path / 'rerun.md').read_text()
    assert '| ia_success | 0.46 ± 0 (1) | 0.55 ± 0.05 (3) | 0.31 ± 0.014 (2) | within |' in page
    assert '| mpjpe | 66.5 ± 0 (1) | 62 ± 2 (3) | 79 ± 1.4 (2) | WORSE |' in page
    assert '1 of 2 metrics within the spread or better; worse: mpjpe.' in page


def test_lean_rerun_check_scores_under_one_protocol(tmp_path):
    """A new run scored under another protocol than the archived runs is compared on its rescored metrics (cached),
    never on the numbers of the other protocol; without a checkpoint to rescore, the tool says which file it needs."""
    legacy = {'HOIMotionMetric': {'floor_height': 0.0, 'joints_from': 'predicted', 'object_rotation': 'projected'}}
    estimate = {'HOIMotionMetric': {'floor_height': 'estimate', 'joints_from': 'predicted',
                                    'object_rotation': 'projected'}}
    runs = tmp_path / 'runs'
    for variant, values in (('sfie', [2.7, 2.9]), ('no_image', [3.0, 3.2])):
        (runs / variant).mkdir(parents=True)
        for seed, sliding in enumerate(values):
            (runs / variant / f'seed{seed}.json').write_text(json.dumps(dict(seed=seed, metrics=dict(
                foot_sliding=sliding, mirror_consistency=0.8))))
    test_cmd = ('tools/test.py projects/imagin4d/mini_fbm_sfie_lean.py missing/iter_2000.pth --work-dir w '
                '--out w/test_metrics.json --cfg-options model.test_cfg.num_steps=20')
    (runs / 'sfie_lean').mkdir()
    (runs / 'sfie_lean' / 'seed0.json').write_text(json.dumps(dict(
        seed=0, protocol=estimate, commit='abc', commands=[dict(command=test_cmd)],
        metrics=dict(foot_sliding=9.4, mirror_consistency=0.9))))   # CHOIS's floor: about 3x the fixed floor's
    cmd = ['benchmarks/training_step_rerun.py', '--runs', runs, '--new-runs', runs, '--out', tmp_path / 'rerun.md',
           '--rescored', tmp_path / 'rescored', '--rescore-dir', tmp_path / 'work']
    refused = run_tool(cmd, cwd=REPO, check=False)
    assert refused.returncode != 0 and 'missing/iter_2000.pth: checkpoint of sfie_lean seed 0' in refused.stderr
    assert 'Traceback' not in refused.stderr
    (tmp_path / 'rescored').mkdir()
    (tmp_path / 'rescored' / 'sfie_lean_seed0.json').write_text(json.dumps(dict(
        protocol=legacy, checkpoint_run='abc', metrics=dict(foot_sliding=2.85))))
    run_tool(cmd, cwd=REPO)
    page = (tmp_path / 'rerun.md').read_text()
    assert '| foot_sliding | 2.85 ± 0 (1) | 2.8 ± 0.14 (2) | 3.1 ± 0.14 (2) | within |' in page
    assert '| mirror_consistency | 0.9 ± 0 (1) | 0.8 ± 0 (2) | 0.8 ± 0 (2) | better |' in page
    assert "'floor_height': 0.0" in page and 'sfie_lean seed 0 scored again' in page
    for commit, sliding in (('abc', 2.75), ('def', 5.0)):      # named by the run's commit: only its own is read
        (tmp_path / 'rescored' / f'sfie_lean_seed0_{commit}.json').write_text(json.dumps(dict(
            protocol=legacy, checkpoint_run=commit, metrics=dict(foot_sliding=sliding))))
    run_tool(cmd, cwd=REPO)
    assert '| foot_sliding | 2.75 ± 0 (1) |' in (tmp_path / 'rerun.md').read_text()


def test_lean_rerun_check_control(tmp_path):
    """--control: an unchanged variant retrained into the new archive is judged against its own archived runs."""
    def archive(folder, variant, values):
        (folder / variant).mkdir(parents=True)
        for seed, (success, mpjpe) in enumerate(values):
            (folder / variant / f'seed{seed}.json').write_text(json.dumps(dict(seed=seed, metrics=dict(
                ia_success=success, mpjpe=mpjpe))))
    old, new = tmp_path / 'old', tmp_path / 'new'
    archive(old, 'sfie', [(0.50, 60.0), (0.60, 64.0), (0.55, 62.0)])
    archive(old, 'no_image', [(0.30, 80.0), (0.32, 78.0)])            # 0.31 ± 0.014, 79 ± 1.4
    archive(new, 'sfie_lean', [(0.52, 63.0), (0.56, 61.0)])
    archive(new, 'no_image', [(0.33, 84.0)])                            # +0.02 (<= 0.028), +5 (> 2.8): worse
    archive(new, 'sfie', [(0.44, 61.0)])                                # -0.11 (> 0.05 + 0.05), -1 (<= 4)
    run_tool(['benchmarks/training_step_rerun.py', '--runs', old, '--new-runs', new, '--control', 'sfie', 'no_image',
              '--out', tmp_path / 'rerun.md'], cwd=REPO)
    page = (tmp_path / 'rerun.md').read_text()
    assert ('| metric | sfie_lean | sfie | no_image | verdict | sfie (control) | verdict | no_image (control) | '
            'verdict |') in page
    assert ('| ia_success | 0.54 ± 0.028 (2) | 0.55 ± 0.05 (3) | 0.31 ± 0.014 (2) | within | 0.44 ± 0 (1) | WORSE '
            '| 0.33 ± 0 (1) | within |') in page
    assert '| mpjpe | 62 ± 1.4 (2) | 62 ± 2 (3) | 79 ± 1.4 (2) | within | 61 ± 0 (1) | within | 84 ± 0 (1) | WORSE |' \
        in page
    assert 'Control: 1 of 2 metrics of sfie within its archived spread; outside: ia_success (WORSE).' in page
    assert 'Control: 1 of 2 metrics of no_image within its archived spread; outside: mpjpe (WORSE).' in page


def test_rerun_check_control_against_another_variants_runs(tmp_path):
    """--control NEW=ARCHIVED: a retrained variant of another name (bf16 training) judged against ARCHIVED's runs."""
    old, new = tmp_path / 'old', tmp_path / 'new'
    for folder, variant, values in ((old, 'sfie', [0.50, 0.60]), (old, 'no_image', [0.30, 0.32]),
                                    (new, 'sfie_lean_bf16', [0.55]),
                                    (new, 'no_image_bf16', [0.36])):      # no_image 0.31 ± 0.014: +0.05, better
        (folder / variant).mkdir(parents=True)
        for seed, value in enumerate(values):
            (folder / variant / f'seed{seed}.json').write_text(json.dumps(dict(seed=seed, metrics=dict(
                ia_success=value))))
    run_tool(['benchmarks/training_step_rerun.py', '--runs', old, '--new-runs', new, '--new',
              'sfie_lean_bf16', '--control', 'no_image_bf16=no_image', '--out', tmp_path / 'rerun.md'], cwd=REPO)
    page = (tmp_path / 'rerun.md').read_text()
    assert 'Controls: no_image_bf16 (against no_image) retrained beside the new runs' in page
    assert ('| ia_success | 0.55 ± 0 (1) | 0.55 ± 0.071 (2) | 0.31 ± 0.014 (2) | within | 0.36 ± 0 (1) | better |'
            in page)


def _train_line(stamp: str, it: int, time: float, data_time: float) -> str:
    return (f'2026/12/07 {stamp} - mmengine - INFO - Iter(train) [{it:>4}/2000]  lr: 1.0000e-03  eta: 0:15:51  '
            f'time: {time:.4f}  data_time: {data_time:.4f}  grad_norm: 8.7072  loss: 1.6602\n')


def test_training_log_reads_resumed_segments_and_windows(tmp_path):
    """Two segments of one resumed training: the first line after each start is left out, the later segment's line
    of an iteration replaces the earlier one, windows and shares are the medians of the remaining lines."""
    run = tmp_path / 'run'
    one, two = run / '20261207_010000', run / '20261207_020000'
    one.mkdir(parents=True)
    two.mkdir()
    (one / '20261207_010000.log').write_text(
        'some other line\n' + _train_line('01:00:10', 50, 9.0, 0.9)        # start-up line: left out
        + _train_line('01:01:00', 100, 1.0, 0.05) + _train_line('01:02:00', 150, 3.0, 0.3))
    (two / '20261207_020000.log').write_text(
        _train_line('02:00:10', 1450, 9.0, 0.0)                            # start-up line of the resume
        + _train_line('02:01:00', 150, 2.0, 0.1)                            # replaces segment 1's iteration 150
        + _train_line('02:02:00', 1500, 2.4, 0.12) + _train_line('02:03:00', 1550, 2.6, 0.26))
    loads = tmp_path / 'load.log'
    stamp = 1796605260  # 2026-12-07 01:01:00 UTC
    loads.write_text(f'{stamp - 10} 1.5 1 1\n{stamp + 3600 + 50} 4.0 3 2\n')
    run_tool(['benchmarks/training_log.py', str(run), '--load-log', str(loads), '--out-dir', str(tmp_path),
              '--tag', 'test'], cwd=REPO)
    record = json.loads((tmp_path / 'training_log_test.json').read_text())
    (result,) = record['runs']
    assert result['lines'] == 4 and result['iterations'] == [100, 1550]
    assert result['early']['lines'] == 2 and result['early']['time'] == 1.5            # median of 1.0 and 2.0
    assert result['early']['data_share'] == (0.05 + 0.05) / 2                           # 0.05/1.0, 0.1/2.0
    assert result['late']['time'] == 2.5 and abs(result['late']['data_share'] - 0.075) < 1e-12
    assert abs(result['late_over_early'] - 2.5 / 1.5) < 1e-12
    # 02:01 (iteration 150) is an hour after the last sample before it: no load; 02:02 and 02:03 read the 4.0 sample
    assert result['early']['load'] == 1.5 and result['late']['load'] == 4.0
    assert '| 1.500 | 1.5 | 2.500 | 4.0 | 1.67 | 5.0%, 7.5%, 5.0% |' in (tmp_path / 'training_log_test.md').read_text()


def test_benchmark_run_time_reads_the_training_span_from_the_log(tmp_path):
    """The training of a run spans its log's first line to its last iteration (a log line or, for a run shorter than
    the logging interval, the checkpoint of the last iteration); the test's lines after it do not count."""
    sys.path.insert(0, str(REPO / 'benchmarks'))
    from benchmark_run_time import train_times
    log = tmp_path / 'run.log'
    log.write_text('2026/12/07 18:26:05 - mmengine - INFO - Config:\nnot a log line\n'
                   + _train_line('18:26:30', 50, 0.4, 0.02) + _train_line('18:39:01', 2000, 0.4, 0.02)
                   + '2026/12/07 18:39:02 - mmengine - INFO - Saving checkpoint at 2000 iterations\n'
                   + '2026/12/07 18:40:00 - mmengine - INFO - Iter(test) [6/6]  mpjpe: 60.0\n')
    span = train_times(log)
    assert (span['end'] - span['start']).total_seconds() == 13 * 60 - 3
    log.write_text('2026/12/07 10:00:00 - mmengine - INFO - Config:\n'
                   '2026/12/07 10:00:20 - mmengine - INFO - Saving checkpoint at 20 iterations\n')
    span = train_times(log)
    assert (span['end'] - span['start']).total_seconds() == 20


def test_model_throughput_rows_per_precision_and_backend_start_from_the_same_step(tmp_path):
    """One row per (config, precision, attention backend), all from the same weights, batch and noise: the first
    loss is the same for two exact attention backends and close under bf16 autocast training (fresh AdaLN-Zero weights:
    the denoiser's blocks start as identities, so the first losses may agree to the printed digits)."""
    run_tool(['benchmarks/model_throughput.py', '--only', 'mini_fbm_no_image', '--precision', 'fp32', 'bf16',
              '--attn-backend', 'sdpa', 'math', '--repeats', '1', '--batch', '2', '--gen-batch', '1', '2',
              '--out-dir', tmp_path, '--tag', 'test'], cwd=REPO)
    rows = json.loads((tmp_path / 'model_throughput_test.json').read_text())['rows']
    loss = {(r['precision'], r['attn_backend']): r['first_loss'] for r in rows}
    assert sorted(loss) == [('bf16', 'math'), ('bf16', 'sdpa'), ('fp32', 'math'), ('fp32', 'sdpa')]
    assert abs(loss['fp32', 'sdpa'] - loss['fp32', 'math']) < 1e-4 * abs(loss['fp32', 'math'])
    assert abs(loss['bf16', 'sdpa'] - loss['fp32', 'sdpa']) < 0.05 * abs(loss['fp32', 'sdpa'])
    for r in rows:
        assert r['gen_s_batch1'] > 0 and r['gen_s_batch2'] > 0 and r['peak_gpu_mb'] is None


def test_attention_backends_reports_each_backends_difference_from_math(tmp_path):
    run_tool(['benchmarks/attention_backends.py', '--repeats', '1', '--out', tmp_path / 'attn'], cwd=REPO)
    rows = json.loads((tmp_path / 'attn.json').read_text())['rows']
    for row in rows:
        assert row['max_abs_diff_vs_math']['math'] == 0.0
        assert row['max_abs_diff_vs_math']['sdpa'] < 1e-5         # fp32: the same softmax, another kernel
        assert 'xformers' not in row['max_abs_diff_vs_math']      # CUDA only: not run on a CPU
