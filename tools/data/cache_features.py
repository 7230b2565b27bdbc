"""Build the frozen-feature cache: run an image backbone once per image and a text encoder once per sentence.

Only entries that are missing (or unreadable) are computed; training reads the cache, never the backbones.
On the CPU every process computes on one torch thread; `--workers N` computes the image features with N processes.

    # everything a config reads: the images of its reference indexes and the sentences of every data set it loads
    # (FBM: its annotations; BEHAVE: the template sentences the data set builds), into the config's feature_cache
    python tools/data/cache_features.py --config projects/imagin4d/behave_sfie.py
    # the sentences of one data set without a config (the command the missing-text error names)
    python tools/data/cache_features.py --dataset BEHAVEDataset --data-root data/behave --out data/behave/feature_cache
    python tools/data/cache_features.py --images data/renders --texts data/texts.json --out data/feature_cache
    # the backbone and text encoder a config's pipelines read (its image_backbone, text_feature_encoder)
    python tools/data/cache_features.py --config projects/imagin4d/fbm_sfie.py --images REFS --texts ... --out CACHE
    python tools/data/cache_features.py --images 'renders/**/*.png' --backbone DINOv2Backbone \
        --backbone-cfg '{"arch": "vitb14", "checkpoint": "weights/dinov2_vitb14_pretrain.pth"}' --out CACHE
    # sketches: same backbone, own preprocessing
    python tools/data/cache_features.py --images sketches/ --backbone-cfg '{"preprocess": {"resize": "pad"}}' ...

With only `--config` (no --images / --texts) every data set of the config is built (train/val/test loaders, or an
evaluator config's train_dataset / test_dataset) and each pipeline's LoadReferenceFeatures says what to cache, with
which extractor, where; `--cfg-options` applies as in tools/train.py.

--texts takes a JSON file: a list of sentences, a dict whose values are sentences (or lists of them), or a
list of records whose --text-key field holds them.
"""
import argparse
import copy
import glob
import json
import os.path as osp
import sys
import warnings
from pathlib import Path

sys.path.insert(0, osp.abspath(osp.join(osp.dirname(__file__), '..', '..')))

from imagin4d.engine.config_checks import ConfigOptionsAction  # noqa: E402

IMAGE_SUFFIXES = ('.png', '.jpg', '.jpeg', '.bmp', '.webp', '.tif', '.tiff')


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description='Cache frozen image/text features (computes only missing ones)')
    parser.add_argument('--images', nargs='+', default=[],
                        help='image directories (searched recursively), files or glob patterns')
    parser.add_argument('--texts', nargs='+', default=[], help='JSON files with sentences')
    parser.add_argument('--text-key', default='text', help='field holding the sentence(s) in JSON records')
    parser.add_argument('--config', default=None,
                        help='a model or data set config. Alone: cache what its data sets read (reference images '
                             'and sentences). With --images/--texts: its image_backbone and text_feature_encoder '
                             'replace the --backbone and --text-encoder defaults')
    parser.add_argument('--cfg-options', nargs='+', action=ConfigOptionsAction, default=None,
                        help='override settings of --config, as in tools/train.py')
    parser.add_argument('--dataset', default=None,
                        help='registered data set type (FBMDataset, BEHAVEDataset): cache the sentences of its '
                             'train and test splits (with --data-root)')
    parser.add_argument('--data-root', default=None, help='the root of --dataset')
    parser.add_argument('--body-model-root', default=None,
                        help="folder with smplx/ or smplh/ for --dataset (default: the data set's search rule)")
    parser.add_argument('--backbone', default=None,
                        help='registered image backbone (default: EfficientNetLite0 at 448 px, what the configs read)')
    parser.add_argument('--backbone-cfg', type=json.loads, default={},
                        help='JSON keyword arguments of the backbone (checkpoint, arch, preprocess, ...), merged into '
                             "those of --config's backbone")
    parser.add_argument('--text-encoder', default=None, help='registered text encoder (default: MiniLMTextEncoder)')
    parser.add_argument('--text-encoder-cfg', type=json.loads, default={},
                        help='JSON keyword arguments of the text encoder (model_dir, max_length, ...)')
    parser.add_argument('--out', default=None,
                        help="cache directory (default: the config's feature_cache, or <data-root>/feature_cache)")
    parser.add_argument('--batch-size', type=int, default=16)
    parser.add_argument('--device', default='cpu', help="e.g. 'cpu' or 'cuda'")
    parser.add_argument('--workers', type=int, default=1,
                        help='processes for the image features on the CPU (forked; 2 fills a 2-core machine whose '
                             'cores are idle: 28 images/s at 448 px, 1.7x one process; on a shared one they ran '
                             '0.84x one process). On the CPU every process '
                             'runs one torch thread (two threads in one process ran 4x slower on a shared 2-core '
                             'machine: benchmarks/results/feature_throughput.md), so any N writes the same entries')
    parser.add_argument('--no-progress', action='store_true', help='no progress bar')
    args = parser.parse_args(argv)
    if bool(args.dataset) != bool(args.data_root):
        parser.error('--dataset and --data-root go together')
    if not (args.images or args.texts or args.config or args.dataset):
        parser.error('give --config, --dataset with --data-root, or --images and/or --texts')
    if (args.images or args.texts) and args.dataset:
        parser.error('--dataset caches the sentences of a data set; give it without --images / --texts')
    if args.out is None and (args.images or args.texts):
        parser.error('--images / --texts need --out (the cache directory)')
    return args


