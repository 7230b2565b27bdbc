"""Request readers: the waypoint schema, rotations given three ways, up axes, JSON-lines requests, start bodies."""
import json

import numpy as np
import pytest

from imagin4d.apis.requests import (
    HOIRequest,
    RequestError,
    load_start_body,
    load_waypoints,
    read_requests_jsonl,
    up_axis_rotation,
)


@pytest.mark.parametrize('up, axis', [('x', [1, 0, 0]), ('y', [0, 1, 0]), ('z', [0, 0, 1]), ('-x', [-1, 0, 0]),
                                      ('-y', [0, -1, 0]), ('-z', [0, 0, -1])])
def test_up_axis_goes_to_z(up, axis):
    R = up_axis_rotation(up)
    np.testing.assert_allclose(R @ np.asarray(axis, float), [0, 0, 1], atol=1e-12)
    np.testing.assert_allclose(R @ R.T, np.eye(3), atol=1e-12)
    assert np.linalg.det(R) == pytest.approx(1.0)


def test_the_three_rotation_forms_agree():
    yaw = np.deg2rad(30.0)
    matrix = [[np.cos(yaw), -np.sin(yaw), 0], [np.sin(yaw), np.cos(yaw), 0], [0, 0, 1]]
    quat = [np.cos(yaw / 2), 0, 0, np.sin(yaw / 2)]                       # w, x, y, z about +Z
    end = [dict(frame=119, position=[1, 2, 0.3])]
    specs = [load_waypoints(dict(object_start=dict(position=[0, 0, 0.1], **form), waypoints=end))
             for form in (dict(yaw_deg=30), dict(quaternion_wxyz=quat), dict(rotation=matrix))]
    for spec in specs[1:]:
        np.testing.assert_allclose(spec.start_rotation, specs[0].start_rotation, atol=1e-12)
    np.testing.assert_allclose(specs[0].start_rotation @ [1, 0, 0], [np.cos(yaw), np.sin(yaw), 0], atol=1e-12)
    assert specs[0].end_frame == 119 and specs[0].end_position.tolist() == [1, 2, 0.3]


def test_waypoints_are_sorted_and_xy_only_between():
    spec = load_waypoints(dict(waypoints=[dict(frame=89, position=[3, 4, 9]), dict(frame=29, position=[1, 2])]))
    assert spec.xy == [(29, 1.0, 2.0), (89, 3.0, 4.0)] and spec.end_position is None and spec.start_position is None


@pytest.mark.parametrize('data, message', [
    (dict(waypoints=[dict(frame=0, position=[0, 0])]), r'waypoints\[0\].frame: 0 is outside the motion'),
    (dict(waypoints=[dict(frame=29.5, position=[0, 0])]), r'waypoints\[0\].frame: 29.5 is outside'),
    (dict(waypoints=[dict(frame=29, position=[0, 0]), dict(frame=29, position=[1, 1])]), r'given twice'),
    (dict(waypoints=[dict(frame=29, position=['a', 0])]), r'waypoints\[0\].position: expected 2 or 3 numbers'),
    (dict(waypoints=[dict(frame=29, position=[0, float('nan')])]), r'expected 2 or 3 finite'),
    (dict(object_start=dict(position=[0, 0, 0], rotation=[[2, 0, 0], [0, 1, 0], [0, 0, 1]])),
     r'object_start.rotation: expected a 3 x 3 rotation'),
    (dict(object_start=dict(position=[0, 0, 0], yaw_deg=3, quaternion_wxyz=[1, 0, 0, 0])), r'give one of'),
    (dict(num_frames=60), r'num_frames: 60 frames; expected an integer >= the model window \(120'),
    (dict(num_frames='200'), r'num_frames must be an integer'),
    (dict(waypoints=[dict(frame=200, position=[0, 0])]), r'waypoints\[0\].frame: 200 is outside'),
    (dict(version=2), r'version 2 is not supported'),
    ([1, 2], r'expected a JSON object'),
])
def test_schema_errors_name_the_entry(data, message):
    with pytest.raises(RequestError, match=message) as info:
        load_waypoints(data)
    assert '\n' not in str(info.value)


def test_requests_jsonl_resolves_paths_from_its_folder(tmp_path):
    lines = [dict(text='lift it', object_mesh='box.obj', reference_image='pics/a.png', waypoints='w.json', seed=2),
             dict(text='push it', object_mesh=str(tmp_path / 'abs.obj'), num_samples=3)]
    path = tmp_path / 'requests.jsonl'
    path.write_text('\n'.join(json.dumps(line) for line in lines) + '\n\n')
    first, second = read_requests_jsonl(str(path))
    assert first.object_mesh == str(tmp_path / 'box.obj') and first.reference_image == str(tmp_path / 'pics/a.png')
    assert first.seed == 2 and second.num_samples == 3 and second.object_mesh == str(tmp_path / 'abs.obj')
    path.write_text(json.dumps(dict(text='x', object_mesh='b.obj', colour='red')) + '\n')
    with pytest.raises(RequestError, match=r"requests.jsonl:1: unknown request field\(s\) \['colour'\]"):
        read_requests_jsonl(str(path))
    path.write_text('{"text": "x",\n')
    with pytest.raises(RequestError, match=r'requests.jsonl:1: not valid JSON'):
        read_requests_jsonl(str(path))
    with pytest.raises(RequestError, match=r"needs 'text' and 'object_mesh'"):
        HOIRequest.from_dict(dict(text='only text'))


def test_start_body_frame_and_gender(tmp_path):
    poses = np.zeros((5, 165))
    poses[3, :3] = [0.1, 0.2, 0.3]
    poses[3, 3:66] = 0.01
    np.savez(tmp_path / 'body.npz', poses=poses, trans=np.arange(15.0).reshape(5, 3), betas=np.ones(16),
             gender=np.array('female'))
    body = load_start_body(tmp_path / 'body.npz', frame=3)
    assert body.global_orient.tolist() == [0.1, 0.2, 0.3] and body.transl.tolist() == [9.0, 10.0, 11.0]
    assert body.gender == 'female' and body.betas.shape == (16,) and np.all(body.body_pose == 0.01)
    assert load_start_body(tmp_path / 'body.npz', frame=3, gender='male').gender == 'male'
    with pytest.raises(RequestError, match=r'body.npz: frame 5 is outside its 5 frames'):
        load_start_body(tmp_path / 'body.npz', frame=5)


def test_long_waypoints_span_the_motion():
    """A 300-frame file: waypoints anywhere in 1..298, xyz at 299; a requested length must match the file."""
    data = dict(num_frames=300, waypoints=[dict(frame=150, position=[1, 2]), dict(frame=299, position=[3, 4, 0.1])])
    spec = load_waypoints(data)
    assert spec.num_frames == 300 and spec.xy == [(150, 1.0, 2.0)] and spec.end_frame == 299
    assert load_waypoints(dict(waypoints=[dict(frame=250, position=[1, 2])]), 300).xy == [(250, 1.0, 2.0)]
    with pytest.raises(RequestError, match=r'num_frames 300 differs from the requested length \(240 frames'):
        load_waypoints(data, 240)
    with pytest.raises(RequestError, match=r'waypoints\[1\].position \(the last frame needs x, y, z\): expected 3'):
        load_waypoints(dict(num_frames=300, waypoints=[dict(frame=150, position=[1, 2]),
                                                       dict(frame=299, position=[3, 4])]))
