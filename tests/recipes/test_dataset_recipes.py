"""The FBM and BEHAVE recipes of docs/user_guides/{fbm,behave}.md, run as written through the real tools on small roots
in the release layouts: prepare (render + cache), train, the FID evaluator, test with it, mirror test.

The commands are read from the docs page (the block after its `<!-- recipe` marker); the test changes only the
iterations, batch sizes and workers (and the work-dir folder), so a page whose commands stop working fails here.
"""
import json
import os
import os.path as osp
import shlex
import sys
from pathlib import Path

import pytest
from testing_utils import REPO, one_line_error, run_tool

sys.path.insert(0, str(REPO / 'tests' / 'datasets'))
import hoi_fixtures  # noqa: E402

ITERS = 2
# The only changes to the documented commands: iterations, batch sizes, workers.
CFG_OPTIONS = {
    'tools/train.py': [f'train_cfg.max_iters={ITERS}', 'train_dataloader.batch_size=2',
                       'train_dataloader.num_workers=0', 'val_dataloader.batch_size=2', 'val_dataloader.num_workers=0'],
    'tools/train_evaluator.py': ['train_cfg.max_iters=4', 'train_cfg.batch_size=2', 'train_cfg.num_workers=0'],
    'tools/test.py': ['test_dataloader.batch_size=2', 'test_dataloader.num_workers=0'],
}
FLAGS = {'tools/analysis/mirror_test.py': ['--batch-size', '2']}
# Two test sequences each: FID needs at least two test windows.
FBM_SPLITS = dict(train=[('sub1_largebox_000', 150), ('sub2_smalltable_001', 130)],
                  test=[('sub16_largebox_010', 125), ('sub17_smalltable_011', 125)])
BEHAVE_SPLITS = dict(train=[('Date01_Sub01_boxmedium_hand', 150), ('Date02_Sub06_chairwood_sit', 130)],
                     test=[('Date03_Sub03_boxmedium_lift', 125), ('Date03_Sub07_chairwood_lift', 125)])


def recipe_commands(page: str) -> list:
    """The commands of the recipe block of a docs page, each as an argument list (continuation lines joined)."""
    text = (REPO / 'docs' / 'user_guides' / page).read_text()
    block = text.split('<!-- recipe', 1)[1].split('```bash\n', 1)[1].split('```', 1)[0]
    return [shlex.split(line) for line in block.replace('\\\n', ' ').splitlines() if line.strip()]


def adapted(argv: list, work: Path) -> list:
    """A documented command with the test's iterations, batch sizes and workers, writing under `work`."""
    assert argv[0] == 'python', argv
    args = [a.replace('work_dirs/', f'{work}/').replace('iter_400000.pth', f'iter_{ITERS}.pth') for a in argv[1:]]
    options = CFG_OPTIONS.get(args[0], [])
    if options:
        if '--cfg-options' in args:
            at = args.index('--cfg-options') + 1
            args[at:at] = options
        else:
            args += ['--cfg-options', *options]
    return args + FLAGS.get(args[0], [])


def fbm_release(root: Path, body_models: Path) -> Path:
    hoi_fixtures.write_fbm_release(str(root), **FBM_SPLITS)
    (root / 'smpl_all_models').mkdir()
    os.symlink(body_models / 'smplx', root / 'smpl_all_models' / 'smplx')
    return root


def behave_release(root: Path, body_models: Path) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    hoi_fixtures.write_behave_release(str(root), **BEHAVE_SPLITS)
    os.symlink(body_models / 'smplh', root / 'smplh')
    return root


RECIPES = {
    'fbm': dict(page='fbm.md', release=fbm_release, env='IMAGIN4D_FBM_ROOT', config='fbm_sfie',
                sentences=['Lift the largebox, and put it down.', 'Lift the smalltable, and put it down.']),
    'behave': dict(page='behave.md', release=behave_release, env='IMAGIN4D_BEHAVE_ROOT', config='behave_sfie',
                   sentences=['A person interacts with the boxmedium.', 'A person interacts with the chairwood.']),
}


