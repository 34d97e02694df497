/* Kernels of linear_gelu's fused epilogue (host side: gelu_epilogue.c),
 * following core/backend/cpu/gelu_epilogue.c: f32, bf16 and f16 compute in
 * float and round once, f64 in double, GELU in its erfc form (accurate in
 * the negative tail). The forward is one elementwise pass
 * (pre = gemm + bias in place, y = gelu(pre)). The backward writes
 * gpre = gy * gelu'(pre) and, per (row chunk, column), the sum of gpre over
 * the chunk's rows in order; a second small pass adds the chunks in order,
 * so the bias gradient never depends on scheduling (no float atomics). */
#include "core/backend/cuda/device_util.cuh"

#define INV_SQRT2 0.70710678118654752440
#define INV_SQRT_2PI 0.39894228040143267794

__device__ __forceinline__ float gelu_f(float p) { return 0.5f * p * erfcf(-p * (float)INV_SQRT2); }
__device__ __forceinline__ double gelu_d(double p) { return 0.5 * p * erfc(-p * INV_SQRT2); }
__device__ __forceinline__ float dgelu_f(float p) {
    return 0.5f * erfcf(-p * (float)INV_SQRT2) + p * (float)INV_SQRT_2PI * expf(-0.5f * p * p);
}
__device__ __forceinline__ double dgelu_d(double p) {
    return 0.5 * erfc(-p * INV_SQRT2) + p * INV_SQRT_2PI * exp(-0.5 * p * p);
}

/* Flat index type I: 32-bit when the tensor allows, so the column
 * (i % n) costs a 32-bit division. */
template <int DT, typename I>
__global__ void bias_gelu_kernel(I numel, I n, void *y, void *pre, const void *bias) {
    for (I i = (I)blockIdx.x * blockDim.x + threadIdx.x; i < numel; i += (I)gridDim.x * blockDim.x) {
        if (DT == MF_F64) {
            double p = ((const double *)pre)[i];
            if (bias) {
                p += ((const double *)bias)[i % n];
                ((double *)pre)[i] = p;
            }
            ((double *)y)[i] = gelu_d(p);
        } else {
            float p = mf_ld_f<DT>(pre, i);
            if (bias) {
                p += mf_ld_f<DT>(bias, i % n);
                mf_st_f<DT>(pre, i, p);
            }
            mf_st_f<DT>(y, i, gelu_f(p));
        }
    }
}

/* Block b: column tile b % tiles, row chunk b / tiles; thread t: one column.
 * With one chunk the column sum is the bias gradient itself. */
template <int DT>
__global__ void bias_gelu_backward_kernel(int64_t rows, int64_t n, int64_t chunk, int64_t tiles, int64_t nblocks,
                                          void *gpre, const void *gy, const void *pre, double *partial,
                                          void *gbias) {
    for (int64_t b = blockIdx.x; b < nblocks; b += gridDim.x) {
        int64_t k = b / tiles, c = (b - k * tiles) * blockDim.x + threadIdx.x;
        if (c >= n)
            continue;
        int64_t r0 = k * chunk, r1 = r0 + chunk < rows ? r0 + chunk : rows;
        double acc = 0.0;
        for (int64_t r = r0; r < r1; r++) {
            int64_t i = r * n + c;
            if (DT == MF_F64) {
                double g = ((const double *)gy)[i] * dgelu_d(((const double *)pre)[i]);
                ((double *)gpre)[i] = g;
                acc += g;
            } else {
                float g = mf_ld_f<DT>(gy, i) * dgelu_f(mf_ld_f<DT>(pre, i));
                mf_st_f<DT>(gpre, i, g);
                acc += (double)g;
            }
        }
        if (partial)
            partial[k * n + c] = acc;
        else if (gbias)
            mf_store<DT>(gbias, DT, c, acc);
    }
}

template <int DT>
__global__ void bias_sum_chunks_kernel(int64_t n, int64_t chunks, const double *partial, void *gbias) {
    MF_GRID_LOOP(c, n) {
        double s = 0.0;
        for (int64_t k = 0; k < chunks; k++)
            s += partial[k * n + c];
        mf_store<DT>(gbias, DT, c, s);
    }
}

#define MF_DISPATCH_FLOAT(dt, LAUNCH)                                                                         \
    do {                                                                                                      \
        switch (dt) {                                                                                         \
        case MF_F32: LAUNCH(MF_F32); break;                                                                   \
        case MF_F64: LAUNCH(MF_F64); break;                                                                   \
        case MF_BF16: LAUNCH(MF_BF16); break;                                                                 \
        case MF_F16: LAUNCH(MF_F16); break;                                                                   \
        default: return cudaErrorInvalidValue;                                                                \
        }                                                                                                     \
    } while (0)

extern "C" cudaError_t mf_cuda_launch_bias_gelu(cudaStream_t s, int dt, int64_t numel, int64_t n, void *y, void *pre,
                                                const void *bias) {
    unsigned g = mf_grid_for(numel);
    bool small = numel < (int64_t)1 << 31;
#define LAUNCH(DT)                                                                                            \
    if (small)                                                                                                \
        bias_gelu_kernel<DT, uint32_t><<<g, MF_THREADS, 0, s>>>((uint32_t)numel, (uint32_t)n, y, pre, bias);  \
    else                                                                                                      \
        bias_gelu_kernel<DT, int64_t><<<g, MF_THREADS, 0, s>>>(numel, n, y, pre, bias)
    MF_DISPATCH_FLOAT(dt, LAUNCH);
#undef LAUNCH
    return cudaGetLastError();
}

extern "C" cudaError_t mf_cuda_launch_bias_gelu_backward(cudaStream_t s, int dt, int64_t rows, int64_t n,
                                                         int64_t chunk, void *gpre, const void *gy, const void *pre,
                                                         double *partial, void *gbias) {
    int64_t tiles = (n + MF_THREADS - 1) / MF_THREADS, chunks = (rows + chunk - 1) / chunk;
    int64_t nblocks = tiles * chunks;
    unsigned g = (unsigned)(nblocks < 65535LL * 16 ? nblocks : 65535LL * 16);
#define LAUNCH(DT)                                                                                            \
    bias_gelu_backward_kernel<DT><<<g, MF_THREADS, 0, s>>>(rows, n, chunk, tiles, nblocks, gpre, gy, pre,      \
                                                           partial, gbias)
    MF_DISPATCH_FLOAT(dt, LAUNCH);
#undef LAUNCH
    cudaError_t e = cudaGetLastError();
    if (e != cudaSuccess || !partial)
        return e;
    unsigned g2 = mf_grid_for(n);
#define LAUNCH(DT) bias_sum_chunks_kernel<DT><<<g2, MF_THREADS, 0, s>>>(n, chunks, partial, gbias)
    MF_DISPATCH_FLOAT(dt, LAUNCH);
#undef LAUNCH
    return cudaGetLastError();
}
