# Text-motion evaluator for FID / R-precision on FBM (OMOMO, CHOIS protocol).
# Train: python tools/train_evaluator.py projects/imagin4d/evaluators/fbm_evaluator.py (GPU; untested on the real data).
# Free-form sentences: the evaluator also attends over the token features. Streams windows from the dataset
# (tens of thousands of training windows) with worker processes instead of holding them in memory.
data_root = 'data/fbm'
# The MiniLM sentence features, built once with
#   python tools/data/cache_features.py --texts data/fbm/omomo_text_anno_json_data/*.json --out data/fbm/feature_cache
# ('{data_root}' is filled in by the tool).
feature_cache = '{data_root}/feature_cache'
text_encoder = dict(type='MiniLMTextEncoder')

model = dict(type='TextMotionEvaluator', motion_dim=220, text_dim=384, embed_dim=256, hidden_dim=256,
             num_downsample=3, use_velocity=True, use_text_tokens=True, dropout=0.1, min_std=1e-2,
             init_temperature=0.07)

train_dataset = dict(type='FBMDataset', split='train', window=120, stride=30, bps_frame='first')
test_dataset = dict(type='FBMDataset', split='test', window=120, bps_frame='first')

train_cfg = dict(max_iters=30000, batch_size=128, lr=5e-4, weight_decay=1e-4, warmup_iters=500, grad_clip=1.0,
                 log_interval=200, seed=0, preload=False, num_workers=8, num_threads=None, device='cuda')
eval_cfg = dict(batch_size=32, replications=20, seed=0)
checkpoint_name = 'text_motion_evaluator.pth'
