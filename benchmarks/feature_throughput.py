"""Feature-extraction and feature-cache throughput of the default frozen extractors on this machine.

Measures (median over repeats, after one warm-up), with the image backbone every config reads
(`DEFAULT_IMAGE_BACKBONE`: EfficientNet-Lite0 at 448 px): its forward (images/s, batch 16),
the whole image cache path (PNG decode + preprocess + forward + float16 npz write, images/s), MiniLM
encoding (sentences/s) and the text cache path. Writes benchmarks/results/feature_throughput.{json,md}.
The backbone's forward and cache path are measured side by side with the reference path (`fuse=False,
cpu_chunk=None`: the unfolded network with its batch norms, the whole batch at once, as before the
folding), interleaved repeat by repeat so that load from other work hits both alike; the largest feature
difference between the two is recorded. In the same rounds: the forward on 1 and on 2 torch threads, and the
cache build by one process on one thread (`cache_features.py` now: what one core does), on two threads
(`cache_features.py` before: the torch default of a 2-core machine) and by two forked worker processes of one
thread each (`--workers 2`); every build's entries are compared with the one-thread build's.
A benchmark, not a test:  python benchmarks/feature_throughput.py [--repeats 5] [--threads N]
"""
import argparse
import json
import os
import os.path as osp
import resource
import sys
import tempfile
import time
from datetime import datetime, timezone

sys.path.insert(0, osp.abspath(osp.join(osp.dirname(__file__), '..')))

import statistics  # noqa: E402

import numpy as np  # noqa: E402
import torch  # noqa: E402
from bench_common import command_line, machine_info, synchronize, timed  # noqa: E402

RESULTS = osp.join(osp.dirname(osp.abspath(__file__)), 'results')
VERBS = ['picks up', 'pushes', 'lifts', 'drags', 'carries', 'puts down', 'rotates', 'kicks']
OBJECTS = ['the chair', 'a small box', 'the floor lamp', 'a wooden table', 'the trash can', 'a suitcase']


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--repeats', type=int, default=5)
    parser.add_argument('--batch-size', type=int, default=16)
    parser.add_argument('--num-images', type=int, default=64, help='images per cache-throughput repeat')
    parser.add_argument('--image-size', type=int, default=448, help='side of the synthetic PNG renders')
    parser.add_argument('--num-sentences', type=int, default=256)
    parser.add_argument('--threads', type=int, default=None, help='torch threads (default: torch default)')
    parser.add_argument('--workers', type=int, default=2, help='worker processes of the parallel cache build')
    parser.add_argument('--device', default='cpu')
    parser.add_argument('--out-dir', default=RESULTS)
    return parser.parse_args()


def synthetic_renders(folder, count, side, seed=0):
    """PNG files that look like renders: smooth shaded blobs on a light background (compress like renders)."""
    import cv2
    rng = np.random.default_rng(seed)
    paths = []
    yy, xx = np.mgrid[0:side, 0:side] / side
    for index in range(count):
        image = np.full((side, side, 3), 235, np.float32)
        for _ in range(4):
            cx, cy, r = rng.uniform(0.2, 0.8), rng.uniform(0.2, 0.8), rng.uniform(0.05, 0.2)
            inside = (xx - cx) ** 2 + (yy - cy) ** 2 < r ** 2
            shade = 0.5 + 0.5 * (1 - np.clip(((xx - cx) ** 2 + (yy - cy) ** 2) / r ** 2, 0, 1))
            image[inside] = (rng.uniform(40, 220, 3) * shade[inside, None])
        paths.append(osp.join(folder, f'render_{index:04d}.png'))
        cv2.imwrite(paths[-1], image.astype(np.uint8))
    return paths


def interleaved(fns, repeats, warmup=1):
    """{name: (median s, all s)} of each `fns[name]()`, run in turn within every repeat (after `warmup` rounds)."""
    for _ in range(warmup):
        for fn in fns.values():
            fn()
    times = {name: [] for name in fns}
    for _ in range(repeats):
        for name, fn in fns.items():
            start = time.perf_counter()
            fn()
            times[name].append(time.perf_counter() - start)
    return {name: (statistics.median(t), t) for name, t in times.items()}


def on_threads(count, fn):
    """`fn` run with `count` intra-op torch threads (the previous count restored)."""
    def run():
        previous = torch.get_num_threads()
        torch.set_num_threads(count)
        try:
            return fn()
        finally:
            torch.set_num_threads(previous)
    return run


