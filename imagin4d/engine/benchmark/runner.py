"""Running the benchmark's tools: the variants and their configs, the work dir of each run, and `Runner`, which runs
one of the repository's tools as a subprocess and keeps the record of every command it ran."""
import json
import os
import os.path as osp
import subprocess
import sys
import threading
import time

#: The repository whose tools and configs the benchmark runs (commands run from here; paths are relative to it).
REPO = osp.abspath(osp.join(osp.dirname(__file__), '..', '..', '..'))
DATA_ROOT_VARS = ('IMAGIN4D_MINI_FBM_ROOT', 'IMAGIN4D_FBM_ROOT', 'IMAGIN4D_BEHAVE_ROOT')
VARIANTS = ('no_image', 'global_token', 'uniform_image', 'sfie_spatial', 'sfie', 'sketch', 'sfie_fused')
# Checks of a cause, run only when named in --variants (not part of the default benchmark): variant -> config.
CHECK_VARIANTS = {'sfie_spatial_separate': 'projects/imagin4d/checks/mini_fbm_sfie_spatial_separate.py',
                  'sfie_lean': 'projects/imagin4d/mini_fbm_sfie_lean.py',     # issue 23: the lean image cues
                  # issue 23: bf16 autocast training (scripts/bf16_rerun.sh)
                  'sfie_lean_bf16': 'projects/imagin4d/checks/mini_fbm_sfie_lean_bf16.py',
                  'no_image_bf16': 'projects/imagin4d/checks/mini_fbm_no_image_bf16.py'}
FACTORS = ('factor_grasp_hand', 'factor_carry_height', 'factor_layout')
#: The benchmark's test-time sampling, every study's base setting: pinned in each test command (`sampling_options`),
#: so that archived numbers stay comparable when the configs' `test_cfg` (what users get) moves to other settings.
BENCHMARK_SAMPLING = dict(sampler='ddim', num_steps=20, timestep_spacing='trailing', guidance_image=1.0,
                          reconstruction_guidance=False)


def sampling_options(num_steps: int) -> list:
    """--cfg-options of the benchmark's sampling at `num_steps` steps."""
    return [f'model.test_cfg.{key}={value}' for key, value in dict(BENCHMARK_SAMPLING, num_steps=num_steps).items()]


def config_file(variant: str) -> str:
    return CHECK_VARIANTS.get(variant, f'projects/imagin4d/mini_fbm_{variant}.py')


def run_dir(args, variant: str, seed: int) -> str:
    """The work dir of one run: its checkpoint, test outputs and merged metrics (`metrics.json`)."""
    return osp.join(args.work_dir, variant, f'seed{seed}')


class Runner:
    """Runs tool commands from the repository with the data root in the environment; records each command, its
    start and its duration in `log_file` (JSON lines, appended: the record of every invocation on this work dir)."""

    def __init__(self, data_root: str, log_file: str):
        self.env = dict(os.environ, IMAGIN4D_MINI_FBM_ROOT=osp.abspath(data_root))
        self.env.setdefault('IMAGIN4D_BODY_MODEL_DIR', osp.join(REPO, 'data', 'body_models'))
        self.log_file = log_file
        self._lock = threading.Lock()

    def __call__(self, *args) -> float:
        """Run one tool; thread-safe (several chains may run at once)."""
        cmd = [sys.executable, *map(str, args)]
        shown = ' '.join(map(str, args))
        print(f'+ {shown}', flush=True)
        start = time.time()
        result = subprocess.run(cmd, cwd=REPO, env=self.env, capture_output=True, text=True)
        seconds = time.time() - start
        if result.returncode != 0:
            raise SystemExit(f'failed ({result.returncode}): {shown}\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}')
        self.append([dict(command=shown, start=start, seconds=seconds)])
        return seconds

    def append(self, records) -> None:
        """Add command records to the log, skipping those it already has (same command and start)."""
        with self._lock:
            known = {(r['command'], r['start']) for r in self.records()}
            with open(self.log_file, 'a') as f:
                for record in records:
                    if (record['command'], record['start']) not in known:
                        f.write(json.dumps(record) + '\n')

    def records(self) -> list:
        if not osp.isfile(self.log_file):
            return []
        with open(self.log_file) as f:
            return [json.loads(line) for line in f if line.strip()]
