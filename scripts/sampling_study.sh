#!/usr/bin/env bash
# The sampling study of docs/results/README.md (issue 26), as one restartable command: run it again until it says
# the page is written. Stage 1 trains the benchmark's checkpoints of the full model and the no-image baseline
# (3 seeds, the benchmark's budget; a run that finished is not repeated); stage 2 evaluates every sampling setting
# on them (an evaluation that finished is kept in benchmarks/results/sampling_mini_fbm/ and not repeated) and writes
# docs/results/sampling_mini_fbm.md. Both stages run niced, two jobs at a time (one per core).
#   scripts/sampling_study.sh [EXTRA sampling_study.py ARGS, e.g. --sweeps steps]
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PY:-.venv/bin/python}
STUDY=${STUDY_DIR:-work_dirs/sampling_study}
EVALUATOR=benchmarks/results/mini_fbm_runs/evaluator/text_motion_evaluator.pth

nice -n 5 "$PY" tools/analysis/run_benchmark.py --variants sfie no_image --seeds 0 1 2 --jobs 2 --archive none \
    --work-dir "$STUDY" --out "$STUDY/benchmark_page.md" --evaluator-ckpt "$EVALUATOR"
nice -n 5 "$PY" tools/analysis/sampling_study.py --study-dir "$STUDY" --jobs 2 \
    --notes docs/results/sampling_mini_fbm_notes.md "$@"
