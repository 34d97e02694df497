#!/bin/sh
# Runs the medfm conv bench and the torch reference in the same run, for 64 px
# and 224 px inputs, and prints per-shape and ResNet-50-weighted total
# ratios medfm/torch (< 1: medfm faster). Both use 2 threads.
# usage: bench/cpu/run.sh [BUILD_DIR] [PX...]   (default: build, 64 224)
# PYTHON=... picks the interpreter with torch (default /usr/bin/python3);
# ROUNDS=N (default 2) alternates medfm and torch N times and keeps each
# shape's best time, so a busy machine skews both sides alike;
# THREADS=1 CPUTIME=1 compares single-threaded process CPU time instead,
# which a busy machine barely disturbs.
set -eu
root=$(cd "$(dirname "$0")/../.." && pwd)
build=${1:-$root/build}
[ $# -gt 0 ] && shift
sizes=${*:-64 224}
py=${PYTHON:-/usr/bin/python3}
bin=$build/bin/bench_bench_conv
[ -x "$bin" ] || bin=$build/bin/bench_conv
# OpenBLAS 0.3.21 takes AMD Zen 4 for Haswell and runs AVX2 kernels on an
# AVX-512 CPU (1.7x slower GEMMs); its core can only be chosen before it
# loads, through the environment. Pick the AVX-512 core when the CPU has it
# (OPENBLAS_CORETYPE=Haswell in the environment keeps the default).
if [ -z "${OPENBLAS_CORETYPE:-}" ] && grep -q avx512bw /proc/cpuinfo && grep -q avx512vl /proc/cpuinfo \
    && grep -q avx512dq /proc/cpuinfo; then
    export OPENBLAS_CORETYPE=SkylakeX
fi
echo "# OPENBLAS_CORETYPE=${OPENBLAS_CORETYPE:-(auto)}"
threads=${THREADS:-2}
cpu=
[ -n "${CPUTIME:-}" ] && cpu=--cpu
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
for px in $sizes; do
    reps=3
    [ "$px" -ge 224 ] && reps=2
    : >"$tmp/mf$px"
    : >"$tmp/th$px"
    r=0
    while [ "$r" -lt "${ROUNDS:-2}" ]; do
        MEDFM_NUM_THREADS=$threads "$bin" --px "$px" --reps "$reps" $cpu >>"$tmp/mf$px"
        "$py" "$root/bench/cpu/torch_conv.py" "$bin" --px "$px" --reps "$reps" --threads "$threads" $cpu >>"$tmp/th$px"
        r=$((r + 1))
    done
    /usr/bin/python3 - "$tmp/mf$px" "$tmp/th$px" "$px" "$threads threads${cpu:+, CPU time}" <<'PY'
import sys
def load(p):  # name -> [count, best fwd, best fwd+bwd] over rounds
    out = {}
    for l in open(p):
        if l.startswith("#"):
            continue
        name, cnt, f, fb = l.split()
        o = out.setdefault(name, [cnt, f, fb])
        o[1], o[2] = min(o[1], f, key=float), min(o[2], fb, key=float)
    return out
mf, th, px = load(sys.argv[1]), load(sys.argv[2]), sys.argv[3]
print(f"== ResNet-50 conv shapes, batch 8, {px} px: time medfm / torch (ms per call; {sys.argv[4]})")
print(f"{'shape':22s} {'n':>2s} {'fwd mf':>8s} {'torch':>8s} {'ratio':>6s}   {'f+b mf':>8s} {'torch':>8s} {'ratio':>6s}")
tot = [0.0] * 4
for name, (cnt, f, fb) in mf.items():
    c, f, fb = int(cnt), float(f), float(fb)
    tf, tfb = float(th[name][1]), float(th[name][2])
    for i, v in enumerate((f, tf, fb, tfb)):
        tot[i] += c * v
    print(f"{name:22s} {c:2d} {f*1e3:8.2f} {tf*1e3:8.2f} {f/tf:6.2f}   {fb*1e3:8.2f} {tfb*1e3:8.2f} {fb/tfb:6.2f}")
print(f"{'TOTAL (x count)':22s} {'':2s} {tot[0]*1e3:8.1f} {tot[1]*1e3:8.1f} {tot[0]/tot[1]:6.2f}   "
      f"{tot[2]*1e3:8.1f} {tot[3]*1e3:8.1f} {tot[2]/tot[3]:6.2f}")
PY
done
