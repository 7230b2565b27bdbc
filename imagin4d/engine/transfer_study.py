"""The domain-transfer study (issue 28): models trained on one image domain (mesh only, scene only, the mixture)
tested on every domain (mesh, scene, sketch, degraded), with the mirrored-reference test per test domain, the
linear reference probe per style and the probes' own transfer table (fitted on a train domain's references, scored
on every test domain's).

Owns the stages and the archive that makes them restartable:
  1. data: the study's mini-FBM root (`--data-root`, default data/mini_fbm_transfer) with the scene and degraded
     references and the mixture index. It is derived from a built mini-FBM (`--source`, default data/mini_fbm) by
     a hard-linked copy (no extra space; images and features are never rewritten in place, the feature index is
     replaced atomically), so that adding reference indexes to it does not change the build identity the benchmark
     and the sampling study record for the source; then tools/data/prepare_mini_fbm.py renders what is missing.
  2. training: per train domain and seed the domain's config (`TRAIN_DOMAINS`) for `--iters` iterations, checkpoints
     every `benchmark.jobs.RESUME_INTERVAL` so that an interrupted training resumes (`tools/train.py --resume`). The
     mesh-only row reuses the sampling study's checkpoints (`<mesh-from>/sfie/seed<k>/iter_<iters>.pth`, the same
     config and budget, read only) when that run exists; one still training there is waited for, not duplicated.
  3. evaluation: per checkpoint and test domain `tools/test.py` and `tools/analysis/mirror_test.py` with the test
     pipeline's reference index pointed at the domain (`DOMAIN_OPTION`), and `tools/analysis/reference_probe.py`
     per style. Each result is one small JSON in the archive, written by `sampling_study.write_entry`:
     `ARCHIVE/<train domain>/<test domain>/seed<k>.json` (the sampling study's key/variant/seed layout, with the
     train domain as the key and the test domain as the variant), `ARCHIVE/probe/<style>/seed0.json` and
     `ARCHIVE/probe_transfer/<train domain>/seed0.json` (reference_probe.py --test-styles). An archived
     evaluation is not run again; one of another checkpoint or data build stops the study naming the file and field.
  4. the page (`transfer_study_page`).
"""
import json
import os
import os.path as osp
import shutil
import time
from typing import Dict, List, Optional

from imagin4d.engine.benchmark.archive import config_identity, git_commit, machine
from imagin4d.engine.benchmark.jobs import map_jobs
from imagin4d.engine.benchmark.jobs import train_command as benchmark_train_command
from imagin4d.engine.benchmark.runner import REPO, Runner, sampling_options

from .sampling_study import check_entry, checkpoint_digest, read_entry, write_entry

#: train domain -> the config it trains with (mesh only is the benchmark's full model)
TRAIN_DOMAINS = dict(mesh='projects/imagin4d/mini_fbm_sfie.py', scene='projects/imagin4d/mini_fbm_scene.py',
                     mixture='projects/imagin4d/mini_fbm_mixture.py')
#: the test domains (reference styles with a test index); the probe runs on each
TEST_DOMAINS = ('mesh', 'scene', 'sketch', 'degraded')
#: what stage 1 renders and mixes (tools/data/prepare_mini_fbm.py --styles / --mixture)
RENDERED = ('scene', 'degraded')
MIXTURE = ('mesh', 'scene', 'degraded')
#: the config option that points the test pipeline (its first transform, LoadReferenceFeatures) at a domain
DOMAIN_OPTION = 'test_dataloader.dataset.pipeline.0.reference_index'
PROBE = 'probe'   # the archive folder of the reference probes
PROBE_TRANSFER = 'probe_transfer'   # ... and of the probes fitted on a train domain, scored on every test domain
#: pooled cells of the transfer probes: the mixture's training references are three times a style's (about 7100
#: images at 448 px), which 7 x 7 cells of 1280 channels would make a 3.6 GB float64 matrix; 3 x 3 read the factors
#: about as well (benchmarks/results/reference_probe_sketch_r448.md)
TRANSFER_PROBE_CELLS = 3


def domain_option(domain: str) -> str:
    """The --cfg-options item that tests on `domain`'s test references ('{data_root}' is the window's data root)."""
    return f'{DOMAIN_OPTION}={{data_root}}/references/test_{domain}.json'


