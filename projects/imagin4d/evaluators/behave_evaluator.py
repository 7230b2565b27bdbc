# Text-motion evaluator for FID / diversity / multimodality on BEHAVE: the mini-FBM evaluator at a middle size.
# Train: python tools/train_evaluator.py projects/imagin4d/evaluators/behave_evaluator.py --work-dir WORK_DIR
# (CPU by default: BEHAVE is small; --cfg-options train_cfg.device=cuda on a GPU), then give WORK_DIR/
# text_motion_evaluator.pth to DistributionMetric (test_evaluator.2.evaluator_ckpt, docs/user_guides/behave.md).
# BEHAVE has no sentences: each window carries its object's template sentence (BEHAVEDataset.text_template), so the
# contrastive training learns which object a motion handles, and its motion embedding is what FID compares. R-precision
# and the matching score (also those this tool prints after training) only measure that object recognition;
# DistributionMetric leaves them out on BEHAVE (BEHAVEDataset's metainfo 'skip_text_metrics').
# The sentence features are cached by tools/data/prepare_dataset.py or tools/data/cache_features.py --config THIS_FILE.
_base_ = ['./mini_fbm_evaluator.py']
data_root = '{{$IMAGIN4D_BEHAVE_ROOT:data/behave}}'  # env var: another location (as the data-set config)
# The body models (BEHAVE: <data root>/smplh/), as in the data-set config, for both data sets below;
# IMAGIN4D_BODY_MODEL_DIR or --cfg-options body_model_root=DIR moves them.
body_model_root = '{{ $IMAGIN4D_BODY_MODEL_DIR: {data_root} }}'

# Template sentences: the token features add nothing to the pooled sentence feature.
model = dict(embed_dim=128, hidden_dim=128, use_text_tokens=False)

train_dataset = dict(type='BEHAVEDataset', split='train', window=120, stride=30, bps_frame='first')
test_dataset = dict(type='BEHAVEDataset', split='test', window=120, bps_frame='first')

train_cfg = dict(max_iters=6000, batch_size=64, lr=1e-3, warmup_iters=200, log_interval=200, preload=False,
                 num_workers=2, device='cpu')
