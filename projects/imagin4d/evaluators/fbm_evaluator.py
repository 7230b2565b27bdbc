# Text-motion evaluator for FID / R-precision on FBM (OMOMO, CHOIS protocol): the mini-FBM evaluator at a larger size.
# Train: python tools/train_evaluator.py projects/imagin4d/evaluators/fbm_evaluator.py (GPU; untested on the real data).
# Free-form sentences: the evaluator also attends over the token features. Streams windows from the dataset
# (tens of thousands of training windows) with worker processes instead of holding them in memory.
# The MiniLM sentence features are built once with
#   python tools/data/cache_features.py --texts data/fbm/omomo_text_anno_json_data/*.json --out data/fbm/feature_cache
_base_ = ['./mini_fbm_evaluator.py']
data_root = '{{$IMAGIN4D_FBM_ROOT:data/fbm}}'  # env var: another location (as the data-set configs)

model = dict(embed_dim=256, hidden_dim=256, use_text_tokens=True)

train_cfg = dict(max_iters=30000, batch_size=128, lr=5e-4, warmup_iters=500, log_interval=200, preload=False,
                 num_workers=8, device='cuda')
