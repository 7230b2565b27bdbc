"""The main job of `make demo`: build the embedded mini-FBM data set, train the full IMAGIN-4D model on it, evaluate it,
generate from user-style inputs kept in demo/ (a box mesh, a picture, waypoints) and write a short report with videos
into the work dir.

    python tools/demo.py [--iters 500] [--work-dir work_dirs/demo] [--data-root data/mini_fbm_demo]

Every stage is one of the project's tools run as a subprocess; stages whose outputs exist are skipped, so a second
run only rewrites the report. The work dir remembers the data it was trained on (`data_identity.json`, see
`imagin4d.datasets.synthetic.build_identity`): after the data root was rebuilt or its references rendered again,
the demo stops instead of evaluating an old checkpoint on new data. The demo budget (500 iterations) is far below
the benchmark's: the numbers show the pipeline working end to end, not the method's accuracy
(docs/results/results_mini_fbm.md has those).
"""
import argparse
import json
import os
import os.path as osp
import subprocess
import sys
import time

REPO = osp.abspath(osp.join(osp.dirname(__file__), '..'))
DEMO_SIZE = ['--num-train', '60', '--num-test', '24']  # the data set's default (360/96) takes longer to render
DEMO_STYLES = ['--styles', 'mesh']   # the full model reads mesh references (sketch: mini_fbm_sketch.py)
CONFIG = 'projects/imagin4d/mini_fbm_sfie.py'
#: The generation stage's inputs (demo/README.md says what they are); the same command runs on your own files.
GENERATE_INPUTS = ['--text', 'Lift the box, carry it and put it down.', '--object', 'demo/box.obj',
                   '--image', 'demo/reference.png', '--waypoints', 'demo/waypoints.json', '--name', 'box']
REPORT_KEYS = ('ia_success', 'ia_success_best', 'ia_pose_err', 'ia_obj_pos_err', 'ia_contact_both', 'ia_layout',
               'factor_grasp_hand', 'factor_carry_height', 'factor_layout', 'hand_jpe', 'mpjpe', 'obj_trans_err',
               'contact_f1', 'foot_sliding', 'waypoint_start_err', 'waypoint_end_err', 'waypoint_xy_err')


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--iters', type=int, default=500)
    parser.add_argument('--work-dir', default=osp.join(REPO, 'work_dirs', 'demo'))
    parser.add_argument('--data-root', default=osp.join(REPO, 'data', 'mini_fbm_demo'))
    parser.add_argument('--videos', type=int, default=3, help='test windows to render as videos')
    args = parser.parse_args()
    env = dict(os.environ, IMAGIN4D_MINI_FBM_ROOT=osp.abspath(args.data_root))
    env.setdefault('IMAGIN4D_BODY_MODEL_DIR', osp.join(REPO, 'data', 'body_models'))
    times = {}

    def stage(name, *cmd):
        print(f'[demo] {name}: python {" ".join(map(str, cmd))}', flush=True)
        start = time.time()
        subprocess.run([sys.executable, *map(str, cmd)], check=True, env=env, cwd=REPO)
        times[name] = time.time() - start

    wd = args.work_dir
    ckpt = osp.join(wd, f'iter_{args.iters}.pth')
    metrics, dump = osp.join(wd, 'metrics.json'), osp.join(wd, 'results.pkl')
    stage('1/6 data', 'tools/data/prepare_mini_fbm.py', '--out', args.data_root, *DEMO_SIZE, *DEMO_STYLES)
    check_work_dir_data(wd, args.data_root, ckpt)
    if not osp.isfile(ckpt):
        stage('2/6 train', 'tools/train.py', CONFIG, '--work-dir', wd, '--cfg-options',
              f'train_cfg.max_iters={args.iters}', f'default_hooks.checkpoint.interval={args.iters}',
              'val_dataloader=None', 'val_cfg=None', 'val_evaluator=None')
    if not osp.isfile(metrics):
        stage('3/6 evaluate', 'tools/test.py', CONFIG, ckpt, '--work-dir', wd, '--out', metrics, '--dump', dump)
    videos = osp.join(wd, 'videos')
    if osp.isfile(osp.join(REPO, 'tools', 'visualize.py')) and not osp.isdir(videos):
        stage('4/6 videos', 'tools/visualize.py', dump, '--out', videos, '--limit', args.videos)
    generated = osp.join(wd, 'generation')
    if not osp.isfile(osp.join(generated, 'summary.json')):
        stage('5/6 generate', 'tools/generate.py', CONFIG, ckpt, *GENERATE_INPUTS, '--out', generated, '--overwrite',
              '--no-progress')
    with open(metrics) as f:
        values = json.load(f)
    lines = ['# imagin4d demo report', '',
             f'Full IMAGIN-4D model (`{CONFIG}`) trained for {args.iters} iterations on the demo-size mini-FBM '
             f'({args.data_root}), evaluated on its {DEMO_SIZE[3]} test windows. A short budget: this shows the '
             'pipeline end to end; docs/results/results_mini_fbm.md has the benchmark.', '',
             '| metric | value |', '|---|---|']
    lines += [f'| {k} | {values[k]:.4g} |' for k in REPORT_KEYS if k in values]
    lines += ['', 'Units: ia_* errors in metres / degrees, hand_jpe, mpjpe and waypoint errors in mm, foot sliding as '
              'CHOIS; rates in [0, 1]. All metrics: metrics.json; per-window results: results.pkl.', '']
    if osp.isdir(videos):
        files = sorted(f for f in os.listdir(videos) if f.endswith(('.mp4', '.gif', '.png')))
        lines += ['## Videos (reference image | GT | generated; the depicted frame is marked)', '']
        lines += [f'- [{f}](videos/{f})' for f in files]
        lines.append('')
    lines += generation_section(generated)
    lines += ['## Stage times', ''] + [f'- {k}: {v / 60:.1f} min' for k, v in times.items()]
    with open(osp.join(wd, 'report.md'), 'w') as f:
        f.write('\n'.join(lines) + '\n')
    print(f'[demo] 6/6 report: {osp.join(wd, "report.md")}')
    return 0