@pytest.mark.slow
@pytest.mark.parametrize('name', list(RECIPES))
def test_the_documented_recipe_runs_on_a_release_layout(name, free_body_root, tmp_path, monkeypatch):
    recipe = RECIPES[name]
    monkeypatch.delenv('IMAGIN4D_BODY_MODEL_DIR', raising=False)      # the release's own body-model folder
    root = recipe['release'](tmp_path / name, Path(free_body_root))
    env = {recipe['env']: str(root), 'OMP_NUM_THREADS': '1'}
    commands = recipe_commands(recipe['page'])
    assert [c[1] for c in commands] == ['tools/data/prepare_dataset.py', 'tools/train.py', 'tools/train_evaluator.py',
                                        'tools/test.py', 'tools/analysis/mirror_test.py']
    logs = [run_tool(adapted(c, tmp_path / 'work_dirs'), cwd=REPO, env=env, timeout=900) for c in commands]

    # prepare: the references of both splits and the features of every sentence the data set produces
    from imagin4d.models.backbones.feature_cache import FeatureCache
    for split in ('train', 'test'):
        assert json.loads((root / 'references' / f'{split}_mesh.json').read_text())
    cache = FeatureCache(root / 'feature_cache')
    spec = cache.spec_for(dict(type='MiniLMTextEncoder'))
    for sentence in recipe['sentences']:
        assert cache.get(sentence, spec)['pooled'].shape == (384,)
    # train: on this CPU-only machine the GPU-sized config says what it costs and names the CPU config
    train_log = logs[1].stdout + logs[1].stderr
    assert f'{recipe["config"]}.py is sized for GPUs' in train_log and 'mini_fbm_sfie.py' in train_log
    work = tmp_path / 'work_dirs'
    assert (work / recipe['config'] / f'iter_{ITERS}.pth').is_file()
    # test with the evaluator: FID; R-precision only where the text is real
    metrics = json.loads((work / recipe['config'] / 'test.json').read_text())
    assert 'fid' in metrics and 'mpjpe' in metrics and 'ia_success' in metrics
    test_log = logs[3].stdout + logs[3].stderr
    if name == 'behave':
        assert 'r_precision_top1' not in metrics and 'matching_score' not in metrics
        assert 'R-precision and matching score left out: BEHAVE has no sentences' in test_log
    else:
        assert 'r_precision_top1' in metrics and 'left out' not in test_log
    mirror = json.loads((work / recipe['config'] / 'mirror.json').read_text())
    assert len(mirror['per_window']) == 2


# ------------------------------------------------------------------ the errors on the way, fast

@pytest.fixture(scope='module')
def behave_root(tmp_path_factory, free_body_root):
    return behave_release(tmp_path_factory.mktemp('behave') / 'behave', Path(free_body_root))


def test_render_references_on_a_behave_root_suggests_the_flag(behave_root, tools_runner):
    line = one_line_error(tools_runner('tools/data/render_references.py', '--data-root', behave_root, '--split',
                                       'test', check=False))
    assert line == (f'error: --data-root {behave_root} holds a BEHAVE release (split.json, behave-30fps-params-v1/), '
                    'not FBM: add --dataset BEHAVEDataset')


def test_prepare_without_the_release_is_one_line(tools_runner, tmp_path):
    line = one_line_error(tools_runner('tools/data/prepare_dataset.py', 'projects/imagin4d/behave_sfie.py',
                                       env=dict(IMAGIN4D_BEHAVE_ROOT=str(tmp_path / 'none')), check=False))
    assert line.startswith(f"error: projects/imagin4d/behave_sfie.py: train_dataloader.dataset.data_root "
                           f"'{tmp_path / 'none'}' is not a folder; put the release there")


def test_missing_behave_text_names_the_command_that_fixes_it(behave_root, tmp_path):
    """The error of a BEHAVE window without cached text features names one command; running it fixes the window."""
    from mmengine.registry import init_default_scope

    from imagin4d.models.backbones.feature_cache import MissingFeaturesError
    from imagin4d.registry import DATASETS
    init_default_scope('imagin4d')
    cache = tmp_path / 'cache'
    reader = dict(type='LoadReferenceFeatures', feature_cache=str(cache), text_encoder=dict(type='MiniLMTextEncoder'))

    def dataset():
        return DATASETS.build(dict(type='BEHAVEDataset', data_root=str(behave_root), split='test', pipeline=[reader]))

    def first_window():
        return dataset()[0]

    with pytest.raises(MissingFeaturesError) as info:
        first_window()
    message = str(info.value)
    assert '\n' not in message
    # raised in a data loader worker, torch puts the worker's traceback into the message; the tools print it as raised
    from torch.utils.data import DataLoader

    from imagin4d.utils.compat import worker_error_message
    with pytest.raises(MissingFeaturesError) as via_worker:
        next(iter(DataLoader(dataset(), batch_size=1, num_workers=1, collate_fn=list)))
    assert 'Original Traceback' in str(via_worker.value) and worker_error_message(str(via_worker.value)) == message
    assert worker_error_message(message) == message
    command = message.split('cache the sentences of this data set with: ')[1].split(' (')[0]
    assert command == (f'python tools/data/cache_features.py --dataset BEHAVEDataset --data-root {behave_root} '
                       f'--out {cache}')
    run_tool(shlex.split(command)[1:] + ['--no-progress'], cwd=REPO)
    assert first_window()['text_pooled'].shape == (384,)


