"""The sampling study (issue 26): sampling settings measured on a benchmark's trained checkpoints.

Owns the plan (each sweep's settings x variants x seeds, settings shared by several sweeps measured once, the cheap
ones first), running one evaluation (`tools/test.py --sweep` of one setting, and for the guidance sweep
`tools/analysis/mirror_test.py` at that setting) as a subprocess, and the archive that makes the study restartable:
one small JSON per evaluation, `ARCHIVE/<setting key>/<variant>/seed<k>.json`, holding the metrics, the commands,
the checkpoint digest, the data build, the machine and the commit. An archived evaluation is not run again; one
whose checkpoint or data build differs from the study's now is an error naming the file and the field. The page
(tables, derived answers) is `sampling_study_page`.

The study dir is a `tools/analysis/run_benchmark.py` work dir: `<study>/<variant>/seed<k>/iter_<iters>.pth`, trained
with the variant's config `projects/imagin4d/mini_fbm_<variant>.py`.
"""
import hashlib
import json
import os
import os.path as osp
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Dict, List, Optional

from imagin4d.engine.benchmark.archive import config_identity, file_identity, git_commit, machine
from imagin4d.engine.benchmark.runner import BENCHMARK_SAMPLING, REPO, Runner, config_file
from imagin4d.models.schedulers.test_cfg import SAMPLER_LABELS
from imagin4d.utils.fileio import atomic_open

#: Every evaluation starts from these test_cfg values (the benchmark's: DDIM 20 on 'trailing' indices, no guidance,
#: no reconstruction), each pinned in the command
BASE = dict(BENCHMARK_SAMPLING)
#: the mini configs' sampling: test_cfg's sampler and the reconstruction guidance's step
#: (projects/imagin4d/_base_/models/imagin4d_mini.py; a test ties them)
CONFIG_SAMPLING = dict(sampler='ddim', num_steps=5, timestep_spacing='quadratic')
CONFIG_RECONSTRUCTION = dict(reconstruction_guidance=True, recon_lr=1.0)
#: sweep -> (title, the settings it visits (changes to BASE), variants without an image skip it)
SWEEPS = {
    # DPM-Solver++(2M): a training-free second-order solver, the few-step candidate before any distillation;
    # 'linspace' spacing: the last x0 prediction at t = 0 instead of 'trailing''s N/k - 1 (few-step DDIM and
    # DPM-Solver++ agree at equal steps and foot sliding falls with k: the last prediction's noise level, not the
    # solver's order, looked like the few-step cost); 'quadratic': denser still near t = 0 (linspace 5-20 stayed
    # 0.1-0.2 above DDPM-1000's foot sliding)
    'steps': ('Steps and sampler', [dict(sampler='ddim', num_steps=n) for n in (5, 10, 20, 50, 100)]
              + [dict(sampler='dpmpp', num_steps=n) for n in (5, 10, 20)]
              + [dict(sampler='ddim', num_steps=n, timestep_spacing='linspace') for n in (5, 10, 20)]
              + [dict(sampler='ddim', num_steps=n, timestep_spacing='quadratic') for n in (5, 10)]
              + [dict(sampler='ddpm', num_steps=1000)], False),
    'guidance': ('Image guidance G', [dict(guidance_image=g) for g in (0.0, 1.0, 1.5, 2.0, 3.0, 5.0)], True),
    # the configs' step before the study (lr 0.01, last 5 steps) and a 100x step (on the demo checkpoint lr 0.01
    # changed no metric measurably, lr 1 raised contact F1 by 0.1, lr 10 broke the waypoints), the latter also with
    # CHOIS's contact-consistency term; each step named, since the configs' own moved to the 100x one
    'recon': ('Reconstruction guidance', [dict(reconstruction_guidance=False),
                                          dict(reconstruction_guidance=True, recon_lr=0.01),
                                          dict(reconstruction_guidance=True, recon_lr=1.0),
                                          dict(reconstruction_guidance=True, recon_lr=1.0, contact_consistency=True)],
              False),
    # SFIE's placement t-hat against the true depicted frame given to the gate (an oracle): how much of the
    # adherence the frame error costs
    'frame': ('Depicted frame: predicted by SFIE vs given (oracle)', [dict(), dict(depicted_frame='given')], True),
    # the same samples scored as the configs score them (decoded joint positions, projected object rotation) and as
    # CHOIS does (joints and vertices from a body-model forward pass of the predicted rotations, the raw rotation)
    'protocol': ('Scoring protocol: predicted joints vs body-model joints (CHOIS)',
                 [dict(), dict(joints_from='body_model', object_rotation='raw')], False),
    # the configs' sampling (first) and its neighbours: image guidance with and without the reconstruction
    # guidance; the adherence target is asked at the chosen settings (no-image rows: only where G = 1, the
    # baselines of the waypoint check)
    'defaults': ("The configs' sampling (DDIM 5 'quadratic', reconstruction guidance at step 1) and its neighbours",
                 [dict(CONFIG_SAMPLING, **CONFIG_RECONSTRUCTION, guidance_image=g) for g in (1.0, 1.5)]
                 + [dict(CONFIG_SAMPLING, guidance_image=g) for g in (1.0, 1.5, 2.0)], False),
}
#: sweeps whose evaluations also run the mirrored-reference test (with --mirror)
MIRRORED = ('guidance', 'defaults')
#: where a setting lives (default: model.test_cfg.<name>); 'model.' paths are applied to the built model by
#: `tools/test.py --sweep`, the others (the evaluators') are config options
SETTING_PATHS = dict(contact_consistency='model.reconstruction_guidance.terms.contact_consistency.enabled',
                     recon_lr='model.reconstruction_guidance.lr', joints_from='test_evaluator.0.joints_from',
                     object_rotation='test_evaluator.0.object_rotation')
