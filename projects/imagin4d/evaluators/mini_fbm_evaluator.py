# Text-motion evaluator for FID / R-precision on mini-FBM (train: python tools/train_evaluator.py THIS_FILE).
# Trains on a 2-core CPU in a few minutes on the default mini-FBM (about 1475 training windows, 27 distinct
# sentences). The checkpoint goes to <work_dir>/text_motion_evaluator.pth; give it to DistributionMetric.
data_root = '{{$IMAGIN4D_MINI_FBM_ROOT:data/mini_fbm}}'  # env var: another location (as the data-set configs)
# The MiniLM sentence features cached by tools/data/prepare_mini_fbm.py; '{data_root}' is filled in by the tool
# (so `--cfg-options data_root=...` moves the cache with it).
feature_cache = '{data_root}/feature_cache'
text_encoder = dict(type='MiniLMTextEncoder')  # the extractor config the cached text features were built with

model = dict(type='TextMotionEvaluator', motion_dim=220, text_dim=384, embed_dim=64, hidden_dim=64,
             num_downsample=3, use_velocity=True, use_text_tokens=False, dropout=0.1, min_std=1e-2,
             init_temperature=0.07)

# FBMDataset windows of `data_root` (un-normalised motion features). bps_frame='first': object rotations are
# relative to frame 0, as in the test protocol the metric sees.
train_dataset = dict(type='FBMDataset', split='train', window=120, stride=30, bps_frame='first')
test_dataset = dict(type='FBMDataset', split='test', window=120, bps_frame='first')

train_cfg = dict(max_iters=1200, batch_size=64, lr=1e-3, weight_decay=1e-4, warmup_iters=50, grad_clip=1.0,
                 log_interval=100, seed=0, preload=True, num_workers=0, num_threads=None, device='cpu')
# Retrieval accuracy printed at the end: batches of 32 (of min(32, N) on small splits), mean over shuffles.
eval_cfg = dict(batch_size=32, replications=20, seed=0)
checkpoint_name = 'text_motion_evaluator.pth'
