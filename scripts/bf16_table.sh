#!/usr/bin/env bash
# Issue 23: the whole mini-FBM benchmark table (every variant, seeds 0-2, the benchmark's budget and sampling)
# trained in bf16 autocast (`run_benchmark.py --amp`), two runs at a time, to measure how long the table takes
# (its page gives the wall time and the tools' run time: the fp32 table took about ten hours of this machine) and to
# check it against the fp32 archive. Runs are archived under benchmarks/results/mini_fbm_runs/iters2000_steps20_bf16;
# the page is benchmarks/results/results_mini_fbm_bf16.md; then benchmarks/results/bf16_table/<variant>.md compares
# each variant's bf16 runs with its archived fp32 runs (training_step_rerun.py: within the seed spread or not), and
# the full model's also with its fp32 runs of this machine's data build (sfie_same_build.md).
# Hours of both cores: a session that ends first leaves whole runs archived and the running trainings resumable;
# the next session runs this script again and it goes on where it stopped.
#
#     scripts/bf16_table.sh            # needs data/mini_fbm (tools/data/prepare_mini_fbm.py)
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PY:-.venv/bin/python}
RUNS=benchmarks/results/mini_fbm_runs
"$PY" tools/analysis/run_benchmark.py --amp --jobs 2 --out benchmarks/results/results_mini_fbm_bf16.md
mkdir -p benchmarks/results/bf16_table
compare() {   # compare FP32_ARCHIVE VARIANT PAGE: the variant's bf16 runs against its fp32 runs in FP32_ARCHIVE
  "$PY" benchmarks/training_step_rerun.py --runs "$1" --new-runs "$RUNS/iters2000_steps20_bf16" \
    --new "$2" --old "$2" --rescore-dir work_dirs/benchmark_bf16/rescored \
    --rescored benchmarks/results/bf16_table/rescored --out "$3"
}
for variant in no_image global_token uniform_image sfie_spatial sfie sketch sfie_fused; do
  compare "$RUNS/iters2000_steps20" "$variant" "benchmarks/results/bf16_table/$variant.md"
done
# The full model also has 3 fp32 runs of this machine, data build and code (the dropout check's archive; its no-image
# model has one, no spread to judge by): against them the precision is the only difference.
compare benchmarks/results/dropout_mini_fbm_runs/iters2000_steps20 sfie benchmarks/results/bf16_table/sfie_same_build.md
