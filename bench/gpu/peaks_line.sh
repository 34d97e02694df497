#!/usr/bin/env bash
# One line comparing peak memory like for like, for the GPU benches:
#   peaks_line.sh MEDFM_REQ_MIB TORCH_ALLOCATED_MIB MEDFM_RESERVED_MIB TORCH_RESERVED_MIB
# medfm's peak of requested bytes (512-byte units) against
# torch.cuda.max_memory_allocated, and its peak of bytes taken from the
# driver against torch.cuda.max_memory_reserved. Prints nothing when a
# figure is missing (a CPU run).
set -euo pipefail
for v in "${1:-}" "${2:-}" "${3:-}" "${4:-}"; do
  [ -n "$v" ] || exit 0
done
awk -v mq="$1" -v ta="$2" -v mr="$3" -v tr="$4" 'BEGIN {
  printf "peak memory like for like: requested %s vs allocated %s MiB (medfm/torch %.3f), ", mq, ta, (ta > 0 ? mq / ta : 0)
  printf "reserved %s vs %s MiB (%.3f)\n", mr, tr, (tr > 0 ? mr / tr : 0) }'