#: the CI version: the same sweeps at two or three sampling steps
SMOKE_BASE = dict(BASE, num_steps=2)
SMOKE_SWEEPS = {
    'steps': (SWEEPS['steps'][0], [dict(sampler='ddim', num_steps=2), dict(sampler='ddpm', num_steps=3)], False),
    'guidance': (SWEEPS['guidance'][0], [dict(guidance_image=g) for g in (1.0, 2.0)], True),
    'recon': (SWEEPS['recon'][0], [SWEEPS['recon'][1][0], SWEEPS['recon'][1][-1]], False),
    'frame': SWEEPS['frame'],
    'protocol': SWEEPS['protocol'],
    'defaults': (SWEEPS['defaults'][0], [dict(timestep_spacing='quadratic', **CONFIG_RECONSTRUCTION)]
                 + [dict(timestep_spacing='quadratic', guidance_image=g) for g in (1.0, 2.0)], False),
}
NO_IMAGE = ('no_image',)


def study_outputs(args, name: str) -> None:
    """A study's --archive and --out defaults (also the transfer and storyboard studies'): the committed archive
    benchmarks/results/<name>/ and page docs/results/<name>.md, or with --smoke both under --work-dir
    (archive/, <study>.md); --evaluator-ckpt none means no FID."""
    if getattr(args, 'evaluator_ckpt', None) in ('none', ''):
        args.evaluator_ckpt = None
    args.archive = args.archive or (osp.join(args.work_dir, 'archive') if args.smoke
                                    else osp.join(REPO, 'benchmarks', 'results', name))
    args.out = args.out or (osp.join(args.work_dir, f'{name.split("_")[0]}.md') if args.smoke
                            else osp.join(REPO, 'docs', 'results', f'{name}.md'))


def sweeps(args) -> dict:
    chosen = SMOKE_SWEEPS if args.smoke else SWEEPS
    return {name: chosen[name] for name in args.sweeps}


def settings_of(args, change: dict) -> dict:
    return dict(SMOKE_BASE if args.smoke else BASE, **change)