def list_images(patterns):
    """Image files under directories / matching globs / given directly, sorted and de-duplicated."""
    from imagin4d.utils.errors import UserError
    found = []
    for pattern in patterns:
        path = Path(pattern).expanduser()
        if path.is_dir():
            matches = [p for p in path.rglob('*') if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file()]
        elif path.is_file():
            matches = [path]
        else:
            matches = [Path(p) for p in glob.glob(str(path), recursive=True)
                       if Path(p).suffix.lower() in IMAGE_SUFFIXES and Path(p).is_file()]
        if not matches:
            raise UserError(f'--images {pattern}: no image files ({", ".join(IMAGE_SUFFIXES)}) found')
        found.extend(matches)
    return sorted({str(p) for p in found})


def collect_sentences(obj, key='text'):
    """Sentences in a parsed JSON value: str, list of str/records, dict of str/lists; records use `key`."""
    if isinstance(obj, str):
        return [obj]
    if isinstance(obj, list):
        return [s for item in obj for s in collect_sentences(item, key)]
    if isinstance(obj, dict):
        if key in obj:
            return collect_sentences(obj[key], key)
        return [s for value in obj.values() for s in collect_sentences(value, key)]
    return []


def read_sentences(files, key):
    from imagin4d.utils.errors import UserError
    sentences = []
    for name in files:
        try:
            with open(name, encoding='utf-8') as handle:
                found = collect_sentences(json.load(handle), key)
        except (OSError, ValueError) as err:
            raise UserError(f'--texts {name}: cannot read JSON ({err})') from None
        if not found:
            raise UserError(f'--texts {name}: no sentences found (expected a list of strings, a dict of '
                            f'strings, or records with a {key!r} field)')
        sentences.extend(found)
    return sentences


def merged(base: dict, overrides: dict) -> dict:
    """`base` with `overrides` merged in, nested dicts key by key."""
    out = dict(base)
    for key, value in overrides.items():
        out[key] = merged(out[key], value) if isinstance(value, dict) and isinstance(out.get(key), dict) else value
    return out


def extractor_configs(args) -> tuple:
    """(image backbone config, text encoder config): --config's image_backbone / text_feature_encoder (when given and
    not replaced by --backbone / --text-encoder) with the --*-cfg keyword arguments merged in."""
    from_config = {}
    if args.config:
        from mmengine.config import Config

        from imagin4d.utils.errors import UserError
        cfg = Config.fromfile(args.config)
        for key in ('image_backbone', 'text_feature_encoder'):
            if not isinstance(cfg.get(key), dict) or 'type' not in cfg[key]:
                raise UserError(f'--config {args.config}: field "{key}" must be a model config dict with a "type", '
                                f'got {cfg.get(key)!r}')
            from_config[key] = cfg[key].to_dict()
    from imagin4d.datasets.transforms.reference_features import DEFAULT_IMAGE_BACKBONE
    image = (dict(type=args.backbone) if args.backbone else from_config.get('image_backbone')
             or copy.deepcopy(DEFAULT_IMAGE_BACKBONE))
    text = (dict(type=args.text_encoder) if args.text_encoder else from_config.get('text_feature_encoder')
            or dict(type='MiniLMTextEncoder'))
    return merged(image, args.backbone_cfg), merged(text, args.text_encoder_cfg)


