# Sourced by the retraining checks of issue 23 (lean_rerun.sh, bf16_rerun.sh) after they set ARCHIVE and WORK:
# `run NAME ARGS...` is one tools/analysis/run_benchmark.py invocation (the benchmark's budget and sampling, the
# archived text-motion evaluator) into $ARCHIVE and $WORK, with its own page and log ($WORK/NAME.md, $WORK/NAME.log).
PY=${PY:-.venv/bin/python}
common=(--data-root data/mini_fbm --archive "$ARCHIVE" --work-dir "$WORK"
        --evaluator-ckpt benchmarks/results/mini_fbm_runs/evaluator/text_motion_evaluator.pth)
mkdir -p "$WORK"
run() {
  local name=$1; shift
  "$PY" tools/analysis/run_benchmark.py "${common[@]}" --out "$WORK/$name.md" "$@" > "$WORK/$name.log" 2>&1
}
