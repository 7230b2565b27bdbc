"""Generation from user-style inputs with a trained checkpoint: quality, then latency and memory on this machine.

    IMAGIN4D_MINI_FBM_ROOT=data/mini_fbm_demo IMAGIN4D_BODY_MODEL_DIR=data/body_models \
        python benchmarks/generation.py [--config C] [--checkpoint P] [--data-root D] [--out benchmarks/results/NAME]

Not a timed test (issue 22). Part 1, quality: every test window of the data root becomes a request as a user would
write it to files (a new sentence from a paraphrase template, the object template as a .ply (every other one Y up),
the window's test reference image padded with white to a non-square aspect, the CHOIS waypoints and the frame-0 body
as an AMASS SMPL-X .npz), all expressed in a world frame rotated about z and shifted (seeded) away from the
window's canonical frame; all are generated in one batched `HOIInferencer` call (the config's test_cfg). Reported:
the waypoint errors as tools/test.py computes them, the body's lowest vertex against the floor, predicted joints
against the body-model joints of the exported SMPL-X parameters, determinism, and the same evaluation in the
canonical frame. Part 2, speed: one request end to end by stage (features, sampling, npz + bvh + glb, 120-frame mesh
video), a batch of 32 against 32 single calls, and the peak resident memory of a process doing one request with its
video; each target of the issue marked met / not met, with a profile of any stage that misses it.
Writes <out>.json and <out>.md (the requests and their evaluation: generation_requests.py; the page:
generation_page.py).
"""
import argparse
import cProfile
import datetime
import io
import json
import os
import pstats
import resource
import shlex
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from bench_common import REPO, machine_info, timed

sys.path.insert(0, str(REPO))
from generation_page import TARGETS, markdown
from generation_requests import WindowRequests, evaluate, max_difference, yaw_matrix


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--config', default='projects/imagin4d/mini_fbm_sfie.py')
    parser.add_argument('--checkpoint', default='work_dirs/demo/iter_500.pth')
    parser.add_argument('--data-root', default='data/mini_fbm_demo')
    parser.add_argument('--metrics', default=None, help="tools/test.py metrics of the checkpoint (default: "
                                                        "metrics.json beside it)")
    parser.add_argument('--out', default='benchmarks/results/generation_cpu', help='<out>.json and <out>.md')
    parser.add_argument('--body-model-root', default=None, help='default IMAGIN4D_BODY_MODEL_DIR or data/body_models')
    parser.add_argument('--seed', type=int, default=0, help='seed of the world frames (yaw, offset)')
    parser.add_argument('--offset', type=float, default=5.0, help='world offsets are uniform in +-offset metres')
    parser.add_argument('--repeats', type=int, default=3, help='timed repeats (after a warm-up) of the fast stages')
    parser.add_argument('--video-repeats', type=int, default=2, help='timed videos after a warm-up one')
    parser.add_argument('--batch', type=int, default=32, help='requests in the batched-throughput call')
    parser.add_argument('--threads', type=int, default=1,
                        help='torch threads (default 1, as model_throughput.py: on this shared 2-core machine two '
                             'OpenMP threads wait on a busy core and run 5-20x slower when other jobs load it)')
    parser.add_argument('--compare-threads', type=int, default=2,
                        help='also time one request with this many threads (0: skip)')
    parser.add_argument('--peak-child', default=None, help=argparse.SUPPRESS)   # internal: one request + video
    return parser.parse_args(argv)


def _path(p: str) -> str:
    return p if os.path.isabs(p) else str(REPO / p)


def profile(fn, top: int = 12) -> dict:
    """cProfile of one call: the functions with the most own time, and the imagin4d functions with the most
    cumulative time."""
    prof = cProfile.Profile()
    prof.enable()
    fn()
    prof.disable()
    stats = pstats.Stats(prof, stream=io.StringIO())
    entries = []
    for (file, line, name), (cc, nc, tt, ct, _) in stats.stats.items():
        entries.append(dict(function=f'{os.path.relpath(file, REPO) if file.startswith(str(REPO)) else file}:{line}'
                                     f'({name})', calls=nc, own_s=round(tt, 3), cumulative_s=round(ct, 3)))
    own = sorted(entries, key=lambda e: -e['own_s'])[:top]
    ours = sorted([e for e in entries if e['function'].startswith(('imagin4d/', 'tools/'))],
                  key=lambda e: -e['cumulative_s'])[:top]
    return dict(total_s=round(sum(e['own_s'] for e in entries), 3), by_own_time=own, imagin4d_by_cumulative=ours)


