"""Feature cache: compute-once semantics, content keys, unreadable entries, clear errors, the CLI."""
import json
import re
import zlib

import cv2
import numpy as np
import pytest
import torch
from testing_utils import REPO, load_tool
from torch import nn

from imagin4d.models.backbones.base import FrozenImageBackbone
from imagin4d.models.backbones.feature_cache import (
    FeatureCache,
    FeatureSpec,
    MissingFeaturesError,
    UnreadableFeaturesError,
)
from imagin4d.models.backbones.text import FrozenTextEncoder

STUB_IMAGE_CFG = dict(type='CountingBackbone')
STUB_TEXT_CFG = dict(type='CountingTextEncoder')


class CountingBackbone(FrozenImageBackbone):
    """A tiny conv 'backbone' that counts the images it sees: (B, 3, 32, 32) -> (B, 16, 8)."""

    out_channels = 8

    def __init__(self, weights_file, preprocess=None):
        super().__init__()
        torch.manual_seed(0)
        self.proj = nn.Conv2d(3, 8, 8, stride=8)
        self.preprocessor = self._build_preprocessor(dict(dict(size=32), **(preprocess or {})))
        self._set_weights([weights_file])
        self.images_seen = 0
        self._freeze()

    @property
    def grid_hw(self):
        return 4, 4

    def forward(self, pixels):
        self.images_seen += len(pixels)
        grid = self.proj(pixels)
        return {'patch': grid.flatten(2).transpose(1, 2), 'pooled': grid.mean(dim=(2, 3))}


class CountingTextEncoder(FrozenTextEncoder):
    """Word vectors seeded by the word's crc32; pooled = normalised mean. Counts the sentences it sees."""

    out_channels, max_length = 6, 16

    def __init__(self, weights_file):
        super().__init__()
        self.dummy = nn.Parameter(torch.zeros(1))
        self._set_weights([weights_file])
        self.sentences_seen = 0
        self._freeze()

    def encode(self, sentences):
        self.sentences_seen += len(sentences)
        words = [s.split()[:self.max_length] for s in sentences]
        length = max(len(w) for w in words)
        tokens = torch.zeros(len(words), length, 6)
        mask = torch.zeros(len(words), length, dtype=torch.bool)
        for b, sentence in enumerate(words):
            for i, word in enumerate(sentence):
                tokens[b, i] = torch.from_numpy(np.random.default_rng(zlib.crc32(word.encode())).normal(size=6))
                mask[b, i] = True
        pooled = torch.nn.functional.normalize(tokens.sum(1) / mask.sum(1, keepdim=True), dim=-1)
        return {'pooled': pooled, 'tokens': tokens, 'mask': mask}


@pytest.fixture
def weights(tmp_path):
    path = tmp_path / 'weights.bin'
    path.write_bytes(b'stub weights v1')
    return path


@pytest.fixture
def images(tmp_path):
    rng = np.random.default_rng(0)
    folder = tmp_path / 'images'
    folder.mkdir()
    paths = []
    for i in range(5):
        paths.append(folder / f'img{i}.png')
        cv2.imwrite(str(paths[-1]), rng.integers(0, 255, (40, 30, 3), dtype=np.uint8))
    (folder / 'copy_of_img0.png').write_bytes(paths[0].read_bytes())  # same content, other name
    return sorted(folder.iterdir())


def test_second_run_computes_nothing(tmp_path, weights, images):
    cache, backbone = FeatureCache(tmp_path / 'cache'), CountingBackbone(weights)
    first = cache.compute(images, backbone, batch_size=4, config=STUB_IMAGE_CFG, progress=False)
    assert (first.total, first.unique, first.computed, first.cached) == (6, 5, 5, 0)
    assert backbone.images_seen == 5  # the duplicate content was computed once
    second = cache.compute(images, backbone, batch_size=4, config=STUB_IMAGE_CFG, progress=False)
    assert (second.computed, second.cached) == (0, 5) and backbone.images_seen == 5
    spec = FeatureSpec.of(backbone, STUB_IMAGE_CFG)
    entry = cache.get(images[1], spec)
    assert entry['patch'].shape == (16, 8) and entry['patch'].dtype == np.float16
    assert entry['pooled'].shape == (8,) and tuple(entry['grid_hw']) == (4, 4)
    direct = backbone.encode([cv2.imread(str(images[1]))[:, :, ::-1]])
    np.testing.assert_allclose(entry['patch'], direct['patch'][0].numpy(), rtol=1e-3, atol=1e-3)
    np.testing.assert_array_equal(cache.get(images[1].read_bytes(), spec)['patch'], entry['patch'])
    assert cache.has(images[0], spec) and cache.has(images[-1], spec)


