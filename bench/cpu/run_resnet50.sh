#!/usr/bin/env bash
# ResNet-50 forward+backward at batch 8: medfm against plain PyTorch, both on
# 2 threads, measured in the same run. Usage: run_resnet50.sh [BUILD] [size...]
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
build="${1:-build}"
shift || true
sizes=("$@")
[ ${#sizes[@]} -gt 0 ] || sizes=(64 224)
export OPENBLAS_NUM_THREADS=1 OMP_NUM_THREADS=2 MEDFM_NUM_THREADS="${MEDFM_NUM_THREADS:-2}"
medfm_out="$("$build/bin/bench_bench_resnet50" "${sizes[@]}")"
torch_out="$(/usr/bin/python3 "$here/torch_resnet50.py" "${sizes[@]}")"
printf '%-8s %12s %12s %8s\n' size medfm_s torch_s ratio
for s in "${sizes[@]}"; do
  m=$(awk -v s="$s" '$1=="medfm" && $3==s {print $4}' <<<"$medfm_out")
  t=$(awk -v s="$s" '$1=="torch" && $3==s {print $4}' <<<"$torch_out")
  awk -v s="$s" -v m="$m" -v t="$t" 'BEGIN {printf "%-8s %12.4f %12.4f %8.2f\n", s"x"s, m, t, m / t}'
done
