"""Long interactions through the API: a 300-frame request gives 300 frames from chained windows, later windows get
their waypoints (re-timed, in their own canonical frame) and their start state from the previous window, the seam
is the cross-fade, and the exports of a long result open."""
import json
import shutil

import numpy as np
import pytest
import torch

from imagin4d.apis.long_generation import plan_windows, splice, window_waypoints
from imagin4d.apis.requests import RequestError, WaypointSpec

pytestmark = pytest.mark.usefixtures('single_torch_thread')

N = 300
#: every 30 frames an xy waypoint, the last frame xyz: the CHOIS protocol over 10 s
LONG_WAYPOINTS = dict(version=1, num_frames=N, object_start=dict(position=[0.2, 0.6, 0.1], yaw_deg=10),
                      waypoints=[dict(frame=f, position=[0.2 + 0.004 * f, 0.6 + 0.002 * f])
                                 for f in range(29, N - 1, 30)] + [dict(frame=N - 1, position=[1.4, 1.2, 0.1])])


def test_plan_by_hand():
    plan = plan_windows(300, 120, 30)           # ceil(180 / 90) + 1 = 3 windows, strides of 90
    assert plan.starts == [0, 90, 180] and plan.blend == 30 and plan.seams == [(90, 120), (180, 210)]
    plan = plan_windows(250, 120, 30)           # ceil(130 / 90) + 1 = 3 windows over 0..130: 0, 65, 130
    assert plan.starts == [0, 65, 130] and plan.blend == 30
    assert plan_windows(120, 120).starts == [0] and plan_windows(125, 120, 30).starts == [0, 5]
    for n in range(121, 1000, 7):               # every seam blends inside both windows, before the next starts
        p = plan_windows(n, 120, 40)
        assert p.starts[-1] + 120 == n and all(b - a <= 80 for a, b in zip(p.starts, p.starts[1:]))
        assert all(s + p.blend <= min(prev + 120, nxt) for prev, s, nxt in zip(p.starts, p.starts[1:],
                                                                                p.starts[2:] + [n]))
    with pytest.raises(RequestError, match=r'overlap: 50 frames; expected an integer in 1..40'):
        plan_windows(300, 120, 50)
    assert plan_windows(300, 120, 30, blend=0).blend == 0 and plan_windows(300, 120, 30, blend=12).blend == 12
    with pytest.raises(RequestError, match=r'blend: 31 frames; expected an integer in 0..30'):
        plan_windows(300, 120, 30, blend=31)


def test_window_waypoints_are_retimed():
    spec = WaypointSpec(num_frames=300, start_position=np.zeros(3), xy=[(29, 1.0, 2.0), (95, 3.0, 4.0),
                                                                       (209, 5.0, 6.0)],
                        end_frame=299, end_position=np.array([7.0, 8.0, 0.1]))
    first = window_waypoints(spec, 0, 120)
    assert first.xy == [(29, 1.0, 2.0), (95, 3.0, 4.0)] and first.end_position is None
    rot = np.eye(3)
    last = window_waypoints(spec, 180, 120, (np.ones(3), rot))
    assert last.xy == [(29, 5.0, 6.0)] and last.end_frame == 119 and last.end_position.tolist() == [7.0, 8.0, 0.1]
    assert last.start_position.tolist() == [1.0, 1.0, 1.0]
    middle = window_waypoints(spec, 90, 120, (np.ones(3), rot))          # frame 209 is its last frame: xy there
    assert middle.xy == [(5, 3.0, 4.0), (119, 5.0, 6.0)] and middle.end_position is None


def test_splice_by_hand():
    seq = dict(joints=torch.zeros(6, 1, 3, dtype=torch.float64), obj_rot=torch.eye(3).double().expand(6, 3, 3))
    inc = dict(joints=torch.full((5, 1, 3), 8.0, dtype=torch.float64),
               obj_rot=torch.eye(3).double().expand(5, 3, 3))
    out = splice(seq, inc, 3, 3)          # frames 0-2 old, 3-5 cross-fade with weights 5/32, 1/2, 27/32, 6-7 new
    assert out['joints'][:, 0, 0].tolist() == [0, 0, 0, 8 * 0.15625, 4, 8 * 0.84375, 8, 8]


def _long_request(inputs, **overrides):
    from imagin4d.apis import HOIRequest
    fields = dict(text='pick up the crate and carry it around', object_mesh=inputs['mesh'], object_scale=0.01,
                  object_up='y', reference_image=inputs['image'], waypoints=LONG_WAYPOINTS,
                  start_body=inputs['start'], steps=4, inpaint_waypoints=True)
    fields.update(overrides)
    return HOIRequest(**fields)


