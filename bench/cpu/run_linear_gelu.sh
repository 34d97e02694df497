#!/bin/sh
# Runs bench_linear_gelu (medfm fused and unfused) and the torch reference
# in the same run, with the same thread count, and prints time ratios
# (< 1: the left side is faster).
# usage: bench/cpu/run_linear_gelu.sh [BUILD_DIR]; THREADS=N (default 2),
# REPS=N (default 5), PYTHON=... (default /usr/bin/python3).
set -eu
root=$(cd "$(dirname "$0")/../.." && pwd)
build=${1:-$root/build}
threads=${THREADS:-2}
reps=${REPS:-5}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
MEDFM_NUM_THREADS=$threads "$build/bin/bench_linear_gelu" --reps "$reps" >"$tmp/mf"
shapes=$(grep -v '^#' "$tmp/mf" | cut -d' ' -f1)
# shellcheck disable=SC2086
"${PYTHON:-/usr/bin/python3}" "$root/bench/cpu/torch_linear_gelu.py" --reps "$reps" --threads "$threads" $shapes >"$tmp/th"
/usr/bin/python3 - "$tmp/mf" "$tmp/th" "$threads" <<'PY'
import sys
rows = lambda p: {l.split()[0]: list(map(float, l.split()[1:])) for l in open(p) if not l.startswith("#")}
mf, th = rows(sys.argv[1]), rows(sys.argv[2])
print(f"== f32 linear+bias+GELU, {sys.argv[3]} threads, ms (best of runs); ratios < 1: left faster")
print(f"{'rows x in x out':18s} {'fused':>8s} {'unfused':>8s} {'torch':>8s} {'f/unf':>6s} {'f/torch':>7s}   "
      f"{'fused f+b':>9s} {'unfused':>8s} {'torch':>8s} {'f/unf':>6s} {'f/torch':>7s}")
for s, (ff, fb, uf, ub) in mf.items():
    tf, tb = th[s]
    print(f"{s:18s} {ff:8.2f} {uf:8.2f} {tf:8.2f} {ff/uf:6.2f} {ff/tf:7.2f}   "
          f"{fb:9.2f} {ub:8.2f} {tb:8.2f} {fb/ub:6.2f} {fb/tb:7.2f}")
PY
