#!/usr/bin/env bash
# Issue 23: the retraining check of bf16 autocast training on the CPU (`model.train_autocast='bfloat16'`, what
# `tools/train.py --amp` sets). Trains (2000 iterations, the benchmark's budget and sampling) into its own archive,
# two at a time:
#   round 1: the lean full model in bf16 (sfie_lean_bf16) seed 0 beside the no-image model in bf16 (no_image_bf16);
#   round 2: sfie_lean_bf16 seeds 1 and 2;
# then writes benchmarks/results/training_step_rerun_bf16.md (against the archived fp32 full and no-image runs) and
# training_step_rerun_bf16_lean.md (against the fp32 lean runs). Restartable: finished runs are reused from the
# archive, an interrupted training resumes from its last checkpoint (tools/analysis/run_benchmark.py).
#
#     scripts/bf16_rerun.sh            # needs data/mini_fbm (tools/data/prepare_mini_fbm.py)
set -euo pipefail
cd "$(dirname "$0")/.."
WORK=${WORK:-work_dirs/bf16_rerun}
ARCHIVE=benchmarks/results/bf16_mini_fbm_runs
source scripts/rerun_rounds.sh
run round1 --variants sfie_lean_bf16 no_image_bf16 --seeds 0 --jobs 2
run round2 --variants sfie_lean_bf16 --seeds 1 2 --jobs 2
"$PY" benchmarks/training_step_rerun.py --new-runs "$ARCHIVE/iters2000_steps20" --new sfie_lean_bf16 \
  --control no_image_bf16=no_image --rescore-dir "$WORK/rescored" --out benchmarks/results/training_step_rerun_bf16.md
"$PY" benchmarks/training_step_rerun.py --new-runs "$ARCHIVE/iters2000_steps20" --new sfie_lean_bf16 \
  --runs benchmarks/results/lean_mini_fbm_runs/iters2000_steps20 --old sfie_lean \
  --rescore-dir "$WORK/rescored" --out benchmarks/results/training_step_rerun_bf16_lean.md
