#!/bin/sh
# The race check's own test: builds race_selftest.cu with the emulator's
# device code under ThreadSanitizer and runs each case, expecting a data
# race report for exactly the racy ones and the emulator's report for
# threads at different barriers. Usage: sh race_selftest.sh [OUT]
set -e
EMU=$(cd "$(dirname "$0")" && pwd)
OUT=${1:-/tmp/mf_race_selftest}
mkdir -p "$OUT"
CXX="g++ -std=c++17 -O1 -g -DEMU_RACECHECK -include emu_device.h -I$EMU/include -I$EMU"
# The emulator's own files are not instrumented (as in build.sh): only
# the kernels' accesses are checked.
$CXX -c "$EMU/emu_device.cpp" -o "$OUT/emu_device.o"
$CXX -c "$EMU/emu_race.cpp" -o "$OUT/emu_race.o"
python3 "$EMU/translate.py" --race "$OUT" "$EMU/race_selftest.cu"
$CXX -fsanitize=thread "$OUT/race_selftest.cpp" "$OUT/emu_device.o" "$OUT/emu_race.o" -o "$OUT/race_selftest"
fail=0
check() { # CASE race|clean
  if TSAN_OPTIONS="halt_on_error=0 exitcode=66" "$OUT/race_selftest" "$1" > "$OUT/$1.log" 2>&1; then rc=0; else rc=$?; fi
  if grep -q "WARNING: ThreadSanitizer: data race" "$OUT/$1.log"; then got=race
  elif grep -q "emu: divergent __syncthreads" "$OUT/$1.log"; then got=divergent
  else got=clean; fi
  if [ "$got" = "$2" ] && { [ "$got" != clean ] || [ $rc = 0 ]; }; then
    echo "race check self-test: $1: $got, as expected"
  else
    echo "race check self-test: $1: expected $2, got $got (exit $rc); see $OUT/$1.log"
    fail=1
  fi
}
check shared_no_barrier race
check shared_barrier clean
check shared_after_shuffle race
check grid_word race
check grid_word_atomic clean
check block_word race
check divergent_barrier divergent
check own_words clean
exit $fail