def test_key_covers_backbone_weights_and_preprocessing(tmp_path, weights, images):
    cache = FeatureCache(tmp_path / 'cache')
    base = CountingBackbone(weights)
    cache.compute(images[:2], base, config=STUB_IMAGE_CFG, progress=False)
    sketch = CountingBackbone(weights, preprocess=dict(resize='pad'))
    other_weights = tmp_path / 'other.bin'
    other_weights.write_bytes(b'stub weights v2')
    retrained = CountingBackbone(other_weights)
    for variant in (sketch, retrained):
        spec = FeatureSpec.of(variant)
        assert spec.namespace != FeatureSpec.of(base).namespace
        assert not cache.has(images[0], spec)
        with pytest.raises(MissingFeaturesError):
            cache.get(images[0], spec)
    # computing without a config must not re-point the index entry of the base config
    cache.compute(images[:1], sketch, progress=False)
    assert cache.spec_for(STUB_IMAGE_CFG) == FeatureSpec.of(base, STUB_IMAGE_CFG)


def test_unreadable_entry_is_recomputed_with_a_warning(tmp_path, weights, images):
    cache, backbone = FeatureCache(tmp_path / 'cache'), CountingBackbone(weights)
    cache.compute(images, backbone, config=STUB_IMAGE_CFG, progress=False)
    spec = FeatureSpec.of(backbone, STUB_IMAGE_CFG)
    good = cache.get(images[2], spec)['patch'].copy()
    path = cache.entry_path(images[2], spec)
    path.write_bytes(path.read_bytes()[:100])  # truncated
    name = re.escape(images[2].name)
    with pytest.raises(UnreadableFeaturesError, match=rf'(?s){name}.*unreadable.*tools/data/cache_features\.py'):
        cache.get(images[2], spec)
    seen = backbone.images_seen
    with pytest.warns(RuntimeWarning, match=rf'unreadable feature cache entry .*{name}'):
        report = cache.compute(images, backbone, config=STUB_IMAGE_CFG, progress=False)
    assert (report.computed, report.recomputed, report.cached) == (1, 1, 4)
    assert backbone.images_seen == seen + 1
    np.testing.assert_array_equal(cache.get(images[2], spec)['patch'], good)


def test_missing_entry_names_the_image_and_the_command(tmp_path, weights, images):
    cache, backbone = FeatureCache(tmp_path / 'cache'), CountingBackbone(weights)
    cache.compute(images[:1], backbone, config=STUB_IMAGE_CFG, progress=False)
    spec = cache.spec_for(STUB_IMAGE_CFG)  # from the index: no model is built
    assert spec == FeatureSpec.of(backbone, STUB_IMAGE_CFG)
    with pytest.raises(MissingFeaturesError) as info:
        cache.get(images[3], spec)
    message = str(info.value)
    assert str(images[3]) in message and 'tools/data/cache_features.py' in message
    assert f'--images {images[3].parent}' in message and '--backbone CountingBackbone' in message
    assert f'--out {cache.root}' in message


def test_spec_for_unknown_config_or_changed_weights(tmp_path, weights, images):
    cache = FeatureCache(tmp_path / 'cache')
    with pytest.raises(MissingFeaturesError, match='(?s)no features for extractor config.*EfficientNetLite0'):
        cache.spec_for(dict(type='EfficientNetLite0Backbone'))
    cache.compute(images[:1], CountingBackbone(weights), config=STUB_IMAGE_CFG, progress=False)
    weights.write_bytes(b'stub weights, retrained')
    with pytest.raises(MissingFeaturesError, match='weights of .*CountingBackbone.* changed'):
        cache.spec_for(STUB_IMAGE_CFG)


