/* Device helpers shared by the kernels: dtype loads and stores that match
 * the CPU conversions of core/tensor/dtype.h (integers saturate, bf16
 * rounds to nearest even), strided offsets from a flat index, and the
 * launch shape of a grid-stride loop. */
#ifndef MF_CUDA_DEVICE_UTIL_CUH
#define MF_CUDA_DEVICE_UTIL_CUH

#include <cuda_fp16.h>
#include <stdint.h>

#include "core/backend/cuda/cuda_internal.h"

#define MF_THREADS 256
/* DT template argument meaning "dtype known only at run time". */
#define MF_DYN (-1)

static inline unsigned mf_grid_for(int64_t n) {
    int64_t g = (n + MF_THREADS - 1) / MF_THREADS;
    if (g > 65535LL * 16)
        g = 65535LL * 16;
    return (unsigned)(g < 1 ? 1 : g);
}

__device__ __forceinline__ float mf_d_bf16_to_f32(uint16_t h) { return __uint_as_float((uint32_t)h << 16); }

__device__ __forceinline__ uint16_t mf_d_f32_to_bf16(float f) {
    uint32_t u = __float_as_uint(f);
    if ((u & 0x7fffffffu) > 0x7f800000u)
        return (uint16_t)((u >> 16) | 0x40u);
    u += 0x7fffu + ((u >> 16) & 1u);
    return (uint16_t)(u >> 16);
}

__device__ __forceinline__ double mf_load_dyn(const void *p, int dt, int64_t i) {
    switch (dt) {
    case MF_F32: return ((const float *)p)[i];
    case MF_F64: return ((const double *)p)[i];
    case MF_I32: return ((const int32_t *)p)[i];
    case MF_I64: return (double)((const int64_t *)p)[i];
    case MF_U8: return ((const uint8_t *)p)[i];
    case MF_BOOL: return ((const uint8_t *)p)[i] ? 1.0 : 0.0;
    case MF_BF16: return mf_d_bf16_to_f32(((const uint16_t *)p)[i]);
    case MF_F16: return __half2float(__ushort_as_half(((const unsigned short *)p)[i]));
    case MF_I8: return ((const int8_t *)p)[i];
    case MF_I16: return ((const int16_t *)p)[i];
    case MF_U16: return ((const uint16_t *)p)[i];
    default: return __longlong_as_double(0x7ff8000000000000LL);
    }
}

template <typename T> __device__ __forceinline__ T mf_sat(double v, double lo, double hi) {
    return isnan(v) ? (T)0 : v <= lo ? (T)lo : v >= hi ? (T)hi : (T)v;
}

__device__ __forceinline__ void mf_store_dyn(void *p, int dt, int64_t i, double v) {
    switch (dt) {
    case MF_F32: ((float *)p)[i] = (float)v; break;
    case MF_F64: ((double *)p)[i] = v; break;
    case MF_I32: ((int32_t *)p)[i] = mf_sat<int32_t>(v, -2147483648.0, 2147483647.0); break;
    case MF_I64:
        ((int64_t *)p)[i] = mf_sat<int64_t>(v, -9.2233720368547758e18, 9.2233720368547748e18);
        break;
    case MF_U8: ((uint8_t *)p)[i] = mf_sat<uint8_t>(v, 0.0, 255.0); break;
    case MF_BOOL: ((uint8_t *)p)[i] = v != 0.0; break;
    case MF_BF16: ((uint16_t *)p)[i] = mf_d_f32_to_bf16((float)v); break;
    case MF_F16: ((unsigned short *)p)[i] = __half_as_ushort(__float2half_rn((float)v)); break;
    case MF_I8: ((int8_t *)p)[i] = mf_sat<int8_t>(v, -128.0, 127.0); break;
    case MF_I16: ((int16_t *)p)[i] = mf_sat<int16_t>(v, -32768.0, 32767.0); break;
    case MF_U16: ((uint16_t *)p)[i] = mf_sat<uint16_t>(v, 0.0, 65535.0); break;
    default: break;
    }
}

/* Static fast paths for f32/f64/bf16/f16, the run-time switch otherwise. */
template <int DT> __device__ __forceinline__ double mf_load(const void *p, int dt, int64_t i) {
    if (DT == MF_F32)
        return ((const float *)p)[i];
    if (DT == MF_F64)
        return ((const double *)p)[i];
    if (DT == MF_BF16)
        return mf_d_bf16_to_f32(((const uint16_t *)p)[i]);
    if (DT == MF_F16)
        return __half2float(__ushort_as_half(((const unsigned short *)p)[i]));
    return mf_load_dyn(p, dt, i);
}

