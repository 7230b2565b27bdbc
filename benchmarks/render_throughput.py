"""Reference-image render throughput (images/s) of the render styles (mesh, sketch, scene, degraded); not a timed test.

Owns the benchmark of `imagin4d.rendering`: each image is a fresh render of a body-sized mesh and an object (new
vertex arrays and a new camera per image, as when rendering many (sequence, t*) pairs) with the style, without the
cache; measured for `render_scene` + style and for the whole `ReferenceRenderer` pipeline (camera sampling,
visibility and occlusion checks, re-sampling, style). Every case runs in worker processes (one per code tree, and
two at a time for the whole-machine throughput) that take turns, so a shared machine's load hits them alike.
Writes JSON + markdown with the machine, the load and the command to benchmarks/results/render_throughput_<tag>.*.

    python benchmarks/render_throughput.py                      # toy humanoid, 10458 vertices, 448 px
    python benchmarks/render_throughput.py --size 448 224       # both sizes
    python benchmarks/render_throughput.py --body free --examples   # free body model; example images too
    git worktree add --detach /tmp/imagin4d-e245cc1 e245cc1      # then: before/after in one run
    python benchmarks/render_throughput.py --styles mesh sketch scene degraded --body free \\
        --baseline-tree /tmp/imagin4d-e245cc1 --processes 1 2 --profile 10

Styles that draw per image (scene, degraded) draw their look (clothes, room, light, framing, degradations) anew
for every image, inside the timed call, as when rendering a data set. Image i of a case is the same frame and
camera in every tree and worker, so `--baseline-tree` also counts the timed images whose bytes differ between the
trees (sha256 of the pixels). `--processes 1 2`: images/s of one process and of two at once (each with its own
frames), the throughput of a data-set build with two render workers. `--profile N`: where the time of one
image goes (current tree, N images per style, stages timed by wrapping the renderer's functions).
"""
import argparse
import datetime
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
from bench_common import command_line, machine_info
from render_worker import ANSWER, load_interaction, worker_main

REPO = Path(__file__).resolve().parents[1]


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--size', type=int, nargs='+', default=[448], help='image width = height in pixels')
    parser.add_argument('--styles', nargs='+', default=['mesh', 'sketch'], help='mesh | sketch | scene | degraded')
    parser.add_argument('--paths', nargs='+', default=['render+style', 'ReferenceRenderer'],
                        choices=['render+style', 'ReferenceRenderer'], help='what is timed per image')
    parser.add_argument('--runs', type=int, default=5, help='timed runs per case (the median is reported)')
    parser.add_argument('--images', type=int, default=10, help='images per run')
    parser.add_argument('--warmup', type=int, default=2, help='untimed images per case and worker first')
    parser.add_argument('--body', choices=['toy', 'free'], default='toy',
                        help='toy: procedural capsule humanoid (10458 vertices); free: the free SMPL-X-layout '
                             'body model (13718 vertices, posed), built with ensure_free_body_model if needed')
    parser.add_argument('--body-model-dir', default='data/body_models')
    parser.add_argument('--baseline-tree', default=None,
                        help='a git worktree of the baseline commit: timed in turn with this tree, and the images '
                             'of both compared byte for byte')
    parser.add_argument('--lp-num-threads', nargs='+', default=['unset'], metavar='N',
                        help="llvmpipe rasteriser threads of the workers (LP_NUM_THREADS; 'unset': Mesa's default, "
                             'one per core); several: each is a variant, timed in turn')
    parser.add_argument('--processes', type=int, nargs='+', default=[1],
                        help='render processes at once per tree (1 2: also the whole-machine throughput)')
    parser.add_argument('--profile', type=int, default=0, metavar='N',
                        help='also time the stages of N ReferenceRenderer images per style (current tree)')
    parser.add_argument('--paired', type=int, default=0, metavar='N',
                        help='also time N ReferenceRenderer images per style with the occlusion bound and with '
                             'the exact amodal passes (bound disabled), in turn per image, one process (current tree)')
    parser.add_argument('--out-dir', default=str(REPO / 'benchmarks' / 'results'))
    parser.add_argument('--tag', default=None, help='file name tag (default: cpu for llvmpipe, else gpu)')
    parser.add_argument('--examples', action='store_true',
                        help='also write render_examples_<body>.png (every style, four cameras) to --out-dir')
    parser.add_argument('--worker', action='store_true', help=argparse.SUPPRESS)  # a render process (internal)
    return parser.parse_args(argv)