def run_extractor(cache, items, config, args, kind):
    """Compute the missing features of `items`; the extractor is not even built when nothing is missing."""
    from imagin4d.models.backbones.feature_cache import MissingFeaturesError
    from imagin4d.registry import MODELS
    try:
        with warnings.catch_warnings():  # unreadable entries are reported once, by compute() below
            warnings.simplefilter('ignore', RuntimeWarning)
            report, pending = cache.plan(items, cache.spec_for(config))
    except MissingFeaturesError:  # never built with this config (or its weights changed)
        pending = True
    if pending:
        extractor = MODELS.build(config).to(args.device)
        report = cache.compute(items, extractor, batch_size=args.batch_size, config=config,
                               progress=not args.no_progress, workers=args.workers)
    workers = f' ({report.workers} processes)' if pending and report.workers > 1 else ''
    print(f'{kind}: {report}{workers} -> {osp.join(str(cache.root), report.namespace)}')
    return report


LOADERS = ('train_dataloader', 'val_dataloader', 'test_dataloader')
EVALUATOR_SETS = ('train_dataset', 'test_dataset')      # an evaluator config's data sets (tools/train_evaluator.py)


def _plain(node):
    return node.to_dict() if hasattr(node, 'to_dict') else copy.deepcopy(dict(node))


def config_datasets(cfg) -> list:
    """(where, data set settings) of every HOI data set a config loads, each once (pipelines kept)."""
    found, seen = [], set()
    candidates = [(f'{key}.dataset', (cfg.get(key) or {}).get('dataset')) for key in LOADERS]
    for key in EVALUATOR_SETS:
        node = cfg.get(key)
        if isinstance(node, dict):
            node = _plain(node)
            node.setdefault('data_root', cfg.get('data_root'))
            if cfg.get('body_model_root'):
                node.setdefault('body_model_root', cfg.get('body_model_root'))
            candidates.append((key, node))
    for where, node in candidates:
        if not isinstance(node, dict):
            continue
        node = _plain(node)
        key = json.dumps(node, sort_keys=True, default=str)
        if key not in seen:
            seen.add(key)
            found.append((where, node))
    return found


def dataset_sentences(dataset_cfg: dict) -> list:
    """The sentences the windows of a data set carry (FBM: the annotations; BEHAVE: its text_template, filled in)."""
    from mmengine.registry import init_default_scope

    from imagin4d.registry import DATASETS
    init_default_scope('imagin4d')
    dataset = DATASETS.build(dict(dataset_cfg, pipeline=[]))
    seqs = sorted({dataset.get_data_info(i)['seq_idx'] for i in range(len(dataset))})
    return sorted({dataset.sequence_info(s)['text'] for s in seqs} - {''})


def reader_of(dataset_cfg: dict):
    """The data set's LoadReferenceFeatures settings (None when its pipeline has none)."""
    return next((t for t in dataset_cfg.get('pipeline') or [] if isinstance(t, dict)
                 and str(t.get('type', '')).split('.')[-1] == 'LoadReferenceFeatures'), None)


