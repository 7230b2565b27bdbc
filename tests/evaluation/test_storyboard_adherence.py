"""Image adherence of storyboards (issue 29): a sample with K depicted frames is scored at each with that image's t^;
its row is the mean over its images (per-position keys on request), and one image gives today's row."""
import importlib.util
from pathlib import Path

import numpy as np
import pytest

from imagin4d.evaluation import ImageAdherenceMetric
from imagin4d.evaluation.functional.image_adherence import HOIFrames

# the hand-built scenes of the one-image tests (a body facing +Y, a box, encoded samples)
_spec = importlib.util.spec_from_file_location('image_adherence_scenes', Path(__file__).with_name(
    'test_image_adherence.py'))
_scenes = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(_scenes)
BOX, _encoded_sample, standing_joints, static_frames = (_scenes.BOX, _scenes._encoded_sample, _scenes.standing_joints,
                                                         _scenes.static_frames)

pytestmark = pytest.mark.usefixtures('single_torch_thread')


def _moved_after(frames: HOIFrames, frame: int, shift) -> HOIFrames:
    centre = frames.obj_centre.copy()
    centre[frame:] += np.asarray(shift)
    return HOIFrames(frames.joints, centre, frames.obj_rot, frames.obj_scale, frames.contacts)


def _rows(samples, **kwargs):
    metric = ImageAdherenceMetric(silhouette=False, factors=True, window=2, **kwargs)
    metric.process(None, samples)
    return metric.compute_metrics(metric.results), metric.last_rows


def test_storyboard_is_scored_at_every_depicted_frame():
    gt = static_frames(standing_joints(), (0.0, 0.35, 0.9))
    pred = _moved_after(gt, 25, (0.3, 0.0, 0.0))                  # right at t = 10, the object 0.3 m off at t = 30
    board = _encoded_sample(gt, pred, BOX, 10, 'b', reference_t_stars=[10, 30], pred_t_stars=[12.0, 30.0])
    summary, rows = _rows([board], per_image=True)
    # each image alone, scored as today's one-image samples
    _, (first, second) = _rows([_encoded_sample(gt, pred, BOX, 10, 'b', pred_t_star=12.0),
                                _encoded_sample(gt, pred, BOX, 30, 'b', pred_t_star=30.0)])
    assert first['ia_obj_pos_err'] == pytest.approx(0.0, abs=1e-6)
    assert second['ia_obj_pos_err'] == pytest.approx(0.3, abs=1e-6)
    row = rows[0]
    assert row['num_images'] == 2 and row['t_star'] == [10, 30] and row['pred_t_star'] == [12.0, 30.0]
    assert row['ia_obj_pos_err'] == pytest.approx(0.15, abs=1e-6) and summary['ia_obj_pos_err'] == pytest.approx(0.15)
    assert summary['ia_obj_pos_err_img0'] == pytest.approx(0.0, abs=1e-6)
    assert summary['ia_obj_pos_err_img1'] == pytest.approx(0.3, abs=1e-6)
    assert summary['ia_frame_err'] == pytest.approx(1.0) and summary['ia_frame_err_img0'] == pytest.approx(2.0)
    for key in [k for k in first if k.startswith(('ia_', 'factor_')) and k != 'factor_source']:
        assert row[key] == pytest.approx((first[key] + second[key]) / 2, abs=1e-6), key
    assert summary['factor_layout_img0'] == 1.0 and summary['factor_layout_img1'] == 0.0    # hidden factors per moment
    # no per-image keys by default; a one-image storyboard row equals the one-image row
    plain, _ = _rows([board])
    assert not any('_img' in k for k in plain)
    one, _ = _rows([_encoded_sample(gt, pred, BOX, 30, 'b', reference_t_stars=[30], pred_t_stars=[30.0])])
    single, _ = _rows([_encoded_sample(gt, pred, BOX, 30, 'b', pred_t_star=30.0)])
    assert one == pytest.approx(single, nan_ok=True)


def test_storyboard_fields_must_agree():
    gt = static_frames(standing_joints(), (0.0, 0.35, 0.9))
    with pytest.raises(ValueError, match=r"'b'.*reference_t_stars \(2\), reference_cameras \(1\)"):
        _rows([_encoded_sample(gt, gt, BOX, 10, 'b', reference_t_stars=[10, 30], reference_cameras=[None])])
    with pytest.raises(ValueError, match='reference_t_stars entry 45 outside the 40 valid frames'):
        _rows([_encoded_sample(gt, gt, BOX, 10, 'b', reference_t_stars=[10, 45])])