@pytest.fixture(scope='module')
def long_run(inferencer, inputs):
    """A 300-frame request, recording the windows the inferencer samples."""
    jobs, outputs = [], []
    original = inferencer.sample_windows

    def record(batch):
        out = original(batch)
        jobs.extend(batch)
        outputs.extend(out)
        return out
    inferencer.sample_windows = record
    try:
        result = inferencer(_long_request(inputs))[0]
    finally:
        del inferencer.sample_windows
    return dict(result=result, jobs=jobs, outputs=outputs)


def test_300_frames_from_three_windows(long_run):
    result = long_run['result']
    assert result.num_frames == N and result.joints.shape == (N, 24, 3) and result.obj_rot.shape == (N, 3, 3)
    assert [j[4] for j in long_run['jobs']] == [0, 7919, 2 * 7919]                 # one sample, seed per window
    assert result.meta['windows'] == [0, 90, 180] and result.meta['seams'] == [(90, 120), (180, 210)]
    assert len(result.meta['window_t_hat']) == 3


def test_later_windows_get_their_waypoints_and_the_previous_end_as_start(long_run, inferencer):
    """Window k's condition: frame 0 = the chain's world state at its start, mapped into its canonical frame;
    each request waypoint in the window at its re-timed frame, in that canonical frame."""
    codec = inferencer.model.codec
    result = long_run['result']
    com = codec.slices['obj_com']
    for k, start in enumerate(result.meta['windows'][1:], 1):
        window = long_run['jobs'][k][1]
        R, t = torch.tensor(window['canonical_R'], dtype=torch.float64), torch.tensor(window['canonical_t'])
        mask, values = window['waypoint_mask'], window['waypoint_values'].double()
        for entry in LONG_WAYPOINTS['waypoints']:
            f = entry['frame'] - start
            if 0 < f < 120:
                p = torch.zeros(3, dtype=torch.float64)
                p[:len(entry['position'])] = torch.tensor(entry['position'])
                expected = (R @ p + t)[:len(entry['position'])]
                assert mask[f, com].tolist()[:len(entry['position'])] == [True] * len(entry['position'])
                torch.testing.assert_close(values[f, :len(entry['position'])], expected.float().double(),
                                           atol=1e-6, rtol=0)
        given = [f for f in range(1, 120) if mask[f, com].any()]
        assert given == [e['frame'] - start for e in LONG_WAYPOINTS['waypoints'] if 0 < e['frame'] - start < 120]
        # frame 0: the joints of the chain at `start` (the previous window's output there), canonicalised; the
        # chain's frame `start` is already 0.36 % the new window's, which (inpainted) starts exactly there
        joints0 = values[0, codec.slices['joints']].reshape(24, 3)
        expected = torch.as_tensor(result.joints[start]) @ R.T + t
        torch.testing.assert_close(joints0, expected, atol=1e-4, rtol=0)


def test_inpainted_waypoints_are_met_in_every_window(long_run):
    errors = long_run['result'].meta['waypoint_errors_mm']
    assert sorted(int(k.split('_')[1]) for k in errors) == [0] + [e['frame'] for e in LONG_WAYPOINTS['waypoints']]
    assert max(errors.values()) < 1.0, errors


def test_the_seam_is_no_rougher_than_the_windows(long_run):
    from imagin4d.evaluation.metrics.long_sequence_metric import seam_jumps
    result = long_run['result']
    out = seam_jumps(result.joints, result.meta['object_centre'], result.obj_rot, result.meta['seams'])
    assert out['seam_joint_jump_ratio'] <= 1.0 and out['seam_object_jump_ratio'] <= 1.0, out
    assert out['seam_joint_velocity_jump_ratio'] <= 1.0 and out['seam_object_turn_ratio'] <= 1.0, out


def test_long_exports_open(long_run, tmp_path):
    from imagin4d.apis import export_result
    from imagin4d.apis.exporters import read_bvh, validate_gltf
    written, _ = export_result(long_run['result'], str(tmp_path / 'long'), ['npz', 'bvh', 'glb'])
    body = np.load(tmp_path / 'long_smplx.npz')
    assert body['poses'].shape == (N, 165) and body['trans'].shape == (N, 3)
    assert np.load(tmp_path / 'long_object.npz')['rotation'].shape == (N, 3, 3)
    assert read_bvh(str(tmp_path / 'long.bvh')).num_frames == N
    assert (tmp_path / 'long.glb').read_bytes()[:4] == b'glTF'
    if shutil.which('node') is None and shutil.which('nodejs') is None:
        pytest.skip('node (Node.js) is not installed: the Khronos glTF validator cannot run (scripts/setup_env.sh)')
    report = validate_gltf(str(tmp_path / 'long.glb'))
    assert report['numErrors'] == 0, json.dumps(report['messages'])[:500]


