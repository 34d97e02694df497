#!/bin/sh
# One LVM-Med pretraining step, per component: the tiny CPU config, then
# ResNet-50 (one graph of 16 images, 64 px). Single-threaded process CPU
# time by default, which a machine busy with other jobs barely disturbs;
# THREADS=2 WALL=1 times wall clock on two threads instead.
# usage: bench/cpu/run_lvmmed_step.sh [BUILD_DIR] [SETUP...]   (default: build, tiny resnet50)
# REPS=N (default 9 for tiny, 3 for resnet50), PX=P (ResNet-50 input size).
set -eu
root=$(cd "$(dirname "$0")/../.." && pwd)
build=${1:-$root/build}
[ $# -gt 0 ] && shift
setups=${*:-tiny resnet50}
# See run.sh: OpenBLAS needs its AVX-512 core chosen through the environment.
if [ -z "${OPENBLAS_CORETYPE:-}" ] && grep -q avx512bw /proc/cpuinfo && grep -q avx512vl /proc/cpuinfo \
    && grep -q avx512dq /proc/cpuinfo; then
    export OPENBLAS_CORETYPE=SkylakeX
fi
clock=--cpu
[ -n "${WALL:-}" ] && clock=
for s in $setups; do
    reps=${REPS:-9}
    [ "$s" = resnet50 ] && reps=${REPS:-3}
    MEDFM_NUM_THREADS=${THREADS:-1} "$build/bin/bench_lvmmed_step" --root "$root" --reps "$reps" --px "${PX:-64}" $clock "$s"
done
