#!/usr/bin/env bash
# Per-op forward+backward on one GPU: medfm's CUDA backend against PyTorch
# eager in the same run, for the ops of the ViT / nnFormer / 3-D U-Net paths
# (3-D and transposed convs, depthwise conv, ViT and window attention with a
# bias gradient, layer and group norm, linear+GELU, cross-entropy; shapes in
# bench/gpu/gpu_ops.c). Prints per case: each side's median seconds, the
# throughput ratio torch_s / medfm_s (> 1: medfm faster), each side's peak
# memory (medfm's caching allocator vs torch.cuda.max_memory_allocated,
# inputs included) and their ratio medfm/torch. Usage:
#   bench/gpu/run_ops.sh [BUILD] [precision]   (default: build f32; f32 or bf16)
# f32 runs with TF32 on both sides; bf16 runs the forward and the loss under
# autocast on both sides. MEDFM_BENCH_RUNS (default 5) timed runs per case.
# Checking without a GPU: MEDFM_BENCH_DEVICE=cpu MEDFM_BENCH_SCALE=tiny
# (every case a few KB; torch keeps no CPU peak, so that ratio reads n/a).
# Needs libmedfm_cuda.so (MEDFM_CUDA_MODULE or beside libmedfm) and a
# PYTHON with CUDA-enabled torch (default python3, or /usr/bin/python3 when
# python3 has no torch, as on a machine whose python3 is a pyenv shim).
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
build="${1:-build}"
precision="${2:-f32}"
export MEDFM_BENCH_DEVICE="${MEDFM_BENCH_DEVICE:-cuda}" MEDFM_BENCH_RUNS="${MEDFM_BENCH_RUNS:-5}"
export MEDFM_BENCH_PRECISION="$precision" MEDFM_BENCH_SCALE="${MEDFM_BENCH_SCALE:-full}"
py="${PYTHON:-python3}"
if [ -z "${PYTHON:-}" ] && ! "$py" -c 'import torch' 2>/dev/null && /usr/bin/python3 -c 'import torch' 2>/dev/null; then
  py=/usr/bin/python3
fi
m="$("$build/bin/bench_gpu_ops")"
t="$("$py" "$here/torch_ops.py" "$build/bin/bench_gpu_ops")"
n="$("$build/bin/bench_gpu_ops" --list | wc -l)"
grep '^#' <<<"$t" || true
awk -v n="$n" -v dev="$MEDFM_BENCH_DEVICE" -v p="$precision" -v runs="$MEDFM_BENCH_RUNS" \
    -v scale="$MEDFM_BENCH_SCALE" '
  function field(f,   i) { for (i = 1; i <= NF; i++) if ($i == f) return $(i + 1); return "" }
  FNR == NR { if ($1 == "torch") { ts[$2] = $4; tp[$2] = field("peak_mib") } next }
  $1 == "medfm" { order[++k] = $2; ms[$2] = $4; mp[$2] = field("peak_mib"); mq[$2] = field("req_mib") }
  END {
    if (k != n) { printf "run_ops.sh: medfm printed %d of %d cases\n", k, n > "/dev/stderr"; exit 1 }
    printf "per-op forward+backward on %s, %s, %s sizes, median of %d runs\n", dev, p, scale, runs
    printf "%-18s %10s %10s %11s %10s %10s %11s %11s\n", "case", "medfm s", "torch s", "torch/medfm", \
           "medfm MiB", "torch MiB", "peak m/t", "asked m/t"
    for (i = 1; i <= k; i++) {
      c = order[i]
      if (!(c in ts) || ms[c] == "" || mp[c] == "" || tp[c] == "") {
        printf "run_ops.sh: %s: no complete line from both sides\n", c > "/dev/stderr"; exit 1
      }
      r = ms[c] > 0 ? sprintf("%.2f", ts[c] / ms[c]) : "n/a"
      q = tp[c] > 0 ? sprintf("%.2f", mp[c] / tp[c]) : "n/a"
      a = tp[c] > 0 && mq[c] != "" ? sprintf("%.2f", mq[c] / tp[c]) : "n/a"
      printf "%-18s %10.6f %10.6f %11s %10.3f %10.3f %11s %11s\n", c, ms[c], ts[c], r, mp[c], tp[c], q, a
    }
  }' <(printf '%s\n' "$t") <(printf '%s\n' "$m")
