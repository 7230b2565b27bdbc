"""Train the text-motion evaluator used by FID / R-precision (DistributionMetric).

    python tools/train_evaluator.py projects/imagin4d/evaluators/mini_fbm_evaluator.py [--work-dir DIR]
        [--cfg-options data_root=data/mini_fbm train_cfg.max_iters=3000 ...]

Reads the windows of the config's training split (un-normalised CHOIS motion features) and the cached frozen text
features of their sentences (`feature_cache`, built by tools/data/cache_features.py; no language model runs),
trains `model` contrastively with a plain loop (losses logged to the console, `<work_dir>/<time>.log` and
`<work_dir>/train_log.jsonl`), then prints the retrieval accuracy (R-precision) on the training and test splits
and writes the self-contained checkpoint `<work_dir>/<checkpoint_name>` (weights, motion statistics, config,
data and scores as meta). Give that path to `DistributionMetric(evaluator_ckpt=...)`.
"""
import argparse
import json
import math
import os
import os.path as osp
import sys
import time

sys.path.insert(0, osp.abspath(osp.join(osp.dirname(__file__), '..')))

from mmengine.config import DictAction  # noqa: E402

import imagin4d  # noqa: E402,F401  (applies the compat workarounds)
from imagin4d.engine.runner_setup import load_config, run_cli  # noqa: E402
from imagin4d.utils.errors import UserError  # noqa: E402
from imagin4d.utils.paths import resolve_data_path  # noqa: E402


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description='Train the text-motion evaluator (FID / R-precision)')
    parser.add_argument('config', help='evaluator config, e.g. projects/imagin4d/evaluators/mini_fbm_evaluator.py')
    parser.add_argument('--work-dir', help='output folder (default: ./work_dirs/<config name>)')
    parser.add_argument('--cfg-options', nargs='+', action=DictAction,
                        help='override config settings, e.g. data_root=data/mini_fbm train_cfg.max_iters=500')
    return parser.parse_args(argv)


class EvaluatorWindows:
    """The windows of an HOI dataset as (motion (T, D) float32 un-normalised, sentence index) pairs.

    `texts` lists the distinct sentences (index order); `text_ids` (N,) gives each window's sentence. With
    `preload` every window is assembled once into memory (small data sets); otherwise on each access.
    """

    def __init__(self, dataset, preload: bool, logger=None):
        import numpy as np
        import torch
        self.dataset = dataset
        sentences = [dataset.sequence_info(dataset.get_data_info(i)['seq_idx'])['text'] for i in range(len(dataset))]
        missing = [i for i, s in enumerate(sentences) if not s]
        if missing:
            raise UserError(f'{type(dataset).__name__}[{dataset.split}]: {len(missing)} windows have no sentence '
                            '(the evaluator needs a text per window; keep require_text=True)')
        self.texts = sorted(set(sentences))
        index = {s: i for i, s in enumerate(self.texts)}
        self.text_ids = torch.as_tensor(np.asarray([index[s] for s in sentences], np.int64))
        self.motions = None
        if preload:
            t0 = time.time()
            self.motions = torch.stack([self._assemble(i) for i in range(len(dataset))])
            if logger is not None:
                logger.info(f'{type(dataset).__name__}[{dataset.split}]: {len(self)} windows, '
                            f'{len(self.texts)} distinct sentences, motions {tuple(self.motions.shape)} '
                            f'assembled in {time.time() - t0:.1f} s')

    def _assemble(self, i: int):
        return self.dataset.assemble_window(self.dataset.get_data_info(i))['motion'].float()

    def __len__(self) -> int:
        return len(self.dataset)

    def __getitem__(self, i: int):
        motion = self.motions[i] if self.motions is not None else self._assemble(i)
        return motion, self.text_ids[i]


