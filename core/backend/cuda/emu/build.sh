#!/bin/sh
# Builds a CPU emulation of the CUDA module (libmedfm_cuda_emu.so) for
# checking its host logic and kernel index math on machines without a GPU:
# a mock CUDA runtime that tracks device pointers (wrong-direction copies
# abort), kernels run block by block on the CPU (blocks that synchronise
# or shuffle run their threads as fibers; shuffles wait per warp). Not
# part of the normal build; numbers say nothing about speed or device math.
# cuBLAS and cuDNN (the convolution calls of conv.c: emu_cudnn.c against
# include/cudnn.h) run as plain loops in double.
# CUDA graphs are recorded and replayed (emu_graph.c). Usage, from the
# repository root after the normal build:
#   sh core/backend/cuda/emu/build.sh build /tmp/mf_emu
#   MEDFM_CUDA_MODULE=/tmp/mf_emu/libmedfm_cuda_emu.so build/bin/medfm_tests --timeout 300 --filter 'cuda_*/*'
# Diagnostics: EMU_COUNT_SYNCS=1 prints the caller of every host wait on a
# stream (find per-step syncs: `medfm run` a config on cuda and count);
# EMU_TRACE_CAPTURE=1 prints where a graph capture was invalidated.
# EMU_RACECHECK=1 at build time makes a race-checking module (emu_race.h):
# kernels under ThreadSanitizer, each emulated thread a fiber; EMU_MEMCHECK=1
# a memory-checking one: kernels under AddressSanitizer and UBSan's
# alignment check, device blocks poisoned past each request (memory.c).
# Either runs with the sanitizer's runtime preloaded (sancheck.sh race|memory,
# make racecheck-cuda-emu / test-cuda-emu, does it all).
set -e
BUILD=$(cd "${1:-build}" && pwd)
OUT=${2:-/tmp/mf_emu}
SRC=$(pwd)
EMU=$SRC/core/backend/cuda/emu
mkdir -p "$OUT"
rm -rf "$OUT"/*.o "$OUT"/*.cpp "$OUT"/race_inc
DEFS= KERNEL= LIBS= TR=
if [ "${EMU_RACECHECK:-0}" = 1 ]; then
  DEFS=-DEMU_RACECHECK KERNEL=-fsanitize=thread LIBS=-ltsan TR=--race
elif [ "${EMU_MEMCHECK:-0}" = 1 ]; then
  DEFS=-DEMU_MEMCHECK KERNEL="-fsanitize=address,alignment -fno-sanitize-recover=alignment -fno-omit-frame-pointer"
  LIBS="-lasan -lubsan"
fi
# <<<grid, block, shm, stream>>> launches become emu_launch calls.
python3 "$EMU/translate.py" $TR "$OUT" core/backend/cuda/*.cu --header core/backend/cuda/device_util.cuh
INC="-I$EMU/include -I$OUT/race_inc -I$SRC -I$SRC/sdk/include"
for f in "$OUT"/*.cpp; do
  g++ -std=c++17 -O1 -g -fPIC $DEFS $KERNEL -include emu_device.h $INC -Wno-unknown-pragmas -c "$f" -o "$OUT/$(basename "$f").o"
done
for f in "$EMU"/*.cpp; do
  g++ -std=c++17 -O1 -g -fPIC $DEFS -include emu_device.h $INC -c "$f" -o "$OUT/$(basename "$f").o"
done
for f in "$SRC"/core/backend/cuda/*.c "$EMU"/*.c; do
  gcc -std=gnu11 -O1 -g -fPIC -fvisibility=hidden $DEFS $INC -c "$f" -o "$OUT/$(basename "$f").o"
done
g++ -shared -o "$OUT/libmedfm_cuda_emu.so" "$OUT"/*.o -L"$BUILD/lib" -lmedfm -Wl,-rpath,"$BUILD/lib" -lpthread $LIBS \
  -Wl,--no-undefined
echo "$OUT/libmedfm_cuda_emu.so"
