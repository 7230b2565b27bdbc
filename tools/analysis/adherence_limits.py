"""What limits image adherence (issue 26): ia_success asks four things at the depicted frame at once (both hands'
contacts, the body-object layout, the object's body-relative position within 15 cm, the pose within 10 cm); this
tool measures how often each one holds and what ia_success would be without it, per seed, at the configs' sampler.

    python tools/analysis/adherence_limits.py --study-dir work_dirs/sampling_study [--variant sfie]
        [--seeds 0 1 2] [--guidance 1 1.5] [--reconstruction off on] [--data-root data/mini_fbm] [--iters 2000]
        [--work-dir work_dirs/adherence_limits] [--out benchmarks/results/adherence_limits_mini_fbm]

For each image guidance G, reconstruction guidance off / on (at the config's step) and seed it runs `tools/test.py
CONFIG <study>/<variant>/seed<k>/iter_<iters>.pth --dump` with the config's sampler (G and the reconstruction guidance
pinned in the command) unless that dump exists, then reads the per-sample scores of the dumps (ia_contact_both,
ia_layout, ia_obj_pos_err, ia_pose_err at t*), checks that the four criteria give each sample's dumped ia_success,
and writes OUT.md (mean ± std over seeds) and OUT.json.
"""
import argparse
import json
import os
import os.path as osp
import statistics
import sys

sys.path.insert(0, osp.abspath(osp.join(osp.dirname(__file__), '..', '..')))

import numpy as np  # noqa: E402

from imagin4d.engine.benchmark.archive import git_commit, machine  # noqa: E402
from imagin4d.engine.benchmark.runner import REPO, Runner, config_file  # noqa: E402
from imagin4d.evaluation.functional import all_met, criteria_breakdown, success_criteria  # noqa: E402
from imagin4d.evaluation.metrics import read_dump  # noqa: E402
from imagin4d.models.schedulers.test_cfg import resolve_test_cfg  # noqa: E402

#: the table's rows: dumped key -> label
LABELS = dict(success='ia_success (all four)', pass_contact_both='both hands\' contacts as pictured',
              pass_layout='body-object layout as pictured', pass_obj_pos='object position within 15 cm',
              pass_pose='body pose within 10 cm', without_contact_both='ia_success without the contact condition',
              without_layout='ia_success without the layout condition',
              without_obj_pos='ia_success without the object-position condition',
              without_pose='ia_success without the pose condition', success_best='ia_success_best (best frame '
                                                                                 'within ±15 of t*)')


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--study-dir', required=True, help='a run_benchmark work dir: <variant>/seed<k>/iter_N.pth')
    parser.add_argument('--variant', default='sfie')
    parser.add_argument('--seeds', type=int, nargs='+', default=[0, 1, 2])
    parser.add_argument('--guidance', type=float, nargs='+', default=[1.0, 1.5], help='image guidance values G')
    parser.add_argument('--reconstruction', nargs='+', default=['off', 'on'], choices=['off', 'on'],
                        help="reconstruction guidance (at the config's step)")
    parser.add_argument('--data-root', default='data/mini_fbm')
    parser.add_argument('--iters', type=int, default=2000)
    parser.add_argument('--work-dir', default='work_dirs/adherence_limits', help='the dumps and test outputs')
    parser.add_argument('--out', default='benchmarks/results/adherence_limits_mini_fbm', help='OUT.md and OUT.json')
    return parser.parse_args(argv)


def sample_rows(path: str) -> dict:
    """One dump -> {key: (N,) array} of the criteria's inputs and the dumped success; a dump without them is an
    error naming the file and the field."""
    samples = read_dump(path)
    keys = ('ia_contact_both', 'ia_layout', 'ia_obj_pos_err', 'ia_pose_err', 'ia_success', 'ia_success_best')
    for i, sample in enumerate(samples):
        missing = [k for k in keys if k not in sample.get('metrics', {})]
        if missing:
            raise SystemExit(f'error: {path}: sample {i} has no metrics field(s) {missing}; expected a dump of '
                             'tools/test.py with ImageAdherenceMetric in the evaluator')
    return {k: np.array([s['metrics'][k] for s in samples], dtype=float) for k in keys}


