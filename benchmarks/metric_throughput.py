"""Test-metric throughput: the HOI motion and image-adherence metrics of a `tools/test.py` run, today's code against a
baseline commit's, on the same predictions, taking turns in one process; not a timed test.

Owns the benchmark of `imagin4d.evaluation` (issue 23: the study sweeps spend most of a test run in the metrics):

1. capture: the checkpoint generates the test split once (the config's test loop, its sampler settings) and the
   per-sample dicts the metrics receive are saved (`--samples`, reused when it exists);
2. timing: per repeat, the baseline's and today's HOIMotionMetric and ImageAdherenceMetric (built from the config's
   test_evaluator entries) score every captured sample, in alternating order; the median per metric and for the
   two together is reported, and the summaries and per-sample rows of both are compared (exactly equal floats or
   the largest relative difference);
3. with `--test-runs`: one whole `tools/test.py` per tree (the baseline from a git worktree of the commit, then
   today's), timed, and their metrics JSON compared with each other and with `--reference`.

    python benchmarks/metric_throughput.py --baseline e245cc1 \\
        --checkpoint work_dirs/sampling_study/sfie/seed0/iter_2000.pth --samples /tmp/mt/samples.pt
    python benchmarks/metric_throughput.py ... --test-runs --baseline-tree /tmp/imagin4d_e245cc1 \\
        --reference work_dirs/sampling_study/sfie/seed0/test_metrics.json

The baseline's imagin4d/evaluation and imagin4d/geometry/sdf.py are read from git (`git archive`) and loaded as
separate modules next to today's (its metric classes are not registered; its evaluation imports its own SDF).
Writes JSON + markdown with the machine and the command to benchmarks/results/metric_throughput_<tag>.{json,md}.
"""
import argparse
import datetime
import importlib.util
import io
import json
import math
import os
import os.path as osp
import statistics
import subprocess
import sys
import tarfile
import tempfile
import time
from pathlib import Path

from bench_common import command_line, machine_info

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
METRIC_TYPES = ('HOIMotionMetric', 'ImageAdherenceMetric')


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--config', default='projects/imagin4d/mini_fbm_sfie.py')
    parser.add_argument('--checkpoint', required=True)
    parser.add_argument('--cfg-options', nargs='+', default=['model.test_cfg.num_steps=20'],
                        help='as tools/test.py (the benchmark runs\' test options by default)')
    parser.add_argument('--samples', required=True, help='captured per-sample dicts (.pt): written when missing')
    parser.add_argument('--baseline', default='e245cc1', help='git commit of the baseline imagin4d/evaluation')
    parser.add_argument('--repeats', type=int, default=3, help='timed passes over the samples per implementation')
    parser.add_argument('--limit', type=int, default=None, help='score only the first N captured samples')
    parser.add_argument('--test-runs', action='store_true', help='also time one tools/test.py per tree')
    parser.add_argument('--baseline-tree', help='a git worktree of --baseline (for --test-runs)')
    parser.add_argument('--evaluator-ckpt',
                        default='benchmarks/results/mini_fbm_runs/evaluator/text_motion_evaluator.pth',
                        help='test_evaluator.2.evaluator_ckpt of the --test-runs (as the benchmark runs)')
    parser.add_argument('--reference', help='a test_metrics.json the --test-runs should reproduce')
    parser.add_argument('--run-dir', default=None, help='work dirs of the --test-runs (default: a temp dir)')
    parser.add_argument('--out-dir', default=str(REPO / 'benchmarks' / 'results'))
    parser.add_argument('--tag', default='cpu')
    parser.add_argument('--report-from', metavar='JSON', help='only write the markdown again from this results JSON')
    return parser.parse_args(argv)


# ------------------------------------------------------------------------------------------------ capture
def capture_samples(args, cfg) -> None:
    """Generate the test split once with the checkpoint and save the dicts the metrics receive (+ dataset_meta)."""
    import torch
    from mmengine.evaluator import BaseMetric

    from imagin4d.engine.runner_setup import build_runner
    from imagin4d.registry import METRICS

    class _CaptureSamples(BaseMetric):
        default_prefix = None

        def process(self, data_batch, data_samples):
            self.results.extend(s.to_dict() if hasattr(s, 'to_dict') else dict(s) for s in data_samples)

        def compute_metrics(self, results):
            torch.save(dict(samples=list(results), dataset_meta=self.dataset_meta), args.samples)
            return {}

    METRICS.register_module(name='_CaptureSamples', module=_CaptureSamples, force=True)
    cfg.test_evaluator = [dict(type='_CaptureSamples')]
    cfg.load_from = args.checkpoint
    cfg.work_dir = tempfile.mkdtemp(prefix='metric_throughput_capture_')
    os.makedirs(osp.dirname(osp.abspath(args.samples)), exist_ok=True)
    build_runner(cfg).test()