def needed_indexes(args) -> List[str]:
    """The reference indexes the study reads (relative to the data root's references/)."""
    names = {f'test_{d}.json' for d in args.test_domains} | {f'train_{d}.json' for d in args.test_domains}
    if 'scene' in args.train_domains:
        names.add('train_scene.json')
    if 'mixture' in args.train_domains:
        names.add('train_mixture.json')
    return sorted(names)


# ------------------------------------------------------------------------------------------------------ stage 1
def derive_root(source: str, target: str) -> int:
    """Copy a built mini-FBM `source` to `target`, hard-linking every file (copying where links fail, e.g. across
    file systems) -> the number of files. The copy's feature index is a real copy (it is rewritten when features
    are added; the library replaces it atomically, but a copy costs nothing)."""
    count = 0

    def link(src, dst):
        nonlocal count
        count += 1
        if osp.basename(src) == 'index.json':
            return shutil.copy2(src, dst)
        try:
            os.link(src, dst)
        except OSError:
            shutil.copy2(src, dst)
        return dst
    partial = target + '.partial'
    shutil.rmtree(partial, ignore_errors=True)   # an interrupted copy starts again
    shutil.copytree(source, partial, copy_function=link, symlinks=True)
    os.rename(partial, target)
    return count


def prepare_data(run: Runner, args) -> Optional[List[str]]:
    """Stage 1: the data root with every index the study reads; returns the prepare command run (None: nothing to
    do)."""
    if not osp.isdir(args.data_root):
        if not osp.isfile(osp.join(args.source, 'references', 'test_mesh.json')):
            raise SystemExit(f'error: {args.source}: not a built mini-FBM (references/test_mesh.json missing); build '
                             f'it with tools/data/prepare_mini_fbm.py --out {args.source} or pass --source')
        print(f'transfer study: {args.data_root}: {derive_root(args.source, args.data_root)} files linked from '
              f'{args.source}', flush=True)
    refs = osp.join(args.data_root, 'references')
    if all(osp.isfile(osp.join(refs, name)) for name in needed_indexes(args)):
        return None
    # the new styles, and a test domain the source lacks (e.g. sketch on the demo data set)
    styles = [s for s in TEST_DOMAINS if s in RENDERED or (s in args.test_domains and not osp.isfile(
        osp.join(refs, f'test_{s}.json')))]
    command = ['tools/data/prepare_mini_fbm.py', '--out', args.data_root, '--styles', *styles,
               '--mixture', *MIXTURE, '--size', args.size, '--train-frames', args.train_frames]
    run(*command)
    return command


# ------------------------------------------------------------------------------------------------------ stage 2
def run_dir(args, train: str, seed: int) -> str:
    return osp.join(args.work_dir, train, f'seed{seed}')


def reused_dir(args, train: str, seed: int) -> Optional[str]:
    """The sampling study's run of the mesh-only model at `seed`, when it exists (trained or training)."""
    if train != 'mesh' or not args.mesh_from:
        return None
    path = osp.join(args.mesh_from, 'sfie', f'seed{seed}')
    return path if osp.isdir(path) else None


def checkpoint_path(args, train: str, seed: int) -> str:
    return osp.join(reused_dir(args, train, seed) or run_dir(args, train, seed), f'iter_{args.iters}.pth')


def trained(path: str) -> bool:
    """Whether a training finished writing `path`: it exists and the run's `last_checkpoint` names it (MMEngine
    writes that file after the checkpoint)."""
    marker = osp.join(osp.dirname(path), 'last_checkpoint')
    if not (osp.isfile(path) and osp.isfile(marker)):
        return False
    with open(marker) as f:
        return osp.basename(f.read().strip()) == osp.basename(path)


def train_command(args, train: str, seed: int) -> list:
    """tools/train.py of one row at one seed: the benchmark's training (`benchmark.jobs.train_command`: its options,
    checkpoints for resuming, `--resume` when an interrupted training left one)."""
    return benchmark_train_command(TRAIN_DOMAINS[train], run_dir(args, train, seed), args.iters, seed)


