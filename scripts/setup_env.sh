#!/usr/bin/env bash
# Idempotent set-up for a fresh Debian machine: the Debian packages for headless EGL rendering, then the
# Python requirements into .venv (torch first and alone, pinned, so no CUDA build is pulled on a CPU machine).
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3}
DEBS="libegl1 libegl-mesa0 libgl1-mesa-dri"

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
echo "[setup] done: $(.venv/bin/python -c 'import torch, mmengine; print("torch", torch.__version__, "mmengine", mmengine.__version__)')"
