"""render_hoi_sample on mini-FBM samples: layout, content against the reference image, depicted-frame marks."""
import cv2
import numpy as np
import pytest

from imagin4d.models.codecs.chois_motion_codec import CHOISMotionCodec
from imagin4d.rendering import Camera, project_points
from imagin4d.visualization import DRAW_STYLE, MARK_COLORS, render_hoi_sample, render_layout

PANEL = 64


def _panel(frame, layout, index):
    top, pw, ph = layout['top'], layout['panel_w'], layout['panel_h']
    return frame[top:top + ph, index * pw:(index + 1) * pw]


def _yellow(image):
    """Pixels of the yellow object (hue 24-70 degrees, saturated, bright) in an RGB image."""
    hsv = cv2.cvtColor(np.ascontiguousarray(image), cv2.COLOR_RGB2HSV)
    return (hsv[..., 0] >= 12) & (hsv[..., 0] <= 35) & (hsv[..., 1] > 70) & (hsv[..., 2] > 80)


def test_gt_sample_frames_shape_and_panels(vis_samples):
    sample = vis_samples[0]
    frames = render_hoi_sample(sample, panel_size=PANEL)
    layout = render_layout(PANEL, 3)
    # 14-row bars above and below three 64 x 64 panels; one frame per valid frame of the window.
    assert frames.shape == (int(sample['seq_len']), 14 + 64 + 14, 3 * 64, 3) and frames.dtype == np.uint8
    assert (layout['height'], layout['width']) == frames.shape[1:3]

    t = 5                                                         # not the depicted frame: no marks
    reference, gt, pred = (_panel(frames[t], layout, i) for i in range(3))
    image = cv2.imread(sample['reference_image'])[..., ::-1]
    assert image.shape[1] == 96                                   # the fixture's references: shrunk to the panel
    expected = cv2.resize(np.ascontiguousarray(image), (PANEL, PANEL), interpolation=cv2.INTER_AREA)
    np.testing.assert_array_equal(reference, expected)
    white = np.all(gt == DRAW_STYLE['background'], axis=-1)
    assert 0.2 < white.mean() < 0.98                              # something drawn, not everything
    assert _yellow(gt).sum() > 10                                 # the object
    r, g, b = np.moveaxis(gt.astype(int), -1, 0)                  # both sides of the (thin, anti-aliased) skeleton
    assert ((b - r > 40) & (b - g > 20)).sum() > 5                # blue left limbs
    assert ((r - g > 40) & (np.abs(g - b) < 30)).sum() > 5        # red right limbs (the yellow object has g >> b)
    np.testing.assert_array_equal(gt, pred)                       # pred_motion == gt_motion
    assert not np.array_equal(frames[0], frames[-1])              # it moves


def test_motion_panels_use_the_reference_camera(vis_samples):
    """At t* the GT panel shows the object where the reference image (rendered with pyrender from the same GT state
    and camera) shows it, and the projected GT joints fall on the reference image's body."""
    for sample in vis_samples:
        t_star = int(sample['t_star'])
        reference = cv2.imread(sample['reference_image'])[..., ::-1]
        size = reference.shape[1]
        frames = render_hoi_sample(sample, panel_size=2 * size, panels=('gt',), mark_depicted=False)
        gt = _panel(frames[t_star], render_layout(2 * size, 1), 0)
        ours = cv2.resize(_yellow(gt).astype(np.float32), (size, size), interpolation=cv2.INTER_AREA) > 0.25
        theirs = _yellow(reference)
        assert theirs.sum() > 20
        recall = (ours & theirs).sum() / theirs.sum()             # the body hides object parts in theirs only
        assert recall > 0.85, (sample['seq_name'], recall)

        joints = CHOISMotionCodec().decode(sample['gt_motion'])['joints'][t_star].numpy()
        uv, _ = project_points(Camera.from_dict(sample['reference_camera']), joints)
        body = cv2.dilate(((reference[..., 2].astype(int) > 150)
                           & (reference[..., 2].astype(int) - reference[..., 0] > 30)).astype(np.uint8),
                          np.ones((3, 3), np.uint8)) > 0
        # a joint behind the carried object (a table held at the chest) falls on the object instead
        figure = body | (cv2.dilate(theirs.astype(np.uint8), np.ones((3, 3), np.uint8)) > 0)
        u, v = np.round(uv).astype(int).T
        inside = (u >= 0) & (u < size) & (v >= 0) & (v < size)
        on_figure = figure[v[inside], u[inside]].sum() / len(joints)
        assert on_figure > 0.8, (sample['seq_name'], on_figure)


