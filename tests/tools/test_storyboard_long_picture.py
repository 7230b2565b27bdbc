"""tools/analysis/storyboard_long_picture.py: the filmstrip's frames (hand-computed), and the picture's layout on a
synthetic long result: storyboard row, generated row, filmstrip with exactly the storyboard frames framed, timeline
ticks at the storyboard frames."""
from types import SimpleNamespace

import numpy as np
from testing_utils import load_tool

tool = load_tool('tools/analysis/storyboard_long_picture.py')


def test_strip_frames_are_evenly_spaced_with_the_storyboard_frames_snapped_in():
    # linspace(0, 442, 9) rounded: 0 55 110 166 221 276 332 387 442; 81 replaces 55 (26 < 29), 218 replaces 221,
    # 358 replaces 332 (26 < 29)
    assert tool.strip_frames(443, [81, 218, 358], 9) == [0, 81, 110, 166, 218, 276, 358, 387, 442]


def _result(T=200):
    """A body standing still beside a unit cube that slides along +x: every frame drawable."""
    import trimesh

    from imagin4d.body_models.skeletons import JOINTS24_PARENTS
    joints = np.zeros((24, 3))
    for j, p in enumerate(JOINTS24_PARENTS):          # a vertical chain with side offsets: a plausible stick body
        if p >= 0:
            joints[j] = joints[p] + [0.05 * ((j % 3) - 1), 0.0, 0.08]
    joints[:, 2] += 0.1
    joints = np.repeat(joints[None], T, 0)
    trans = np.zeros((T, 3))
    trans[:, 0] = np.linspace(0.0, 1.0, T)
    trans[:, 1] = 0.5
    mesh = trimesh.creation.box(extents=(0.3, 0.3, 0.3))
    centre = trans + [0.0, 0.0, 0.15]
    result = SimpleNamespace(joints=joints, obj_rot=np.repeat(np.eye(3)[None], T, 0), obj_trans=trans + [0, 0, 0.15],
                             obj_scale=1.0, contacts=np.zeros((T, 4)), num_frames=T, meta=dict(object_centre=centre))
    return result, mesh


def test_picture_layout_and_framed_storyboard_moments():
    result, mesh = _result()
    frames = [40, 150]
    pictures = [np.full((64, 80, 3), 200, np.uint8), np.full((50, 50, 3), 90, np.uint8)]
    image = tool.picture(result, mesh, np.asarray(mesh.faces), pictures, frames, strip=5)
    P, bar = tool.PANEL, 24
    thumb = 2 * P // 5
    assert image.shape == (2 * (P + bar) + thumb + bar + 22, 2 * P, 3)
    # the storyboard pictures, resized into the top row (below the title bar)
    assert (image[bar + 5:P, 5:P - 5] == 200).all() and (image[bar + 5:P, P + 5:2 * P - 5] == 90).all()
    # filmstrip frames 0 50 100 149 199 -> 40 replaces 50, 150 replaces 149: thumbnails 1 and 3 framed in orange
    film = image[2 * (P + bar) + bar:2 * (P + bar) + bar + thumb]
    framed = [bool((film[thumb // 2, k * thumb + 1] == tool.HIGHLIGHT).all()) for k in range(5)]
    assert framed == [False, True, False, True, False]
    # a generated moment has the object and the body drawn (not a blank panel)
    moment = image[2 * bar + P:2 * (bar + P), :P]
    assert (moment != 255).any(-1).mean() > 0.02
    # the timeline: orange ticks at frames 40 and 150 of 200
    timeline = image[-22:]
    ticks = np.flatnonzero((timeline[4] == tool.HIGHLIGHT).all(-1))
    assert set(ticks) >= {int(40 / 199 * (2 * P - 1)), int(150 / 199 * (2 * P - 1))}
