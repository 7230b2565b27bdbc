"""HOIVisualizer backends (local files, TensorBoard clip), HOIVisualizationHook on a fake runner, tools/visualize.py."""
import io
import os
import pickle
import uuid
from types import SimpleNamespace

import cv2
import numpy as np
import pytest
import torch
from mmengine.visualization import LocalVisBackend, TensorboardVisBackend
from PIL import Image
from testing_utils import load_tool

from imagin4d.engine.hooks.hoi_visualization_hook import HOIVisualizationHook
from imagin4d.evaluation.metrics import write_samples
from imagin4d.registry import HOOKS, VISUALIZERS
from imagin4d.utils.errors import UserError
from imagin4d.visualization import MARK_COLORS, HOIVisualizer, render_layout, video_encoder

PANEL = 64


def _visualizer(backends, **kwargs):
    return HOIVisualizer(name=f'vis-{uuid.uuid4().hex}', vis_backends=backends, panel_size=PANEL, **kwargs)


def _data_sample(vis_dataset, index=0):
    """A HOIDataSample as the model's predict returns it (tensors; pred_motion = gt_motion)."""
    sample = vis_dataset[index]['data_samples']
    sample.pred_motion = sample.gt_motion.clone()
    return sample


def test_registered():
    assert VISUALIZERS.get('HOIVisualizer') is HOIVisualizer
    assert HOOKS.get('HOIVisualizationHook') is HOIVisualizationHook


def test_add_datasample_writes_local_files_and_tensorboard_clip(vis_dataset, tmp_path):
    from tensorboard.backend.event_processing.event_accumulator import IMAGES, EventAccumulator
    visualizer = _visualizer([LocalVisBackend(save_dir=str(tmp_path / 'local')),
                              TensorboardVisBackend(save_dir=str(tmp_path / 'tb'))], video_stride=4)
    sample = _data_sample(vis_dataset)
    frames = visualizer.add_datasample('val_demo', data_sample=sample, step=3)
    t_star = sample.metainfo['t_star']
    np.testing.assert_array_equal(visualizer.get_image(), frames[t_star])
    layout = render_layout(PANEL, 3)
    assert frames.shape == (120, layout['height'], layout['width'], 3)
    assert np.all(frames[t_star, layout['top'], PANEL:] == MARK_COLORS['t_star'])    # the still is the marked t*

    fmt, _ = video_encoder('mp4')
    local = tmp_path / 'local'
    still = cv2.imread(str(local / 'vis_image' / 'val_demo_3.png'))[..., ::-1]
    np.testing.assert_array_equal(still, frames[t_star])
    assert (local / 'vis_video' / f'val_demo_3.{fmt}').stat().st_size > 1000

    visualizer.get_backend('TensorboardVisBackend').close()
    events = EventAccumulator(str(tmp_path / 'tb'), size_guidance={IMAGES: 0})
    events.Reload()
    assert set(events.Tags()['images']) == {'val_demo', 'val_demo_video'}
    (clip,) = events.Images('val_demo_video')
    assert clip.step == 3 and clip.encoded_image_string[:6] == b'GIF89a'
    assert (clip.width, clip.height) == (layout['width'], layout['height'])
    assert Image.open(io.BytesIO(clip.encoded_image_string)).n_frames == 30          # 120 frames, stride 4


def _fake_runner(visualizer, tmp_path, iteration=7):
    return SimpleNamespace(visualizer=visualizer, iter=iteration, log_dir=str(tmp_path / 'log'))


def test_hook_draws_every_interval_up_to_max_samples(vis_dataset, tmp_path):
    visualizer = _visualizer([LocalVisBackend(save_dir=str(tmp_path / 'local'))], video_format='gif')
    runner = _fake_runner(visualizer, tmp_path)
    hook = HOIVisualizationHook(draw=True, interval=2, max_samples=2, out_dir='videos')
    hook.before_run(runner)
    batches = [[_data_sample(vis_dataset, i)] for i in range(3)] * 2      # 6 batches of one sample
    names = [b[0].metainfo['seq_name'] for b in batches]
    hook.before_val_epoch(runner)
    for batch_idx, outputs in enumerate(batches):
        hook.after_val_iter(runner, batch_idx, data_batch=None, outputs=outputs)
    # batches 0, 2 (4 would be the third: over max_samples)
    expected = sorted(f'val_{names[i]}_7.gif' for i in (0, 2))
    assert sorted(os.listdir(tmp_path / 'local' / 'vis_video')) == expected
    assert sorted(os.listdir(tmp_path / 'log' / 'videos')) == expected
    assert len(os.listdir(tmp_path / 'local' / 'vis_image')) == 2

    hook.before_test_epoch(runner)                                         # validation only by default
    hook.after_test_iter(runner, 0, outputs=batches[1])
    assert f'test_{names[1]}_7.gif' not in os.listdir(tmp_path / 'local' / 'vis_video')
    test_hook = HOIVisualizationHook(draw=True, interval=2, max_samples=2, modes=['val', 'test'])
    test_hook.before_test_epoch(runner)                                    # the count restarts per run
    test_hook.after_test_iter(runner, 0, outputs=batches[1])
    assert f'test_{names[1]}_7.gif' in os.listdir(tmp_path / 'local' / 'vis_video')
    with pytest.raises(ValueError, match='modes'):
        HOIVisualizationHook(modes=['train'])


