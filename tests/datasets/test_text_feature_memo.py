"""LoadReferenceFeatures reads each sentence's features from the feature cache once per process (issue 23) and gives
every window the cached values as float32, in its own tensors."""
import numpy as np
import torch

from imagin4d.datasets.transforms import LoadReferenceFeatures
from imagin4d.models.backbones.feature_cache import FeatureCache, FeatureSpec


def test_sentences_are_read_once_and_every_window_gets_its_own_copy(tmp_path):
    cache = FeatureCache(tmp_path / 'cache')
    spec = FeatureSpec(kind='text', name='toy-text', weights_id='w0')
    gen = np.random.default_rng(0)
    sentences = {'lift the box': 3, 'push the chair': 5}
    for text, length in sentences.items():
        cache.put(text, spec, dict(pooled=gen.normal(size=6), tokens=gen.normal(size=(length, 6))))
    reads = []
    get = cache.get
    cache.get = lambda item, s: reads.append(item) or get(item, s)
    transform = LoadReferenceFeatures(feature_cache=str(tmp_path / 'cache'), text_encoder=dict(type='Toy'))
    transform._entries, transform._cache, transform._text_spec = {}, cache, spec
    order = ['lift the box', 'push the chair', 'lift the box', 'lift the box', 'push the chair']
    windows = [transform(dict(seq_name=f's{i}', window_start=0, text=text)) for i, text in enumerate(order)]
    assert sorted(reads) == sorted(sentences)                   # one read per sentence
    for text, window in zip(order, windows):
        with np.load(cache.entry_path(text, spec)) as stored:  # the file, read independently: float16 entries
            assert stored['tokens'].dtype == np.float16
            expected = {k: torch.from_numpy(stored[k].astype(np.float32)) for k in ('pooled', 'tokens')}
        assert window['text_pooled'].dtype == window['text_tokens'].dtype == torch.float32
        assert torch.equal(window['text_pooled'], expected['pooled'])
        assert torch.equal(window['text_tokens'], expected['tokens'])
    windows[0]['text_tokens'].add_(1.0)                         # a window's tensors are its own
    assert not torch.equal(windows[0]['text_tokens'], windows[2]['text_tokens'])
    assert not np.shares_memory(windows[2]['text_tokens'].numpy(), windows[3]['text_tokens'].numpy())
