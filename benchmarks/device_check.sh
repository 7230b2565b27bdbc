#!/usr/bin/env bash
# The GPU checks of the performance work (issue 23) as one short script, for a machine with a CUDA GPU whose Python
# already has torch (and numpy, opencv, scipy, ...) but not this project's other packages:
#   benchmarks/device_check.sh fetch   # here, with access to PyPI: the missing wheels into .whl/ (ignored by git)
#   benchmarks/device_check.sh run     # there, with .whl/ beside the checkout
# `run` installs the wheels into /tmp/site, then measures
#   - the attention backends (xformers, sdpa, math) on the denoiser's shapes in fp32 and bf16: speed and each
#     backend's largest difference from the math reference (benchmarks/attention_backends.py);
#   - training iterations/s of the FBM-size full model and no-image baseline (and the mini full model) in fp32 and
#     with bf16 autocast (what `tools/train.py --amp` does), with xformers and with sdpa, the first step's loss of each
#     (the agreement), peak GPU memory, and generation seconds of one request and of a batch of 32 (DDIM, the
#     config's steps; benchmarks/model_throughput.py);
# and writes benchmarks/results/{attention_backends_cuda_fp32,attention_backends_cuda_bf16,model_throughput_cuda}
# .{json,md}, copied to $OUT when it is set (with the log).
set -euo pipefail
cd "$(dirname "$0")/.."
WHEELS=(mmengine==0.10.7 addict==2.4.0 yapf==0.43.0 termcolor==3.3.0 platformdirs==4.14.9 xformers==0.0.35)
PY=${PY:-python3}

case "${1:-}" in
fetch)
    # --no-deps: each package the device image lacks is named above; the platforms are those of its Python 3.12.
    "$PY" -m pip download --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
        --platform manylinux_2_28_x86_64 --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 \
        -d .whl "${WHEELS[@]}"
    ;;
run)
    log=${OUT:-/tmp}/device_check.log
    exec > >(tee "$log") 2>&1
    "$PY" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl
    export PYTHONPATH=/tmp/site:$PWD PYTHONUNBUFFERED=1
    nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv
    "$PY" -c "import torch; print('torch', torch.__version__, 'cuda', torch.version.cuda, torch.cuda.get_device_name())"
    backends="xformers sdpa"
    "$PY" -c "import xformers, xformers.ops; print('xformers', xformers.__version__)" \
        || { backends=sdpa; echo "xformers does not import: sdpa only"; }
    for dtype in float32 bfloat16; do
        tag=$([ $dtype = float32 ] && echo fp32 || echo bf16)
        "$PY" benchmarks/attention_backends.py --repeats 50 --dtype $dtype \
            --out benchmarks/results/attention_backends_cuda_$tag
    done
    "$PY" benchmarks/model_throughput.py --device cuda --batch 32 --repeats 10 --precision fp32 bf16 \
        --attn-backend $backends --gen-batch 1 32 --only fbm_sfie fbm_no_image mini_fbm_sfie --tag cuda
    if [ -n "${OUT:-}" ]; then
        cp benchmarks/results/attention_backends_cuda_*.{json,md} benchmarks/results/model_throughput_cuda.{json,md} \
            "$OUT"/
    fi
    ;;
*)
    echo "usage: $0 fetch|run" >&2
    exit 2
    ;;
esac