def breakdown(path: str) -> dict:
    """criteria_breakdown of one dump, checked against its own ia_success, with its ia_success_best."""
    rows = sample_rows(path)
    criteria = success_criteria(rows['ia_contact_both'] > 0.5, rows['ia_layout'] > 0.5, rows['ia_obj_pos_err'],
                                rows['ia_pose_err'])
    recomputed = all_met(criteria)
    if not np.array_equal(recomputed, rows['ia_success'] > 0.5):
        raise SystemExit(f'error: {path}: the four criteria at the default thresholds do not give the dumped '
                         'ia_success (was the metric run with other thresholds?)')
    return dict(criteria_breakdown(criteria), success_best=float(rows['ia_success_best'].mean()),
                samples=len(recomputed))


def page(record: dict) -> str:
    lines = ['# What limits image adherence (issue 26)', '',
             f'Command: `{record["command"]}`  ',
             f'Machine: {record["machine"]["cpu"]}, {record["machine"]["cores"]} cores; commit {record["commit"]}.  ',
             f'Model: `{record["config"]}` (the config\'s sampler: {record["sampling"]}), the sampling study\'s '
             f'checkpoints, seeds {", ".join(map(str, record["seeds"]))}; {record["samples"]} test windows each. '
             'Mean ± standard deviation over seeds of per-window rates at the depicted frame t*.', '',
             'ia_success asks all four conditions at once; "without" is what it would be if that condition alone '
             'were not asked, so the gap to ia_success is what the condition costs.', '',
             '| rate | ' + ' | '.join(f'G = {g:g}, recon {rg}' for g, rg in record['settings']) + ' |',
             '|---|' + '---|' * len(record['settings'])]
    for key, label in LABELS.items():
        cells = []
        for g, rg in record['settings']:
            values = [r[key] for r in record['results'] if (r['guidance'], r['reconstruction']) == (g, rg)]
            std = statistics.stdev(values) if len(values) > 1 else 0.0
            cells.append(f'{statistics.mean(values):.3f} ± {std:.3f}')
        lines.append(f'| {label} | ' + ' | '.join(cells) + ' |')
    lines += ['', 'Commands:', ''] + [f'- `python {c}`' for c in record['commands']]
    return '\n'.join(lines) + '\n'


def main(argv=None):
    args = parse_args(argv)
    os.makedirs(args.work_dir, exist_ok=True)
    run = Runner(args.data_root, osp.join(args.work_dir, 'commands.jsonl'))
    config = config_file(args.variant)
    from mmengine.config import Config
    model = Config.fromfile(osp.join(REPO, config)).model
    results, commands = [], []
    settings = [(g, rg) for rg in args.reconstruction for g in args.guidance]
    for g, rg in settings:
        for seed in args.seeds:
            ckpt = osp.join(args.study_dir, args.variant, f'seed{seed}', f'iter_{args.iters}.pth')
            if not osp.isfile(ckpt):
                raise SystemExit(f'error: {ckpt}: no such checkpoint (train it: scripts/sampling_study.sh)')
            folder = osp.join(args.work_dir, args.variant, f'g{g:g}_rg{int(rg == "on")}', f'seed{seed}')
            dump = osp.join(folder, 'results.npz')
            command = ['tools/test.py', config, ckpt, '--work-dir', folder, '--out', osp.join(folder, 'test.json'),
                       '--dump', dump, '--cfg-options', f'model.test_cfg.guidance_image={g:g}',
                       f'model.test_cfg.reconstruction_guidance={rg == "on"}']
            commands.append(' '.join(command))
            if not osp.isfile(dump):
                run(*command)
            results.append(dict(guidance=g, reconstruction=rg, seed=seed, **breakdown(dump)))
    test_cfg, recon = resolve_test_cfg(model.test_cfg), model.get('reconstruction_guidance') or {}
    sampling = (f'{test_cfg["sampler"].upper()} {test_cfg["num_steps"]} on '
                f'\'{test_cfg["timestep_spacing"]}\' indices; reconstruction guidance at step '
                f'{recon.get("lr")} over the last {recon.get("last_steps")} steps when on')
    record = dict(command=' '.join(['tools/analysis/adherence_limits.py', *sys.argv[1:]]), commit=git_commit(),
                  machine=machine(), config=config, sampling=sampling, seeds=args.seeds, settings=settings,
                  samples=results[0]['samples'], commands=commands, results=results)
    out = args.out if osp.isabs(args.out) else osp.join(REPO, args.out)
    os.makedirs(osp.dirname(out), exist_ok=True)
    with open(out + '.json', 'w') as f:
        json.dump(record, f, indent=1)
        f.write('\n')
    with open(out + '.md', 'w') as f:
        f.write(page(record))
    print(f'written: {out}.md, {out}.json')


if __name__ == '__main__':
    main()