template <int DT> __device__ __forceinline__ void mf_store(void *p, int dt, int64_t i, double v) {
    if (DT == MF_F32)
        ((float *)p)[i] = (float)v;
    else if (DT == MF_F64)
        ((double *)p)[i] = v;
    else if (DT == MF_BF16)
        ((uint16_t *)p)[i] = mf_d_f32_to_bf16((float)v);
    else if (DT == MF_F16)
        ((unsigned short *)p)[i] = __half_as_ushort(__float2half_rn((float)v));
    else
        mf_store_dyn(p, dt, i, v);
}

/* Element offsets of each operand for flat index i (row-major). */
template <int NOPS>
__device__ __forceinline__ void mf_offsets(const mf_cuda_layout &L, int64_t i, int64_t *off) {
#pragma unroll
    for (int k = 0; k < NOPS; k++)
        off[k] = 0;
    for (int d = L.ndim - 1; d > 0; d--) {
        int64_t q = i / L.shape[d], c = i - q * L.shape[d];
        i = q;
#pragma unroll
        for (int k = 0; k < NOPS; k++)
            off[k] += c * L.stride[k][d];
    }
    if (L.ndim > 0) {
#pragma unroll
        for (int k = 0; k < NOPS; k++)
            off[k] += i * L.stride[k][0];
    }
}

#define MF_GRID_LOOP(i, n)                                                                                    \
    for (int64_t i = (int64_t)blockIdx.x * blockDim.x + threadIdx.x; i < (n); i += (int64_t)gridDim.x * blockDim.x)

/* Block-wide sum of two doubles (blocks of up to 1024 threads, a multiple
 * of 32); every thread gets the totals. */
__device__ __forceinline__ void mf_block_sum2(double &a, double &b) {
    __shared__ double sa[32], sb[32];
    for (int o = 16; o > 0; o >>= 1) {
        a += __shfl_down_sync(0xffffffffu, a, o);
        b += __shfl_down_sync(0xffffffffu, b, o);
    }
    int lane = threadIdx.x & 31, wid = threadIdx.x >> 5;
    __syncthreads();
    if (lane == 0) {
        sa[wid] = a;
        sb[wid] = b;
    }
    __syncthreads();
    a = 0;
    b = 0;
    for (int i = 0; i < (int)(blockDim.x >> 5); i++) {
        a += sa[i];
        b += sb[i];
    }
}

/* 16 bytes of one operand moved with one vector access (dense kernels):
 * VEC_ELEMS(DT) elements of f64, f32, bf16 or f16. */
struct alignas(16) vec16 {
    uint32_t w[4];
};

#define VEC_ELEMS(DT) ((DT) == MF_F64 ? 2 : (DT) == MF_F32 ? 4 : 8)

/* A pointer vec16 accesses may use (NULL, an absent operand, passes). */
static inline bool mf_aligned16(const void *p) { return !((uintptr_t)p & 15); }

/* Element k of a vector, and its store with mf_store's rounding: register
 * work once k is a constant (unrolled loops). */
template <int DT> __device__ __forceinline__ double vget(const vec16 &v, int k) {
    if (DT == MF_F32)
        return __uint_as_float(v.w[k]);
    if (DT == MF_F64)
        return __longlong_as_double((long long)(((uint64_t)v.w[2 * k + 1] << 32) | v.w[2 * k]));
    const uint16_t h = (uint16_t)(v.w[k >> 1] >> ((k & 1) * 16));
    if (DT == MF_F16)
        return __half2float(__ushort_as_half(h));
    return mf_d_bf16_to_f32(h);
}

template <int DT> __device__ __forceinline__ void vset(vec16 &v, int k, double x) {
    if (DT == MF_F32) {
        v.w[k] = __float_as_uint((float)x);
    } else if (DT == MF_F64) {
        uint64_t b = (uint64_t)__double_as_longlong(x);
        v.w[2 * k] = (uint32_t)b;
        v.w[2 * k + 1] = (uint32_t)(b >> 32);
    } else {
        uint32_t h = DT == MF_F16 ? (uint32_t)__half_as_ushort(__float2half_rn((float)x)) : mf_d_f32_to_bf16((float)x),
                 sh = (k & 1) * 16;
        v.w[k >> 1] = (v.w[k >> 1] & ~(0xffffu << sh)) | (h << sh);
    }
}

/* Element i of a float-like array as float (f32, bf16, f16). */
template <int DT> __device__ __forceinline__ float mf_ld_f(const void *p, int64_t i) {
    if (DT == MF_F32)
        return ((const float *)p)[i];
    if (DT == MF_BF16)
        return mf_d_bf16_to_f32(((const uint16_t *)p)[i]);
    return __half2float(__ushort_as_half(((const unsigned short *)p)[i]));
}

template <int DT> __device__ __forceinline__ void mf_st_f(void *p, int64_t i, float v) {
    if (DT == MF_F32)
        ((float *)p)[i] = v;
    else if (DT == MF_BF16)
        ((uint16_t *)p)[i] = mf_d_f32_to_bf16(v);
    else
        ((unsigned short *)p)[i] = __half_as_ushort(__float2half_rn(v));
}

#endif
