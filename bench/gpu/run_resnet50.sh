#!/usr/bin/env bash
# ResNet-50 forward+backward on one GPU: medfm's CUDA backend against
# PyTorch eager in the same run, the forward under bf16 autocast on both
# sides by default (f32 runs with TF32 on both sides); prints
# seconds per step, images/s, the ratio and each side's peak memory (medfm's
# caching allocator's blocks vs torch.cuda.max_memory_allocated, both reset
# before the measured steps; then like for like: bytes requested against
# allocated, bytes taken from the driver against reserved). Usage:
#   bench/gpu/run_resnet50.sh [BUILD] [batch] [size] [precision]
#   (default: build 256 224 bf16; precision f32, bf16 or f16)
# MEDFM_BENCH_CUDNN_SEARCH=1 times cuDNN's convolution algorithms on both
# sides (medfm's MEDFM_CUDNN_SEARCH / train.cudnn_search against
# torch.backends.cudnn.benchmark) instead of taking its heuristics; the
# search runs in the warm-up step, outside the measured ones.
# MEDFM_BENCH_CHANNELS_LAST=1 runs both sides channels-last (medfm's
# mf_conv_set_channels_last / train.channels_last against
# torch.channels_last weights and input).
# Needs libmedfm_cuda.so (MEDFM_CUDA_MODULE or beside libmedfm) and a
# PYTHON with CUDA-enabled torch (default python3).
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
build="${1:-build}"
batch="${2:-256}"
size="${3:-224}"
precision="${4:-bf16}"
export MEDFM_BENCH_DEVICE=cuda MEDFM_BENCH_BATCH="$batch" MEDFM_BENCH_RUNS="${MEDFM_BENCH_RUNS:-5}"
export MEDFM_BENCH_PRECISION="$precision"
search="${MEDFM_BENCH_CUDNN_SEARCH:-0}"
export MEDFM_BENCH_CUDNN_SEARCH="$search" MEDFM_CUDNN_SEARCH="$search"
cl="${MEDFM_BENCH_CHANNELS_LAST:-0}"
export MEDFM_BENCH_CHANNELS_LAST="$cl"
# medfm also times the step replayed as a CUDA graph (train.cuda_graph);
# MEDFM_BENCH_CUDA_GRAPH=0 skips it.
export MEDFM_BENCH_CUDA_GRAPH="${MEDFM_BENCH_CUDA_GRAPH:-1}"
m="$("$build/bin/bench_resnet50" "$size")"
t="$("${PYTHON:-python3}" "$here/../cpu/torch_resnet50.py" "$size")"
mw=$(awk '$1=="medfm"{print $4}' <<<"$m")
tw=$(awk '$1=="torch"{print $4}' <<<"$t")
field() { awk -v w="$1" -v f="$2" '$1==w{for(i=1;i<=NF;i++) if($i==f) print $(i+1)}'; }
mp=$(field medfm peak_mib <<<"$m")
tp=$(field torch peak_mib <<<"$t")
awk -v b="$batch" -v s="$size" -v p="$precision" -v mw="$mw" -v tw="$tw" -v mp="$mp" -v tp="$tp" \
    -v q="$([ "$search" = 1 ] && echo "timed cuDNN algorithm search" || echo "cuDNN heuristics")" \
    -v l="$([ "$cl" = 1 ] && echo "channels-last" || echo "NCHW")" 'BEGIN {
  printf "resnet50 fwd+bwd batch %d at %dx%d on GPU, %s, %s, %s\n", b, s, s, p, q, l
  printf "medfm %.4f s/step  %.1f img/s  peak %s MiB\n", mw, b / mw, mp
  printf "torch %.4f s/step  %.1f img/s  peak %s MiB\n", tw, b / tw, tp
  printf "throughput medfm/torch: %.2f   peak memory medfm/torch: %.2f\n", tw / mw, mp / tp }'
"$here/peaks_line.sh" "$(field medfm req_mib <<<"$m")" "$tp" "$(field medfm res_mib <<<"$m")" \
    "$(field torch res_mib <<<"$t")"
gw=$(awk '$1=="medfm_graph"{print $4}' <<<"$m")
if [ -n "$gw" ]; then
  gp=$(field medfm_graph peak_mib <<<"$m")
  awk -v b="$batch" -v gw="$gw" -v tw="$tw" -v gp="$gp" -v tp="$tp" 'BEGIN {
    printf "medfm cuda_graph %.4f s/step  %.1f img/s  peak %s MiB\n", gw, b / gw, gp
    printf "throughput medfm cuda_graph/torch eager: %.2f   peak memory: %.2f\n", tw / gw, gp / tp }'
fi