def test_frames_and_waypoints_must_agree(inferencer, inputs):
    with pytest.raises(RequestError, match=r'num_frames 300 differs from the requested length \(240 frames'):
        inferencer(_long_request(inputs, num_frames=240))
    with pytest.raises(RequestError, match=r'num_frames: 100 frames; expected an integer >= the model window'):
        inferencer(_long_request(inputs, num_frames=100, waypoints=None))


def test_generate_tool_passes_frames_to_every_request(tmp_path):
    """--frames N becomes HOIRequest.num_frames (a --requests line that names its own length keeps it)."""
    import importlib.util

    from testing_utils import REPO
    spec = importlib.util.spec_from_file_location('generate_tool', REPO / 'tools' / 'generate.py')
    tool = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(tool)
    args = tool.parse_args(['c.py', 'm.pth', '--text', 'carry it', '--object', 'box.obj', '--frames', '300',
                            '--overlap', '20', '--blend', '10'])
    (request,) = tool.build_requests(args)
    assert request.num_frames == 300 and args.overlap == 20 and args.blend == 10
    lines = tmp_path / 'requests.jsonl'
    lines.write_text(json.dumps(dict(text='a', object_mesh='box.obj')) + '\n' +
                     json.dumps(dict(text='b', object_mesh='box.obj', num_frames=450)) + '\n')
    first, second = tool.build_requests(tool.parse_args(['c.py', 'm.pth', '--requests', str(lines), '--frames', '300']))
    assert first.num_frames == 300 and second.num_frames == 450


VIDEO_SCRIPT = '''
import pickle, sys
from imagin4d.apis.exporters.video import render_result_video
with open(sys.argv[1], 'rb') as f:
    result = pickle.load(f)
print(render_result_video(result, sys.argv[2], size=64)[0])
'''


@pytest.mark.slow
def test_long_video_has_every_frame(long_run, tmp_path):
    """The MP4 of a 300-frame result (rendered in a subprocess: this process must not create an EGL context)."""
    import pickle

    import cv2
    from testing_utils import REPO, run_tool
    with open(tmp_path / 'result.pkl', 'wb') as f:
        pickle.dump(long_run['result'], f)
    (tmp_path / 'render.py').write_text(VIDEO_SCRIPT)
    out = run_tool([tmp_path / 'render.py', tmp_path / 'result.pkl', tmp_path / 'long.mp4'], cwd=REPO, timeout=600)
    capture = cv2.VideoCapture(out.stdout.strip().splitlines()[-1])
    count = 0
    while capture.read()[0]:
        count += 1
    assert count == N


@pytest.mark.slow
def test_long_generation_benchmark_runs_end_to_end(checkpoint, free_body_root, tmp_path):
    """benchmarks/long_generation.py on one 2-segment long test sequence with the untrained model: the record has
    the generated, hard-cut and ground-truth rows, and the hard cut changes only the seam frames."""
    from generation_model import CONFIG
    from testing_utils import REPO, run_tool

    from imagin4d.datasets.synthetic.long_test import build_long_test
    build_long_test(str(tmp_path / 'root'), str(free_body_root), num=1, segments=2, seed=2)
    run_tool(['benchmarks/long_generation.py', '--long-root', tmp_path / 'root', '--config', CONFIG, '--checkpoint',
              checkpoint, '--num', '1', '--body-model-root', free_body_root, '--out', tmp_path / 'long'], cwd=REPO,
             timeout=900)
    report = json.loads((tmp_path / 'long.json').read_text())
    assert {k: len(v) for k, v in report['rows'].items()} == dict(generated=1, hard_cut=1, ground_truth=1)
    assert report['hard_cut_max_joint_difference_outside_seams_m'] == 0.0
    gt = report['rows']['ground_truth'][0]
    assert gt['waypoint_xy_err'] < 1e-3 and gt['num_frames'] == report['rows']['generated'][0]['num_frames']
    assert '| **mean, hard cut** |' in (tmp_path / 'long.md').read_text()