def setting_key(setting: dict) -> str:
    """{'sampler': 'ddim', 'num_steps': 20, 'guidance_image': 1.5, ...} -> 'ddim20_g1.5_rg0' (a folder name;
    '_lr<x>' with another reconstruction-guidance step, '_cc1' with the contact-consistency term)."""
    return (f'{setting["sampler"]}{setting["num_steps"]}_g{float(setting["guidance_image"]):g}'
            f'_rg{int(bool(setting["reconstruction_guidance"]))}'
            + (f'_lr{float(setting["recon_lr"]):g}' if 'recon_lr' in setting else '')
            + ('_cc1' if setting.get('contact_consistency') else '')
            + ('_jbm' if setting.get('joints_from') == 'body_model' else '')
            + ('_rawrot' if setting.get('object_rotation') == 'raw' else '')
            + ('_given' if setting.get('depicted_frame') == 'given' else '')
            + (f'_{spacing_of(setting)[:3]}' if spacing_of(setting) != 'trailing' else ''))


def spacing_of(setting: dict) -> str:
    """A setting's timestep spacing ('trailing', the benchmark's, when it names none)."""
    return setting.get('timestep_spacing', BENCHMARK_SAMPLING['timestep_spacing'])


def sampler_label(setting: dict) -> str:
    """The sampler of a setting as tables name it: 'DDIM', 'DPM-Solver++', 'DDIM (linspace)'."""
    label = SAMPLER_LABELS.get(setting['sampler'], setting['sampler'].upper())
    spacing = spacing_of(setting)
    return label if spacing == 'trailing' else f'{label} ({spacing})'


def setting_label(setting: dict) -> str:
    """A table row label: 'DDIM 20, G 1, recon off'."""
    return (f'{sampler_label(setting)} {setting["num_steps"]}, G {float(setting["guidance_image"]):g}, '
            f'recon {"on" if setting["reconstruction_guidance"] else "off"}'
            + (f' (lr {float(setting["recon_lr"]):g})' if 'recon_lr' in setting else '')
            + (' + contact consistency' if setting.get('contact_consistency') else '')
            + (', body-model joints' if setting.get('joints_from') == 'body_model' else '')
            + (', raw object rotation' if setting.get('object_rotation') == 'raw' else '')
            + (', depicted frame given' if setting.get('depicted_frame') == 'given' else ''))


def cost(setting: dict, variant: str, mirror: bool) -> float:
    """Relative cost (denoiser passes per window): steps x (1 + one unconditional pass when G != 1 on an image
    model), reconstruction guidance about one backward pass in its last steps, the body-model forward pass of the
    scoring about 60 passes, the mirror test twice the sampling."""
    passes = 2 if float(setting['guidance_image']) != 1.0 and variant not in NO_IMAGE else 1
    total = (setting['num_steps'] * passes + (10 if setting['reconstruction_guidance'] else 0)
             + (60 if setting.get('joints_from') == 'body_model' else 0))
    return total * (3 if mirror else 1)


def plan(args) -> List[dict]:
    """Every evaluation of the study, cheapest first: {key, setting, variant, seed, mirror, sweeps}; a setting
    that several sweeps visit (the base setting is in each) is one evaluation."""
    found: Dict[tuple, dict] = {}
    for name, (_, changes, image_only) in sweeps(args).items():
        for change in changes:
            setting = settings_of(args, change)
            for variant in args.variants:
                if variant in NO_IMAGE and (image_only or float(setting['guidance_image']) != 1.0):
                    continue            # a model without an image: no image guidance to set
                for seed in args.seeds:
                    item = found.setdefault((setting_key(setting), variant, seed), dict(
                        key=setting_key(setting), setting=setting, variant=variant, seed=seed, mirror=False,
                        sweeps=[]))
                    item['sweeps'].append(name)
                    item['mirror'] |= bool(args.mirror and name in MIRRORED and variant not in NO_IMAGE)
    return sorted(found.values(), key=lambda e: (cost(e['setting'], e['variant'], False), e['seed'],
                                                 e['variant'], e['key']))


# ------------------------------------------------------------------------------------------------------ archive
def archive_file(args, item: dict) -> str:
    return osp.join(args.archive, item['key'], item['variant'], f'seed{item["seed"]}.json')


