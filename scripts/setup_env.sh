#!/usr/bin/env bash
# Idempotent set-up for a fresh Debian machine: the Debian packages for headless EGL rendering, then the
# Python requirements into .venv (torch first and alone, pinned, so no CUDA build is pulled on a CPU machine),
# then the Khronos glTF validator (npm, pinned with its integrity hash) into .venv/gltf_validator.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3}
DEBS="libegl1 libegl-mesa0 libgl1-mesa-dri"
# Node.js runs the glTF validator of the exporter tests; Debian's packages only when node is missing.
command -v node >/dev/null 2>&1 || DEBS="$DEBS nodejs npm"

missing=""
for pkg in $DEBS; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing="$missing $pkg"
done
if [ -n "$missing" ]; then
  echo "[setup] installing Debian packages:$missing"
  SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq $missing
fi

if [ ! -x .venv/bin/python ]; then
  echo "[setup] creating .venv with $($PYTHON --version)"
  $PYTHON -m venv .venv
fi
PIP=".venv/bin/python -m pip"
echo "[setup] installing torch (CPU build, pinned) then the runtime and test requirements"
$PIP install -q --disable-pip-version-check -r requirements/torch.txt
$PIP install -q --disable-pip-version-check -r requirements/runtime.txt -r requirements/tests.txt
$PIP install -q --disable-pip-version-check --no-deps --no-build-isolation -e .
$PIP check
GLTF_VALIDATOR=.venv/gltf_validator
GLTF_VALIDATOR_VERSION=$(sed -n 's/.*"gltf-validator": "\(.*\)".*/\1/p' requirements/gltf_validator/package.json)
installed=$(node -p "require('./$GLTF_VALIDATOR/node_modules/gltf-validator/package.json').version" 2>/dev/null || true)
if [ "$installed" != "$GLTF_VALIDATOR_VERSION" ]; then
  echo "[setup] installing the Khronos glTF validator (npm gltf-validator@$GLTF_VALIDATOR_VERSION) into $GLTF_VALIDATOR"
  mkdir -p "$GLTF_VALIDATOR"
  cp requirements/gltf_validator/package.json requirements/gltf_validator/package-lock.json "$GLTF_VALIDATOR/"
  npm ci --prefix "$GLTF_VALIDATOR" --no-audit --no-fund --loglevel=error
fi
echo "[setup] done: $(.venv/bin/python -c 'import torch, mmengine; print("torch", torch.__version__, "mmengine", mmengine.__version__)')"