def generation_section(folder: str) -> list:
    """Report lines for the generation stage: the command, what it was given and every file it wrote."""
    path = osp.join(folder, 'summary.json')
    if not osp.isfile(path):
        return []
    with open(path) as f:
        summary = json.load(f)
    lines = ['## Generated from your own kind of inputs', '',
             'The trained model on inputs kept in `demo/` (none of them in the data set): '
             f'`python tools/generate.py {CONFIG} {summary["checkpoint"]} ' + ' '.join(
                 f'"{a}"' if ' ' in a else a for a in GENERATE_INPUTS) + ' --out <folder>`. '
             'Run the same command on your own mesh, picture and waypoints (docs/user_guides/generate.md).', '']
    for request in summary['requests']:
        for sample in request['samples']:
            errors = ', '.join(f'{k.replace("frame_", "frame ")}: {v:.0f} mm'
                               for k, v in (sample.get('waypoint_errors_mm') or {}).items())
            lines.append(f'- "{request["text"]}" (seed {sample["seed"]}, depicted frame t^ = '
                         f'{sample["t_hat"] if sample["t_hat"] is None else round(sample["t_hat"])}); object centre '
                         f'distance to the waypoints: {errors}')
            lines += [f'  - [{name}](generation/{name})' for name in sample['files']]
    lines += ['  - [summary.json](generation/summary.json)', '',
              'Stage times (s): ' + ', '.join(f'{k} {v:.2f}' for k, v in summary['timings_s'].items()), '']
    return lines


def check_work_dir_data(wd: str, data_root: str, ckpt: str) -> None:
    """Record the data identity in a new work dir; stop when an existing one was trained on other data."""
    sys.path.insert(0, REPO)
    from imagin4d.datasets.synthetic import build_identity
    current, path = build_identity(data_root), osp.join(wd, 'data_identity.json')
    if osp.isfile(path):
        with open(path) as f:
            recorded = json.load(f)
        if recorded != current:
            sys.exit(f'error: {path}: the demo in {wd} was trained on mini-FBM {recorded}, but {data_root} is now '
                     f'{current}; move or delete {wd} to train and evaluate on the current data')
        return
    if osp.isfile(ckpt):
        sys.exit(f'error: {path} is missing: {ckpt} was trained on data of unknown identity (an older demo); move or '
                 f'delete {wd} to train and evaluate on the current data')
    os.makedirs(wd, exist_ok=True)
    with open(path, 'w') as f:
        json.dump(current, f, indent=1)


if __name__ == '__main__':
    sys.exit(main())
