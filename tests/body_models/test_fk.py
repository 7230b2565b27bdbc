"""forward_kinematics against smplx's rigid chain (no model file needed)."""
import pytest
import torch
from smplx.lbs import batch_rigid_transform, batch_rodrigues

from imagin4d.body_models import forward_kinematics, skeletons


def _random(batch, parents, seed=0):
    gen = torch.Generator().manual_seed(seed)
    num = len(parents)
    rot = batch_rodrigues(torch.randn(batch * num, 3, generator=gen, dtype=torch.float64)).reshape(
        batch, num, 3, 3)
    rest = torch.randn(batch, num, 3, generator=gen, dtype=torch.float64) * 0.2
    return rot, rest


@pytest.mark.parametrize('model_type', ['smplx', 'smplh', 'joints24'])
def test_matches_smplx_chain(model_type):
    parents = skeletons.PARENTS[model_type]
    rot, rest = _random(4, parents)
    trans = torch.randn(4, 3, dtype=torch.float64)
    pos, grot = forward_kinematics(rot, rest, parents, trans)
    ref_pos, ref_rel = batch_rigid_transform(rot, rest, torch.tensor(parents), dtype=torch.float64)
    assert pos.shape == (4, len(parents), 3) and grot.shape == (4, len(parents), 3, 3)
    assert torch.allclose(pos, ref_pos + trans[:, None], atol=1e-10)
    assert torch.allclose(grot, ref_rel[..., :3, :3], atol=1e-10)


def test_identity_rotations_and_shared_rest():
    parents = skeletons.JOINTS24_PARENTS
    rest = torch.randn(24, 3, generator=torch.Generator().manual_seed(0))
    rot = torch.eye(3).expand(5, 24, 3, 3)
    pos, grot = forward_kinematics(rot, rest, parents, torch.ones(5, 3))
    assert torch.allclose(pos, rest + 1, atol=1e-5)
    assert torch.allclose(grot, rot)
    pos, _ = forward_kinematics(rot, rest, parents)  # no translation
    assert torch.allclose(pos, rest.expand(5, 24, 3), atol=1e-5)


def test_gradients_flow():
    parents = skeletons.JOINTS24_PARENTS
    rot, rest = _random(2, parents)
    rot.requires_grad_(True)
    pos, _ = forward_kinematics(rot, rest, parents)
    pos.sum().backward()
    assert torch.isfinite(rot.grad).all() and rot.grad.abs().sum() > 0


def test_bad_inputs():
    with pytest.raises(ValueError):
        forward_kinematics(torch.eye(3).expand(2, 3, 3, 3), torch.zeros(3, 3), [-1, 0])
    with pytest.raises(ValueError):
        forward_kinematics(torch.eye(3).expand(2, 3, 3, 3), torch.zeros(3, 3), [-1, 2, 0])
