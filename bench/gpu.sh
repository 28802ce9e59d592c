#!/usr/bin/env bash
# GPU figures in one short run (under 8 minutes on one H200): see bench/gpu_bench.py.
#   bash bench/gpu.sh                # on the GPU machine
#   bash bench/gpu.sh --cpu_dry_run  # the same code paths, tiny, on the CPU
# Installs the project (with TensorFlow's CUDA libraries) unless TensorFlow already
# sees a GPU. The lent H200 machine has no network and no TensorFlow; wheels in ./.whl
# (see the device tool's README) are installed from there when present.
set -euo pipefail
cd "$(dirname "$0")/.."
export TF_CPP_MIN_LOG_LEVEL=2 PYTHONUNBUFFERED=1
PYTHON=${PYTHON:-python3}
if [[ " $* " != *" --cpu_dry_run "* ]]; then
  if ! "$PYTHON" -c "import tensorflow as tf, sys; sys.exit(not tf.config.list_physical_devices('GPU'))" 2>/dev/null; then
    if [ -d .whl ]; then
      "$PYTHON" -m pip install -q --no-index --find-links .whl -e ".[gpu]"
    else
      "$PYTHON" -m pip install -q -e ".[gpu]"
    fi
  fi
  nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader || true
fi
exec timeout 480 "$PYTHON" bench/gpu_bench.py "$@"