def read_entry(args, item: dict) -> Optional[dict]:
    path = archive_file(args, item)
    if not osp.isfile(path):
        return None
    try:
        with open(path) as f:
            entry = json.load(f)
    except json.JSONDecodeError as err:
        raise SystemExit(f'error: {path}: not valid JSON ({err}); delete it to measure the evaluation again') from None
    if not isinstance(entry, dict) or not isinstance(entry.get('metrics'), dict):
        raise SystemExit(f'error: {path}: field "metrics" missing; expected an evaluation written by sampling_study')
    return entry


def write_entry(args, item: dict, entry: dict) -> None:
    with atomic_open(archive_file(args, item), 'w') as f:
        json.dump(entry, f, indent=1)
        f.write('\n')


def run_dir(args, variant: str, seed: int) -> str:
    """A run of the study (the benchmark's layout): its checkpoint and the study's own test results."""
    return osp.join(args.study_dir, variant, f'seed{seed}')


def checkpoint_path(args, variant: str, seed: int) -> str:
    return osp.join(run_dir(args, variant, seed), f'iter_{args.iters}.pth')


_DIGESTS: Dict[tuple, str] = {}


def checkpoint_digest(path: str) -> str:
    """sha256 (16 hex digits) of a checkpoint's bytes, computed once per file version in this process."""
    stat = os.stat(path)
    key = (path, stat.st_size, stat.st_mtime_ns)
    if key not in _DIGESTS:
        digest = hashlib.sha256()
        with open(path, 'rb') as f:
            for block in iter(lambda: f.read(1 << 20), b''):
                digest.update(block)
        _DIGESTS[key] = digest.hexdigest()[:16]
    return _DIGESTS[key]


def ready(args, variant: str, seed: int) -> bool:
    """Whether a run of the study can be evaluated: its checkpoint exists and (with --ready metrics, the default)
    the study's own test and mirror test of it have finished (its `metrics.json`), so that the data root's caches
    and mirrored references are the study's and its training no longer needs the cores."""
    if not osp.isfile(checkpoint_path(args, variant, seed)):
        return False
    return args.ready == 'checkpoint' or osp.isfile(osp.join(run_dir(args, variant, seed), 'metrics.json'))


def check_entry(args, item: dict, entry: dict, identity: dict) -> None:
    """Stop when an archived evaluation was measured on another checkpoint or data build than the study's now."""
    for field in ('checkpoint', 'data'):
        if identity.get(field) and entry.get(field) and entry[field] != identity[field]:
            raise SystemExit(f'error: {archive_file(args, item)}: field "{field}" is {entry[field]}, but the study '
                             f'now has {identity[field]}; move the archived evaluation away to measure it again')


# ------------------------------------------------------------------------------------------------------ running
def test_command(args, item: dict, out: str, work_dir: str) -> list:
    """tools/test.py of one setting: each test_cfg value as a one-value --sweep, so the result row names it."""
    variant, seed = item['variant'], item['seed']
    command = ['tools/test.py', config_file(variant), checkpoint_path(args, variant, seed), '--work-dir', work_dir,
               '--out', out]
    options = [f'test_evaluator.2.evaluator_ckpt={args.evaluator_ckpt}'] if args.evaluator_ckpt else []
    for key, value in item['setting'].items():
        path = setting_path(key)
        if path.startswith('model.'):
            command += ['--sweep', f'{path}={value}']
        else:
            options.append(f'{path}={value}')
    return command + (['--cfg-options', *options] if options else [])


def mirror_command(args, item: dict, out: str) -> list:
    variant, seed = item['variant'], item['seed']
    return ['tools/analysis/mirror_test.py', config_file(variant), checkpoint_path(args, variant, seed), '--out', out,
            '--cfg-options', *[f'{setting_path(k)}={v}' for k, v in item['setting'].items()]]


def setting_path(name: str) -> str:
    return SETTING_PATHS.get(name, f'model.test_cfg.{name}')