# ------------------------------------------------------------------------------------------------------ stage 3
def item_of(train: str, test: str, seed: int) -> dict:
    """A plan item in the sampling study's archive layout: ARCHIVE/<key = train>/<variant = test>/seed<k>.json."""
    return dict(key=train, variant=test, seed=seed, train=train, test=test)


def probe_item(style: str, key: str = PROBE) -> dict:
    return dict(key=key, variant=style, seed=0, style=style)


def plan(args) -> List[dict]:
    """Every evaluation, seed by seed (an interrupted study leaves whole seeds), rows in TRAIN_DOMAINS order."""
    return [item_of(train, test, seed) for seed in args.seeds for train in args.train_domains
            for test in args.test_domains]


def probe_plan(args) -> List[dict]:
    """The probe per test domain's style, then the transfer probe per train domain."""
    if not args.probe:
        return []
    return ([probe_item(style) for style in args.test_domains]
            + [probe_item(train, PROBE_TRANSFER) for train in args.train_domains])


def eval_options(args, test: str) -> list:
    return [*sampling_options(args.num_steps), domain_option(test)]


def test_command(args, item: dict, out: str, work: str) -> list:
    command = ['tools/test.py', TRAIN_DOMAINS[item['train']], checkpoint_path(args, item['train'], item['seed']),
               '--work-dir', work, '--out', out, '--cfg-options', *eval_options(args, item['test'])]
    if args.evaluator_ckpt:
        command.append(f'test_evaluator.2.evaluator_ckpt={args.evaluator_ckpt}')
    return command


def mirror_command(args, item: dict, out: str) -> list:
    return ['tools/analysis/mirror_test.py', TRAIN_DOMAINS[item['train']],
            checkpoint_path(args, item['train'], item['seed']), '--out', out,
            '--cfg-options', *eval_options(args, item['test'])]


def probe_command(args, item: dict, out: str) -> list:
    command = ['tools/analysis/reference_probe.py', '--data-root', args.data_root, '--style', item['style']]
    if item['key'] == PROBE_TRANSFER:
        return command + ['--cells', TRANSFER_PROBE_CELLS, '--test-styles', *args.test_domains, '--out', out]
    return command + ['--cells', args.probe_cells, '--cv', args.probe_cv, '--out', out]


def mirror_rates(report: dict) -> dict:
    """mirror_test.py's report -> the rates an archived evaluation keeps (named mirror_*, as the benchmark merges)."""
    return {(k if k.startswith('mirror_') else f'mirror_{k}'): v for k, v in report.items()
            if k.endswith('rate') or k == 'mirror_consistency'}


def _record(command: list, start: float, seconds: float) -> dict:
    return dict(command=' '.join(map(str, command)), start=start, seconds=seconds)


def evaluate(run: Runner, args, item: dict, identity: dict) -> dict:
    """Test and mirror-test one checkpoint on one domain (what the archive lacks of it) and archive the result."""
    entry = read_entry(args, item)
    if entry is not None:
        check_entry(args, item, entry, identity)
        if not args.mirror or 'mirror' in entry:
            return entry
    work = osp.join(args.work_dir, 'eval', item['train'], f'seed{item["seed"]}', item['test'])
    if entry is None:
        out = osp.join(work, 'test.json')
        command, start = test_command(args, item, out, work), time.time()
        seconds = run(*command)
        with open(out) as f:
            row = json.load(f)
        metrics = {k: v for k, v in row.items() if isinstance(v, (int, float)) and not isinstance(v, bool)}
        entry = dict(train=item['train'], test=item['test'], seed=item['seed'], iters=args.iters,
                     num_steps=args.num_steps, config=config_identity(TRAIN_DOMAINS[item['train']]), **identity,
                     commit=git_commit(), machine=machine(), metrics=metrics,
                     commands=[_record(command, start, seconds)])
        write_entry(args, item, entry)
    if args.mirror:
        out = osp.join(work, 'mirror.json')
        command, start = mirror_command(args, item, out), time.time()
        seconds = run(*command)
        with open(out) as f:
            entry['mirror'] = mirror_rates(json.load(f))
        entry['commands'].append(_record(command, start, seconds))
        write_entry(args, item, entry)
    return entry


