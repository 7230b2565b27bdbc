"""Long interactions on the mini-FBM long test sequences: waypoint errors, foot sliding, penetration and the seam
metric of chained-window generation.

    python tools/data/make_mini_fbm.py --out data/mini_fbm_long --long-test 4 --long-test-only
    python benchmarks/long_generation.py --long-root data/mini_fbm_long \
        [--config work_dirs/demo/mini_fbm_sfie.py --checkpoint work_dirs/demo/iter_500.pth] \
        [--num 4] [--overlap 30] [--out benchmarks/results/long_generation_cpu]

Not a timed test. Each long test sequence (several carry-and-place segments chained, `long_test/index.json`) becomes
a request as `tools/generate.py --frames N` takes it: its first segment's sentence, the object template with its
scale, the waypoints JSON (object start, xy every 30 frames, xyz at the last frame), frame 0 of the body `.npz` as
the start body and a reference picture rendered (mesh style, 448 px, camera in front of the body) at the first
segment's depicted frame. All requests are generated in one `HOIInferencer` call (the long-generation path, the
config's test_cfg) and measured by `LongSequenceMetric`; then again with a hard cut at each window start instead of
the seam blend (`blend=0`: the same windows, since a window's start state does not depend on the blend, so only the
seams differ); the ground-truth sequences are measured the same way at the same seams (their waypoint errors are 0
by construction; their seam ratios show what natural motion gives there).
Writes <out>.json and <out>.md.
"""
import argparse
import datetime
import json
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from bench_common import REPO, command_line, machine_info

sys.path.insert(0, str(REPO))


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--long-root', required=True, help='a data root with long_test/ (make_mini_fbm.py --long-test)')
    parser.add_argument('--config', default='work_dirs/demo/mini_fbm_sfie.py')
    parser.add_argument('--checkpoint', default='work_dirs/demo/iter_500.pth')
    parser.add_argument('--num', type=int, default=4, help='long sequences to generate (the first N of the index)')
    parser.add_argument('--overlap', type=int, default=None, help='window overlap / seam blend (default 30)')
    parser.add_argument('--body-model-root', default=os.environ.get('IMAGIN4D_BODY_MODEL_DIR', 'data/body_models'))
    parser.add_argument('--out', default='benchmarks/results/long_generation_cpu')
    return parser.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    import trimesh

    from imagin4d.apis import HOIInferencer, HOIRequest
    from imagin4d.apis.long_generation import DEFAULT_OVERLAP
    from imagin4d.datasets.synthetic.long_test import LONG_TEST_DIR
    from imagin4d.engine.storyboard_study_long import render_sequence_frame
    from imagin4d.evaluation.metrics.long_sequence_metric import LongSequenceMetric, long_sample
    folder = Path(args.long_root) / LONG_TEST_DIR
    index = json.loads((folder / 'index.json').read_text())
    names = sorted(index['sequences'])[:args.num]
    tmp = Path(tempfile.mkdtemp(prefix='long_generation_'))
    requests, truths = [], []
    for name in names:
        info = index['sequences'][name]
        seq = dict(np.load(folder / info['body']))
        mesh = trimesh.load(folder / info['object_mesh'], force='mesh', process=False)
        image = render_sequence_frame(args.body_model_root, seq, info['depicted_frame'], mesh, info['object_scale'],
                                      name)
        requests.append(HOIRequest(text=info['text'], object_mesh=str(folder / info['object_mesh']),
                                   object_scale=info['object_scale'], reference_image=image,
                                   waypoints=str(folder / info['waypoints']), start_body=str(folder / info['body']),
                                   name=name))
        truths.append((info, seq, mesh))
    overlap = DEFAULT_OVERLAP if args.overlap is None else args.overlap
    inferencer = HOIInferencer(args.config, args.checkpoint, body_model_root=args.body_model_root, overlap=overlap)
    clock = time.perf_counter()
    results = [samples[0] for samples in inferencer(requests)]
    seconds = time.perf_counter() - clock
    inferencer.blend = 0
    hard = [samples[0] for samples in inferencer(requests)]
    outside = []                     # the blend changes the seam frames only
    for a, b in zip(results, hard):
        keep = np.ones(a.num_frames, bool)
        for first, end in a.meta['seams']:
            keep[first:end] = False
        outside.append(float(np.abs(a.joints[keep] - b.joints[keep]).max()))
    rows = dict(generated=[], hard_cut=[], ground_truth=[])
    for result, cut, (info, seq, mesh) in zip(results, hard, truths):
        spec = json.loads((folder / info['waypoints']).read_text())
        given = [(0, spec['object_start']['position'])] + [(w['frame'], w['position']) for w in spec['waypoints']]
        faces = np.asarray(mesh.faces)
        samples = dict(
            generated=long_sample(result, waypoints=given),
            hard_cut=long_sample(cut, waypoints=given, seams=result.meta['seams']),
            ground_truth=dict(joints=seq['joints24'], obj_com=seq['obj_centre'], obj_rot=seq['obj_rot'],
                              obj_trans=seq['obj_trans'], obj_scale=float(seq['obj_scale']),
                              object_verts=np.asarray(mesh.vertices), object_faces=faces, waypoints=given,
                              seams=result.meta['seams'], seq_name=info['text']))
        for kind, sample in samples.items():
            row = LongSequenceMetric().sample_row(sample)
            rows[kind].append(dict(row, seq_name=Path(info['body']).stem, windows=result.meta['windows']))
    summary = {}
    for kind in rows:
        metric = LongSequenceMetric()
        summary[kind] = metric.compute_metrics([{k: v for k, v in r.items() if k != 'windows'} for r in rows[kind]])
    report = dict(date=datetime.datetime.now(datetime.timezone.utc).isoformat(timespec='seconds'),
                  command=command_line(), machine=machine_info(), config=args.config, checkpoint=args.checkpoint,
                  long_root=args.long_root, long_test=dict(version=index['version'], seed=index['seed'],
                                                           segments=index['segments'], count=len(index['sequences'])),
                  overlap=overlap, sampling=results[0].meta['sampling'], generation_seconds=round(seconds, 1),
                  hard_cut_max_joint_difference_outside_seams_m=max(outside),
                  summary=summary, rows=rows)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.with_suffix('.json').write_text(json.dumps(report, indent=1, default=lambda v: np.asarray(v).tolist()))
    out.with_suffix('.md').write_text(markdown(report))
    print(markdown(report))
    for path in tmp.iterdir():
        path.unlink()
    tmp.rmdir()


