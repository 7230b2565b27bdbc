"""Prepare what a config reads from its data sets: reference images, then frozen image and text features.

    python tools/data/prepare_dataset.py projects/imagin4d/fbm_sfie.py
    python tools/data/prepare_dataset.py projects/imagin4d/behave_sfie.py [--cfg-options body_model_root=DIR]
    python tools/data/prepare_dataset.py projects/imagin4d/fbm_sketch.py        # the sketch references it reads

For every data set of the config (train/val/test loaders) whose pipeline reads a reference index
(`LoadReferenceFeatures.reference_index`, `<root>/references/<split>_<style>.json`), runs
tools/data/render_references.py for that data set type, root, split and style (train: 3 depicted frames per window;
test: the contact-centred frame), then tools/data/cache_features.py --config CONFIG, which caches the features of
those images and of the sentences every data set produces (FBM: its annotations; BEHAVE: the template sentences) into
the config's feature cache. Each step does only what is missing, so a second run renders and computes nothing.
The data root comes from the config (IMAGIN4D_FBM_ROOT / IMAGIN4D_BEHAVE_ROOT move it) and the body models from its
`body_model_root`. The mini-FBM, which is generated rather than downloaded, has tools/data/prepare_mini_fbm.py.
"""
import argparse
import os.path as osp
import subprocess
import sys

TOOLS = osp.dirname(osp.abspath(__file__))
sys.path.insert(0, osp.dirname(osp.dirname(TOOLS)))
sys.path.insert(0, TOOLS)

from cache_features import config_datasets, reader_of  # noqa: E402


def run(*args):
    """Run a tool; a failed one has printed its own one-line error, so stop with its exit code, no traceback."""
    print('+', ' '.join(map(str, args)), flush=True)
    code = subprocess.run([sys.executable, *map(str, args)]).returncode
    if code:
        sys.exit(code)


def check_roots(cfg, config_name: str) -> None:
    """Every data root of the config is a folder (else one line naming it and where it is set)."""
    from imagin4d.utils.errors import UserError
    for where, ds in config_datasets(cfg):
        root = ds.get('data_root')
        if not root or not osp.isdir(root):
            raise UserError(f'{config_name}: {where}.data_root {root!r} is not a folder; put the release there or '
                            'point the config at it (IMAGIN4D_FBM_ROOT / IMAGIN4D_BEHAVE_ROOT=DIR; '
                            'docs/user_guides/fbm.md, behave.md)')


def render_jobs(cfg, config_name: str) -> list:
    """[(data set type, data root, split, style, index folder, body-model folder)] of the config's reference indexes."""
    from imagin4d.utils.errors import UserError
    from imagin4d.utils.paths import resolve_data_path
    jobs = []
    for where, ds in config_datasets(cfg):
        reader = reader_of(ds)
        root, split = ds.get('data_root'), ds.get('split', 'train')
        index = resolve_data_path((reader or {}).get('reference_index'), root, f'{where}: reference_index')
        if not index:
            continue
        name = osp.basename(index)
        if not (name.startswith(f'{split}_') and name.endswith('.json')):
            raise UserError(f'{config_name}: {where}.pipeline LoadReferenceFeatures.reference_index {index}: '
                            f'expected <folder>/{split}_<style>.json (the name render_references.py writes)')
        style = name[len(split) + 1:-len('.json')]
        bodies = resolve_data_path(ds.get('body_model_root'), root, f'{where}: body_model_root')
        job = (str(ds['type']), root, split, style, osp.dirname(index), bodies)
        if job not in jobs:
            jobs.append(job)
    return jobs


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('config', help='a model or data set config (projects/imagin4d/<data set>_<variant>.py)')
    parser.add_argument('--cfg-options', nargs='+', default=[], metavar='KEY=VALUE',
                        help='override config settings, as in tools/train.py (e.g. body_model_root=DIR)')
    parser.add_argument('--size', type=int, default=448, help='reference image size (the configs read 448 px)')
    parser.add_argument('--train-frames', type=int, default=3, help='depicted frames per training window')
    args = parser.parse_args(argv)

    import imagin4d  # noqa: F401
    from imagin4d.engine.config_checks import ConfigOptionsAction
    from imagin4d.engine.runner_setup import load_config
    options = argparse.ArgumentParser()
    options.add_argument('--cfg-options', nargs='+', action=ConfigOptionsAction)
    parsed = options.parse_args(['--cfg-options', *args.cfg_options]).cfg_options if args.cfg_options else None
    cfg = load_config(args.config, parsed)
    check_roots(cfg, args.config)
    jobs = render_jobs(cfg, args.config)
    for dataset, root, split, style, out, bodies in jobs:
        frames = ['--frames-per-window', args.train_frames] if split == 'train' else []
        run(osp.join(TOOLS, 'render_references.py'), '--dataset', dataset, '--data-root', root, '--split', split,
            '--style', style, '--size', args.size, '--out', out, *frames,
            *(['--body-model-root', bodies] if bodies else []))
    extra = ['--cfg-options', *args.cfg_options] if args.cfg_options else []
    run(osp.join(TOOLS, 'cache_features.py'), '--config', args.config, '--no-progress', *extra)
    roots = sorted({root for _, root, *_ in jobs})
    print(f'prepare_dataset: done; {len(jobs)} reference index(es) under {", ".join(roots) or "-"}, features cached')


if __name__ == '__main__':
    from imagin4d.engine.runner_setup import run_cli
    run_cli(main)
