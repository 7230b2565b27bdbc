"""tools/analysis/mirror_test.py --flip-image K (issue 29): the flipped moment's flip rates and the other moments'
unchanged rates, hand-computed; a one-image config is refused in one line."""
import math

import pytest
from testing_utils import REPO, load_tool

from imagin4d.utils.errors import UserError


def _f(g, lay):
    return dict(grasp_hand=g, carry_height='hip', layout=lay)


def test_storyboard_rates_hand_computed():
    module = load_tool('tools/analysis/mirror_test.py')
    flipped = [(_f('left', 'left'), _f('right', 'right')), (_f('right', 'front'), _f('right', 'front'))]
    others = [(_f('left', 'left'), _f('left', 'left')),      # unchanged
              (_f('left', 'left'), _f('right', 'left')),     # the hand followed the other image's flip
              (_f('both', 'front'), _f('both', 'right'))]    # the layout changed
    rates = module.storyboard_rates(flipped, others)
    assert rates['contact_side_flip_rate'] == 0.5 and rates['layout_flip_rate'] == 1.0 and rates['windows'] == 2
    assert rates['others_unchanged_rate'] == pytest.approx(1 / 3)
    assert rates['others_grasp_unchanged_rate'] == pytest.approx(2 / 3)
    assert rates['others_layout_unchanged_rate'] == pytest.approx(2 / 3) and rates['other_moments'] == 3
    assert math.isnan(module.storyboard_rates(flipped, [])['others_unchanged_rate'])


def test_flip_image_needs_a_storyboard_config(tmp_path):
    module = load_tool('tools/analysis/mirror_test.py')
    ckpt = tmp_path / 'model.pth'
    ckpt.write_bytes(b'')
    with pytest.raises(UserError, match=r'--flip-image 1: the test pipeline of .*mini_fbm_sfie.py reads one image'):
        module.main([str(REPO / 'projects' / 'imagin4d' / 'mini_fbm_sfie.py'), str(ckpt), '--flip-image', '1'])
    with pytest.raises(UserError, match=r'--flip-image 3: .* reads 3 image\(s\) per window .* in 0\.\.2'):
        module.main([str(REPO / 'projects' / 'imagin4d' / 'mini_fbm_storyboard.py'), str(ckpt), '--flip-image', '3'])