def peak_child(args) -> None:
    """Internal: a fresh process that loads the model, generates one request and writes every file including the
    video; prints its peak resident set size (getrusage maxrss) and that of its child processes (the encoder)."""
    from imagin4d.apis import HOIInferencer, HOIRequest, export_result
    from imagin4d.apis.requests import load_reference_image
    spec = json.loads(Path(args.peak_child).read_text())
    before = vm_hwm_kb()
    inferencer = HOIInferencer(_path(args.config), _path(args.checkpoint), body_model_root=args.body_model_root)
    loaded = vm_hwm_kb()
    request = HOIRequest(**spec['request'])
    result = inferencer(request)[0]
    generated = vm_hwm_kb()
    export_result(result, os.path.join(spec['out'], 'peak'), reference_image=load_reference_image(
        request.reference_image))
    maxrss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print('PEAK ' + json.dumps(dict(imports_kb=before, after_model_kb=loaded, after_generation_kb=generated,
                                    self_kb=vm_hwm_kb(), ru_maxrss_kb=maxrss)))


def vm_hwm_kb() -> int:
    """Peak resident set size of this process image (VmHWM of /proc/self/status, kB). Not getrusage's ru_maxrss:
    on Linux a process started by fork + exec carries its parent's high-water mark at the fork into ru_maxrss."""
    with open('/proc/self/status') as f:
        return int(next(ln.split()[1] for ln in f if ln.startswith('VmHWM:')))


def measure_peak(args, request, folder: Path) -> dict:
    spec = folder / 'peak_request.json'
    fields = {k: v for k, v in request.__dict__.items()}
    spec.write_text(json.dumps(dict(request=fields, out=str(folder))))
    cmd = [sys.executable, __file__, '--peak-child', str(spec), '--config', args.config, '--checkpoint',
           args.checkpoint, '--body-model-root', args.body_model_root]
    if args.threads:
        cmd += ['--threads', str(args.threads)]
    start = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True, cwd=REPO)
    wall = time.perf_counter() - start
    line = next((ln for ln in proc.stdout.splitlines() if ln.startswith('PEAK ')), None)
    if proc.returncode or line is None:
        raise RuntimeError(f'the peak-memory process failed ({proc.returncode}): {proc.stderr[-2000:]}')
    kb = json.loads(line[5:])
    mb = {k.replace('_kb', '_mb'): round(v / 1024.0, 1) for k, v in kb.items()}
    mb['process_wall_s'] = round(wall, 1)
    return mb


def summarize_times(runs: list) -> dict:
    return {k: round(statistics.median(r[k] for r in runs), 4) for k in runs[0]}