def _band(layout, index, border, depth=0):
    """bool (H, W) of the border band `depth` (0 = outermost) of panel `index`."""
    mask = np.zeros((layout['height'], layout['width']), bool)
    top, pw, ph = layout['top'], layout['panel_w'], layout['panel_h']
    inner = np.zeros((ph, pw), bool)
    lo, hi = depth * border, (depth + 1) * border
    inner[lo:ph - lo, lo:pw - lo] = True
    inner[hi:ph - hi, hi:pw - hi] = False
    mask[top:top + ph, index * pw:(index + 1) * pw] = inner
    return mask


def test_depicted_frames_are_marked_at_the_border_only(vis_samples):
    sample = dict(vis_samples[1])
    t_star = int(sample['t_star'])
    t_hat = t_star - 3 if t_star >= 3 else t_star + 3
    sample['pred_t_star'] = t_hat + 0.3                           # SFIE's expectation: rounded to the frame
    marked = render_hoi_sample(sample, panel_size=PANEL)
    plain = render_hoi_sample(sample, panel_size=PANEL, mark_depicted=False)
    layout = render_layout(PANEL, 3)
    border, bar = layout['border'], layout['bar']
    assert border == 2

    unmarked_frames = [t for t in range(len(marked)) if t not in (t_star, t_hat)]
    np.testing.assert_array_equal(marked[unmarked_frames], plain[unmarked_frames])

    # t*: an orange band around the GT and the generated panel; the rest differs only in the title bar (badge).
    changed = np.any(marked[t_star] != plain[t_star], axis=-1)
    bands = _band(layout, 1, border) | _band(layout, 2, border)
    assert np.all(marked[t_star][bands] == MARK_COLORS['t_star'])
    assert not changed[bar:][~bands[bar:]].any()
    assert changed[:bar, PANEL:].any() and not changed[:bar, :PANEL].any()    # badges, none over the reference

    # t^: a purple band around the generated panel only.
    changed = np.any(marked[t_hat] != plain[t_hat], axis=-1)
    band = _band(layout, 2, border)
    assert np.all(marked[t_hat][band] == MARK_COLORS['pred_t_star'])
    assert not changed[bar:][~band[bar:]].any()
    assert not changed[:, :2 * PANEL].any()


def test_coinciding_marks_nest(vis_samples):
    sample = dict(vis_samples[1], pred_t_star=int(vis_samples[1]['t_star']))
    frames = render_hoi_sample(sample, panel_size=PANEL, panels=('pred',))
    layout = render_layout(PANEL, 1)
    frame = frames[int(sample['t_star'])]
    assert np.all(frame[_band(layout, 0, layout['border'], 0)] == MARK_COLORS['t_star'])
    assert np.all(frame[_band(layout, 0, layout['border'], 1)] == MARK_COLORS['pred_t_star'])


def test_generated_frames_with_nan_are_left_empty(vis_samples):
    sample = dict(vis_samples[2])
    pred = np.array(sample['pred_motion'], dtype=np.float64)
    pred[10:12] = np.nan
    sample['pred_motion'] = pred
    frames = render_hoi_sample(sample, panel_size=PANEL, panels=('gt', 'pred'), camera='overview')
    layout = render_layout(PANEL, 2)
    for t in (10, 11):
        gt, generated = _panel(frames[t], layout, 0), _panel(frames[t], layout, 1)
        achromatic = lambda im: np.all(im == im[..., :1], axis=-1)   # noqa: E731 - white, floor grid
        assert achromatic(generated).all() and not achromatic(gt).all()
    np.testing.assert_array_equal(_panel(frames[20], layout, 0), _panel(frames[20], layout, 1))


def test_missing_fields_and_bad_arguments(vis_samples):
    sample = {k: v for k, v in vis_samples[0].items() if k not in ('reference_image', 'reference_camera')}
    frames = render_hoi_sample(sample, panel_size=PANEL, panels=('reference', 'pred'))  # overview camera, no image
    assert frames.shape[2] == 2 * PANEL
    no_object = {k: v for k, v in sample.items() if k not in ('obj_ref_rot',)}
    with pytest.raises(KeyError, match='obj_ref_rot'):
        render_hoi_sample(no_object, panel_size=PANEL)
    with pytest.raises(ValueError, match='panels'):
        render_hoi_sample(sample, panels=('gt', 'video'))
    with pytest.raises(ValueError, match='normalised'):
        render_hoi_sample(dict(sample, normalized=True), panel_size=PANEL)
    with pytest.raises(KeyError, match='neither gt_motion nor pred_motion'):
        render_hoi_sample({'seq_name': 'x'})
