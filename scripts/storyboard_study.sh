#!/usr/bin/env bash
# The storyboard study of docs/results/README.md (issue 29), as one restartable command: run it again until it says
# the page is written with nothing missing. It renders the storyboard test references (3 depicted frames per test
# window) and writes the long test sequences if they are missing, trains the storyboard model (3 seeds, the
# benchmark's budget; a finished run is not repeated), evaluates it and the sampling study's full-model checkpoints
# (work_dirs/sampling_study/sfie/seed{0,1,2}, read only, used once their benchmark test finished) on one image,
# storyboards of 2 and 3 and long sequences (a finished evaluation is kept in benchmarks/results/storyboard_mini_fbm/
# and not repeated) and writes docs/results/storyboard_mini_fbm.md. Everything runs niced, two jobs at a time.
#   scripts/storyboard_study.sh [EXTRA storyboard_study.py ARGS, e.g. --no-train]
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PY:-.venv/bin/python}
STUDY=${STUDY_DIR:-work_dirs/storyboard_study}
DATA=${DATA_ROOT:-data/mini_fbm}

if [ ! -f "$DATA/references_storyboard/test_mesh.json" ]; then
    nice -n 5 "$PY" tools/data/prepare_mini_fbm.py --out "$DATA" --styles mesh --storyboard-test
fi
CURRENT="import json, sys; from imagin4d.datasets.synthetic.long_test import LONG_TEST_VERSION as V
sys.exit(json.load(open(sys.argv[1]))['version'] != V)"
if ! "$PY" -c "$CURRENT" "$STUDY/long/long_test/index.json" 2>/dev/null; then
    nice -n 5 "$PY" tools/data/make_mini_fbm.py --out "$STUDY/long" --long-test 4 --long-test-only
fi
nice -n 5 "$PY" tools/analysis/storyboard_study.py --study-dir "$STUDY" --data-root "$DATA" --long-root "$STUDY/long" \
    --jobs 2 --notes docs/results/storyboard_mini_fbm_notes.md "$@"