def cpu_seconds():
    """CPU time of this process and of its waited-for children (the cache workers), user + system."""
    own, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def entry_difference(root, other, spec):
    """(largest |difference| of the patch / pooled entries of two caches, entries array-equal, entries)."""
    from imagin4d.models.backbones.feature_cache import FeatureCache
    ours, theirs = FeatureCache(root), FeatureCache(other)
    names = sorted(p.relative_to(ours.root) for p in ours.root.rglob('*.npz'))
    assert names == sorted(p.relative_to(theirs.root) for p in theirs.root.rglob('*.npz')), 'different entries'
    largest, equal = 0.0, 0
    for name in names:
        a, b = (np.load(c.root / name) for c in (ours, theirs))
        diffs = [float(np.abs(a[k].astype(np.float32) - b[k].astype(np.float32)).max()) for k in ('patch', 'pooled')]
        largest, equal = max(largest, *diffs), equal + int(max(diffs) == 0)
    return largest, equal, len(names)


def sentences(count, seed=0):
    rng = np.random.default_rng(seed)
    return [f'a person {rng.choice(VERBS)} {rng.choice(OBJECTS)} with the {rng.choice(["left", "right", "both"])} '
            f'hand{"s" if rng.random() < 0.3 else ""} and walks {rng.integers(1, 5)} steps, take {i}'
            for i in range(count)]


def main():
    args = parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    import imagin4d  # noqa: F401
    from imagin4d.datasets.transforms.reference_features import DEFAULT_IMAGE_BACKBONE
    from imagin4d.models.backbones.feature_cache import FeatureCache
    from imagin4d.registry import MODELS
    backbone_cfg = dict(DEFAULT_IMAGE_BACKBONE)
    resolution = backbone_cfg['preprocess']['size']
    results = dict(command=command_line(),
                   date=datetime.now(timezone.utc).isoformat(timespec='seconds'), machine=machine_info(),
                   settings={k: v for k, v in vars(args).items() if k != 'out_dir'}, measurements={})
    measure = results['measurements']

    start = time.perf_counter()
    backbone = MODELS.build(backbone_cfg).to(args.device)
    measure['efficientnet_lite0_load_s'] = round(time.perf_counter() - start, 3)
    backbones = dict(default=backbone,
                     reference=MODELS.build(dict(backbone_cfg, fuse=False, cpu_chunk=None)).to(args.device))
    pixels = torch.randn(args.batch_size, 3, resolution, resolution, device=args.device)
    outputs = {}

    def forward(name):
        def run():
            with torch.no_grad():
                outputs[name] = backbones[name](pixels)
            synchronize(args.device)
        return run

    threads_now = torch.get_num_threads()
    forwards = {name: forward(name) for name in backbones}
    forwards.update(threads_1=on_threads(1, forward('threads_1')), threads_2=on_threads(2, forward('threads_2')))
    backbones.update(threads_1=backbone, threads_2=backbone)
    timings = interleaved(forwards, args.repeats)
    for name, (median, times) in timings.items():
        key = 'efficientnet_lite0_forward' + ('' if name == 'default' else f'_{name}')
        measure[key] = dict(
            images_per_s=round(args.batch_size / median, 2), batch_size=args.batch_size, resolution=resolution,
            median_batch_s=round(median, 4), batch_s=[round(t, 4) for t in times])
    measure['efficientnet_lite0_forward']['speedup_vs_reference'] = round(
        timings['reference'][0] / timings['default'][0], 2)
    measure['efficientnet_lite0_forward']['threads'] = threads_now
    measure['efficientnet_lite0_max_abs_feature_difference'] = {
        key: float((outputs['default'][key] - outputs['reference'][key]).abs().max()) for key in ('patch', 'pooled')}
    measure['efficientnet_lite0_max_abs_feature_difference_threads_2_vs_1'] = {
        key: float((outputs['threads_2'][key] - outputs['threads_1'][key]).abs().max()) for key in ('patch', 'pooled')}

    with tempfile.TemporaryDirectory() as tmp:
        paths = synthetic_renders(tmp, args.num_images, args.image_size)
        caches = iter(range(10 ** 6))
        roots, cpu = {}, {}

        def cache_images(name, workers=1):
            def run():
                roots[name] = osp.join(tmp, f'cache{next(caches)}')
                start = cpu_seconds()
                FeatureCache(roots[name]).compute(paths, backbones['reference' if name == 'reference' else 'default'],
                                                  batch_size=args.batch_size, config=backbone_cfg, progress=False,
                                                  workers=workers)
                cpu.setdefault(name, []).append(cpu_seconds() - start)
            return run

        builds = dict(default=cache_images('default'), reference=cache_images('reference'),
                      threads_1=on_threads(1, cache_images('threads_1')),
                      threads_2=on_threads(2, cache_images('threads_2')),
                      workers=cache_images('workers', args.workers))
        timings = interleaved(builds, args.repeats)
        spec = FeatureCache(roots['default']).spec_for(backbone_cfg)
        for name, (median, times) in timings.items():
            key = 'image_cache_build' + ('' if name == 'default' else f'_{name}')
            measure[key] = dict(
                images_per_s=round(args.num_images / median, 2), num_images=args.num_images,
                source=f'{args.image_size}x{args.image_size} PNG', batch_size=args.batch_size,
                median_s=round(median, 3), runs_s=[round(t, 3) for t in times],
                cpu_ms_per_image=round(1000 * statistics.median(cpu[name][-len(times):]) / args.num_images, 1))
            if name != 'threads_1':
                largest, equal, total = entry_difference(roots[name], roots['threads_1'], spec)
                measure[key]['vs_threads_1'] = dict(max_abs_entry_difference=largest, entries_equal=equal,
                                                    entries=total)
        measure['image_cache_build']['speedup_vs_reference'] = round(timings['reference'][0] / timings['default'][0], 2)
        measure['image_cache_build_threads_1']['speedup_vs_threads_2'] = round(
            timings['threads_2'][0] / timings['threads_1'][0], 2)
        measure['image_cache_build_workers'].update(
            workers=args.workers, speedup_vs_threads_1=round(timings['threads_1'][0] / timings['workers'][0], 2),
            speedup_vs_threads_2=round(timings['threads_2'][0] / timings['workers'][0], 2))
        cache = FeatureCache(roots['default'])
        median, _ = timed(lambda: [cache.get(p, spec) for p in paths], args.repeats)
        measure['image_cache_read'] = dict(images_per_s=round(args.num_images / median, 1),
                                           entry_kib=round(os.path.getsize(cache.entry_path(paths[0], spec))
                                                           / 1024, 1))
        start = time.perf_counter()
        report = cache.compute(paths, backbone, config=backbone_cfg, progress=False)
        measure['image_cache_rerun_all_cached_s'] = round(time.perf_counter() - start, 3)
        assert report.computed == 0

        start = time.perf_counter()
        encoder = MODELS.build(dict(type='MiniLMTextEncoder')).to(args.device)
        measure['minilm_load_s'] = round(time.perf_counter() - start, 3)
        texts = sentences(args.num_sentences)

        def encode_texts():
            for index in range(0, len(texts), 64):
                encoder.encode(texts[index:index + 64])

        median, times = timed(encode_texts, args.repeats)
        measure['minilm_encode'] = dict(sentences_per_s=round(len(texts) / median, 1), batch_size=64,
                                        num_sentences=len(texts), median_s=round(median, 3),
                                        runs_s=[round(t, 3) for t in times])

        def cache_texts():
            FeatureCache(osp.join(tmp, f'text{next(caches)}')).compute(
                texts, encoder, batch_size=64, config=dict(type='MiniLMTextEncoder'), progress=False)

        median, times = timed(cache_texts, args.repeats)
        measure['text_cache_build'] = dict(sentences_per_s=round(len(texts) / median, 1),
                                           median_s=round(median, 3), runs_s=[round(t, 3) for t in times])

    if hasattr(os, 'getloadavg'):
        results['machine']['load_average_1_5_15_at_end'] = [round(v, 2) for v in os.getloadavg()]
    os.makedirs(args.out_dir, exist_ok=True)
    with open(osp.join(args.out_dir, 'feature_throughput.json'), 'w') as handle:
        json.dump(results, handle, indent=2)
    with open(osp.join(args.out_dir, 'feature_throughput.md'), 'w') as handle:
        handle.write(markdown(results))
    print(markdown(results))