def write_examples(geometry, size, path):
    """A 2 x 4 grid (mesh row, sketch row; four sampled cameras) as a PNG."""
    import cv2

    from imagin4d.rendering import ReferenceRenderer
    rows = [np.concatenate([ReferenceRenderer(style, width=size, height=size, seed=0)('example', t, geometry).image
                            for t in range(4)], axis=1) for style in ('mesh', 'sketch', 'scene', 'degraded')]
    cv2.imwrite(str(path), np.concatenate(rows, axis=0)[..., ::-1])



def render_machine_info(gl_renderer):
    import OpenGL
    import pyrender
    return machine_info(gl_renderer=gl_renderer, pyopengl_platform=os.environ.get('PYOPENGL_PLATFORM'),
                        pyrender=pyrender.__version__, PyOpenGL=OpenGL.__version__)



# ------------------------------------------------------------------------------------------------------------------
# The driver: starts the workers, gives them turns, compares the trees' images, writes the results.
# ------------------------------------------------------------------------------------------------------------------
class Worker:
    def __init__(self, tree, argv, lp_num_threads='unset'):
        env = dict(os.environ, PYTHONPATH=str(tree))
        env.pop('LP_NUM_THREADS', None)
        if lp_num_threads != 'unset':
            env['LP_NUM_THREADS'] = str(lp_num_threads)
        self.proc = subprocess.Popen([sys.executable, __file__, '--worker', *argv], cwd=REPO, env=env,
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        self.info = self.read()

    def send(self, **cmd):
        self.proc.stdin.write(json.dumps(cmd) + '\n')
        self.proc.stdin.flush()

    def read(self):
        """The worker's next answer (libraries may print other lines to its stdout: those are passed on)."""
        while True:
            line = self.proc.stdout.readline()
            if not line:
                raise SystemExit(f'render_throughput: a worker exited (code {self.proc.wait()}); its error is above')
            if line.startswith(ANSWER):
                return json.loads(line[len(ANSWER):])
            sys.stderr.write(line)

    def close(self):
        self.proc.stdin.close()
        self.proc.wait()


def tree_commit(tree):
    return subprocess.run(['git', 'rev-parse', 'HEAD'], cwd=tree, capture_output=True, text=True,
                          check=True).stdout.strip()


def worker_argv(args):
    argv = ['--size', *map(str, args.size), '--styles', *args.styles, '--body', args.body,
            '--body-model-dir', args.body_model_dir]
    return argv


def main(argv=None):
    args = parse_args(argv)
    if args.worker:
        return worker_main(args)
    import imagin4d  # noqa: F401 - the EGL default, for the machine description
    trees = {'current': REPO}
    if args.baseline_tree:
        trees['baseline'] = Path(args.baseline_tree).resolve()
    commits = {name: tree_commit(tree) for name, tree in trees.items()}
    # a variant: a tree with an LP_NUM_THREADS setting; the first is the reference of the byte-identity counts
    variants = {name + ('' if len(args.lp_num_threads) == 1 else f' LP_NUM_THREADS={lp}'): (tree, lp)
                for name, tree in trees.items() for lp in args.lp_num_threads}
    first = next(iter(variants))
    workers = {name: [Worker(tree, worker_argv(args), lp) for _ in range(max(args.processes))]
               for name, (tree, lp) in variants.items()}
    info = workers[first][0].info
    cases = [(size, style, path) for size in args.size for style in args.styles for path in args.paths]
    for case in cases:  # warm-up: context, shaders, first-use costs
        for name in variants:
            for w in workers[name]:
                w.send(size=case[0], style=case[1], path=case[2], start=900000, count=args.warmup)
            for w in workers[name]:
                w.read()
    load_before = [round(x, 2) for x in os.getloadavg()]
    results = {(case, name, p): dict(runs=[], seconds=[], renders=0, images=0)
               for case in cases for name in variants for p in args.processes}
    hashes = {}
    for run in range(args.runs):
        order = list(variants) if run % 2 == 0 else list(variants)[::-1]  # who goes first alternates
        for case in cases:
            for name in order:
                for p in args.processes:
                    t0 = time.perf_counter()
                    for k, w in enumerate(workers[name][:p]):  # worker k renders its own frames
                        w.send(size=case[0], style=case[1], path=case[2], start=k * 100000 + run * args.images,
                               count=args.images)
                    answers = [w.read() for w in workers[name][:p]]
                    wall = time.perf_counter() - t0
                    r = results[case, name, p]
                    r['runs'].append(p * args.images / wall)
                    r['seconds'] += [s for a in answers for s in a['seconds']]
                    r['renders'] += sum(a['renders'] for a in answers)
                    r['images'] += p * args.images
                    for k, a in enumerate(answers):
                        for i, h in enumerate(a['hashes']):
                            hashes.setdefault((case, k * 100000 + run * args.images + i), {})[name] = h
        print(f'run {run + 1}/{args.runs} done', flush=True)
    load_after = [round(x, 2) for x in os.getloadavg()]
    paired = None
    if args.paired:
        workers[first][0].send(paired=args.paired)
        paired = workers[first][0].read()
    profile = None
    if args.profile:
        workers[first][0].send(profile=args.profile)
        profile = workers[first][0].read()
    for ws in workers.values():
        for w in ws:
            w.close()

    table = {}
    for (case, name, p), r in results.items():
        entry = dict(images_per_s_median=round(float(np.median(r['runs'])), 2),
                     images_per_s_runs=[round(float(x), 2) for x in r['runs']],
                     ms_per_image_p50=round(1000 * float(np.median(r['seconds'])), 1),
                     ms_per_image_p90=round(1000 * float(np.percentile(r['seconds'], 90)), 1))
        if case[2] == 'ReferenceRenderer':  # > 1 when cameras were re-sampled
            entry['renders_per_image'] = round(r['renders'] / r['images'], 2)
        table.setdefault(f'{case[0]}px', {}).setdefault(case[1], {}).setdefault(case[2], {})[
            f'{name}, {p} process{"es" if p > 1 else ""}'] = entry
    identity = {}
    for (case, _), h in hashes.items():
        for name in list(variants)[1:]:
            c = identity.setdefault(f'{case[0]}px {case[1]} {case[2]}: {name} vs {first}', dict(images=0, differ=0))
            c['images'] += 1
            c['differ'] += int(h[name] != h[first])
    record = dict(
        benchmark='render_throughput', date=datetime.datetime.now().isoformat(timespec='seconds'),
        command=command_line().replace(str(args.baseline_tree), f'<worktree of {commits["baseline"][:7]}>')
        if args.baseline_tree else command_line(),
        settings=dict(sizes=args.size, runs=args.runs, images_per_run=args.images, warmup=args.warmup,
                      processes=args.processes, body=info['body'], renderer=info['gl_renderer'],
                      lp_num_threads=args.lp_num_threads,
                      note='fresh vertex arrays and a new sampled camera per image; no cache'),
        commits=commits, results=table, byte_identity=identity, occlusion_bound_paired=paired,
        profile_ms_per_image=profile,
        machine=dict(render_machine_info(info['gl_renderer']), load_average_at_start=load_before,
                     load_average_at_end=load_after))
    gl_name = info['gl_renderer']
    tag = args.tag or ('cpu' if gl_name and 'llvmpipe' in gl_name.lower() else 'gpu')
    out_dir = Path(args.out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / f'render_throughput_{tag}.json').write_text(json.dumps(record, indent=2) + '\n')
    (out_dir / f'render_throughput_{tag}.md').write_text(markdown(record, tag))
    print(f'wrote {out_dir}/render_throughput_{tag}.{{json,md}}')
    if args.examples:
        interaction, _ = load_interaction(args)  # in this process, after the workers
        write_examples(interaction, args.size[0], out_dir / f'render_examples_{args.body}.png')


def markdown(record, tag) -> str:
    s = record['settings']
    lines = [f'# Render throughput ({tag})', '', f'Command: `{record["command"]}`', '',
             f'{", ".join(f"{x}x{x}" for x in s["sizes"])}, {s["body"]}; {s["note"]}. Trees: '
             + ', '.join(f'{name} = commit {c[:7]}' for name, c in record['commits'].items())
             + '. Every case runs in worker processes that take turns (the variants alternate who goes first); '
             '"2 processes": two workers of a tree at once, each with its own frames (images/s of both together).',
             '', '`render+style`: `render_scene` + the style. `ReferenceRenderer`: the whole uncached pipeline (camera '
             'sampling, in-view and occlusion checks, re-sampling, style).', '',
             '| size | style | path | tree, processes | images/s (median) | runs | ms/image p50 | ms/image p90 '
             '| renders/image |', '|---|---|---|---|---|---|---|---|---|']
    for size, styles in record['results'].items():
        for style, paths in styles.items():
            for path, variants in paths.items():
                for variant, r in variants.items():
                    lines.append(f'| {size} | {style} | {path} | {variant} | {r["images_per_s_median"]} | '
                                 f'{", ".join(map(str, r["images_per_s_runs"]))} | {r["ms_per_image_p50"]} | '
                                 f'{r["ms_per_image_p90"]} | {r.get("renders_per_image", 1)} |')
    if record['byte_identity']:
        lines += ['', 'Byte identity: every timed image of each variant against the same image (frame, camera, '
                  'per-image draws) of the first, compared by the sha256 of its pixels:', '',
                  '| case | images | differ |', '|---|---|---|']
        lines += [f'| {case} | {c["images"]} | {c["differ"]} |' for case, c in record['byte_identity'].items()]
    if record['occlusion_bound_paired']:
        lines += ['', 'The occlusion bound, paired in one process (current tree): each image through a '
                  '`ReferenceRenderer` with the bound and one with it disabled (the exact amodal passes of e245cc1), '
                  'in turn:', '',
                  '| style | images | ms/image, bound | ms/image, exact passes | saving per image, median (mean) | '
                  'flat passes drawn, bound / exact | images identical |', '|---|---|---|---|---|---|---|']
        lines += [f'| {style} | {p["images"]} | {p["bound_ms"]} | {p["exact_ms"]} | {p["saving_ms_median"]} ms '
                  f'({p["saving_ms_mean"]} ms) | {p["flat_passes_bound"]} / {p["flat_passes_exact"]} | '
                  f'{"yes" if p["identical"] else "NO"} |' for style, p in record['occlusion_bound_paired'].items()]
    if record['profile_ms_per_image']:
        styles = list(record['profile_ms_per_image'])
        stages = list(dict.fromkeys(k for v in record['profile_ms_per_image'].values() for k in v))
        lines += ['', 'Profile of the current tree (ms per `ReferenceRenderer` image, one process; nested stages are '
                  'part of the stage above them; the `GL` stages include the rasterisation, which llvmpipe runs when '
                  'the pass is read back):', '', f'| stage | {" | ".join(styles)} |', '|---|' + '---|' * len(styles)]
        for stage in stages:
            cells = [f'{record["profile_ms_per_image"][st].get(stage, 0.0):.1f}' for st in styles]
            lines.append(f'| {stage} | {" | ".join(cells)} |')
    m = record['machine']
    lines += ['', f'Machine: {m["cpu"]} ({m["logical_cores"]} logical cores, shared; 1/5/15-min load average at '
              f'the start {m["load_average_at_start"]}, at the end {m["load_average_at_end"]}), OpenGL renderer '
              f'`{m["gl_renderer"]}` via PYOPENGL_PLATFORM={m["pyopengl_platform"]}, LP_NUM_THREADS '
              f'{", ".join(s["lp_num_threads"])} (unset: llvmpipe runs one thread per core); {m["platform"]}, Python '
              f'{m["python"]}, numpy {m["numpy"]}, pyrender {m["pyrender"]}, PyOpenGL {m["PyOpenGL"]}; '
              f'{record["date"]}.', '']
    return '\n'.join(lines)


if __name__ == '__main__':
    main()
