#!/bin/sh
# Race check of the CUDA kernels on a machine without a GPU (make
# racecheck-cuda-emu): the checker's self-test (race_selftest.sh), then the
# emulated module built with EMU_RACECHECK=1 (emu_race.h: kernels under
# ThreadSanitizer, every emulated thread a fiber, ordered only by what
# orders it on a GPU) and the CUDA test suites run with it. Any data race
# ThreadSanitizer reports fails the check, even in a test whose numbers
# came out right: the emulator runs a block's threads in one order, a GPU
# in any. Usage, from the repository root after the normal build:
#   sh core/backend/cuda/emu/racecheck.sh [BUILD [FILTER]]
# FILTER (Criterion's --filter) defaults to every cuda_* suite. ASLR is
# turned off for the run (setarch -R): ThreadSanitizer of some toolchains
# cannot place its shadow memory around a fully randomised layout.
set -eu
BUILD=${1:-build}
FILTER=${2:-cuda_*/*}
EMU=core/backend/cuda/emu
OUT=$BUILD/cuda-race
TSAN=$(gcc -print-file-name=libtsan.so)
[ -f "$TSAN" ] || { echo "racecheck: no ThreadSanitizer runtime (libtsan.so from gcc)" >&2; exit 1; }
NORAND="setarch $(uname -m) -R"
$NORAND sh "$EMU/race_selftest.sh" "$BUILD/cuda-race-selftest"
EMU_RACECHECK=1 sh "$EMU/build.sh" "$BUILD" "$OUT" >/dev/null
echo "racecheck: running '$FILTER' with $OUT/libmedfm_cuda_emu.so under ThreadSanitizer"
status=0
TSAN_OPTIONS="halt_on_error=0 exitcode=66" MEDFM_TEST_WORKER_PRELOAD="$TSAN" \
  MEDFM_CUDA_MODULE="$(cd "$OUT" && pwd)/libmedfm_cuda_emu.so" \
  $NORAND "$BUILD/bin/medfm_tests" --jobs "${JOBS:-2}" --timeout 1800 --filter "$FILTER" > "$OUT/test.log" 2>&1 || status=$?
grep -E "^\[(FAIL|====)\]" "$OUT/test.log" || true
races=$(grep -c "WARNING: ThreadSanitizer" "$OUT/test.log" || true)
if [ "$races" != 0 ]; then
  grep -A4 "WARNING: ThreadSanitizer" "$OUT/test.log" | grep -v "std::" | head -60
  echo "racecheck: $races ThreadSanitizer reports; the whole log is $OUT/test.log"
  exit 1
fi
if [ "$status" != 0 ]; then
  echo "racecheck: the tests failed (exit $status); see $OUT/test.log"
  exit 1
fi
echo "racecheck: no data race reported"
