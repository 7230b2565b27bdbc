# Text-motion evaluator for FID / R-precision on FBM (OMOMO, CHOIS protocol): the mini-FBM evaluator at a larger size.
# Train: python tools/train_evaluator.py projects/imagin4d/evaluators/fbm_evaluator.py (meant for a GPU; device='auto'
# takes CUDA where there is one, else the CPU; untested on the real data).
# Free-form sentences: the evaluator also attends over the token features. Streams windows from the dataset
# (tens of thousands of training windows) with worker processes instead of holding them in memory.
# The MiniLM sentence features are cached by `python tools/data/prepare_dataset.py projects/imagin4d/fbm_sfie.py`
# (docs/user_guides/fbm.md).
_base_ = ['./mini_fbm_evaluator.py']
data_root = '{{$IMAGIN4D_FBM_ROOT:data/fbm}}'  # env var: another location (as the data-set configs)

model = dict(embed_dim=256, hidden_dim=256, use_text_tokens=True)

train_cfg = dict(max_iters=30000, batch_size=128, lr=5e-4, warmup_iters=500, log_interval=200, preload=False,
                 num_workers=8, device='auto')