def probe(run: Runner, args, item: dict, data: dict) -> dict:
    """The reference probe of one style, or the transfer probe of one train domain."""
    entry = read_entry(args, item)
    if entry is not None:
        check_entry(args, item, entry, dict(data=data))
        return entry
    out = osp.join(args.work_dir, item['key'], f'{item["style"]}.json')
    os.makedirs(osp.dirname(out), exist_ok=True)
    command, start = probe_command(args, item, out), time.time()
    seconds = run(*command)
    with open(out) as f:
        report = json.load(f)
    entry = dict(style=item['style'], data=data, commit=git_commit(), machine=machine(), metrics=report,
                 commands=[_record(command, start, seconds)])
    write_entry(args, item, entry)
    return entry


def identity_of(args, train: str, seed: int, data: dict) -> dict:
    """What an evaluation must share with the study now: the checkpoint (digest; where it was reused from) and the
    data build."""
    ckpt = checkpoint_path(args, train, seed)
    shown = osp.relpath(ckpt, REPO) if osp.abspath(ckpt).startswith(REPO + os.sep) else ckpt
    return dict(checkpoint=dict(file=shown, digest=checkpoint_digest(ckpt),
                                reused=bool(reused_dir(args, train, seed))), data=data)


def is_missing(args, item: dict) -> bool:
    entry = read_entry(args, item)
    return entry is None or (item['key'] not in (PROBE, PROBE_TRANSFER) and args.mirror and 'mirror' not in entry)


def chain(run: Runner, args, train: str, seed: int, data: dict) -> str:
    """Train (when missing) and evaluate one row at one seed on every test domain -> 'done' or 'waiting' (the
    sampling study's mesh-only run is still training)."""
    items = [i for i in plan(args) if i['train'] == train and i['seed'] == seed]
    if not any(is_missing(args, i) for i in items):
        for item in items:      # nothing to run: only check that the archive matches the checkpoint and the data
            if trained(checkpoint_path(args, train, seed)):
                check_entry(args, item, read_entry(args, item), identity_of(args, train, seed, data))
        return 'done'
    ckpt = checkpoint_path(args, train, seed)
    if not trained(ckpt):
        if reused_dir(args, train, seed):
            print(f'transfer study: waiting for {osp.dirname(ckpt)} (the sampling study is training it)', flush=True)
            return 'waiting'
        run(*train_command(args, train, seed))
        if not trained(ckpt):
            raise SystemExit(f'error: {ckpt}: the training finished without writing it (see '
                             f'{run_dir(args, train, seed)})')
    identity = identity_of(args, train, seed, data)
    for item in items:
        evaluate(run, args, item, identity)
    return 'done'


def run_study(run: Runner, args) -> List[dict]:
    """Stages 2 and 3: the (train domain, seed) chains seed by seed, `args.jobs` at a time, with the probes after
    the first seed's chains (beside its trainings rather than before them) -> the plan items still missing."""
    from imagin4d.datasets.synthetic import build_identity
    data = build_identity(args.data_root)
    tasks = [('chain', (train, seed)) for seed in args.seeds for train in args.train_domains]
    first = len(args.train_domains)
    tasks[first:first] = [('probe', item) for item in probe_plan(args)]

    def one(task):
        kind, what = task
        return probe(run, args, what, data) if kind == 'probe' else chain(run, args, *what, data)
    map_jobs(one, tasks, args.jobs)
    return missing(args)


def missing(args) -> List[dict]:
    return [i for i in probe_plan(args) + plan(args) if is_missing(args, i)]


def collected(args) -> Dict[str, List[dict]]:
    """The archived entries: {'cells': [plan item + entry], 'probes': [...], 'transfer_probes': [...]} (what the
    page is written from)."""
    probes = probe_plan(args)
    out = dict(cells=[], probes=[], transfer_probes=[])
    for name, items in (('cells', plan(args)), ('probes', [i for i in probes if i['key'] == PROBE]),
                        ('transfer_probes', [i for i in probes if i['key'] == PROBE_TRANSFER])):
        for item in items:
            entry = read_entry(args, item)
            if entry is not None:
                out[name].append(dict(item, entry=entry))
    return out
