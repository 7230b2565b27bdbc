"""BodyModel wrapper: shapes, batching, FK consistency, errors, caching, registry."""
import pytest
import torch
from smplx.lbs import batch_rodrigues

from imagin4d.body_models import BodyModel, forward_kinematics, load_body_model, skeletons
from imagin4d.registry import BODY_MODELS


def _pose(batch, seed=0):
    gen = torch.Generator().manual_seed(seed)
    return dict(global_orient=torch.randn(batch, 3, generator=gen) * 0.5,
                body_pose=torch.randn(batch, 63, generator=gen) * 0.4,
                transl=torch.randn(batch, 3, generator=gen),
                left_hand_pose=torch.randn(batch, 45, generator=gen) * 0.3,
                right_hand_pose=torch.randn(batch, 45, generator=gen) * 0.3)


@pytest.mark.parametrize('model_type', ['smplx', 'smplh'])
def test_fk_equals_body_model_joints(free_body_root, model_type):
    """forward_kinematics(local rotations, rest_joints(betas)) == smplx's joints, <= 1e-4 m."""
    body = BodyModel(free_body_root, model_type, 'male')
    batch = 6
    pose = _pose(batch)
    betas = torch.randn(batch, 10)
    out = body(betas, **pose)
    parts = [pose['global_orient'], pose['body_pose']]
    if model_type == 'smplx':
        parts.append(torch.zeros(batch, 9))  # jaw, eyes
    parts += [pose['left_hand_pose'], pose['right_hand_pose']]
    rotmats = batch_rodrigues(torch.cat(parts, 1).reshape(-1, 3)).reshape(batch, -1, 3, 3)
    positions, _ = forward_kinematics(rotmats, body.rest_joints(betas), body.parents, pose['transl'])
    assert (positions - out['joints']).abs().max() <= 1e-4
    # joints24 only needs the body chain: the 22 body joints + the two middle-finger bases.
    assert torch.equal(out['joints24'], out['joints'][:, list(skeletons.JOINTS24_FROM[model_type])])


@pytest.mark.parametrize('batch', [0, 1, 3])
def test_shapes_and_broadcast_betas(free_body_root, batch):
    body = BodyModel(free_body_root, 'smplx', 'neutral', chunk_size=2)
    pose = _pose(batch)
    out = body(torch.zeros(10), pose['global_orient'], pose['body_pose'], pose['transl'])
    assert out['vertices'].shape == (batch, body.num_vertices, 3)
    assert out['joints'].shape == (batch, 55, 3) and out['joints24'].shape == (batch, 24, 3)
    if batch:
        single = body(torch.zeros(1, 10), pose['global_orient'][:1], pose['body_pose'][:1], pose['transl'][:1])
        assert torch.allclose(single['joints'][0], out['joints'][0], atol=1e-5)  # chunking is transparent
        short = body(torch.zeros(4), pose['global_orient'], pose['body_pose'], pose['transl'])  # zero-padded
        assert torch.allclose(short['joints'], out['joints'])
    assert body.rest_joints(torch.zeros(10)).shape == (1, 55, 3)
    assert body.rest_joints(torch.zeros(2, 10)).shape == (2, 55, 3)
    assert body.faces.dtype == torch.long and body.faces.shape == (27420, 3)
    assert body.parents.tolist() == list(skeletons.SMPLX_PARENTS)


def test_no_parameters_and_no_checkpoint_state(free_body_root):
    body = BodyModel(free_body_root, 'smplh', 'female')
    assert list(body.parameters()) == [] and body.state_dict() == {}
    holder = torch.nn.Sequential(torch.nn.Linear(2, 2), body)
    assert set(holder.state_dict()) == {'0.weight', '0.bias'}
    holder.load_state_dict(holder.state_dict())


def test_rest_joints_match_forward_at_zero_pose(free_body_root):
    body = BodyModel(free_body_root, 'smplx', 'female')
    betas = torch.randn(2, 10)
    out = body(betas, torch.zeros(2, 3), torch.zeros(2, 63))
    assert torch.allclose(out['joints'], body.rest_joints(betas), atol=1e-5)


def test_bad_inputs(free_body_root):
    body = BodyModel(free_body_root, 'smplx', 'neutral')
    with pytest.raises(ValueError):
        body(torch.zeros(11), torch.zeros(1, 3), torch.zeros(1, 63))
    with pytest.raises(ValueError):
        body(None, torch.zeros(2, 3), torch.zeros(3, 63))
    with pytest.raises(ValueError):
        BodyModel(free_body_root, 'smpl')


def test_missing_file_names_path_and_build_command(tmp_path):
    with pytest.raises(FileNotFoundError) as err:
        BodyModel(tmp_path, 'smplx', 'male')
    message = str(err.value)
    assert str(tmp_path / 'smplx' / 'SMPLX_MALE.npz') in message
    assert 'tools/data/build_body_model.py --out' in message


def test_cached_loader_and_registry(free_body_root):
    first = load_body_model(free_body_root, 'smplh', 'neutral')
    assert load_body_model(str(free_body_root), 'smplh', 'neutral') is first
    assert load_body_model(free_body_root, 'smplx', 'neutral') is not first
    built = BODY_MODELS.build(dict(type='BodyModel', model_root=str(free_body_root), model_type='smplh'))
    assert isinstance(built, BodyModel) and built.num_joints == 52
