/* Device-code keywords and built-ins as host C++ (CPU emulation only,
 * see ../build.sh). */
#pragma once
#include <math.h>
#include <stdint.h>
#include <string.h>
#include <functional>
#include "cuda_runtime_api.h"
struct dim3 { unsigned x, y, z; };
extern thread_local dim3 blockIdx, threadIdx;
extern dim3 gridDim, blockDim;
#define __global__
#define __device__
#define __host__
#define __forceinline__ inline
#define __shared__ static /* the race check's translate.py rewrites these */
#ifdef EMU_RACECHECK
enum { EMU_RACE_SETS = 2 };
extern "C" unsigned emu_race_set(void); /* the running block's fiber set */
#endif
extern "C" void emu_syncthreads(void);
extern "C" double emu_shfl_down(double v, int k);
extern "C" double emu_shfl_xor(double v, int k);
#define __syncthreads() emu_syncthreads()
#define __shfl_down_sync(m, v, k) emu_shfl_down((v), (k))
#define __shfl_xor_sync(m, v, k) emu_shfl_xor((v), (k))
static inline float __uint_as_float(uint32_t u) { float f; memcpy(&f, &u, 4); return f; }
static inline uint32_t __float_as_uint(float f) { uint32_t u; memcpy(&u, &f, 4); return u; }
static inline double __longlong_as_double(long long u) { double f; memcpy(&f, &u, 8); return f; }
static inline long long __double_as_longlong(double f) { long long u; memcpy(&u, &f, 8); return u; }
/* Atomics are real (host threads may launch kernels at the same time). */
template <typename T> static inline T atomicAdd(T *p, T v) { return __atomic_fetch_add(p, v, __ATOMIC_SEQ_CST); }
template <typename F> static inline F emu_atomic_add_float(F *p, F v) {
    F old, sum;
    __atomic_load(p, &old, __ATOMIC_SEQ_CST);
    sum = old + v;
    while (!__atomic_compare_exchange(p, &old, &sum, false, __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST))
        sum = old + v;
    return old;
}
static inline float atomicAdd(float *p, float v) { return emu_atomic_add_float(p, v); }
static inline double atomicAdd(double *p, double v) { return emu_atomic_add_float(p, v); }
static inline unsigned long long atomicMin(unsigned long long *p, unsigned long long v) {
    unsigned long long old = __atomic_load_n(p, __ATOMIC_SEQ_CST);
    while (v < old && !__atomic_compare_exchange_n(p, &old, v, false, __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST)) {
    }
    return old;
}
static inline unsigned long long atomicCAS(unsigned long long *p, unsigned long long cmp, unsigned long long v) {
    __atomic_compare_exchange_n(p, &cmp, v, false, __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST);
    return cmp;
}
static inline uint32_t __umulhi(uint32_t a, uint32_t b) { return (uint32_t)(((uint64_t)a * b) >> 32); }
void emu_launch(unsigned g, unsigned b, bool coop, cudaStream_t s, const std::function<void()> &body);
extern "C" void emu_set_error(cudaError_t e);
