"""Build the frozen-feature cache: run an image backbone once per image and a text encoder once per sentence.

Only entries that are missing (or unreadable) are computed; training reads the cache, never the backbones.

    python tools/data/cache_features.py --images data/renders --texts data/texts.json --out data/feature_cache
    # the backbone and text encoder a config's pipelines read (its image_backbone, text_feature_encoder)
    python tools/data/cache_features.py --config projects/imagin4d/fbm_sfie.py --images REFS --texts ... --out CACHE
    python tools/data/cache_features.py --images 'renders/**/*.png' --backbone DINOv2Backbone \
        --backbone-cfg '{"arch": "vitb14", "checkpoint": "weights/dinov2_vitb14_pretrain.pth"}' --out CACHE
    # sketches: same backbone, own preprocessing
    python tools/data/cache_features.py --images sketches/ --backbone-cfg '{"preprocess": {"resize": "pad"}}' ...

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

IMAGE_SUFFIXES = ('.png', '.jpg', '.jpeg', '.bmp', '.webp', '.tif', '.tiff')


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description='Cache frozen image/text features (computes only missing ones)')
    parser.add_argument('--images', nargs='+', default=[],
                        help='image directories (searched recursively), files or glob patterns')
    parser.add_argument('--texts', nargs='+', default=[], help='JSON files with sentences')
    parser.add_argument('--text-key', default='text', help='field holding the sentence(s) in JSON records')
    parser.add_argument('--config', default=None,
                        help='a model or data set config: its image_backbone and text_feature_encoder (what its '
                             'pipelines read) replace the --backbone and --text-encoder defaults')
    parser.add_argument('--backbone', default=None,
                        help='registered image backbone (default: EfficientNetLite0 at 448 px, what the configs read)')
    parser.add_argument('--backbone-cfg', type=json.loads, default={},
                        help='JSON keyword arguments of the backbone (checkpoint, arch, preprocess, ...), merged into '
                             "those of --config's backbone")
    parser.add_argument('--text-encoder', default=None, help='registered text encoder (default: MiniLMTextEncoder)')
    parser.add_argument('--text-encoder-cfg', type=json.loads, default={},
                        help='JSON keyword arguments of the text encoder (model_dir, max_length, ...)')
    parser.add_argument('--out', required=True, help='cache directory')
    parser.add_argument('--batch-size', type=int, default=16)
    parser.add_argument('--device', default='cpu', help="e.g. 'cpu' or 'cuda'")
    parser.add_argument('--no-progress', action='store_true', help='no progress bar')
    args = parser.parse_args(argv)
    if not args.images and not args.texts:
        parser.error('give --images and/or --texts')
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
                               progress=not args.no_progress)
    print(f'{kind}: {report} -> {osp.join(str(cache.root), report.namespace)}')
    return report


def main(argv=None):
    args = parse_args(argv)
    import imagin4d  # noqa: F401  (compat workarounds)
    import imagin4d.models  # noqa: F401  (registers the extractors)
    from imagin4d.datasets.transforms.reference_features import check_reference_image
    from imagin4d.models.backbones.feature_cache import FeatureCache
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
