"""A storyboard along a long motion (issue 29): each image conditions the windows that contain its given frame (a
frame of the motion), at its re-timed frame; an image without a frame conditions every window; a window with no
image is sampled with the image source dropped (what the model's encoder receives is checked)."""
import pytest
import torch

from imagin4d.apis import HOIRequest, RequestError
from imagin4d.apis.storyboard import NO_IMAGE, window_image_indices, window_storyboard

pytestmark = pytest.mark.usefixtures('single_torch_thread')

N = 300          # windows of 120 frames at 0, 90, 180 (tests/apis/test_long_generation.py::test_plan_by_hand)


def test_window_images_by_hand():
    frames = [10, -1, 100, 280]                 # -1: not given (the model places it), in every window
    assert window_image_indices(frames, 4, 0, 120) == [0, 1, 2]
    assert window_image_indices(frames, 4, 90, 120) == [1, 2]
    assert window_image_indices(frames, 4, 180, 120) == [1, 3]
    assert window_image_indices(None, 3, 180, 120) == [0, 1, 2]
    item = dict(image_patch=torch.arange(4.0)[:, None, None].expand(4, 2, 3), image_pooled=torch.arange(4.0)[:, None]
                .expand(4, 3), frames=frames, storyboard=True)
    out = window_storyboard(item, 180, 120, 5)
    assert out['image_frames'].tolist() == [-1, 100, -1, -1, -1] and out['image_mask'].tolist() == [1, 1, 0, 0, 0]
    assert out['image_patch'][:, 0, 0].tolist() == [1.0, 3.0, 0.0, 0.0, 0.0] and NO_IMAGE not in out
    item['frames'] = [10, 100]
    item['image_patch'], item['image_pooled'] = item['image_patch'][:2], item['image_pooled'][:2]
    empty = window_storyboard(item, 180, 120, 2)            # no image in 180..299: placeholders, flagged
    assert empty[NO_IMAGE] is True and empty['image_frames'].tolist() == [-1, -1]


@pytest.fixture(scope='module')
def long_board(inferencer, inputs):
    """A 300-frame request with images at frames 10 and 280, recording each window's encoder calls."""
    model = inferencer.model
    calls = []                    # per window: the (image_frames, image_mask, image drop) of each encode call
    encode, generate = model.encode, model.generate

    def record_generate(*args, **kwargs):
        calls.append([])
        return generate(*args, **kwargs)

    def record_encode(cond, drop=None, data_samples=None):
        image = None if drop is None or drop.get('image') is None else drop['image'].tolist()
        calls[-1].append((cond['image_frames'].tolist(), cond['image_mask'].tolist(), image))
        return encode(cond, drop, data_samples)
    model.generate, model.encode = record_generate, record_encode
    try:
        (result,) = inferencer(HOIRequest(text='pick up the crate and place it', object_mesh=inputs['mesh'],
                                          object_scale=0.01, object_up='y', images=[inputs['image'], inputs['image']],
                                          frames=[10, 280], num_frames=N, start_body=inputs['start'], steps=2))
    finally:
        del model.generate, model.encode
    return result, calls


def test_each_window_reads_the_images_of_its_moment(long_board):
    result, calls = long_board
    assert result.meta['windows'] == [0, 90, 180] and len(calls) == 3
    assert result.meta['window_images'] == [[0], [], [1]]
    # the full-condition call of each window (the first): window 0 image 0 at frame 10, window 2 image 1 at 280 - 180
    (first, *_), (middle, *_), (last, *_) = calls
    assert first == ([[10, -1]], [[True, False]], None)
    assert last == ([[100, -1]], [[True, False]], None)
    # the middle window holds no image: the image source is dropped for it in every call (full and guidance)
    assert middle[2] == [True] and all(c[2] == [True] for c in calls[1])
    assert result.meta['window_t_hat'] == [[10.0], [], [100.0]] and result.t_hat == 10.0


def test_a_frame_outside_the_motion_is_one_line(inferencer, inputs):
    request = HOIRequest(text='carry', object_mesh=inputs['mesh'], images=[inputs['image'], inputs['image']],
                         frames=[10, N], num_frames=N, steps=2)
    with pytest.raises(RequestError, match=r'frames\[1\] = 300 \(images\[1\] .*ref.png.*\); expected a frame of the '
                                           r'300-frame motion \(an integer in 0..299\)') as info:
        inferencer(request)
    assert '\n' not in str(info.value)