def test_hook_off_by_default_and_checks_the_visualizer(vis_dataset, tmp_path):
    from mmengine.visualization import Visualizer
    visualizer = _visualizer([LocalVisBackend(save_dir=str(tmp_path / 'local'))])
    runner = _fake_runner(visualizer, tmp_path)
    hook = HOIVisualizationHook()
    hook.before_run(runner)
    hook.after_val_iter(runner, 0, outputs=[_data_sample(vis_dataset)])
    assert not (tmp_path / 'local').exists()
    plain = _fake_runner(Visualizer(name=f'plain-{uuid.uuid4().hex}'), tmp_path)
    HOIVisualizationHook().before_run(plain)                              # off: no requirement
    with pytest.raises(TypeError, match='HOIVisualizer'):
        HOIVisualizationHook(draw=True).before_run(plain)


def _load_tool():
    return load_tool('tools/visualize.py')


def test_tool_writes_videos_stills_and_contact_sheet(vis_samples, tmp_path, capsys):
    dump = tmp_path / 'results.pkl'                                       # a .pkl path still works
    samples = [dict(s, metrics={'mpjpe': 0.0}) for s in vis_samples[:2]]
    samples[1]['pred_motion'] = samples[1]['pred_motion'][:40]            # a short clip
    samples[1].pop('seq_len')
    write_samples(dump, samples)
    tool = _load_tool()
    tool.main([str(dump), '--out', str(tmp_path / 'out'), '--format', 'gif', '--panel-size', str(PANEL)])
    printed = capsys.readouterr().out
    assert 'GIF' in printed and 'pillow' in printed
    out = tmp_path / 'out'
    stems = [f"{k:03d}_{s['seq_name']}" for k, s in enumerate(samples)]
    assert sorted(os.listdir(out)) == sorted([f'{s}.{e}' for s in stems for e in ('gif', 'png')]
                                             + ['contact_sheet.png'])
    assert Image.open(out / f'{stems[0]}.gif').n_frames == 120 and Image.open(out / f'{stems[1]}.gif').n_frames == 40
    layout = render_layout(PANEL, 3)
    sheet = cv2.imread(str(out / 'contact_sheet.png'))
    assert sheet.shape == (2 * layout['height'], layout['width'], 3)
    still = cv2.imread(str(out / f'{stems[0]}.png'))
    np.testing.assert_array_equal(sheet[:layout['height']], still)
    assert np.all(still[layout['top'], PANEL:, ::-1] == MARK_COLORS['t_star'])      # the depicted frame

    # --index and the default format (MP4 where an encoder exists; the tool says which)
    tool.main([str(dump), '--out', str(tmp_path / 'one'), '--index', '1', '--panel-size', str(PANEL), '--no-gt'])
    fmt, encoder = video_encoder('mp4')
    assert encoder in capsys.readouterr().out
    assert sorted(os.listdir(tmp_path / 'one')) == sorted([f'001_{samples[1]["seq_name"]}.{fmt}',
                                                           f'001_{samples[1]["seq_name"]}.png', 'contact_sheet.png'])
    assert cv2.imread(str(tmp_path / 'one' / 'contact_sheet.png')).shape[1] == 2 * PANEL


def test_tool_pair_mode(vis_samples, tmp_path):
    original, mirrored = tmp_path / 'original.npz', tmp_path / 'mirrored.npz'
    shifted = [dict(s) for s in vis_samples[:2]]
    for s in shifted:
        s['pred_motion'] = s['pred_motion'].copy()
        s['pred_motion'][:, 0] += 0.3                                      # the object elsewhere
    write_samples(original, list(vis_samples[:2]))
    write_samples(mirrored, shifted[::-1])                                # other order: matched by window
    tool = _load_tool()
    tool.main(['--pair', str(original), str(mirrored), '--out', str(tmp_path / 'pair'), '--format', 'gif',
               '--panel-size', str(PANEL), '--limit', '1'])
    still = cv2.imread(str(tmp_path / 'pair' / f"000_{vis_samples[0]['seq_name']}.png"))[..., ::-1]
    layout = render_layout(PANEL, 2)
    assert still.shape == (layout['height'], 2 * layout['width'], 3)
    left, right = still[:, :layout['width']], still[:, layout['width']:]
    body = slice(layout['top'], layout['top'] + PANEL)
    np.testing.assert_array_equal(left[body, :PANEL], right[body, :PANEL])            # the same reference
    assert not np.array_equal(left[body, PANEL:], right[body, PANEL:])               # different generations

    write_samples(mirrored, shifted[1:])
    with pytest.raises(UserError, match='lacks the windows'):
        tool.main(['--pair', str(original), str(mirrored), '--out', str(tmp_path / 'bad')])
    with pytest.raises(UserError, match='bad.pkl is a pickle .* it is not read'):
        bad = tmp_path / 'bad.pkl'
        bad.write_bytes(pickle.dumps({'a': torch.zeros(1)}))
        tool.main([str(bad), '--out', str(tmp_path / 'bad')])
    with pytest.raises(UserError, match='bad.npz is not a results dump'):
        np.savez(tmp_path / 'bad.npz', x=np.zeros(2))
        tool.main([str(tmp_path / 'bad.npz'), '--out', str(tmp_path / 'bad')])