# ------------------------------------------------------------------------------------------------ baseline code
def _load_module(name: str, path: Path, package: bool = False):
    spec = importlib.util.spec_from_file_location(name, path / '__init__.py' if package else path,
                                                  submodule_search_locations=[str(path)] if package else None)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    return spec, module


def load_baseline_evaluation(commit: str):
    """imagin4d/evaluation at `commit` as the package imagin4d._evaluation_<commit> (metrics not registered), bound to
    that commit's exact SDF (imagin4d/geometry/sdf.py, as imagin4d._sdf_<commit>) so that both change together."""
    import imagin4d.geometry.sdf as today_sdf
    from imagin4d.registry import METRICS
    archive = subprocess.run(['git', 'archive', commit, 'imagin4d/evaluation', 'imagin4d/geometry/sdf.py'],
                             cwd=REPO, check=True, capture_output=True).stdout
    root = Path(tempfile.mkdtemp(prefix='metric_throughput_baseline_'))
    with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
        tar.extractall(root, filter='data')
    sdf_spec, sdf = _load_module(f'imagin4d._sdf_{commit}', root / 'imagin4d' / 'geometry' / 'sdf.py')
    sdf_spec.loader.exec_module(sdf)
    spec, module = _load_module(f'imagin4d._evaluation_{commit}', root / 'imagin4d' / 'evaluation', package=True)
    register = METRICS.register_module
    METRICS.register_module = lambda *a, **k: (lambda cls: cls)       # today's classes keep the names
    sys.modules['imagin4d.geometry.sdf'] = sdf                         # `from imagin4d.geometry.sdf import` binds it
    try:
        spec.loader.exec_module(module)
    finally:
        METRICS.register_module, sys.modules['imagin4d.geometry.sdf'] = register, today_sdf
    return module


# ------------------------------------------------------------------------------------------------ timing
def build_metrics(package, cfg, dataset_meta) -> dict:
    """{type: metric} of the config's test_evaluator entries of METRIC_TYPES, built from `package`'s classes."""
    metrics = {}
    for entry in cfg.test_evaluator:
        entry = dict(entry)
        kind = entry.pop('type')
        if kind in METRIC_TYPES:
            metric = getattr(package.metrics, kind)(**entry)
            metric.dataset_meta = dataset_meta
            metrics[kind] = metric
    return metrics


def score(metric, samples) -> tuple:
    """(seconds, summary, rows) of one pass of `metric` over `samples`."""
    metric.results = []
    start = time.perf_counter()
    metric.process(None, samples)
    summary = metric.compute_metrics(metric.results)
    return time.perf_counter() - start, summary, metric.last_rows


def _numbers(row: dict) -> dict:
    return {k: float(v) for k, v in row.items() if isinstance(v, (int, float)) and not isinstance(v, bool)}


def compare(old: dict, new: dict) -> dict:
    """Keys, exactly equal values and the largest relative difference between two flat dicts of numbers."""
    old, new = _numbers(old), _numbers(new)
    same_keys = sorted(old) == sorted(new)
    equal, worst = 0, 0.0
    for key in set(old) & set(new):
        a, b = old[key], new[key]
        if a == b or (math.isnan(a) and math.isnan(b)):
            equal += 1
        else:
            worst = max(worst, abs(a - b) / max(abs(a), abs(b), 1e-300))
    return dict(same_keys=same_keys, values=len(set(old) & set(new)), exactly_equal=equal, max_rel_diff=worst)


