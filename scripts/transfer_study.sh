#!/usr/bin/env bash
# The domain-transfer study of issue 28 (docs/results/transfer_mini_fbm.md), as one restartable command: run it again
# until it says the page is written. Stage 1 derives data/mini_fbm_transfer from data/mini_fbm (hard links) and
# renders the scene and degraded references and the mixture index into it (niced 15: an hour or more at 448 px);
# then the trainings (mesh only reuses the sampling study's checkpoints in work_dirs/sampling_study, waiting for the
# ones still training there; scene only and the mixture train here, 3 seeds, the benchmark's budget, resumed when
# interrupted), the evaluations on every test domain with the mirror test, the reference probe per style (each
# result archived in benchmarks/results/transfer_mini_fbm/ and not repeated) and the page. Two jobs at a time.
#   scripts/transfer_study.sh                # everything
#   scripts/transfer_study.sh --stage data   # stage 1 only
#   scripts/transfer_study.sh --collect      # the page from the archive
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PY:-.venv/bin/python}
WORK=${TRANSFER_WORK_DIR:-work_dirs/transfer_study}
NOTES=(--notes docs/results/transfer_mini_fbm_notes.md)   # hand-written reading of the table, kept on the page
mkdir -p "$WORK"
for arg in "$@"; do
    if [ "$arg" = "--collect" ]; then
        exec "$PY" tools/analysis/transfer_study.py --work-dir "$WORK" "${NOTES[@]}" "$@"
    fi
done
nice -n 15 "$PY" tools/analysis/transfer_study.py --work-dir "$WORK" "$@" --stage data
for arg in "$@"; do [ "$arg" = "--stage" ] && exit 0; done   # --stage data: stage 1 only
nice -n 5 "$PY" tools/analysis/transfer_study.py --work-dir "$WORK" --jobs 2 "${NOTES[@]}" "$@"