# ------------------------------------------------------------------------------------------------ main
def main():
    args = parse_args()
    os.environ.setdefault('IMAGIN4D_MINI_FBM_ROOT', _path(args.data_root))
    import torch
    threads_default = torch.get_num_threads()
    if args.threads:
        torch.set_num_threads(args.threads)
    from imagin4d.apis.inference import default_body_model_root
    args.body_model_root = _path(args.body_model_root or default_body_model_root())   # env paths: from the repo
    if args.peak_child:
        return peak_child(args)
    from imagin4d.apis import HOIInferencer, export_result, exporters
    from imagin4d.apis.requests import load_reference_image
    info = machine_info(command=' '.join(['python'] + [shlex.quote(a) for a in sys.argv]),
                        started=datetime.datetime.now().isoformat(timespec='seconds'),
                        dirty_files=subprocess.run(['git', 'status', '--short', '--untracked-files=no'], cwd=REPO,
                                                   capture_output=True, text=True).stdout.split('\n')[:-1])
    clock = time.perf_counter()
    inferencer = HOIInferencer(_path(args.config), _path(args.checkpoint), body_model_root=args.body_model_root)
    load_s = time.perf_counter() - clock
    test_cfg = dict(inferencer.model.test_cfg)
    metrics_file = args.metrics or os.path.join(os.path.dirname(_path(args.checkpoint)), 'metrics.json')
    test_metrics = json.loads(Path(metrics_file).read_text()) if os.path.isfile(metrics_file) else {}
    report = dict(machine=info, config=args.config, checkpoint=args.checkpoint, data_root=args.data_root,
                  test_cfg={k: v for k, v in test_cfg.items() if isinstance(v, (int, float, str, bool, type(None)))},
                  model_load_s=round(load_s, 2), targets=TARGETS, world_seed=args.seed,
                  world_offset_m=args.offset)
    with tempfile.TemporaryDirectory(prefix='imagin4d_generation_bench_') as tmp:
        folder = Path(tmp)
        data = WindowRequests(_path(args.data_root), inferencer, folder)
        items, codec = data.items, data.dataset.codec
        n = len(items)
        rng = np.random.default_rng(args.seed)
        yaws = rng.uniform(-180.0, 180.0, n)
        offsets = np.concatenate([rng.uniform(-args.offset, args.offset, (n, 2)), np.zeros((n, 1))], 1)
        world = [(yaw_matrix(y), o) for y, o in zip(yaws, offsets)]
        canonical = [(np.eye(3), np.zeros(3)) for _ in range(n)]
        req_world, req_canon = data.requests(world, 'world'), data.requests(canonical, 'canonical')
        # centre of the request's template (mean of the resampled vertices) vs the data set's template centroid
        from imagin4d.apis.request_window import prepare_object
        from imagin4d.apis.requests import load_object_mesh
        centre_shift = []
        for it in items:
            tpl = prepare_object(load_object_mesh(it['mesh']), it['up'])
            centre_shift.append(1000.0 * it['scale'] * float(np.linalg.norm(tpl.centroid - it['template_centroid'])))

        # ---- part 1: quality
        print(f'quality: {n} windows, world frame then canonical frame', flush=True)
        clock = time.perf_counter()
        out_world = inferencer(req_world)
        world_timings = dict(inferencer.last_timings, wall=time.perf_counter() - clock)
        clock = time.perf_counter()
        out_canon = inferencer(req_canon)
        canon_timings = dict(inferencer.last_timings, wall=time.perf_counter() - clock)
        res_world, res_canon = [r[0] for r in out_world], [r[0] for r in out_canon]
        q_world = evaluate(res_world, items, world, codec)
        q_canon = evaluate(res_canon, items, canonical, codec)
        frame_diff = dict(
            joints_mm=1000 * max(float(np.abs(c.joints @ R.T + d - w.joints).max())
                                 for w, c, (R, d) in zip(res_world, res_canon, world)),
            object_centre_mm=1000 * max(float(np.abs(np.asarray(c.meta['object_centre']) @ R.T + d
                                                      - np.asarray(w.meta['object_centre'])).max())
                                        for w, c, (R, d) in zip(res_world, res_canon, world)),
            body_pose_rad=max(float(np.abs(c.body_pose - w.body_pose).max()) for w, c in zip(res_world, res_canon)))
        alone_a = inferencer(req_world[0])[0]
        alone_b = inferencer(req_world[0])[0]
        determinism = dict(same_request_twice=max_difference(alone_a, alone_b),
                           alone_vs_in_batch=max_difference(alone_a, res_world[0]))
        report['quality'] = dict(
            world=q_world, canonical=q_canon, world_minus_canonical_moved=frame_diff, determinism=determinism,
            tools_test_metrics={k: test_metrics.get(k) for k in ('waypoint_start_err', 'waypoint_xy_err',
                                                                 'waypoint_end_err')},
            world_frames=[dict(yaw_deg=round(float(y), 2), offset_xy=[round(float(v), 3) for v in o[:2]])
                          for y, o in zip(yaws, offsets)],
            inputs=[{k: it[k] for k in ('seq_name', 'window_start', 'object', 'dataset_text', 'text', 'up', 'scale',
                                        'image_shape')} for it in items],
            template_centre_shift_mm=dict(mean=float(np.mean(centre_shift)), max=float(np.max(centre_shift)),
                                          per_window=[round(v, 2) for v in centre_shift]),
            batch_timings=dict(world={k: round(v, 3) for k, v in world_timings.items()},
                               canonical={k: round(v, 3) for k, v in canon_timings.items()}),
            sampling=res_world[0].meta.get('sampling'))
        print(json.dumps({k: report['quality'][k] for k in ('world_minus_canonical_moved', 'tools_test_metrics')}),
              flush=True)
        print(json.dumps(q_world['summary']), json.dumps(q_canon['summary']), flush=True)

        # ---- part 2: latency
        print('latency: one request', flush=True)
        request, result = req_world[0], alone_a
        image = load_reference_image(request.reference_image)
        stage_runs = []

        def one_request():
            clock = time.perf_counter()
            inferencer(request)
            stage_runs.append(dict(inferencer.last_timings, end_to_end=time.perf_counter() - clock))
        timed(one_request, args.repeats, warmup=0)                 # warmed up by the determinism calls
        single = summarize_times(stage_runs)
        single['features_plus_sampling'] = round(statistics.median(r['features'] + r['sampling']
                                                                   for r in stage_runs), 4)
        other_threads = None
        if args.compare_threads and args.compare_threads != torch.get_num_threads():
            threads = torch.get_num_threads()
            torch.set_num_threads(args.compare_threads)
            runs = []
            for _ in range(args.repeats + 1):
                clock = time.perf_counter()
                inferencer(request)
                runs.append(dict(inferencer.last_timings, end_to_end=time.perf_counter() - clock))
            torch.set_num_threads(threads)
            other_threads = dict(threads=args.compare_threads, runs=runs[1:], median=summarize_times(runs[1:]))
        stem = str(folder / 'latency')
        per_format = {}
        for name, fn in (('npz', lambda: (exporters.write_smplx_npz(result, stem + '_smplx.npz'),
                                          exporters.write_object_npz(result, stem + '_object.npz',
                                                                     result.object_path))),
                         ('bvh', lambda: exporters.write_bvh(result, stem + '.bvh')),
                         ('glb', lambda: exporters.write_glb(result, stem + '.glb'))):
            per_format[name] = round(timed(fn, args.repeats)[0], 4)
        export_runs = []
        timed(lambda: export_runs.append(export_result(result, stem, ('npz', 'bvh', 'glb'))[1]['export']),
              args.repeats, warmup=0)
        exports_s = statistics.median(export_runs)
        print(f'exports {exports_s:.3f} s {per_format}; video', flush=True)
        video_runs = []
        timed(lambda: video_runs.append(export_result(result, stem, ('mp4',), reference_image=image)[1]['video']),
              args.video_repeats + 1, warmup=0)
        video_s = statistics.median(video_runs[1:]) if len(video_runs) > 1 else video_runs[0]
        sizes = {os.path.basename(p): os.path.getsize(p) for p in sorted(folder.glob('latency*'))}

        # ---- batch of 32 vs 32 single calls
        print(f'latency: a batch of {args.batch} vs {args.batch} single calls', flush=True)
        batch_requests = [(req_world + req_canon)[k % (2 * n)] for k in range(args.batch)]
        batch_runs = []

        def batch_call():
            clock = time.perf_counter()
            inferencer(batch_requests)
            batch_runs.append(dict(inferencer.last_timings, end_to_end=time.perf_counter() - clock))
        timed(batch_call, max(1, args.repeats - 1), warmup=0)      # warmed up by the quality batches
        singles = []
        for r in batch_requests:
            clock = time.perf_counter()
            inferencer(r)
            singles.append(dict(inferencer.last_timings, end_to_end=time.perf_counter() - clock))
        batch = summarize_times(batch_runs)
        singles_total = {k: round(sum(s[k] for s in singles), 3) for k in singles[0]}
        speedup = {k: round(singles_total[k] / batch[k], 2) for k in batch if batch[k] > 0}

        # ---- peak memory in a fresh process
        print('peak memory: one request + every export + video in a fresh process', flush=True)
        peak = measure_peak(args, request, folder)

        achieved = dict(features_sampling_s=single['features_plus_sampling'], exports_s=round(exports_s, 4),
                        video_s=round(video_s, 3), batch_speedup=speedup['end_to_end'],
                        peak_rss_mb=peak['self_mb'])
        met = {k: (achieved[k] >= TARGETS[k]) if k == 'batch_speedup' else (achieved[k] <= TARGETS[k])
               for k in TARGETS}
        profiles = {}
        if not met['features_sampling_s']:
            profiles['one_request'] = profile(lambda: inferencer(request))
        if not met['exports_s']:
            profiles['exports'] = profile(lambda: export_result(result, stem, ('npz', 'bvh', 'glb')))
        if not met['video_s']:
            profiles['video'] = profile(lambda: export_result(result, stem, ('mp4',), reference_image=image))
        if not met['batch_speedup']:
            profiles['batch'] = profile(lambda: inferencer(batch_requests))
            # the image encoder's cost per image against the chunk size it is fed (inference.py: 1 at a time on CPUs)
            images = [load_reference_image(r.reference_image) for r in batch_requests[:16]]
            encoder = inferencer._extractors['image']
            chunking = {}
            for chunk in (1, 4, 16):
                def encode():
                    for k in range(0, len(images), chunk):
                        encoder.encode(images[k:k + chunk])
                chunking[chunk] = round(timed(encode, 1, warmup=0)[0] / len(images), 4)
            profiles['batch']['image_encoder_s_per_image_by_chunk'] = chunking
        report['speed'] = dict(
            single_request_s=single, single_runs=stage_runs, torch_default_threads=threads_default,
            single_request_other_threads=other_threads, exports_s=round(exports_s, 4),
            exports_per_format_s=per_format, export_runs=export_runs, video_s=round(video_s, 3),
            video_runs=[round(v, 3) for v in video_runs], file_bytes=sizes,
            batch=dict(size=args.batch, batch_call_s=batch, batch_runs=batch_runs, singles_total_s=singles_total,
                       single_call_median_s=summarize_times(singles), speedup=speedup),
            peak_memory=peak, achieved=achieved, met=met, profiles=profiles,
            main_process_maxrss_mb=round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0, 1))
    info['finished'] = datetime.datetime.now().isoformat(timespec='seconds')
    info['load_average_at_end'] = [round(v, 2) for v in os.getloadavg()]
    out = Path(_path(args.out))
    out.parent.mkdir(parents=True, exist_ok=True)
    out.with_suffix('.json').write_text(json.dumps(report, indent=1, default=float))
    out.with_suffix('.md').write_text(markdown(report))
    print(markdown(report))