def time_metrics(args, cfg, samples, dataset_meta) -> dict:
    import imagin4d.evaluation as today
    baseline = load_baseline_evaluation(args.baseline)
    impls = dict(baseline=build_metrics(baseline, cfg, dataset_meta), today=build_metrics(today, cfg, dataset_meta))
    times = {impl: {kind: [] for kind in METRIC_TYPES} for impl in impls}
    outputs = {}
    for repeat in range(args.repeats):
        order = list(impls) if repeat % 2 == 0 else list(reversed(impls))
        for kind in METRIC_TYPES:
            for impl in order:
                seconds, summary, rows = score(impls[impl][kind], samples)
                times[impl][kind].append(seconds)
                outputs[impl, kind] = (summary, rows)
                print(f'repeat {repeat} {kind} {impl}: {seconds:.2f} s', flush=True)
    result = dict(samples=len(samples), repeats=args.repeats, metrics={})
    for kind in METRIC_TYPES:
        (old_summary, old_rows), (new_summary, new_rows) = outputs['baseline', kind], outputs['today', kind]
        row_checks = [compare(a, b) for a, b in zip(old_rows, new_rows)]
        result['metrics'][kind] = dict(
            seconds={impl: times[impl][kind] for impl in impls},
            median_s={impl: statistics.median(times[impl][kind]) for impl in impls},
            summary=compare(old_summary, new_summary),
            rows=dict(rows=len(row_checks), rows_all_equal=sum(c['exactly_equal'] == c['values'] and c['same_keys']
                                                               for c in row_checks),
                      max_rel_diff=max((c['max_rel_diff'] for c in row_checks), default=0.0)),
            summary_today=new_summary)
    totals = {impl: [sum(times[impl][k][r] for k in METRIC_TYPES) for r in range(args.repeats)] for impl in impls}
    result['both_median_s'] = {impl: statistics.median(v) for impl, v in totals.items()}
    return result


# ------------------------------------------------------------------------------------------------ whole test runs
def test_runs(args) -> dict:
    """One tools/test.py per tree (baseline, today), timed; metrics compared with each other and --reference."""
    run_dir = args.run_dir or tempfile.mkdtemp(prefix='metric_throughput_runs_')
    checkpoint = osp.abspath(args.checkpoint)
    out = {}
    for impl, tree in (('baseline', args.baseline_tree), ('today', str(REPO))):
        work = osp.join(run_dir, impl)
        command = [sys.executable, 'tools/test.py', args.config, checkpoint, '--work-dir', work, '--out',
                   osp.join(work, 'test_metrics.json'), '--cfg-options', *args.cfg_options,
                   f'test_evaluator.2.evaluator_ckpt={osp.join(str(REPO), args.evaluator_ckpt)}']
        start = time.perf_counter()
        subprocess.run(command, cwd=tree, check=True, stdout=subprocess.DEVNULL)
        seconds = time.perf_counter() - start
        with open(osp.join(work, 'test_metrics.json')) as f:
            out[impl] = dict(wall_s=seconds, metrics=json.load(f))
        print(f'tools/test.py {impl}: {seconds:.1f} s', flush=True)
    result = dict(wall_s={impl: out[impl]['wall_s'] for impl in out},
                  today_vs_baseline=compare(out['baseline']['metrics'], out['today']['metrics']))
    if args.reference:
        with open(args.reference) as f:
            reference = json.load(f)
        result['reference'] = args.reference
        result.update({f'{impl}_vs_reference': compare(reference, out[impl]['metrics']) for impl in out})
    return result