def test_text_features(tmp_path, weights):
    cache, encoder = FeatureCache(tmp_path / 'cache'), CountingTextEncoder(weights)
    sentences = ['a person picks up a chair', 'someone lifts a stool', 'a person picks up a chair', 'hi']
    report = cache.compute(sentences, encoder, batch_size=2, config=STUB_TEXT_CFG, progress=False)
    assert (report.unique, report.computed) == (3, 3) and encoder.sentences_seen == 3
    again = cache.compute(sentences, encoder, config=STUB_TEXT_CFG, progress=False)
    assert (again.computed, again.cached) == (0, 3) and encoder.sentences_seen == 3
    spec = cache.spec_for(STUB_TEXT_CFG)
    entry = cache.get('someone lifts a stool', spec)
    assert entry['tokens'].shape == (4, 6) and entry['pooled'].shape == (6,)  # padding removed
    assert cache.get('hi', spec)['tokens'].shape == (1, 6)
    with pytest.raises(MissingFeaturesError, match=r"(?s)sentence 'a dog runs'.*--texts"):
        cache.get('a dog runs', spec)


def _load_cli():
    return load_tool('tools/data/cache_features.py')


def test_cli_builds_real_features_once(tmp_path, images, capsys, monkeypatch):
    """End to end with the real EfficientNet-Lite0 and MiniLM; the second run builds no extractor."""
    cli = _load_cli()
    texts = tmp_path / 'texts.json'
    texts.write_text(json.dumps([{'text': 'a person picks up a chair'}, {'text': ['someone lifts a stool']}]))
    out = tmp_path / 'cache'
    args = ['--images', str(images[0].parent), '--texts', str(texts), '--out', str(out), '--no-progress',
            '--batch-size', '4', '--workers', '2']
    reports = cli.main(args)
    assert (reports['images'].computed, reports['texts'].computed) == (5, 2)
    assert (reports['images'].workers, reports['texts'].workers) == (2, 1)  # two batches of images: two processes
    cache = FeatureCache(out)
    # the default backbone is the one a pipeline reads when it names none: EfficientNet-Lite0 at 448 px
    spec = cache.spec_for(dict(type='EfficientNetLite0Backbone', preprocess=dict(size=448)))
    assert cache.get(images[0], spec)['patch'].shape == (196, 1280)   # 448 / 32 = 14 x 14
    text = cache.get('someone lifts a stool', cache.spec_for(dict(type='MiniLMTextEncoder')))
    assert text['pooled'].shape == (384,) and text['tokens'].shape == (6, 384)  # [CLS] 4 words [SEP], no padding

    from imagin4d.registry import MODELS

    def no_build(*args, **kwargs):
        raise AssertionError('an extractor was built although everything is cached')

    monkeypatch.setattr(MODELS, 'build', no_build)
    reports = cli.main(args)
    assert (reports['images'].computed, reports['images'].cached) == (0, 5)
    assert (reports['texts'].computed, reports['texts'].cached) == (0, 2)
    assert '0 computed' in capsys.readouterr().out


def test_cli_writes_the_same_entries_for_any_number_of_workers(tmp_path, images):
    """One torch thread per process: --workers 1 (in this process, which runs two threads) and --workers 2 write
    array-equal entries, and the caller's thread count is restored."""
    cli = _load_cli()
    threads = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        for workers in (1, 2):
            report = cli.main(['--images', str(images[0].parent), '--out', str(tmp_path / f'w{workers}'),
                               '--backbone-cfg', '{"preprocess": {"size": 64}}', '--batch-size', '2',
                               '--workers', str(workers), '--no-progress'])['images']
            assert (report.computed, report.workers) == (5, workers) and torch.get_num_threads() == 2
    finally:
        torch.set_num_threads(threads)
    names = sorted(p.relative_to(tmp_path / 'w1') for p in (tmp_path / 'w1').rglob('*.npz'))
    assert len(names) == 5 and names == sorted(p.relative_to(tmp_path / 'w2') for p in (tmp_path / 'w2').rglob('*.npz'))
    for name in names:
        with np.load(tmp_path / 'w1' / name) as one, np.load(tmp_path / 'w2' / name) as two:
            for key in ('patch', 'pooled', 'grid_hw'):
                np.testing.assert_array_equal(one[key], two[key], err_msg=f'{name}: {key}')


def test_cli_reports_bad_inputs(tmp_path):
    cli = _load_cli()
    from imagin4d.utils.errors import UserError
    with pytest.raises(UserError, match='no image files'):
        cli.main(['--images', str(tmp_path / 'none'), '--out', str(tmp_path)])
    (tmp_path / 'bad.json').write_text('{"a": 1}')
    with pytest.raises(UserError, match='no sentences found'):
        cli.main(['--texts', str(tmp_path / 'bad.json'), '--out', str(tmp_path)])


