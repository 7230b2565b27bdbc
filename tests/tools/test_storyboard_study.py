"""tools/analysis/storyboard_study.py and imagin4d/engine/storyboard_study*.py: the plan (every model x seed x
evaluation, cheapest first), where each model's runs are read, the storyboard test command, per-image and per-segment
hidden factors (hand-computed; the ground-truth long sequences recover every factor of every segment), the answers on
hand-computed summaries, and the --smoke run end to end (archive, page numbers recomputed, resume runs nothing,
--collect writes the same page)."""
import json
import shutil

import numpy as np
import pytest
from testing_utils import REPO, expected_cell, load_tool, markdown_table_rows, run_tool

from imagin4d.engine import storyboard_study as study
from imagin4d.engine import storyboard_study_page as page
from imagin4d.engine.benchmark.runner import config_file


def _args(*extra):
    return load_tool('tools/analysis/storyboard_study.py').parse_args(list(extra))


def test_plan_covers_every_model_seed_and_evaluation_cheapest_first():
    items = study.plan(_args())
    # 2 models x 3 seeds x (single, board1-3, board3 with its middle image mirrored, long_one, long_board)
    assert len(items) == 2 * 3 * 7 == len({(i['key'], i['variant'], i['seed']) for i in items})
    assert [i['key'] for i in items[:6]] == ['single'] * 6 and [i['key'] for i in items[-6:]] == ['long_board'] * 6
    assert [(i['variant'], i['seed']) for i in items[:3]] == [('storyboard', 0), ('sfie', 0), ('storyboard', 1)]
    smoke = study.plan(_args('--smoke'))
    assert [i['key'] for i in smoke] == ['single', 'single', 'board1', 'board1', 'board3', 'board3', 'board3_flip',
                                         'board3_flip', 'long_one', 'long_one', 'long_board', 'long_board']


def test_runs_are_read_from_the_study_and_the_reference_dir():
    args = _args('--study-dir', 'S', '--reference-dir', 'R', '--iters', '7')
    assert study.checkpoint_path(args, 'storyboard', 1) == 'S/storyboard/seed1/iter_7.pth'
    assert study.checkpoint_path(args, 'sfie', 2) == 'R/sfie/seed2/iter_7.pth'
    trained = _args('--study-dir', 'S', '--reference-dir', 'R', '--train-reference')
    assert study.run_dir(trained, 'sfie', 0) == 'S/sfie/seed0'
    assert _args('--study-dir', 'S').long_root == 'S/long'


def test_board_command_reads_the_first_k_storyboard_references_scored_per_image():
    args = _args('--study-dir', 'S', '--reference-dir', 'R', '--evaluator-ckpt', 'E.pth')
    command = study.board_command(args, dict(key='board2', variant='sfie', seed=0), 'out.json', 'W')
    assert command[:3] == ['tools/test.py', 'projects/imagin4d/mini_fbm_sfie.py', 'R/sfie/seed0/iter_2000.pth']
    options = command[command.index('--cfg-options') + 1:]
    assert options == ['model.test_cfg.sampler=ddim', 'model.test_cfg.num_steps=20',
                       'model.test_cfg.timestep_spacing=trailing', 'model.test_cfg.guidance_image=1.0',
                       'model.test_cfg.reconstruction_guidance=False',
                       'test_dataloader.dataset.pipeline.0.reference_index={data_root}/references_storyboard/'
                       'test_mesh.json', 'test_dataloader.dataset.pipeline.0.max_images=2',
                       'test_evaluator.1.per_image=True', 'test_evaluator.2.evaluator_ckpt=E.pth']


def test_flip_command_mirrors_the_middle_image_of_three():
    args = _args('--study-dir', 'S', '--reference-dir', 'R')
    command = study.flip_command(args, dict(key='board3_flip', variant='storyboard', seed=1), 'm.json')
    assert command[:6] == ['tools/analysis/mirror_test.py', 'projects/imagin4d/mini_fbm_storyboard.py',
                           'S/storyboard/seed1/iter_2000.pth', '--out', 'm.json', '--flip-image']
    assert command[6] == '1' and 'test_dataloader.dataset.pipeline.0.max_images=3' in command
    assert 'test_dataloader.dataset.pipeline.0.reference_index={data_root}/references_storyboard/test_mesh.json' \
        in command


