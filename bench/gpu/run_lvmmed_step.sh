#!/usr/bin/env bash
# The LVM-Med pretraining step on one GPU, medfm against the PyTorch
# reference in the same run (f32 with TF32 on both sides): images/s, the
# ratio and peak memory. Usage:
#   bench/gpu/run_lvmmed_step.sh [BUILD] [images per view] [px]   (default: build 256 224)
# Needs libmedfm_cuda.so (MEDFM_CUDA_MODULE or beside libmedfm) and a PYTHON
# with CUDA-enabled torch (default python3).
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
MEDFM_BENCH_DEVICE=cuda PYTHON="${PYTHON:-python3}" exec "$here/../cpu/run_lvmmed_compare.sh" "${1:-build}" \
    "${2:-256}" "${3:-224}"
