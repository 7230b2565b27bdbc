"""Storyboard requests (issue 29): `images` (K paths / arrays) with optional `frames`, one-line errors for a mismatch,
`tools/generate.py --image ... --image-frame ...`, and generation that places each image (given frames kept)."""
import importlib.util
import json

import numpy as np
import pytest
from testing_utils import REPO

from imagin4d.apis import HOIRequest, RequestError
from imagin4d.apis.storyboard import request_images, storyboard_inputs

pytestmark = pytest.mark.usefixtures('single_torch_thread')

IMAGE = np.full((32, 48, 3), 200, np.uint8)


def _tool():
    spec = importlib.util.spec_from_file_location('generate_tool', REPO / 'tools' / 'generate.py')
    tool = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(tool)
    return tool


@pytest.mark.parametrize('fields, message', [
    (dict(images=[IMAGE], reference_image=IMAGE), 'give reference_image .* or images .*, not both'),
    (dict(images=[]), 'images must be a non-empty list'),
    (dict(images=[IMAGE, IMAGE], frames=[10]), r'frames must list one entry per image \(2'),
    (dict(images=[IMAGE, IMAGE], frames=[10, 120]),
     r'frames\[1\] = 120 \(images\[1\]\); expected a frame of the 120-frame motion \(an integer in 0..119\)'),
    (dict(images=[IMAGE], frames=['10']), r"frames\[0\] = '10'"),
    (dict(reference_image=IMAGE, frames=[10]), 'frames .* given without images'),
    (dict(images=[IMAGE, np.zeros((4, 4, 3), np.uint8)]), r'images\[1\]: reference image .* at least 8 x 8'),
])
def test_storyboard_mismatches_are_one_line(fields, message):
    request = HOIRequest(text='carry the box', object_mesh='box.obj', **fields)
    with pytest.raises(RequestError, match=message) as info:
        request_images(request, 'request r', 120)
    assert '\n' not in str(info.value) and str(info.value).startswith('request r')


def test_images_and_frames_read_and_padded():
    request = HOIRequest(text='t', object_mesh='m', images=[IMAGE, IMAGE * 0 + 5], frames=[None, 90])
    images, frames = request_images(request, 'r', 120)
    assert len(images) == 2 and frames == [-1, 90]
    assert request_images(HOIRequest(text='t', object_mesh='m', reference_image=IMAGE), 'r', 120)[1] is None
    import torch
    out = storyboard_inputs(torch.ones(2, 5, 3), torch.ones(2, 3), frames, 3)
    assert out['image_patch'].shape == (3, 5, 3) and not out['image_patch'][2].any()
    assert out['image_mask'].tolist() == [True, True, False] and out['image_frames'].tolist() == [-1, 90, -1]


def test_generate_tool_repeats_image_and_image_frame(tmp_path):
    tool = _tool()
    base = ['c.py', 'm.pth', '--text', 'carry it', '--object', 'box.obj']
    (one,) = tool.build_requests(tool.parse_args(base + ['--image', 'a.png']))
    assert one.reference_image == 'a.png' and one.images is None
    (board,) = tool.build_requests(tool.parse_args(base + ['--image', 'a.png', '--image', 'b.png', '--image', 'c.png',
                                                           '--image-frame', '10', '--image-frame', 'auto',
                                                           '--image-frame', '100']))
    assert board.images == ['a.png', 'b.png', 'c.png'] and board.frames == [10, None, 100]
    assert board.reference_image is None
    from imagin4d.utils.errors import UserError
    with pytest.raises(UserError, match='--image-frame given 1 times for 2 --image'):
        tool.build_requests(tool.parse_args(base + ['--image', 'a.png', '--image', 'b.png', '--image-frame', '3']))
    with pytest.raises(UserError, match="--image-frame 'x': expected a frame number or auto"):
        tool.build_requests(tool.parse_args(base + ['--image', 'a.png', '--image-frame', 'x']))
    lines = tmp_path / 'requests.jsonl'
    lines.write_text(json.dumps(dict(text='a', object_mesh='box.obj', images=['g.png', 'p.png'], frames=[5, None])))
    (read,) = tool.build_requests(tool.parse_args(['c.py', 'm.pth', '--requests', str(lines)]))
    assert read.images == [str(tmp_path / 'g.png'), str(tmp_path / 'p.png')] and read.frames == [5, None]


def test_storyboard_generation_places_each_image(inferencer, inputs):
    from imagin4d.apis import HOIRequest
    fields = dict(text='pick up the crate and carry it to the shelf', object_mesh=inputs['mesh'], object_scale=0.01,
                  object_up='y', waypoints=inputs['waypoints'], start_body=inputs['start'], steps=3)
    single = inferencer(HOIRequest(reference_image=inputs['image'], **fields))[0]
    one = inferencer(HOIRequest(images=[inputs['image']], **fields))[0]
    np.testing.assert_allclose(one.joints, single.joints, atol=1e-5)      # K = 1: the single-image model
    assert one.meta['image_t_hat'] == pytest.approx([single.t_hat], abs=1e-4)
    import cv2
    flipped = np.ascontiguousarray(cv2.imread(inputs['image'])[:, ::-1, ::-1])          # mirrored, RGB
    board, alone = inferencer([HOIRequest(images=[inputs['image'], flipped, inputs['image']], frames=[10, None, 100],
                                          **fields), HOIRequest(reference_image=inputs['image'], **fields)])
    times = board[0].meta['image_t_hat']
    assert len(times) == 3 and times[0] == 10.0 and times[2] == 100.0 and 0 <= times[1] <= 119
    assert board[0].t_hat == 10.0 and board[0].meta['image_frames'] == [10, -1, 100]
    # a one-image request batched beside a storyboard (padded to 3 images, masked) is unchanged up to the rounding
    # of batched float32 kernels (as any request in a batch: tests/apis/test_inference.py)
    np.testing.assert_allclose(alone[0].joints, single.joints, atol=1e-4)
    assert np.abs(board[0].joints - single.joints).max() > 1e-3         # the storyboard does change the motion