def markdown(results):
    m, mach = results['measurements'], results['machine']
    fwd, fwd_ref = m['efficientnet_lite0_forward'], m['efficientnet_lite0_forward_reference']
    build, build_ref = m['image_cache_build'], m['image_cache_build_reference']
    diff = m['efficientnet_lite0_max_abs_feature_difference']
    diff_threads = m['efficientnet_lite0_max_abs_feature_difference_threads_2_vs_1']
    workers = m['image_cache_build_workers']

    def cpu_cost(key):
        return f", {m[key]['cpu_ms_per_image']} CPU ms/image"

    def same(key):
        vs = m[key]['vs_threads_1']
        return (f"; entries vs one thread: {vs['entries_equal']}/{vs['entries']} equal, largest difference "
                f"{vs['max_abs_entry_difference']:.2g}")
    rows = [
        (f"EfficientNet-Lite0 forward, {fwd['resolution']} px, batch {fwd['batch_size']}",
         f"{fwd['images_per_s']} images/s ({fwd['speedup_vs_reference']}x the reference path)"),
        ('  reference path: unfolded batch norms, whole batch at once (before the folding)',
         f"{fwd_ref['images_per_s']} images/s"),
        ('  largest feature difference, default vs reference (patch / pooled)',
         f"{diff['patch']:.2g} / {diff['pooled']:.2g}"),
        ('  the forward on 1 / 2 torch threads',
         f"{m['efficientnet_lite0_forward_threads_1']['images_per_s']} / "
         f"{m['efficientnet_lite0_forward_threads_2']['images_per_s']} images/s"),
        ('  largest feature difference, 2 vs 1 threads (patch / pooled)',
         f"{diff_threads['patch']:.2g} / {diff_threads['pooled']:.2g}"),
        (f"image cache build ({build['source']} decode + preprocess + forward + write), "
         f"{fwd['threads']} torch thread{'s' if fwd['threads'] > 1 else ''}",
         f"{build['images_per_s']} images/s ({build['speedup_vs_reference']}x the reference path)"),
        ('  image cache build with the reference path', f"{build_ref['images_per_s']} images/s"),
        ('  **one process, 1 torch thread (`cache_features.py` now)**',
         f"**{m['image_cache_build_threads_1']['images_per_s']} images/s** "
         f"({m['image_cache_build_threads_1']['speedup_vs_threads_2']}x two threads)"
         f"{cpu_cost('image_cache_build_threads_1')}"),
        ('  one process, 2 torch threads (`cache_features.py` before: the torch default)',
         f"{m['image_cache_build_threads_2']['images_per_s']} images/s{cpu_cost('image_cache_build_threads_2')}"
         f"{same('image_cache_build_threads_2')}"),
        (f"  {workers['workers']} worker processes, 1 thread each (`--workers {workers['workers']}`)",
         f"{workers['images_per_s']} images/s ({workers['speedup_vs_threads_2']}x two threads, "
         f"{workers['speedup_vs_threads_1']}x one){cpu_cost('image_cache_build_workers')}"
         f"{same('image_cache_build_workers')}"),
        ('image cache read (training side)', f"{m['image_cache_read']['images_per_s']} images/s, "
                                             f"{m['image_cache_read']['entry_kib']} KiB/entry"),
        (f"image cache re-run, {m['image_cache_build']['num_images']} images all cached",
         f"{m['image_cache_rerun_all_cached_s']} s"),
        ('MiniLM encode, batch 64', f"{m['minilm_encode']['sentences_per_s']} sentences/s"),
        ('text cache build (encode + write)', f"{m['text_cache_build']['sentences_per_s']} sentences/s"),
        ('model load: EfficientNet-Lite0 / MiniLM', f"{m['efficientnet_lite0_load_s']} s / {m['minilm_load_s']} s"),
    ]
    lines = ['# Feature extraction and feature-cache throughput', '',
             f"Command: `{results['command']}`  ", f"Date: {results['date']}  ",
             f"Machine: {mach['cpu']}, {mach['logical_cores']} logical cores, torch {mach['torch']} with "
             f"{mach['torch_threads']} threads, device {results['settings']['device']}"
             + (f" ({mach['cuda']})" if mach.get('cuda') else '') + '  ',
             f"Load average (1/5/15 min) at start {mach.get('load_average_1_5_15')}, at end "
             f"{mach.get('load_average_1_5_15_at_end')} (the machine is shared: expect noise)", '',
             f"Median over {results['settings']['repeats']} repeats after one warm-up; every case (default and "
             'reference backbone path, 1 / 2 torch threads, worker processes) runs in turn within each repeat. '
             'Entries are float16: a difference of one float16 step (up to 0.002 at values of 2 to 4) is fp32 '
             'rounding of the two-thread forward crossing a float16 rounding boundary.', '',
             shared_note(mach), '',
             '| what | throughput |', '|---|---|'] + [f'| {a} | {b} |' for a, b in rows]
    return '\n'.join(lines) + '\n'


def shared_note(mach: dict) -> str:
    """How to read the one-thread / two-thread / two-worker cases, from the load when the benchmark started."""
    load, cores = (mach.get('load_average_1_5_15') or [0.0])[0], mach.get('logical_cores') or 1
    if load < cores:
        return (f'The 1-minute load at the start ({load}) was below the {cores} cores: the two-thread and '
                'two-worker cases had both cores.')
    return ('On a machine shared through the kernel\'s autogroup scheduler (each login session or job gets an '
            'equal share), this benchmark gets about one core whatever its process count: worker processes then '
            'cannot beat one process, and two threads of one process wait on each other. CPU ms/image is what an '
            'image costs each way; with both cores idle, two workers would run at about 2000 / (their CPU '
            'ms/image) images/s (an estimate, not measured here).')


if __name__ == '__main__':
    main()