def test_long_sequences_slide_on_the_floor_the_single_windows_use():
    """The page sets the long sequences' foot sliding beside the single windows': both on the configs' floor."""
    from imagin4d.engine.benchmark.archive import scoring_protocol
    from imagin4d.engine.storyboard_study_long import FLOOR_HEIGHT
    for model in study.MODELS:
        assert scoring_protocol(config_file(model))['HOIMotionMetric']['floor_height'] == FLOOR_HEIGHT


def test_per_image_factor_accuracy_is_the_mean_of_the_three_factors():
    metrics = dict(factor_grasp_hand_img0=1.0, factor_carry_height_img0=0.5, factor_layout_img0=0.0,
                   factor_grasp_hand_img1=1.0, factor_carry_height_img1=1.0, factor_layout_img1=0.25,
                   factor_grasp_hand_img2=1.0)                                  # image 2 incomplete: left out
    assert study.per_image_factors(metrics) == dict(factor_accuracy_img0=0.5, factor_accuracy_img1=0.75)


def test_segment_factors_of_the_ground_truth_are_all_recovered(tmp_path, free_body_root):
    from imagin4d.datasets.synthetic.long_test import LONG_TEST_DIR, build_long_test
    from imagin4d.engine.storyboard_study_long import ground_truth_long, segment_factor_accuracy
    index = build_long_test(str(tmp_path), str(free_body_root), num=1, segments=3, seed=1)
    truth = ground_truth_long(str(tmp_path), 1)
    assert [truth['metrics'][f'factor_accuracy_seg{k}'] for k in range(3)] == [1.0, 1.0, 1.0]
    assert truth['metrics']['waypoint_xy_err'] < 1e-6
    (info,) = index['sequences'].values()
    seq = np.load(tmp_path / LONG_TEST_DIR / info['body'])
    # scored against factors with one wrong value in segment 1 (a third of its factors): 2/3 there
    factors = [dict(f) for f in info['factors']]
    factors[1]['grasp_hand'] = next(v for v in ('left', 'right', 'both') if v != factors[1]['grasp_hand'])
    found = segment_factor_accuracy(seq['joints24'], seq['obj_centre'], seq['contacts'], info['depicted_frames'],
                                    factors)
    assert found['factor_accuracy_seg1'] == pytest.approx(2 / 3)
    assert found['factor_accuracy_segments'] == pytest.approx((1 + 2 / 3 + 1) / 3)


def test_answers_hand_computed():
    args = _args()
    one, board3 = page.row_name('storyboard', 'single'), page.row_name('storyboard', 'board3')
    story = {page.row_name('sfie', 'single'): dict(ia_success=(0.50, 0.02, 3), waypoint_xy_err=(18.0, 1.0, 3)),
             one: dict(ia_success=(0.53, 0.02, 3), waypoint_xy_err=(21.0, 1.0, 3)),
             page.row_name('storyboard', 'board1'): dict(ia_success=(0.40, 0.01, 3)),
             board3: dict(ia_success=(0.60, 0.01, 3))}
    lines = page.answers(args, story, None)
    # |0.53 - 0.50| = 0.03 <= 0.04: within; |21 - 18| = 3 > 2: beyond
    assert lines[1] == ('  - full model -> storyboard-trained: ia_success 0.5 -> 0.53 (within the spread); '
                        'waypoint_xy_err 18 -> 21 (beyond the spread).')
    assert lines[3] == '  - storyboard-trained: ia_success 0.4 -> 0.6 (beyond the spread).'
    assert lines[4] == '  - full model (one image): not measured yet.'
    flip = {page.row_name('storyboard', 'board3_flip'): dict(
        flip_contact_side_flip_rate=(0.5, 0.1, 3), flip_layout_flip_rate=(0.25, 0.0, 3),
        flip_others_unchanged_rate=(0.875, 0.05, 3))}
    lines = page.answers(args, None, None, flip)
    assert lines[1] == ("  - storyboard-trained: at the mirrored picture's moment the grasp side flips in 0.50 ± 0.10 "
                        'and the layout in 0.25 ± 0.00 of the one-sided windows; the other two moments keep grasp '
                        'and layout in 0.88 ± 0.05.')
    assert lines[2] == '  - full model (one image): not measured yet.'