def build_windows(cfg, key: str, preload: bool, logger) -> EvaluatorWindows:
    from imagin4d.registry import DATASETS
    dataset_cfg = dict(cfg[key])
    dataset_cfg.setdefault('data_root', cfg.data_root)
    dataset_cfg['pipeline'] = []
    dataset_cfg.setdefault('normalize', False)
    if dataset_cfg['normalize']:
        raise UserError(f'{key}.normalize must be False: the evaluator reads un-normalised motion features')
    return EvaluatorWindows(DATASETS.build(dataset_cfg), preload, logger)


def motion_statistics(windows: EvaluatorWindows, num_workers: int) -> dict:
    """Per-dim mean and population std (D,) of the training frames and of their frame differences."""
    import torch

    from imagin4d.models.evaluators import MotionStatistics
    stats = MotionStatistics()
    if windows.motions is not None:
        stats.update(windows.motions)
    else:
        for motion, _ in torch.utils.data.DataLoader(windows, batch_size=64, num_workers=num_workers):
            stats.update(motion)
    return stats.result()


def embed_windows(model, windows: EvaluatorWindows, text_features, device, num_workers: int = 0):
    """(motion embeddings (N, E), text embeddings (N, E)) of every window, as float64 numpy arrays."""
    import torch
    loader = torch.utils.data.DataLoader(windows, batch_size=128, num_workers=num_workers)
    pooled, tokens, mask = text_features
    motion_emb, text_emb = [], []
    model.eval()
    with torch.no_grad():
        for motion, ids in loader:
            motion_emb.append(model.encode_motion(motion.to(device)).cpu())
            text_emb.append(model.encode_text(pooled[ids].to(device), tokens[ids].to(device),
                                              mask[ids].to(device)).cpu())
    return torch.cat(motion_emb).double().numpy(), torch.cat(text_emb).double().numpy()


def retrieval_scores(motion_emb, text_emb, batch_size: int, replications: int, seed: int) -> dict:
    """R-precision top-1/2/3 (batches of min(batch_size, N), mean over shuffles), matching score and chance."""
    import numpy as np

    from imagin4d.evaluation.functional.distribution import (
        matching_score,
        mean_and_ci95,
        r_precision,
        r_precision_chance,
    )
    n = motion_emb.shape[0]
    batch = min(batch_size, n)
    top_k = min(3, batch)
    rng = np.random.default_rng(seed)
    runs = np.stack([r_precision(text_emb, motion_emb, batch, top_k, rng.permutation(n))
                     for _ in range(replications)])
    scores = dict(num_windows=n, batch_size=batch, replications=replications,
                  matching_score=matching_score(text_emb, motion_emb))
    for k in range(top_k):
        scores[f'r_precision_top{k + 1}'], scores[f'r_precision_top{k + 1}_ci95'] = mean_and_ci95(runs[:, k])
        scores[f'chance_top{k + 1}'] = float(r_precision_chance(batch, top_k)[k])
    return scores


def describe_scores(name: str, s: dict) -> str:
    tops = ' '.join(f'top{k}={s[f"r_precision_top{k}"]:.3f}' for k in (1, 2, 3) if f'r_precision_top{k}' in s)
    chance = ' '.join(f'{s[f"chance_top{k}"]:.3f}' for k in (1, 2, 3) if f'chance_top{k}' in s)
    return (f'{name} retrieval ({s["num_windows"]} windows, batches of {s["batch_size"]}, {s["replications"]} '
            f'shuffles): R-precision {tops} (chance {chance}); matching score {s["matching_score"]:.3f}')