def test_cli_config_gives_the_extractors_its_pipelines_read(tmp_path):
    """--config: the config's image_backbone and text_feature_encoder, --backbone-cfg merged into the backbone's
    keyword arguments key by key (a nested preprocess override keeps the config's size), --backbone replacing it."""
    cli = _load_cli()
    from imagin4d.utils.errors import UserError
    config = str(REPO / 'projects' / 'imagin4d' / 'fbm_sfie.py')
    base = ['--images', 'refs', '--out', str(tmp_path)]
    image, text = cli.extractor_configs(cli.parse_args(['--config', config, *base]))
    assert image == dict(type='EfficientNetLite0Backbone', preprocess=dict(size=448))
    assert text == dict(type='MiniLMTextEncoder')
    image, _ = cli.extractor_configs(cli.parse_args(
        ['--config', config, '--backbone-cfg', '{"preprocess": {"resize": "pad"}}', *base]))
    assert image == dict(type='EfficientNetLite0Backbone', preprocess=dict(size=448, resize='pad'))
    image, _ = cli.extractor_configs(cli.parse_args(['--config', config, '--backbone', 'DINOv2Backbone', *base]))
    assert image == dict(type='DINOv2Backbone')
    image, text = cli.extractor_configs(cli.parse_args(base))    # no config: what a pipeline reads by default
    assert (image, text) == (dict(type='EfficientNetLite0Backbone', preprocess=dict(size=448)),
                             dict(type='MiniLMTextEncoder'))
    schedule = str(REPO / 'projects' / 'imagin4d' / '_base_' / 'schedules' / 'cpu_mini.py')
    with pytest.raises(UserError, match=r'cpu_mini\.py: field "image_backbone" must be a model config dict'):
        cli.extractor_configs(cli.parse_args(['--config', schedule, *base]))


def test_two_workers_write_the_entries_of_one_process(tmp_path, images):
    """The forked 2-worker build (one torch thread each) writes the entries of one process on one torch thread,
    array for array, with the real EfficientNet-Lite0; a process on two threads rounds differently in fp32, so
    its float16 entries may differ from them by one float16 step."""
    import imagin4d.models  # noqa: F401  (registers the backbones)
    from imagin4d.registry import MODELS
    cfg = dict(type='EfficientNetLite0Backbone', preprocess=dict(size=64))
    backbone = MODELS.build(cfg)
    threads, reports = torch.get_num_threads(), {}
    try:
        for name, num_threads in (('one_thread', 1), ('two_threads', 2)):
            torch.set_num_threads(num_threads)
            reports[name] = FeatureCache(tmp_path / name).compute(images, backbone, batch_size=2, config=cfg,
                                                                  progress=False)
    finally:
        torch.set_num_threads(threads)
    reports['workers'] = FeatureCache(tmp_path / 'workers').compute(images, backbone, batch_size=2, config=cfg,
                                                                    progress=False, workers=2)
    assert [r.workers for r in reports.values()] == [1, 1, 2] and {r.computed for r in reports.values()} == {5}
    entries = {name: sorted(p.relative_to(tmp_path / name) for p in (tmp_path / name).rglob('*.npz'))
               for name in reports}
    assert len(entries['workers']) == 5 and entries['one_thread'] == entries['two_threads'] == entries['workers']
    for rel in entries['workers']:
        with np.load(tmp_path / 'workers' / rel) as ours, np.load(tmp_path / 'one_thread' / rel) as one, \
                np.load(tmp_path / 'two_threads' / rel) as two:
            assert sorted(ours.files) == ['grid_hw', 'meta', 'patch', 'pooled']
            for key in ours.files:
                np.testing.assert_array_equal(ours[key], one[key], err_msg=f'{rel}: {key}')
            for key in ('patch', 'pooled'):
                a, b = ours[key].astype(np.float32), two[key].astype(np.float32)
                # fp32 rounding on the scale of the features, then at most one float16 step
                np.testing.assert_allclose(a, b, rtol=2 ** -10, atol=1e-5 * np.abs(b).max(), err_msg=key)
    again = FeatureCache(tmp_path / 'workers').compute(images, backbone, config=cfg, progress=False, workers=2)
    assert (again.computed, again.cached) == (0, 5)
