#!/usr/bin/env bash
# Issue 23: the lean full model's retraining check, with controls trained on the same machine and data build.
# Trains (2000 iterations, the benchmark's budget and sampling) into the lean archive, two at a time:
#   round 1: sfie_lean seed 0 beside the default full model sfie seed 0 (control: same machine, same references);
#   round 2: sfie_lean seeds 1 then 2, beside no_image seed 0 (control).
# then writes benchmarks/results/training_step_rerun.md: the lean runs against the archived sfie / no_image runs,
# each control against its own archived runs. Restartable: finished runs are reused from the archive, an interrupted
# training resumes from its last checkpoint (tools/analysis/run_benchmark.py).
#
#     scripts/lean_rerun.sh            # needs data/mini_fbm (tools/data/prepare_mini_fbm.py)
set -euo pipefail
cd "$(dirname "$0")/.."
WORK=${WORK:-work_dirs/lean_rerun}
ARCHIVE=benchmarks/results/lean_mini_fbm_runs
source scripts/rerun_rounds.sh
run round1 --variants sfie_lean sfie --seeds 0 --jobs 2
run round2_lean --variants sfie_lean --seeds 1 2 --jobs 1 & lean=$!
run round2_control --variants no_image --seeds 0 --jobs 1 & control=$!
wait "$lean"
wait "$control"
"$PY" benchmarks/training_step_rerun.py --new-runs "$ARCHIVE/iters2000_steps20" --control sfie no_image \
  --rescore-dir "$WORK/rescored"
