# Retraining check of bf16 autocast training on the CPU (issue 23): the lean full model (mini_fbm_sfie_lean.py) with
# its cue encoders and denoiser in bf16 autocast during training (`model.train_autocast`, what `tools/train.py --amp`
# sets), the losses and sampling in fp32. scripts/bf16_rerun.sh trains it at 3 seeds with the benchmark's budget;
# benchmarks/results/training_step_rerun_bf16.md compares the runs with the archived fp32 runs.
_base_ = ['../mini_fbm_sfie_lean.py']
model = dict(train_autocast='bfloat16')