def train(cfg, work_dir: str, logger) -> dict:
    """Train the evaluator of `cfg`; write the checkpoint; return the summary (scores, paths, seconds)."""
    import numpy as np
    import torch

    from imagin4d.models.evaluators import CachedTextFeatures, TextMotionEvaluator
    from imagin4d.registry import MODELS
    tc = dict(max_iters=1000, batch_size=64, lr=1e-3, weight_decay=1e-4, warmup_iters=50, log_interval=100,
              seed=0, preload=True, num_workers=0, num_threads=None, device='cpu', grad_clip=1.0)
    tc.update(cfg.get('train_cfg') or {})
    ec = dict(batch_size=32, replications=20, seed=0)
    ec.update(cfg.get('eval_cfg') or {})
    if tc['num_threads']:
        torch.set_num_threads(int(tc['num_threads']))
    torch.manual_seed(tc['seed'])
    np.random.seed(tc['seed'])
    if tc['device'] == 'auto':  # the GPU-sized configs: CUDA where there is one, else the CPU (said in the log)
        tc['device'] = 'cuda' if torch.cuda.is_available() else 'cpu'
    device = torch.device(tc['device'])
    if device.type == 'cuda' and not torch.cuda.is_available():
        raise UserError(f"train_cfg.device={tc['device']!r} but no CUDA device is available; pass "
                        '--cfg-options train_cfg.device=cpu train_cfg.num_workers=0')
    t_start = time.time()

    cache_root = resolve_data_path(str(cfg.feature_cache), cfg.data_root, 'feature_cache')
    text_features = CachedTextFeatures(cache_root, cfg.get('text_encoder'))
    train_set = build_windows(cfg, 'train_dataset', tc['preload'], logger)
    test_set = build_windows(cfg, 'test_dataset', tc['preload'], logger)
    train_text = text_features(train_set.texts)
    test_text = text_features(test_set.texts)

    model_cfg = dict(cfg.model)
    model = MODELS.build(model_cfg)
    if not isinstance(model, TextMotionEvaluator):
        raise UserError(f'model.type {model_cfg.get("type")!r} is not a TextMotionEvaluator')
    model.set_motion_statistics(motion_statistics(train_set, tc['num_workers']))
    model.to(device)

    batch_size = min(int(tc['batch_size']), len(train_set))
    if batch_size < 2:
        raise UserError(f'{cfg.train_dataset.get("type")}[train] has {len(train_set)} windows; need at least 2')
    generator = torch.Generator().manual_seed(tc['seed'])
    loader = torch.utils.data.DataLoader(train_set, batch_size=batch_size, shuffle=True, drop_last=True,
                                         num_workers=tc['num_workers'], generator=generator,
                                         persistent_workers=tc['num_workers'] > 0)
    optimizer = torch.optim.AdamW(model.parameters(), lr=tc['lr'], weight_decay=tc['weight_decay'])
    max_iters, warmup = int(tc['max_iters']), int(tc['warmup_iters'])

    def lr_factor(it):  # linear warm-up, then cosine decay to 10 % of the base rate
        if it < warmup:
            return (it + 1) / warmup
        progress = (it - warmup) / max(1, max_iters - warmup)
        return 0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * min(progress, 1.0)))

    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lr_factor)
    pooled, tokens, mask = train_text
    log_path = osp.join(work_dir, 'train_log.jsonl')
    logger.info(f'training {model_cfg.get("type")} ({sum(p.numel() for p in model.parameters())} parameters) '
                f'for {max_iters} iterations, batches of {batch_size} windows, on {device}')
    t_train = time.time()
    it, running = 0, {}
    with open(log_path, 'w') as log_file:
        while it < max_iters:
            for motion, ids in loader:
                model.train()
                out = model(motion.to(device), pooled[ids].to(device), tokens[ids].to(device), mask[ids].to(device),
                            text_ids=ids.to(device))
                optimizer.zero_grad(set_to_none=True)
                out['loss'].backward()
                if tc['grad_clip']:
                    torch.nn.utils.clip_grad_norm_(model.parameters(), tc['grad_clip'])
                optimizer.step()
                scheduler.step()
                it += 1
                for key, value in out.items():
                    running.setdefault(key, []).append(float(value.detach()))
                if it % int(tc['log_interval']) == 0 or it == max_iters:
                    record = dict(iter=it, lr=optimizer.param_groups[0]['lr'], seconds=round(time.time() - t_train, 2),
                                  **{k: float(np.mean(v)) for k, v in running.items()})
                    running = {}
                    log_file.write(json.dumps(record) + '\n')
                    log_file.flush()
                    logger.info(f'iter {it}/{max_iters}  loss {record["loss"]:.4f}  batch top-1 '
                                f'{record["accuracy"]:.3f}  temperature {record["temperature"]:.4f}  '
                                f'lr {record["lr"]:.2e}  {record["seconds"]:.1f} s')
                if it >= max_iters:
                    break
    train_seconds = time.time() - t_train

    scores = {}
    for name, windows, feats in (('train', train_set, train_text), ('test', test_set, test_text)):
        motion_emb, text_emb = embed_windows(model, windows, feats, device, tc['num_workers'])
        scores[name] = retrieval_scores(motion_emb, text_emb, ec['batch_size'], ec['replications'], ec['seed'])
        scores[name]['distinct_sentences'] = len(windows.texts)
        logger.info(describe_scores(name, scores[name]))

    meta = dict(
        text_encoder=dict(text_features.text_encoder), text_feature_namespace=text_features.namespace,
        motion_representation='CHOISMotionCodec features, un-normalised (D = %d); z-scored inside the evaluator '
                              'with its own training statistics' % model.motion_dim,
        data_root=str(cfg.data_root), train_dataset=_plain(cfg.train_dataset), test_dataset=_plain(cfg.test_dataset),
        train_windows=len(train_set), train_sentences=len(train_set.texts), train_cfg=_plain(tc),
        eval_cfg=_plain(ec), retrieval=scores, train_seconds=round(train_seconds, 2),
        total_seconds=round(time.time() - t_start, 2), imagin4d_version=imagin4d.__version__,
        created=time.strftime('%Y-%m-%d %H:%M:%S'))
    ckpt_path = osp.join(work_dir, cfg.get('checkpoint_name', 'text_motion_evaluator.pth'))
    torch.save(model.cpu().checkpoint(model_cfg, meta), ckpt_path)
    logger.info(f'training took {train_seconds:.1f} s ({meta["total_seconds"]:.1f} s in all); evaluator '
                f'checkpoint: {ckpt_path}')
    return dict(checkpoint=ckpt_path, retrieval=scores, train_seconds=train_seconds)


