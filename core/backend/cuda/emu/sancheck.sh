#!/bin/sh
# Sanitizer checks of the CUDA kernels on a machine without a GPU, in the
# manner of compute-sanitizer's racecheck and memcheck. KIND:
#   race    (make racecheck-cuda-emu) the emulated module built with
#           EMU_RACECHECK=1 (emu_race.h): kernels under ThreadSanitizer,
#           every emulated thread a fiber ordered only by what orders it on
#           a GPU; after the checker's self-test (race_selftest.sh).
#   memory  (make test-cuda-emu) built with EMU_MEMCHECK=1: kernels
#           under AddressSanitizer and UBSan's alignment check, allocator
#           blocks poisoned past each request and once freed and filled
#           with all-ones bytes when handed out (memory.c), so an access out
#           of a tensor's bytes, to a freed block, or a vector access off its
#           alignment (a fault on a GPU, not on x86) is reported, and a read
#           of memory nothing wrote gives NaN or -1.
# Then the CUDA test suites run with that module. Any report fails the
# check, even in a test whose numbers came out right. Usage, from the
# repository root after the normal build:
#   sh core/backend/cuda/emu/sancheck.sh KIND [BUILD [FILTER]]
# FILTER (Criterion's --filter) defaults to every cuda_* suite. ASLR is
# off for the run (setarch -R): ThreadSanitizer of some toolchains cannot
# place its shadow memory around a fully randomised layout.
set -eu
KIND=${1:?usage: sancheck.sh race|memory [BUILD [FILTER]]}
BUILD=${2:-build}
FILTER=${3:-cuda_*/*}
EMU=core/backend/cuda/emu
NORAND="setarch $(uname -m) -R"
case $KIND in
race)
  RUNTIME=libtsan.so FLAG=EMU_RACECHECK REPORT="WARNING: ThreadSanitizer"
  export TSAN_OPTIONS="halt_on_error=0 exitcode=66"
  $NORAND sh "$EMU/race_selftest.sh" "$BUILD/cuda-race-selftest" ;;
memory)
  RUNTIME=libasan.so FLAG=EMU_MEMCHECK REPORT="ERROR: AddressSanitizer|runtime error"
  export ASAN_OPTIONS="detect_leaks=0" ;;
*)
  echo "sancheck: KIND is race or memory, not '$KIND'" >&2
  exit 2 ;;
esac
LIB=$(gcc -print-file-name=$RUNTIME)
[ -f "$LIB" ] || { echo "sancheck: no $RUNTIME from gcc" >&2; exit 1; }
OUT=$BUILD/cuda-$KIND
env $FLAG=1 sh "$EMU/build.sh" "$BUILD" "$OUT" >/dev/null
echo "sancheck $KIND: running '$FILTER' with $OUT/libmedfm_cuda_emu.so"
status=0
MEDFM_TEST_WORKER_PRELOAD="$LIB" MEDFM_CUDA_MODULE="$(cd "$OUT" && pwd)/libmedfm_cuda_emu.so" \
  $NORAND "$BUILD/bin/medfm_tests" --jobs "${JOBS:-2}" --timeout 1800 --filter "$FILTER" > "$OUT/test.log" 2>&1 || status=$?
grep -E "^\[(FAIL|====)\]" "$OUT/test.log" || true
reports=$(grep -cE "$REPORT" "$OUT/test.log" || true)
if [ "$reports" != 0 ]; then
  grep -E -A6 "$REPORT" "$OUT/test.log" | grep -v "std::" | head -60
  echo "sancheck $KIND: $reports reports; the whole log is $OUT/test.log"
  exit 1
fi
if [ "$status" != 0 ]; then
  echo "sancheck $KIND: the tests failed (exit $status); see $OUT/test.log"
  exit 1
fi
echo "sancheck $KIND: nothing reported"