def config_plan(cfg, config_name: str) -> dict:
    """{(cache folder, kind, extractor config JSON): items} for every data set of the config."""
    from imagin4d.datasets.transforms.reference_features import DEFAULT_IMAGE_BACKBONE
    from imagin4d.models.backbones.feature_cache import canonical_config
    from imagin4d.rendering.dataset_references import load_reference_index
    from imagin4d.utils.errors import UserError
    from imagin4d.utils.paths import resolve_data_path
    plan = {}

    def add(cache, kind, config, items):
        plan.setdefault((cache, kind, canonical_config(config)), set()).update(items)

    datasets = config_datasets(cfg)
    if not datasets:
        raise UserError(f'--config {config_name}: no data set found (expected {", ".join(LOADERS)} with a '
                        f'"dataset", or an evaluator config\'s {" / ".join(EVALUATOR_SETS)})')
    for where, ds in datasets:
        root = ds.get('data_root')
        reader = reader_of(ds)
        if reader is None:          # an evaluator config: its feature_cache and text_encoder
            reader = dict(feature_cache=cfg.get('feature_cache'),
                          text_encoder=_plain(cfg.get('text_encoder') or dict(type='MiniLMTextEncoder')))
        cache = resolve_data_path(reader.get('feature_cache'), root, f'{where}: feature_cache')
        if not cache:
            raise UserError(f'--config {config_name}: {where} reads no feature cache (its pipeline has no '
                            'LoadReferenceFeatures with a feature_cache, and the config sets no feature_cache)')
        index = resolve_data_path(reader.get('reference_index'), root, f'{where}: reference_index')
        if index:
            if not osp.isfile(index):
                raise UserError(f'{where}: reference index {index} not found; render the references first '
                                f'(python tools/data/prepare_dataset.py {config_name} does both)')
            add(cache, 'images', reader.get('image_backbone') or DEFAULT_IMAGE_BACKBONE,
                [e['image'] for e in load_reference_index(index)])
        if reader.get('text_encoder'):
            add(cache, 'texts', reader['text_encoder'], dataset_sentences(ds))
    return plan


def dataset_plan(args) -> dict:
    """--dataset/--data-root: the sentences of its train and test splits."""
    from imagin4d.models.backbones.feature_cache import canonical_config
    out = args.out or osp.join(args.data_root, 'feature_cache')
    text = merged(dict(type=args.text_encoder or 'MiniLMTextEncoder'), args.text_encoder_cfg)
    sentences = set()
    for split in ('train', 'test'):
        sentences.update(dataset_sentences(dict(type=args.dataset, data_root=args.data_root, split=split,
                                                body_model_root=args.body_model_root)))
    return {(out, 'texts', canonical_config(text)): sentences}


def main(argv=None):
    args = parse_args(argv)
    import torch
    threads = torch.get_num_threads()
    if args.device == 'cpu':
        torch.set_num_threads(1)        # see --workers
    try:
        return build(args)
    finally:
        torch.set_num_threads(threads)


def build(args):
    """The reports of every extractor run that parsed `args` asks for."""
    import imagin4d  # noqa: F401  (compat workarounds)
    import imagin4d.datasets  # noqa: F401  (registers the data sets)
    import imagin4d.models  # noqa: F401  (registers the extractors)
    from imagin4d.datasets.transforms.reference_features import check_reference_image
    from imagin4d.models.backbones.feature_cache import FeatureCache
    if args.dataset or (args.config and not (args.images or args.texts)):
        if args.config:
            from imagin4d.engine.runner_setup import load_config
            cfg = load_config(args.config, args.cfg_options)
            plan = config_plan(cfg, args.config)
            if args.out:                    # one folder for all (the config's pipelines must then read it)
                plan = {(args.out, kind, config): items for (_, kind, config), items in plan.items()}
        else:
            plan = dataset_plan(args)
        reports = {}
        for (root, kind, config), items in sorted(plan.items()):
            items = sorted(items)
            if kind == 'images':
                for image in items:
                    check_reference_image(image)
            reports[(root, kind)] = run_extractor(FeatureCache(root), items, json.loads(config), args, kind)
        return reports
    cache = FeatureCache(args.out)
    image_config, text_config = extractor_configs(args)
    reports = {}
    if args.images:
        images = list_images(args.images)
        for image in images:                    # a truncated render is named before any feature is computed
            check_reference_image(image)
        reports['images'] = run_extractor(cache, images, image_config, args, 'images')
    if args.texts:
        sentences = read_sentences(args.texts, args.text_key)
        reports['texts'] = run_extractor(cache, sentences, text_config, args, 'texts')
    return reports


if __name__ == '__main__':
    from imagin4d.engine.runner_setup import run_cli
    run_cli(main)