# ------------------------------------------------------------------------------------------------ report
def write_report(args, record: dict) -> None:
    os.makedirs(args.out_dir, exist_ok=True)
    stem = osp.join(args.out_dir, f'metric_throughput_{args.tag}')
    if not args.report_from:
        with open(f'{stem}.json', 'w') as f:
            json.dump(record, f, indent=1)
    timing, m = record['timing'], record['machine']
    lines = ['# Test-metric throughput (issue 23)', '',
             f'Generated {record["date"]} by `benchmarks/metric_throughput.py` (command below).', '',
             f'Machine: {m["cpu"]}, {m["logical_cores"]} logical cores, torch {m["torch"]} ({m["torch_threads"]} '
             f'thread), numpy {m["numpy"]}, commit {str(m["git_commit"])[:7]}, load average '
             f'{m["load_average_1_5_15"]} at the end (a shared machine: the two implementations take turns).', '',
             f'Predictions: `{args.checkpoint}` on the test split of `{args.config}` ({timing["samples"]} samples, '
             f'`{" ".join(args.cfg_options)}`), generated once and scored {timing["repeats"]} times by each '
             f'implementation, taking turns. Baseline: imagin4d/evaluation and imagin4d/geometry/sdf.py at '
             f'{args.baseline}.', '',
             '| metric | baseline median (s) | today median (s) | speed-up | summary values exactly equal | '
             'max rel. diff | per-sample rows exactly equal |', '|---|---|---|---|---|---|---|']
    for kind, r in timing['metrics'].items():
        old, new = r['median_s']['baseline'], r['median_s']['today']
        s, rows = r['summary'], r['rows']
        lines.append(f'| {kind} | {old:.2f} | {new:.2f} | {old / new:.1f}x | {s["exactly_equal"]} / {s["values"]} | '
                     f'{s["max_rel_diff"]:.1e} | {rows["rows_all_equal"]} / {rows["rows"]} |')
    old, new = timing['both_median_s']['baseline'], timing['both_median_s']['today']
    lines.append(f'| both (one test run) | {old:.2f} | {new:.2f} | {old / new:.1f}x | | | |')
    if 'test_runs' in record:
        t = record['test_runs']
        lines += ['', 'Whole `tools/test.py` runs (one each, baseline first, the same command in each tree):', '',
                  '| tree | wall time (s) | metrics vs the other tree | metrics vs reference |', '|---|---|---|---|']
        for impl in ('baseline', 'today'):
            ref = t.get(f'{impl}_vs_reference')
            ref = f'{ref["exactly_equal"]} / {ref["values"]} equal, max rel. diff {ref["max_rel_diff"]:.1e}' \
                if ref else ''
            other = t['today_vs_baseline']
            lines.append(f'| {impl} | {t["wall_s"][impl]:.1f} | {other["exactly_equal"]} / {other["values"]} equal, '
                         f'max rel. diff {other["max_rel_diff"]:.1e} | {ref} |')
        if t.get('reference'):
            lines += ['', f'Reference: `{t["reference"]}`.']
    lines += ['', 'What today does differently (the same per-sample numbers by construction, checked above):', '',
              '- silhouettes (`imagin4d/evaluation/functional/silhouette.py`): all frames of a sample (GT at t* and '
              'the window) in one call; each triangle\'s bounding box tested as an outer difference of a row term '
              'and a column term of the edge functions (the same floating-point operations as a per-pixel test, so '
              'the same masks bit for bit), triangles grouped by padded box size, laid out triangle-innermost, in '
              'cache-sized runs;',
              '- hand contacts of the image-adherence metric: the GT frame and the window in one SDF query, and hand '
              'points farther than the threshold from the object\'s bounding box not queried (not inside, not in '
              'contact);',
              '- penetration (HOIMotionMetric): the hand points and the joints in one SDF query (`penetrations`);',
              '- the metrics\' exact SDF queries in cache-sized chunks (`SDF_CHUNK_PAIRS`, 64k point-triangle terms '
              'instead of 1M; every query row is computed on its own, so the same values);',
              '- the exact SDF (`imagin4d/geometry/sdf.py`): an object template is prepared once (corner products, '
              'normals, bounding spheres) and kept in a cache keyed by the exact bytes of its vertices and faces, and '
              'the winding number works on in-place (n, F) buffers with the same floating-point operations.',
              '', 'What is left: the winding number\'s own (n, F) arithmetic (penetration of every point in the '
              'object\'s bounding box) and the body-model forward pass of the 31 window frames for the body '
              'silhouettes.']
    lines += ['', 'Command:', '', f'    {record["command"]}', '']
    with open(f'{stem}.md', 'w') as f:
        f.write('\n'.join(lines))
    print(f'written {stem}.json and {stem}.md')


def load_test_config(args):
    """The config with --cfg-options applied, as tools/test.py reads it."""
    from imagin4d.engine.config_checks import ConfigOptionsAction
    from imagin4d.engine.runner_setup import load_config
    options = argparse.ArgumentParser()
    options.add_argument('--cfg-options', nargs='+', action=ConfigOptionsAction)
    return load_config(args.config, options.parse_args(['--cfg-options', *args.cfg_options]).cfg_options)


def main(argv=None):
    args = parse_args(argv)
    if args.report_from:
        with open(args.report_from) as f:
            write_report(args, json.load(f))
        return
    import torch

    from imagin4d.engine.runner_setup import prepare_runtime
    cfg = load_test_config(args)
    prepare_runtime(cfg, 'none', tempfile.mkdtemp(prefix='metric_throughput_'))
    if not osp.isfile(args.samples):
        capture_samples(args, load_test_config(args))
    captured = torch.load(args.samples, weights_only=False)
    samples = captured['samples'][:args.limit] if args.limit else captured['samples']
    record = dict(date=datetime.datetime.now(datetime.timezone.utc).strftime('%Y-%m-%d %H:%M UTC'),
                  command=command_line(), timing=time_metrics(args, cfg, samples, captured['dataset_meta']))
    if args.test_runs:
        if not args.baseline_tree:
            raise SystemExit('--test-runs needs --baseline-tree (a git worktree of --baseline)')
        record['test_runs'] = test_runs(args)
    record['machine'] = machine_info()
    write_report(args, record)


if __name__ == '__main__':
    main()
