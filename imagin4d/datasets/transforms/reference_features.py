"""Transforms that attach the reference image's cached features, the text features and object surface points.

Owns `LoadReferenceFeatures` (reference index + feature cache -> patch grid, pooled feature, text features, the
reference camera and the depicted frame t* of the chosen image), `mirrored_image_path` (where the mirrored
reference of an image lives), `check_reference_image` (a truncated or corrupt rendered reference is named, with
the advice to re-render it: its features cannot be recomputed from it) and `SampleObjectPoints` (fixed surface
samples of the object template for the object-geometry loss and guidance). Frozen backbones never run here: a
missing feature is an error that names the sample and the command that builds it.
"""
import copy
import os.path as osp
from collections import defaultdict
from typing import Dict, List, Optional, Tuple

import numpy as np
import torch

from imagin4d.models.backbones.feature_cache import FeatureCache, MissingFeaturesError
from imagin4d.registry import TRANSFORMS
from imagin4d.utils.errors import DataError, UserError
from imagin4d.utils.paths import resolve_data_path

# The image backbone reference features are read with when a pipeline names none: EfficientNet-Lite0 at 448 px (a 14 x
# 14 patch grid), what tools/data/prepare_mini_fbm.py caches and what the configs state (_base_/datasets/
# hoi_references.py `image_backbone`; a test keeps the two equal).
DEFAULT_IMAGE_BACKBONE = dict(type='EfficientNetLite0Backbone', preprocess=dict(size=448))
#: sentences whose features a LoadReferenceFeatures keeps in memory (mini-FBM has a few dozen; ~50 KB each)
TEXT_MEMO_SIZE = 4096

__all__ = ['LoadReferenceFeatures', 'SampleObjectPoints', 'check_reference_image', 'mirrored_image_path']


def mirrored_image_path(image: str) -> str:
    """The horizontally flipped copy of a reference image (written by tools/analysis/mirror_test.py)."""
    stem, ext = osp.splitext(image)
    return f'{stem}_mirrored{ext}'


def check_reference_image(image: str) -> None:
    """Raise `DataError` when a reference image cannot be decoded completely (truncated by a killed render or copy,
    or corrupt): its features must not be recomputed from it; it must be rendered again."""
    from PIL import Image
    try:
        with Image.open(image) as handle:
            handle.load()                      # decodes every pixel: a truncated file raises here
    except FileNotFoundError:
        raise DataError(f'reference image {image} does not exist; render the references with '
                        'tools/data/render_references.py (or tools/data/prepare_mini_fbm.py)') from None
    except (OSError, SyntaxError, ValueError) as err:
        raise DataError(f'reference image {image} is truncated or corrupt ({err}); re-render it with '
                        'tools/data/render_references.py (or tools/data/prepare_mini_fbm.py): features computed '
                        'from a broken image would be wrong') from None


def _sample_name(results: dict) -> str:
    return f"{results.get('dataset', '?')}/{results.get('seq_name', '?')}@{results.get('window_start', '?')}"


