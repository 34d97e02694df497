#!/usr/bin/env bash
# ResNet-50 forward+backward at batch 8: medfm against plain PyTorch, both on
# 2 threads, measured in the same run; prints seconds and medfm/torch.
# Usage: run_resnet50.sh [BUILD] [size...]   (default: build, sizes 64 224)
# On a machine with more cores, pin both to two: BENCH_PIN="taskset -c 0,1".
# PYTHON picks the interpreter with torch (default /usr/bin/python3).
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
build="${1:-build}"
shift || true
sizes=("$@")
[ ${#sizes[@]} -gt 0 ] || sizes=(64 224)
export OPENBLAS_NUM_THREADS=2 OMP_NUM_THREADS=2 MKL_NUM_THREADS=2 MEDFM_NUM_THREADS=2
pin=(${BENCH_PIN:-})
medfm_out="$("${pin[@]}" "$build/bin/bench_bench_resnet50" "${sizes[@]}")"
torch_out="$("${pin[@]}" "${PYTHON:-/usr/bin/python3}" "$here/torch_resnet50.py" "${sizes[@]}")"
# Wall time is what counts on an idle machine; CPU time stays comparable when
# other work shares the cores.
printf '%-8s %10s %10s %8s %10s %10s %8s\n' size medfm_s torch_s ratio medfm_cpu torch_cpu ratio
for s in "${sizes[@]}"; do
  read -r mw mc < <(awk -v s="$s" '$1=="medfm" && $3==s {print $4, $5}' <<<"$medfm_out")
  read -r tw tc < <(awk -v s="$s" '$1=="torch" && $3==s {print $4, $5}' <<<"$torch_out")
  awk -v s="$s" -v mw="$mw" -v tw="$tw" -v mc="$mc" -v tc="$tc" \
    'BEGIN {printf "%-8s %10.3f %10.3f %8.2f %10.3f %10.3f %8.2f\n", s"x"s, mw, tw, mw / tw, mc, tc, mc / tc}'
done
