"""DistributionMetric: FID, R-precision, matching score, diversity and multimodality with a trained text-motion
evaluator, as an mmengine metric.

Owns loading the evaluator checkpoint (skipping with one clear message when there is none), embedding each
sample's ground truth, prediction(s) and sentence (text features from the feature cache) in `process`, and the
replication protocol in `compute_metrics`. The math lives in `imagin4d.evaluation.functional.distribution`.
"""
import logging
import os.path as osp
from typing import Dict, List, Optional, Sequence

import numpy as np
import torch
from mmengine.evaluator import BaseMetric
from mmengine.logging import print_log

from imagin4d.registry import METRICS
from imagin4d.utils.paths import resolve_data_path

from ..functional.distribution import (
    diversity,
    fid,
    matching_score,
    mean_and_ci95,
    multimodality,
    r_precision,
    r_precision_chance,
)
from .sample_access import sample_name

__all__ = ['DistributionMetric']

TRAIN_HINT = ('train one with tools/train_evaluator.py projects/imagin4d/evaluators/mini_fbm_evaluator.py '
              '(or fbm_evaluator.py, behave_evaluator.py) and set evaluator_ckpt to '
              '<work_dir>/text_motion_evaluator.pth')


@METRICS.register_module()
class DistributionMetric(BaseMetric):
    """Text-to-motion distribution metrics of generated windows (Guo et al. 2022 protocol, our evaluator).

    Reported keys (embeddings are unit-norm, so distances lie in [0, 2]):

    ======================= ===================================================================================
    key                     meaning
    ======================= ===================================================================================
    fid                     Frechet distance between the GT and the generated motion embeddings (all samples)
    r_precision_top1/2/3    for each sentence of a batch of `batch_size` samples, is its own generated motion
                            among the k nearest of the batch's motions (chance k / batch size)
    matching_score          mean distance between each sentence and its generated motion
    diversity               mean distance between `diversity_times` random pairs of generated motions
    multimodality           mean distance between generations for the same condition (`mm_times` pairs each);
                            only when samples carry `pred_motion_samples` (R >= 2)
    gt_r_precision_top1/2/3 the same for the ground-truth motions (the evaluator's ceiling on this data)
    gt_matching_score,
    gt_diversity
    <key>_ci95              95 % interval half-width over the replications (when replications > 1)
    r_precision_batch_size  the batch size used (min(batch_size, N))
    ======================= ===================================================================================

    Replications: each replication reshuffles the samples into R-precision batches and draws new diversity
    pairs; when samples carry `pred_motion_samples` (R generations), replication i scores generation i mod R
    (as the T2M protocol regenerates per replication), otherwise always `pred_motion` (then FID is the same in
    every replication and its interval is 0). Multimodality is computed once per replication over all
    generations.

    Each processed sample needs gt_motion (T, D) and pred_motion (T, D) (UN-normalised codec features), text
    (str) and optionally pred_motion_samples (R, T, D).

    Args:
        evaluator_ckpt: checkpoint written by tools/train_evaluator.py. None or a missing file: the metric
            logs one message and reports nothing.
        evaluator_cfg: model config overriding the one stored in the checkpoint (normally None).
        feature_cache: the feature cache folder holding the text features of the test sentences ('{data_root}'
            stands for the evaluated data set's root).
        text_encoder: extractor config of those text features; default: the one recorded in the checkpoint.
        replications: shuffles / generations averaged (T2M: 20; CHOIS: 1).
        batch_size: R-precision batch (32); a smaller data set uses one batch of all its samples (logged).
        diversity_times: random pairs for diversity (300; capped at the number of samples).
        mm_times: random pairs per condition for multimodality (10).
        seed: seed of the shuffles and pair draws.
        device: where the evaluator runs.
        skip_text_metrics: why R-precision and the matching scores mean nothing on this data set; they are then
            left out and the reason is logged. None: the data set's metainfo 'skip_text_metrics' decides (BEHAVE
            sets it: one template sentence per object), else they are reported.
        collect_device, prefix, collect_dir: as mmengine's BaseMetric (no prefix by default).
    """

    default_prefix: Optional[str] = None

    def __init__(self, evaluator_ckpt: Optional[str] = None, evaluator_cfg: Optional[dict] = None,
                 feature_cache: Optional[str] = None, text_encoder: Optional[dict] = None, replications: int = 20,
                 batch_size: int = 32, diversity_times: int = 300, mm_times: int = 10, seed: int = 0,
                 device: str = 'cpu', collect_device: str = 'cpu', prefix: Optional[str] = None,
                 collect_dir: Optional[str] = None, skip_text_metrics: Optional[str] = None):
        super().__init__(collect_device=collect_device, prefix=prefix, collect_dir=collect_dir)
        for name, value, low in (('replications', replications, 1), ('batch_size', batch_size, 2),
                                 ('diversity_times', diversity_times, 1), ('mm_times', mm_times, 1)):
            if int(value) != value or value < low:
                raise ValueError(f'DistributionMetric: {name} must be an integer >= {low}, got {value!r}')
        self.evaluator_ckpt = evaluator_ckpt
        self.evaluator_cfg = evaluator_cfg
        self.feature_cache = feature_cache
        self.text_encoder = text_encoder
        self.replications, self.batch_size = int(replications), int(batch_size)
        self.diversity_times, self.mm_times, self.seed = int(diversity_times), int(mm_times), int(seed)
        self.device = torch.device(device)
        self.skip_reason = None
        self.skip_text_metrics = skip_text_metrics
        if evaluator_ckpt is None:
            self.skip_reason = 'no evaluator checkpoint configured'
        elif not osp.isfile(evaluator_ckpt):
            self.skip_reason = f'evaluator checkpoint {evaluator_ckpt} does not exist'
        elif feature_cache is None:
            raise ValueError('DistributionMetric: feature_cache (the folder with the cached text features of the '
                             'test sentences, e.g. data/mini_fbm/feature_cache) is required with evaluator_ckpt')
        self._evaluator = None
        self._text_features = None
        self._skip_logged = False

    # ------------------------------------------------------------------ evaluator
    @property
    def enabled(self) -> bool:
        return self.skip_reason is None

    def _load(self):
        if self._evaluator is None:
            from imagin4d.models.evaluators import CachedTextFeatures, TextMotionEvaluator
            evaluator = TextMotionEvaluator.from_checkpoint(self.evaluator_ckpt, self.evaluator_cfg,
                                                            map_location=self.device)
            text_encoder = self.text_encoder or evaluator.checkpoint_meta.get('text_encoder')
            cache = resolve_data_path(self.feature_cache, (self.dataset_meta or {}).get('data_root'), 'feature_cache')
            self._text_features = CachedTextFeatures(cache, text_encoder)
            self._evaluator = evaluator
        return self._evaluator

    # ------------------------------------------------------------------ per batch
    def _motion(self, sample: dict, key: str, index: int, ndim: int) -> torch.Tensor:
        if key not in sample or sample[key] is None:
            raise KeyError(f'DistributionMetric: sample {sample_name(sample, index)} lacks the field {key!r} (needs '
                           f"'gt_motion', 'pred_motion', 'text'; has {sorted(sample)})")
        value = sample[key]
        value = (value if torch.is_tensor(value) else torch.as_tensor(np.asarray(value))).detach().float().cpu()
        dim = self._evaluator.motion_dim
        if value.ndim != ndim or value.shape[-1] != dim:
            shape = '(T, D)' if ndim == 2 else '(R, T, D)'
            raise ValueError(f'DistributionMetric: sample {sample_name(sample, index)}: {key} must be {shape} with '
                             f'D = {dim} (the evaluator\'s motion_dim), got {tuple(value.shape)}')
        return value

    def process(self, data_batch, data_samples: Sequence[dict]) -> None:
        """Embed each sample's GT motion, prediction(s) and sentence; store the embeddings (float32 numpy)."""
        if not self.enabled:
            return
        evaluator = self._load()
        gts, preds, texts, samples = [], [], [], []
        for index, sample in enumerate(data_samples):
            if hasattr(sample, 'to_dict'):
                sample = sample.to_dict()
            if sample.get('normalized'):
                raise ValueError(f'DistributionMetric: sample {sample_name(sample, index)} holds normalised motion '
                                 '(normalized=True); the evaluator reads un-normalised features')
            gt, pred = self._motion(sample, 'gt_motion', index, 2), self._motion(sample, 'pred_motion', index, 2)
            text = sample.get('text')
            if not isinstance(text, str) or not text:
                raise ValueError(f'DistributionMetric: sample {sample_name(sample, index)}: text must be a non-empty '
                                 f'sentence, got {text!r}')
            gts.append(gt), preds.append(pred), texts.append(text)
            extra = sample.get('pred_motion_samples')
            samples.append(None if extra is None else self._motion(sample, 'pred_motion_samples', index, 3))
        with torch.no_grad():
            gt_emb = _encode_motions(evaluator, gts, self.device)
            pred_emb = _encode_motions(evaluator, preds, self.device)
            pooled, tokens, mask = self._text_features(texts)
            text_emb = evaluator.encode_text(pooled.to(self.device), tokens.to(self.device),
                                             mask.to(self.device)).cpu().numpy()
            for i in range(len(texts)):
                row = dict(gt=gt_emb[i], pred=pred_emb[i], text=text_emb[i])
                if samples[i] is not None:
                    row['samples'] = _encode_motions(evaluator, list(samples[i]), self.device)
                self.results.append(row)

    # ------------------------------------------------------------------ whole set
    def evaluate(self, size: int) -> dict:
        if not self.enabled:
            if not self._skip_logged:
                print_log(f'FID/R-precision skipped: {self.skip_reason} ({TRAIN_HINT})', logger='current',
                          level=logging.WARNING)
                self._skip_logged = True
            self.results.clear()
            return {}
        return super().evaluate(size)

    def compute_metrics(self, results: List[dict]) -> Dict[str, float]:
        n = len(results)
        if n < 2:
            raise ValueError(f'DistributionMetric: needs at least 2 samples, got {n}')
        gt = np.stack([r['gt'] for r in results]).astype(np.float64)
        pred = np.stack([r['pred'] for r in results]).astype(np.float64)
        text = np.stack([r['text'] for r in results]).astype(np.float64)
        generations = None
        with_samples = sum('samples' in r for r in results)
        if with_samples == n:
            counts = {r['samples'].shape[0] for r in results}
            if len(counts) != 1:
                raise ValueError(f'DistributionMetric: pred_motion_samples must hold the same number of '
                                 f'generations in every sample, got {sorted(counts)}')
            generations = np.stack([r['samples'] for r in results]).astype(np.float64)   # (N, R, E)
        elif with_samples:
            raise ValueError(f'DistributionMetric: {with_samples} of {n} samples carry pred_motion_samples; give '
                             'them for every sample or for none')
        if generations is None or generations.shape[1] < 2:
            print_log('DistributionMetric: multimodality skipped: the samples carry no pred_motion_samples '
                      '(R >= 2 generations per condition)', logger='current')
        batch = min(self.batch_size, n)
        if batch < self.batch_size:
            print_log(f'DistributionMetric: {n} samples are fewer than one R-precision batch of {self.batch_size}; '
                      f'using one batch of {n} (chance top-1/2/3 = '
                      f'{", ".join(f"{c:.3f}" for c in r_precision_chance(batch, 3))})', logger='current')
        top_k = min(3, batch)
        skip_text = self.skip_text_metrics or (self.dataset_meta or {}).get('skip_text_metrics')
        if skip_text:
            print_log(f'DistributionMetric: R-precision and matching score left out: {skip_text}',
                      logger='current', level=logging.WARNING)
        rng = np.random.default_rng(self.seed)
        runs: Dict[str, list] = {}
        for rep in range(self.replications):
            generated = pred if generations is None else generations[:, rep % generations.shape[1]]
            order = rng.permutation(n)
            pair_seed = int(rng.integers(2 ** 32))  # the same diversity pairs for the generated and the GT set
            values = dict(fid=fid(gt, generated), matching_score=matching_score(text, generated),
                          diversity=diversity(generated, min(self.diversity_times, n),
                                              np.random.default_rng(pair_seed)),
                          gt_matching_score=matching_score(text, gt),
                          gt_diversity=diversity(gt, min(self.diversity_times, n), np.random.default_rng(pair_seed)))
            for prefix, motions in (('', generated), ('gt_', gt)) if not skip_text else ():
                for k, value in enumerate(r_precision(text, motions, batch, top_k, order)):
                    values[f'{prefix}r_precision_top{k + 1}'] = value
            if skip_text:
                del values['matching_score'], values['gt_matching_score']
            if generations is not None and generations.shape[1] >= 2:
                values['multimodality'] = multimodality(generations, self.mm_times, rng)
            for key, value in values.items():
                runs.setdefault(key, []).append(value)
        metrics: Dict[str, float] = {}
        for key, values in runs.items():
            mean, half_width = mean_and_ci95(values)
            metrics[key] = mean
            if self.replications > 1:
                metrics[f'{key}_ci95'] = half_width
        if not skip_text:
            metrics['r_precision_batch_size'] = float(batch)
        return metrics


def _encode_motions(evaluator, motions: List[torch.Tensor], device) -> np.ndarray:
    """Embed motions (each (T, D); equal lengths are batched together) -> (N, E) float32 numpy."""
    out = [None] * len(motions)
    by_length: Dict[int, List[int]] = {}
    for i, motion in enumerate(motions):
        by_length.setdefault(motion.shape[0], []).append(i)
    for indices in by_length.values():
        emb = evaluator.encode_motion(torch.stack([motions[i] for i in indices]).to(device)).cpu().numpy()
        for j, i in enumerate(indices):
            out[i] = emb[j]
    return np.stack(out)