def test_cpu_cost_line_names_the_cpu_config(monkeypatch):
    from testing_utils import load_tool

    from imagin4d.engine.runner_setup import load_config
    train = load_tool('tools/train.py')
    lines = []
    monkeypatch.setattr('mmengine.logging.print_log', lambda msg, **kw: lines.append(msg) if 'GPU' in msg else None)
    monkeypatch.setattr('torch.cuda.is_available', lambda: False)
    train.say_cpu_cost(load_config('projects/imagin4d/behave_no_image.py'))
    train.say_cpu_cost(load_config('projects/imagin4d/mini_fbm_sfie.py'))          # meant for CPUs: nothing said
    assert lines == ['note: behave_no_image.py is sized for GPUs; without CUDA one iteration takes about 11-14 s and '
                     '4.8 GB of memory (measured: 2-core CPU, batch 32); the config meant for CPUs is '
                     f'{osp.relpath(REPO / "projects/imagin4d/mini_fbm_no_image.py")} (mini model and schedule)']
    monkeypatch.setattr('torch.cuda.is_available', lambda: True)
    train.say_cpu_cost(load_config('projects/imagin4d/behave_no_image.py'))
    assert len(lines) == 1


def test_text_metrics_left_out_with_their_reason(monkeypatch):
    """skip_text_metrics: FID and diversity as without it, no R-precision / matching score, the reason logged."""
    import numpy as np

    from imagin4d.evaluation.metrics.distribution_metric import DistributionMetric
    rng = np.random.default_rng(0)
    rows = [dict(gt=rng.normal(size=8), pred=rng.normal(size=8), text=rng.normal(size=8)) for _ in range(6)]
    logged = []
    monkeypatch.setattr('imagin4d.evaluation.metrics.distribution_metric.print_log',
                        lambda msg, **kw: logged.append(msg))
    full = DistributionMetric(replications=2).compute_metrics(rows)
    kept = DistributionMetric(replications=2, skip_text_metrics='template text').compute_metrics(rows)
    assert 'r_precision_top1' in full and 'matching_score' in full
    assert sorted(kept) == sorted(k for k in full if 'r_precision' not in k and 'matching_score' not in k)
    assert all(kept[k] == full[k] for k in kept)
    assert 'DistributionMetric: R-precision and matching score left out: template text' in logged
    from_data = DistributionMetric(replications=2)          # the data set's metainfo decides when the config is silent
    from_data.dataset_meta = dict(skip_text_metrics='BEHAVE template')
    assert from_data.compute_metrics(rows) == kept
    assert 'DistributionMetric: R-precision and matching score left out: BEHAVE template' in logged


def test_behave_says_its_text_is_a_template(behave_root, tmp_path):
    from imagin4d.datasets import BEHAVEDataset
    template = BEHAVEDataset(data_root=str(behave_root), split='test')
    assert template.metainfo['skip_text_metrics'].startswith('BEHAVE has no sentences')
    texts = tmp_path / 'texts'
    texts.mkdir()
    own = BEHAVEDataset(data_root=str(behave_root), split='test', text_dir=str(texts))
    assert 'skip_text_metrics' not in own.metainfo


def test_the_evaluator_config_takes_the_one_body_model_setting(monkeypatch):
    from imagin4d.engine.runner_setup import load_config
    monkeypatch.delenv('IMAGIN4D_BODY_MODEL_DIR', raising=False)
    config = 'projects/imagin4d/evaluators/behave_evaluator.py'
    default = load_config(config)
    assert [default.train_dataset.body_model_root, default.test_dataset.body_model_root] == ['{data_root}'] * 2
    moved = load_config(config, {'body_model_root': '/models/here'})
    assert [moved.train_dataset.body_model_root, moved.test_dataset.body_model_root] == ['/models/here'] * 2