def evaluate(run: Runner, args, item: dict, identity: dict) -> dict:
    """Run what the archive lacks of one evaluation (test, then mirror test when asked) and archive it."""
    entry = read_entry(args, item)
    if entry is not None:
        check_entry(args, item, entry, identity)
        if not item['mirror'] or 'mirror' in entry:
            return entry
    work = osp.join(args.work_dir, item['key'], item['variant'], f'seed{item["seed"]}')
    if entry is None:
        out = osp.join(work, 'test.json')
        command = test_command(args, item, out, work)
        start = time.time()
        seconds = run(*command)
        with open(out) as f:
            row = json.load(f)[0]
        metrics = {k: v for k, v in row.items() if not k.startswith('model.')
                   and isinstance(v, (int, float)) and not isinstance(v, bool)}
        entry = dict(variant=item['variant'], seed=item['seed'], setting=item['setting'],
                     config=config_identity(config_file(item['variant'])), **identity, commit=git_commit(),
                     machine=machine(), metrics=metrics,
                     commands=[dict(command=' '.join(map(str, command)), start=start, seconds=seconds)])
        write_entry(args, item, entry)
    if item['mirror']:
        out = osp.join(work, 'mirror.json')
        command = mirror_command(args, item, out)
        start = time.time()
        seconds = run(*command)
        with open(out) as f:
            report = json.load(f)
        entry['mirror'] = {(k if k.startswith('mirror_') else f'mirror_{k}'): v for k, v in report.items()
                           if k.endswith('rate') or k == 'mirror_consistency'}
        entry['commands'].append(dict(command=' '.join(map(str, command)), start=start, seconds=seconds))
        write_entry(args, item, entry)
    return entry


def study_identity(args, variant: str, seed: int) -> dict:
    """What an evaluation of a run must share with the study now: checkpoint digest, data build, evaluator."""
    from imagin4d.datasets.synthetic import build_identity
    ckpt = checkpoint_path(args, variant, seed)
    return dict(checkpoint=dict(file=osp.relpath(ckpt, REPO), digest=checkpoint_digest(ckpt)),
                data=build_identity(args.data_root),
                evaluator=file_identity(args.evaluator_ckpt) if args.evaluator_ckpt else None)


def run_study(args) -> List[dict]:
    """Evaluate everything of the plan whose run is ready (`args.jobs` at a time, cheapest first); with
    `args.wait` minutes, poll the study for runs that become ready until the plan is done or the time is up.
    Returns the plan items still missing."""
    os.makedirs(args.work_dir, exist_ok=True)
    run = Runner(args.data_root, osp.join(args.work_dir, 'commands.jsonl'))
    deadline = time.time() + 60 * args.wait
    identities: Dict[tuple, dict] = {}
    while True:
        todo = []
        for item in plan(args):
            run_key = (item['variant'], item['seed'])
            if ready(args, *run_key) and run_key not in identities:
                identities[run_key] = study_identity(args, *run_key)
            entry = read_entry(args, item)
            if entry is not None and run_key in identities:
                check_entry(args, item, entry, identities[run_key])   # a retrained run: its results are stale
            if entry is None or (item['mirror'] and 'mirror' not in entry):
                todo.append(item)
        now = [item for item in todo if (item['variant'], item['seed']) in identities]
        print(f'sampling study: {len(todo)} evaluations to do, {len(now)} of them ready', flush=True)
        if now:
            _run_all(run, args, now, identities)
            continue
        if not todo or time.time() >= deadline:
            return todo
        time.sleep(min(60.0, max(1.0, deadline - time.time())))


def is_missing(args, item: dict) -> bool:
    entry = read_entry(args, item)
    return entry is None or (item['mirror'] and 'mirror' not in entry)


def _run_all(run: Runner, args, items: List[dict], identities: Dict[tuple, dict]) -> None:
    def one(item):
        return evaluate(run, args, item, identities[(item['variant'], item['seed'])])
    if args.jobs > 1:
        with ThreadPoolExecutor(args.jobs) as pool:
            list(pool.map(one, items))
    else:
        for item in items:
            one(item)


def collected(args, items: Optional[List[dict]] = None) -> List[dict]:
    """The archived entries of the plan (or of `items`, another study's plan), each with its plan item."""
    out = []
    for item in plan(args) if items is None else items:
        entry = read_entry(args, item)
        if entry is not None:
            out.append(dict(item, entry=entry))
    return out
