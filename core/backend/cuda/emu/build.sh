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
set -e
BUILD=$(cd "${1:-build}" && pwd)
OUT=${2:-/tmp/mf_emu}
SRC=$(pwd)
EMU=$SRC/core/backend/cuda/emu
mkdir -p "$OUT"
rm -f "$OUT"/*.o "$OUT"/*.cpp
# <<<grid, block, shm, stream>>> launches become emu_launch calls.
python3 - "$SRC/core/backend/cuda" "$OUT" <<'PY'
import glob, os, re, sys
src, out = sys.argv[1], sys.argv[2]
for f in glob.glob(os.path.join(src, '*.cu')):
    s = open(f).read()
    # Kernels that synchronise their block must run their threads as fibers.
    # A kernel synchronises when its body, or a __device__ function it
    # calls (to any depth), holds __syncthreads or a shuffle.
    hdr = open(os.path.join(src, 'device_util.cuh')).read()
    funcs = {}
    for text in (hdr, s):
        for chunk in re.split(r'(?=__global__|__device__)', text)[1:]:
            m = re.search(r'(\w+)\s*\(', chunk.split('{')[0])
            if m:
                funcs[m.group(1)] = chunk.split('extern "C"')[0]
    syncing = {'__syncthreads', '__shfl_down_sync', '__shfl_xor_sync', '__shfl_sync', '__shfl_up_sync'}
    grew = True
    while grew:
        grew = False
        for name, body in funcs.items():
            if name not in syncing and any(re.search(r'\b%s\b' % re.escape(k), body) for k in syncing):
                syncing.add(name)
                grew = True
    coop_names = set(n for n in syncing if n in funcs)
    def rep(m):
        name, cfg, args = m.group(1), m.group(2), m.group(3)
        parts = [p.strip() for p in cfg.split(',')]
        g, b = parts[:2]
        stream = parts[3] if len(parts) > 3 else '(cudaStream_t)0'
        coop = 'true' if name.split('<')[0] in coop_names else 'false'
        # Arguments are evaluated now (std::bind copies them), as a GPU
        # launch does: a graph replays the launch with these values.
        bound = 'std::bind(%s%s)' % (name, ', ' + args if args.strip() else '')
        return 'emu_launch(%s, %s, %s, %s, %s)' % (g, b, coop, stream, bound)
    # Arguments may hold parentheses two deep; a launch may sit in a ternary.
    args = r'\(((?:[^()]|\((?:[^()]|\([^()]*\))*\))*)\)'
    s = re.sub(r'(\w+(?:<[\w ,]+>)?)\s*<<<(.*?)>>>' + args, rep, s, flags=re.S)
    open(os.path.join(out, os.path.basename(f)[:-3] + '.cpp'), 'w').write(s)
PY
INC="-I$EMU/include -I$SRC -I$SRC/sdk/include"
for f in "$OUT"/*.cpp "$EMU/emu_device.cpp"; do
  g++ -std=c++17 -O1 -g -fPIC -include emu_device.h $INC -Wno-unknown-pragmas -c "$f" -o "$OUT/$(basename "$f").o"
done
for f in "$SRC"/core/backend/cuda/*.c "$EMU"/*.c; do
  gcc -std=gnu11 -O1 -g -fPIC -fvisibility=hidden $INC -c "$f" -o "$OUT/$(basename "$f").o"
done
g++ -shared -o "$OUT/libmedfm_cuda_emu.so" "$OUT"/*.o -L"$BUILD/lib" -lmedfm -Wl,-rpath,"$BUILD/lib" -lpthread \
  -Wl,--no-undefined
echo "$OUT/libmedfm_cuda_emu.so"
