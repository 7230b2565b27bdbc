"""What a user of `tools/generate.py` waits for: N requests as N separate runs of the tool against one run with
`--requests` (the batched path), wall clock of the whole process each time, the files the user asked for written.

    python benchmarks/generate_cli.py [--config ...] [--checkpoint ...] [--num 32] [--singles 3] [--formats npz,bvh,glb]

The single runs are timed on `--singles` requests and their median scaled to `--num` (each run is the same work:
start-up, model and encoders, one request, its files). Results: benchmarks/results/generate_cli_cpu.{json,md}.
"""
import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench_common import REPO, command_line, machine_info

DEMO = dict(text='Lift the box, carry it and put it down.', object_mesh=str(REPO / 'demo' / 'box.obj'),
            reference_image=str(REPO / 'demo' / 'reference.png'), waypoints=str(REPO / 'demo' / 'waypoints.json'))


def run(args, out: Path) -> float:
    start = time.perf_counter()
    subprocess.run([sys.executable, 'tools/generate.py', *args, '--out', str(out), '--no-progress'], cwd=REPO,
                   check=True, capture_output=True, env=dict(os.environ, OMP_NUM_THREADS='1'))
    return time.perf_counter() - start


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--config', default='projects/imagin4d/mini_fbm_sfie.py')
    parser.add_argument('--checkpoint', default='work_dirs/demo/iter_500.pth')
    parser.add_argument('--num', type=int, default=32, help='requests')
    parser.add_argument('--singles', type=int, default=3, help='single runs actually timed')
    parser.add_argument('--formats', default='npz,bvh,glb', help='files written per sample (mp4: see generation.py)')
    parser.add_argument('--out', default='benchmarks/results/generate_cli_cpu')
    args = parser.parse_args()
    common = [args.config, args.checkpoint, '--formats', args.formats]
    info = machine_info(command=command_line())
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        singles = [run([*common, '--text', DEMO['text'], '--object', DEMO['object_mesh'], '--image',
                        DEMO['reference_image'], '--waypoints', DEMO['waypoints'], '--seed', str(i)], tmp / f's{i}')
                   for i in range(args.singles)]
        lines = [json.dumps(dict(DEMO, seed=i, name=f'r{i}')) for i in range(args.num)]
        (tmp / 'requests.jsonl').write_text('\n'.join(lines) + '\n')
        batched = run([*common, '--requests', str(tmp / 'requests.jsonl')], tmp / 'batched')
        written = len(list((tmp / 'batched').iterdir()))
    single = statistics.median(singles)
    results = dict(machine=info, load_average_end=[round(v, 2) for v in os.getloadavg()], num=args.num,
                   formats=args.formats, single_runs_s=[round(s, 2) for s in singles], single_median_s=round(single, 2),
                   singles_total_s=round(single * args.num, 1), batched_s=round(batched, 2),
                   throughput_ratio=round(single * args.num / batched, 2), batched_files=written)
    out = REPO / args.out
    out.with_suffix('.json').write_text(json.dumps(results, indent=1) + '\n')
    md = [
        '# tools/generate.py: N runs of one request against one run of N requests', '',
        f'Command: `{info["command"]}`  ',
        f'Machine: {info["cpu"]}, {info["logical_cores"]} logical cores, torch {info["torch"]}, OMP_NUM_THREADS=1 in '
        f'the tool; load average {info["load_average_1_5_15"]} at the start, {results["load_average_end"]} at the '
        f'end; commit {info["git_commit"]}.', '',
        f'Config `{args.config}`, checkpoint `{args.checkpoint}`, the inputs of `demo/` with seeds 0..{args.num - 1}, '
        f'files written: {args.formats}. Wall clock of the whole tool process (start-up, model, encoders, sampling, '
        'files).', '',
        '| | seconds |', '|---|---|',
        f'| one request, one run (median of {args.singles}: {results["single_runs_s"]}) | {single:.2f} |',
        f'| {args.num} requests as {args.num} runs (scaled) | {single * args.num:.1f} |',
        f'| {args.num} requests in one `--requests` run ({written} files) | {batched:.2f} |',
        f'| throughput ratio | **{results["throughput_ratio"]}x** |', '']
    out.with_suffix('.md').write_text('\n'.join(md))
    print('\n'.join(md))


if __name__ == '__main__':
    main()
