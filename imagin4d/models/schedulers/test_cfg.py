"""The test-time sampling options of a model (`model.test_cfg`): their defaults, the sampler names users give
(`ddim`, `ddpm`, `dpmpp`) and the registered sampler they build on the training schedule. Requests, tools and
studies name samplers through `TEST_SAMPLERS` and `SAMPLER_LABELS`."""
from typing import Optional

from imagin4d.registry import DIFFUSION_SCHEDULERS

__all__ = ['DEFAULT_TEST_CFG', 'TEST_SAMPLERS', 'SAMPLER_LABELS', 'resolve_test_cfg', 'build_test_sampler']

#: test_cfg.sampler -> the registered sampler (DIFFUSION_SCHEDULERS)
TEST_SAMPLERS = dict(ddim='DDIMSampler', ddpm='DDPMSampler', dpmpp='DPMSolverPPSampler')
SAMPLER_LABELS = dict(ddim='DDIM', ddpm='DDPM', dpmpp='DPM-Solver++')   # in tables and pages

DEFAULT_TEST_CFG = dict(
    sampler='ddim',              # 'ddim' | 'ddpm' | 'dpmpp' (DPM-Solver++(2M), deterministic)
    num_steps=50,                # sampling steps (DDPM: 1000 = CHOIS)
    eta=0.0,                     # DDIM stochasticity
    timestep_spacing='trailing',  # visited indices (`spaced_timesteps`): 'trailing' | 'linspace' | 'quadratic' ...
    guidance_image=1.0,          # classifier-free guidance G of the image source: x0_no_img + G (x0 - x0_no_img)
                                 # (1: the plain conditional model; 0: the image changes nothing; > 1: amplified)
    guidance_text=1.0,           # ... of the text source
    reconstruction_guidance=False,   # CHOIS-style guidance in the last steps (needs model.reconstruction_guidance)
    inpaint_waypoints=False,     # overwrite the given waypoint values in x0 at every step
    depicted_frame='predicted',  # 'predicted': SFIE places each image (t-hat); 'given': the data's true depicted
                                 # frames gate the images (an evaluation oracle: what a user who gives the frame gets)
    num_samples=1,               # generations per window (multimodality); pred_motion is the first
    seed=0,
)


def resolve_test_cfg(test_cfg: Optional[dict]) -> dict:
    """A config's test_cfg over `DEFAULT_TEST_CFG`; an unknown key is an error naming the known ones."""
    unknown = set(test_cfg or {}) - set(DEFAULT_TEST_CFG)
    if unknown:
        raise KeyError(f'unknown test_cfg key(s) {sorted(unknown)}; known: {sorted(DEFAULT_TEST_CFG)}')
    return {**DEFAULT_TEST_CFG, **(test_cfg or {})}


def build_test_sampler(test_cfg: dict, diffusion):
    """The sampler of a resolved `test_cfg` on the training diffusion's schedule and x0 clipping."""
    kind = str(test_cfg['sampler']).lower()
    if kind not in TEST_SAMPLERS:
        raise ValueError(f'test_cfg.sampler must be one of {sorted(TEST_SAMPLERS)}, got {test_cfg["sampler"]!r}')
    sampler = dict(type=TEST_SAMPLERS[kind], schedule=diffusion.schedule, num_steps=int(test_cfg['num_steps']),
                   timestep_spacing=test_cfg['timestep_spacing'], clip_x0=diffusion.clip_x0)
    if kind == 'ddim':
        sampler['eta'] = float(test_cfg['eta'])
    return DIFFUSION_SCHEDULERS.build(sampler)