KEYS = (('waypoint_start_err', 'start (mm)'), ('waypoint_xy_err', 'xy (mm)'), ('waypoint_end_err', 'end (mm)'),
        ('foot_sliding', 'foot sliding (mm/frame)'), ('hand_penetration', 'hand pen. (mm)'),
        ('body_penetration', 'body pen. (mm)'), ('seam_joint_jump', 'seam joint jump (mm)'),
        ('within_joint_jump', 'within (mm)'), ('seam_joint_jump_ratio', 'ratio'),
        ('seam_joint_velocity_jump_ratio', 'velocity-jump ratio'), ('seam_object_jump_ratio', 'object-jump ratio'),
        ('seam_object_turn_ratio', 'object-turn ratio'))


def _value(row: dict, key: str) -> str:
    value = float(row.get(key, float('nan')))
    return f'{1000 * value:.1f}' if key.endswith('penetration') else f'{value:.2f}' if 'ratio' in key else \
        f'{value:.1f}'


def markdown(report: dict) -> str:
    m = report['machine']
    lines = [f'# Long generation on the mini-FBM long test sequences ({report["date"]})', '',
             f'Command: `{report["command"]}` on the long test sequences of `python tools/data/make_mini_fbm.py '
             f'--out {report["long_root"]} --long-test {report["long_test"]["count"]} --long-test-only`.', '',
             f'Machine: {m["cpu"]}, {m["logical_cores"]} logical cores, torch {m["torch"]} ({m["torch_threads"]} '
             f'threads), load {m["load_average_1_5_15"]}, commit {m["git_commit"]}.', '',
             f'Model: `{report["config"]}` + `{report["checkpoint"]}`; sampling {report["sampling"]}; windows of 120 '
             f'frames overlapping >= {report["overlap"]} frames, each seam cross-faded over {report["overlap"]} '
             f'frames. Long test set: version {report["long_test"]["version"]}, seed {report["long_test"]["seed"]}, '
             f'{report["long_test"]["segments"]} carry segments per sequence. Generation of all sequences in one '
             f'call: {report["generation_seconds"]} s.', '',
             '| sequence | frames | windows | ' + ' | '.join(label for _, label in KEYS) + ' |',
             '|---|---|---|' + '---|' * len(KEYS)]
    for kind in ('generated', 'hard_cut', 'ground_truth'):
        for row in report['rows'][kind]:
            lines.append(f'| {row["seq_name"]} ({kind.replace("_", " ")}) | {row["num_frames"]} | '
                         f'{len(row["windows"])} | ' + ' | '.join(_value(row, k) for k, _ in KEYS) + ' |')
        lines.append(f'| **mean, {kind.replace("_", " ")}** | | | ' +
                     ' | '.join(_value(report['summary'][kind], k) for k, _ in KEYS) + ' |')
    lines += ['', 'Seam metric: the largest per-frame jump of a joint (and of the object centre / rotation) on the '
              'steps that touch a blended seam frame, divided by the largest on every other step of the sequence '
              '(`LongSequenceMetric`, `seam_jumps`); <= 1 means the seams are no rougher than the windows. '
              '"hard cut": the same windows joined without the blend (each window replaces the motion from its first '
              'frame on; the largest joint difference to the blended motion outside the seam frames is '
              f'{report["hard_cut_max_joint_difference_outside_seams_m"]:.2g} m, i.e. the same windows). The '
              'ground-truth rows are measured at the same seam frames (their waypoint errors are 0 by construction, '
              'their start error is the object start read back).', '',
              f'Reading it: the largest per-frame joint step inside the windows is '
              f'{report["summary"]["generated"]["within_joint_jump"]:.0f} mm for this model against '
              f'{report["summary"]["ground_truth"]["within_joint_jump"]:.0f} mm in the ground truth (a short-trained '
              'model jitters), so a ratio says how a seam compares with that model\'s own motion; the hard-cut rows, '
              'from the same windows, show what the blend removes.', '']
    return '\n'.join(lines)


if __name__ == '__main__':
    main()
