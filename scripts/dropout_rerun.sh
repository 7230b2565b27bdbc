#!/usr/bin/env bash
# Issue 23: the retraining check of the 16-bit-mask dropout (imagin4d/models/layers/dropout.py), which draws other
# masks than torch's dropout. Trains (2000 iterations, the benchmark's budget and sampling) into its own archive, two
# at a time:
#   round 1: the default full model (sfie, fp32) and the no-image model (no_image, fp32) at seed 0, then the lean
#            full model in bf16 (sfie_lean_bf16, the fastest run) at seed 0 on the core the no-image run frees;
#   round 2: sfie and sfie_lean_bf16 at seeds 1 and 2;
# then writes benchmarks/results/training_step_rerun_dropout.md (sfie against the archived full-model runs, no_image
# against its archived runs as the control) and training_step_rerun_dropout_lean_bf16.md (against the bf16 lean runs
# trained with torch's dropout on this machine). Restartable like the other checks (tools/analysis/run_benchmark.py).
#
#     scripts/dropout_rerun.sh          # needs data/mini_fbm (tools/data/prepare_mini_fbm.py)
set -euo pipefail
cd "$(dirname "$0")/.."
WORK=${WORK:-work_dirs/dropout_rerun}
ARCHIVE=benchmarks/results/dropout_mini_fbm_runs
source scripts/rerun_rounds.sh
run round1 --variants sfie no_image sfie_lean_bf16 --seeds 0 --jobs 2
run round2 --variants sfie sfie_lean_bf16 --seeds 1 2 --jobs 2
"$PY" benchmarks/training_step_rerun.py --new-runs "$ARCHIVE/iters2000_steps20" --new sfie --old sfie \
  --control no_image --rescore-dir "$WORK/rescored" --rescored benchmarks/results/training_step_rerun_dropout \
  --out benchmarks/results/training_step_rerun_dropout.md
"$PY" benchmarks/training_step_rerun.py --new-runs "$ARCHIVE/iters2000_steps20" --new sfie_lean_bf16 \
  --runs benchmarks/results/bf16_mini_fbm_runs/iters2000_steps20 --old sfie_lean_bf16 --floor no_image_bf16 \
  --rescore-dir "$WORK/rescored" --out benchmarks/results/training_step_rerun_dropout_lean_bf16.md