def _plain(value):
    """Config values as JSON-able plain Python (the checkpoint meta must load with weights_only=True)."""
    return json.loads(json.dumps(value, default=str))


def main(argv=None):
    args = parse_args(argv)
    cfg = load_config(args.config, args.cfg_options)
    for key in ('data_root', 'feature_cache', 'model', 'train_dataset', 'test_dataset'):
        if key not in cfg:
            raise UserError(f'{args.config}: evaluator configs need `{key}` (see '
                            'projects/imagin4d/evaluators/mini_fbm_evaluator.py)')
    if not osp.isdir(cfg.data_root):
        raise UserError(f'data_root {cfg.data_root} is not a folder (set it with --cfg-options data_root=DIR; '
                        'mini-FBM is built by python tools/data/prepare_mini_fbm.py --out data/mini_fbm)')
    work_dir = args.work_dir or cfg.get('work_dir') or osp.join('./work_dirs', osp.splitext(osp.basename(
        args.config))[0])
    os.makedirs(work_dir, exist_ok=True)
    from mmengine.logging import MMLogger
    logger = MMLogger.get_instance(f'train_evaluator_{os.getpid()}', logger_name='imagin4d',
                                   log_file=osp.join(work_dir, time.strftime('%Y%m%d_%H%M%S') + '.log'))
    cfg.dump(osp.join(work_dir, osp.basename(args.config)))
    return train(cfg, work_dir, logger)


if __name__ == '__main__':
    run_cli(main)