@pytest.mark.slow
@pytest.mark.timeout(1800)      # a data build, a training chain and five evaluations, each a subprocess
def test_smoke_run_end_to_end_resumes_and_collects(mini_fbm_prepared, free_body_root, tmp_path):
    root = tmp_path / 'mini_fbm'
    shutil.copytree(mini_fbm_prepared, root)
    run_tool(['tools/data/prepare_mini_fbm.py', '--out', root, '--size', 96, '--train-frames', 1, '--styles', 'mesh',
              '--storyboard-test'], cwd=REPO, timeout=900)
    run_tool(['tools/data/make_mini_fbm.py', '--out', tmp_path / 'long', '--long-test', 1, '--long-test-only',
              '--body-model-dir', free_body_root], cwd=REPO, timeout=600)
    work = tmp_path / 'work'
    command = ['tools/analysis/storyboard_study.py', '--smoke', '--study-dir', tmp_path / 'study', '--data-root', root,
               '--long-root', tmp_path / 'long', '--work-dir', work, '--evaluator-ckpt', 'none',
               '--body-model-root', free_body_root, '--models', 'storyboard']      # the full model: the same code
    env = dict(IMAGIN4D_BODY_MODEL_DIR=str(free_body_root))
    run_tool(command, cwd=REPO, env=env, timeout=1800)
    archive = work / 'archive'
    entries = {p.relative_to(archive).as_posix(): json.loads(p.read_text()) for p in archive.rglob('seed0.json')}
    assert sorted(entries) == sorted(f'{k}/storyboard/seed0.json' for k in ('single', 'board1', 'board3',
                                                                             'board3_flip', 'long_one', 'long_board'))
    flipped = entries['board3_flip/storyboard/seed0.json']
    assert '--flip-image 1' in flipped['commands'][0]['command']
    assert {'flip_contact_side_flip_rate', 'flip_others_unchanged_rate', 'flip_other_moments'} <= \
        set(flipped['metrics'])
    assert flipped['metrics']['flip_other_moments'] > 0
    board = entries['board3/storyboard/seed0.json']
    assert board['checkpoint']['digest'] and 'max_images=3' in board['commands'][0]['command']
    assert {'ia_success_img0', 'ia_success_img2', 'factor_accuracy_img2'} <= set(board['metrics'])
    assert 'factor_accuracy_seg2' in entries['long_board/storyboard/seed0.json']['metrics']
    text = (work / 'storyboard.md').read_text()
    rows = markdown_table_rows(text, 'One image against storyboards')
    name = page.row_name('storyboard', 'board3')
    assert rows[name]['ia_success'] == expected_cell([board['metrics']['ia_success']])
    long = markdown_table_rows(text, 'Long sequences')
    assert long[page.row_name('storyboard', 'long_board')]['foot_sliding'] == expected_cell(
        [entries['long_board/storyboard/seed0.json']['metrics']['foot_sliding']])
    assert 'Provenance: measured on' in text and 'Ground truth (the 1 long test sequences' in text
    # a second invocation trains and evaluates nothing (only the page's compare.py runs); --collect writes the same
    # page from the archive alone
    def measured():
        logs = [work / 'commands.jsonl', tmp_path / 'study' / 'commands.jsonl']
        return [line for log in logs for line in log.read_text().splitlines() if 'compare.py' not in line]
    before = measured()
    assert any('tools/train.py' in line for line in before) and any('tools/test.py' in line for line in before)
    run_tool(command, cwd=REPO, env=env, timeout=900)
    assert measured() == before
    run_tool([*command, '--collect', '--out', tmp_path / 'collected.md'], cwd=REPO, env=env)
    collected = (tmp_path / 'collected.md').read_text()
    assert markdown_table_rows(collected, 'Long sequences') == long
