# Retraining check of bf16 autocast training on the CPU (issue 23): the no-image model (mini_fbm_no_image.py) with
# its cue encoders and denoiser in bf16 autocast during training (`model.train_autocast`, what `tools/train.py --amp`
# sets), the losses and sampling in fp32: the control of mini_fbm_sfie_lean_bf16.py (scripts/bf16_rerun.sh).
_base_ = ['../mini_fbm_no_image.py']
model = dict(train_autocast='bfloat16')