@TRANSFORMS.register_module()
class LoadReferenceFeatures:
    """Attach the frozen features of a window's reference image and of its sentence.

    For each window (seq_name, window_start) the reference index (`tools/data/render_references.py`) lists one
    image per depicted frame. 'random' choice (training) draws one of them, 'first' (evaluation) takes the first;
    the window's `t_star` becomes the depicted frame of the chosen image, so image and t* always agree.

    Args:
        reference_index: index JSON (e.g. `{data_root}/references/train_mesh.json`: '{data_root}' is the window's
            data set root); None: no image.
        feature_cache: the feature cache root (`tools/data/cache_features.py --out`; '{data_root}' allowed).
        image_backbone: the backbone config the image features were cached with (default: DEFAULT_IMAGE_BACKBONE).
        text_encoder: the text encoder config of the sentence features; None: no text features.
        feature_key: prefix of the image keys written ('image' -> image_patch / image_pooled; 'sketch' -> sketch_*).
        choice: 'random' or 'first' (default: 'first').
        mirror: use the horizontally mirrored reference image and camera (the mirrored-reference test); with a
            storyboard, True mirrors every image and a list of positions (e.g. [1]) only those images.
        max_images: storyboards (issue 29): None (default) attaches one image as above; k_max >= 1 attaches K of
            the window's depicted frames (distinct frames, sorted by time): 'random' draws K uniformly in
            1..min(k_max, frames available), then the frames, then one image per frame where a frame has several;
            'first' takes the first min(k_max, available) frames. The arrays are padded to k_max images.

    Adds: `<feature_key>_patch` (N, C) and `<feature_key>_pooled` (C,) float16 as cached (half the bytes a loader
    worker hands over; `HOIDataPreprocessor` makes every input float32, exactly), `text_pooled` (Dt,) and `text_tokens`
    (L, Dt) float32, `t_star`, `reference_image` (path), `reference_camera` (Camera dict), `reference_style`.
    With max_images: `<feature_key>_patch` (k_max, N, C), `<feature_key>_pooled` (k_max, C), `<feature_key>_mask`
    (k_max,) bool (True on the K real images), `<feature_key>_t_star` (k_max,) long (-1 on padding),
    `reference_images` / `reference_cameras` / `reference_t_stars` (K each); t_star, reference_image and
    reference_camera are those of the first (earliest) image.
    """

    CHOICES = ('random', 'first')

    def __init__(self, reference_index: Optional[str] = None, feature_cache: Optional[str] = None,
                 image_backbone: Optional[dict] = None, text_encoder: Optional[dict] = None,
                 feature_key: str = 'image', choice: str = 'first', mirror=False, max_images: Optional[int] = None):
        if choice not in self.CHOICES:
            raise ValueError(f'choice must be one of {self.CHOICES}, got {choice!r}')
        if max_images is not None and (isinstance(max_images, bool) or not isinstance(max_images, int)
                                       or max_images < 1):
            raise ValueError(f'max_images must be None (one image) or an int >= 1 (k_max), got {max_images!r}')
        if not isinstance(mirror, bool) and max_images is None:
            raise ValueError(f'mirror must be True or False for one image (positions need max_images), got {mirror!r}')
        self.max_images = max_images
        if (reference_index or text_encoder) and not feature_cache:
            raise ValueError('LoadReferenceFeatures needs feature_cache=... (the cache_features.py --out folder)')
        if reference_index and not image_backbone:
            image_backbone = copy.deepcopy(DEFAULT_IMAGE_BACKBONE)
        self.reference_index, self.feature_cache = reference_index, feature_cache
        self.image_backbone, self.text_encoder = image_backbone, text_encoder
        self.feature_key, self.choice, self.mirror = feature_key, choice, mirror
        self._entries: Optional[Dict[Tuple[str, int], List[dict]]] = None
        self._cache = self._image_spec = self._text_spec = None
        self._texts: Dict[str, dict] = {}                  # sentence -> float32 features (`_text_features`)

    # ------------------------------------------------------------------ lazy set-up (in the worker)
    def _setup(self, data_root: Optional[str]) -> None:
        from imagin4d.rendering.dataset_references import load_reference_index
        self.reference_index = resolve_data_path(self.reference_index, data_root, 'reference_index')
        self.feature_cache = resolve_data_path(self.feature_cache, data_root, 'feature_cache')
        self._cache = FeatureCache(self.feature_cache) if self.feature_cache else None
        entries = defaultdict(list)
        if self.reference_index:
            for entry in load_reference_index(self.reference_index):
                entries[(entry['seq_name'], int(entry['window_start']))].append(entry)
            self._image_spec = self._cache.spec_for(self.image_backbone)
        if self.text_encoder:
            try:
                self._text_spec = self._cache.spec_for(self.text_encoder)
            except MissingFeaturesError as err:
                raise self._missing_texts(err) from None
        self._entries = dict(entries)

    def _missing_texts(self, err: MissingFeaturesError) -> MissingFeaturesError:
        """`err` in one line, with the command that caches every sentence of the window's data set."""
        import json

        from imagin4d.registry import DATASETS
        name, root = self._window_source
        dataset = next((k for k, cls in DATASETS.module_dict.items() if getattr(cls, 'DATASET_NAME', None) == name),
                       name)
        encoder = dict(self.text_encoder)
        flags = '' if encoder == dict(type='MiniLMTextEncoder') else \
            f" --text-encoder {encoder.pop('type')} --text-encoder-cfg '{json.dumps(encoder, sort_keys=True)}'"
        head = str(err).split('\n')[0]
        for cut in (' Build them with', '; rebuild with', ' Recompute them with'):
            head = head.split(cut)[0]
        return MissingFeaturesError(f'{head.rstrip(".:")}; cache the sentences of this data set with: python '
                                    f'tools/data/cache_features.py --dataset {dataset} --data-root {root} --out '
                                    f'{self.feature_cache}{flags} (tools/data/prepare_dataset.py CONFIG does it '
                                    'with the references)')

    def _choose(self, results: dict) -> dict:
        key = (results['seq_name'], int(results['window_start']))
        options = self._entries.get(key)
        if not options:
            raise UserError(f'{self.reference_index}: no reference image for window {_sample_name(results)} '
                            f'(the index has {len(self._entries)} windows). Render the references of this split '
                            'with tools/data/render_references.py (or tools/data/prepare_mini_fbm.py).')
        if self.choice == 'first' or len(options) == 1:
            return options[0]
        return options[np.random.randint(len(options))]   # mmengine seeds numpy per worker

    def _choose_storyboard(self, results: dict) -> List[dict]:
        """K entries of distinct depicted frames, sorted by time (see `max_images`)."""
        options = self._entries.get((results['seq_name'], int(results['window_start'])))
        if not options:
            self._choose(results)                         # raises the one-line missing-window error
        by_frame = defaultdict(list)
        for entry in options:
            by_frame[int(entry['t_star'])].append(entry)
        frames = sorted(by_frame)
        most = min(self.max_images, len(frames))
        if self.choice == 'first':
            return [by_frame[t][0] for t in frames[:most]]
        k = int(np.random.randint(1, most + 1))
        picked = sorted(int(i) for i in np.random.choice(len(frames), size=k, replace=False))
        return [by_frame[frames[i]][np.random.randint(len(by_frame[frames[i]]))] if len(by_frame[frames[i]]) > 1
                else by_frame[frames[i]][0] for i in picked]

    def _mirrored(self, entry: dict, results: dict) -> Tuple[str, dict]:
        from imagin4d.rendering import Camera, mirror_camera
        image = mirrored_image_path(entry['image'])
        if not osp.isfile(image):
            raise UserError(f'no mirrored reference {image} for window {_sample_name(results)}; '
                            'tools/analysis/mirror_test.py writes them')
        return image, mirror_camera(Camera.from_dict(entry['camera'])).to_dict()

    def _features(self, image: str) -> dict:
        try:
            return self._cache.get(image, self._image_spec)
        except MissingFeaturesError:
            check_reference_image(image)      # a broken image: re-render it, not recompute its features
            raise

    def _text_features(self, text: str) -> dict:
        """{'pooled': (Dt,), 'tokens': (L, Dt)} float32 of a sentence, memoised in the process (a data set has few
        sentences and every window reads one: 3% of a loader worker's CPU per batch,
        benchmarks/results/loader_worker_text_memo_cpu.md)."""
        feats = self._texts.get(text)
        if feats is None:
            try:
                feats = self._cache.get(text, self._text_spec)
            except MissingFeaturesError as err:
                raise self._missing_texts(err) from None
            feats = {key: feats[key].astype(np.float32) for key in ('pooled', 'tokens')}
            if len(self._texts) < TEXT_MEMO_SIZE:
                self._texts[text] = feats
        return feats

    def _attach_storyboard(self, results: dict) -> None:
        entries = self._choose_storyboard(results)
        flip = set(range(len(entries))) if self.mirror is True else set(self.mirror or ())
        images, cameras = [], []
        for k, entry in enumerate(entries):
            image, camera = self._mirrored(entry, results) if k in flip else (entry['image'], entry['camera'])
            images.append(image)
            cameras.append(camera)
        feats = [self._features(image) for image in images]
        patch = np.zeros((self.max_images, *feats[0]['patch'].shape), feats[0]['patch'].dtype)
        pooled = np.zeros((self.max_images, *feats[0]['pooled'].shape), feats[0]['pooled'].dtype)
        for k, f in enumerate(feats):
            patch[k], pooled[k] = f['patch'], f['pooled']
        t_stars = [int(e['t_star']) for e in entries]
        key = self.feature_key
        results[f'{key}_patch'], results[f'{key}_pooled'] = torch.from_numpy(patch), torch.from_numpy(pooled)
        results[f'{key}_mask'] = torch.arange(self.max_images) < len(entries)
        results[f'{key}_t_star'] = torch.tensor(t_stars + [-1] * (self.max_images - len(entries)), dtype=torch.long)
        results.update(t_star=t_stars[0], reference_image=images[0], reference_camera=cameras[0],
                       reference_style=entries[0].get('style', ''), reference_images=images,
                       reference_cameras=cameras, reference_t_stars=t_stars)

    def __call__(self, results: dict) -> dict:
        if self._entries is None:
            self._window_source = (results.get('dataset'), results.get('data_root'))
            self._setup(results.get('data_root'))
        if self.reference_index and self.max_images is not None:
            self._attach_storyboard(results)
        elif self.reference_index:
            entry = self._choose(results)
            image, camera = self._mirrored(entry, results) if self.mirror else (entry['image'], entry['camera'])
            feats = self._features(image)
            results[f'{self.feature_key}_patch'] = torch.from_numpy(feats['patch'])
            results[f'{self.feature_key}_pooled'] = torch.from_numpy(feats['pooled'])
            results.update(t_star=int(entry['t_star']), reference_image=image, reference_camera=camera,
                           reference_style=entry.get('style', ''))
        if self._text_spec is not None:
            text = results.get('text') or ''
            if not text:
                raise UserError(f'window {_sample_name(results)} has no text, but text features were requested')
            feats = self._text_features(text)
            results['text_pooled'] = torch.from_numpy(feats['pooled'].copy())
            results['text_tokens'] = torch.from_numpy(feats['tokens'].copy())
        return results

    def __repr__(self) -> str:
        return (f'{type(self).__name__}(reference_index={self.reference_index!r}, feature_key={self.feature_key!r}, '
                f'choice={self.choice!r}, mirror={self.mirror}, max_images={self.max_images})')


@TRANSFORMS.register_module()
class SampleObjectPoints:
    """`object_points` (P, 3): area-uniform samples of the object template's surface minus its centroid.

    The draw is seeded by the object name, so every window of an object uses the same points (CHOIS uses 100
    fixed points per object for its object-geometry loss). Needs `object_verts`, `object_faces`,
    `template_centroid` (from `BaseHOIDataset.assemble_window`).
    """

    def __init__(self, num_points: int = 100, seed: int = 0):
        self.num_points, self.seed = int(num_points), int(seed)
        self._memo: Dict[str, torch.Tensor] = {}

    def __call__(self, results: dict) -> dict:
        name = results['object_name']
        if name not in self._memo:
            from imagin4d.geometry import sample_surface_points
            rng = np.random.default_rng([self.seed, *map(ord, name)])
            pts = sample_surface_points(np.asarray(results['object_verts']), np.asarray(results['object_faces']),
                                        self.num_points, rng)
            centroid = np.asarray(results['template_centroid'], np.float64)
            self._memo[name] = torch.from_numpy((pts - centroid).astype(np.float32))
        results['object_points'] = self._memo[name]
        return results

    def __repr__(self) -> str:
        return f'{type(self).__name__}(num_points={self.num_points}, seed={self.seed})'
