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
#define __shared__ static
extern "C" void emu_syncthreads(void);
extern "C" double emu_shfl_down(double v, int k);
#define __syncthreads() emu_syncthreads()
#define __shfl_down_sync(m, v, k) emu_shfl_down((v), (k))
static inline float __uint_as_float(uint32_t u) { float f; memcpy(&f, &u, 4); return f; }
static inline uint32_t __float_as_uint(float f) { uint32_t u; memcpy(&u, &f, 4); return u; }
static inline double __longlong_as_double(long long u) { double f; memcpy(&f, &u, 8); return f; }
void emu_launch(unsigned g, unsigned b, bool coop, const std::function<void()> &body);
extern "C" void emu_set_error(cudaError_t e);
