/* Row kernels of the cuBLAS-based attention (host side: attention.c): a
 * warp per score row adds the bias and takes the softmax in place (a fully
 * masked row becomes 0), and a warp per row turns dP into dS = P (dP -
 * rowsum(dP P)) in place. */
#include <math.h>

#include "core/backend/cuda/device_util.cuh"
#include "core/backend/cuda/nn_internal.h"

template <typename T>
__global__ void attn_softmax_kernel(int64_t rows, int64_t H, int64_t Lq, int64_t Lk, T *p, const T *bias, int64_t b0,
                                    int64_t b1, int64_t b2, int64_t b3) {
    int64_t row = ((int64_t)blockIdx.x * blockDim.x + threadIdx.x) >> 5;
    int lane = threadIdx.x & 31;
    if (row >= rows)
        return;
    T *r = p + row * Lk;
    if (bias) {
        int64_t i = row % Lq, bh = row / Lq, h = bh % H, b = bh / H;
        const T *br = bias + b * b0 + h * b1 + i * b2;
        for (int64_t c = lane; c < Lk; c += 32)
            r[c] += br[c * b3];
    }
    T mx = -INFINITY;
    for (int64_t c = lane; c < Lk; c += 32)
        mx = r[c] > mx ? r[c] : mx;
    for (int o = 16; o > 0; o >>= 1) {
        T v = __shfl_xor_sync(0xffffffffu, mx, o);
        mx = v > mx ? v : mx;
    }
    if (mx == -INFINITY) {
        for (int64_t c = lane; c < Lk; c += 32)
            r[c] = 0;
        return;
    }
    T sum = 0;
    for (int64_t c = lane; c < Lk; c += 32) {
        T e = exp(r[c] - mx);
        r[c] = e;
        sum += e;
    }
    for (int o = 16; o > 0; o >>= 1)
        sum += __shfl_xor_sync(0xffffffffu, sum, o);
    T inv = (T)1 / sum;
    for (int64_t c = lane; c < Lk; c += 32)
        r[c] *= inv;
}

template <typename T> __global__ void attn_dsoft_kernel(int64_t rows, int64_t Lk, T *ds, const T *p) {
    int64_t row = ((int64_t)blockIdx.x * blockDim.x + threadIdx.x) >> 5;
    int lane = threadIdx.x & 31;
    if (row >= rows)
        return;
    T *d = ds + row * Lk;
    const T *pr = p + row * Lk;
    T sum = 0;
    for (int64_t c = lane; c < Lk; c += 32)
        sum += d[c] * pr[c];
    for (int o = 16; o > 0; o >>= 1)
        sum += __shfl_xor_sync(0xffffffffu, sum, o);
    for (int64_t c = lane; c < Lk; c += 32)
        d[c] = pr[c] * (d[c] - sum);
}

static unsigned warp_grid(int64_t rows) { return (unsigned)((rows * 32 + MF_THREADS - 1) / MF_THREADS); }

extern "C" cudaError_t mf_cuda_launch_attn_softmax(cudaStream_t s, int dt, int64_t rows, int64_t H, int64_t Lq,
                                                   int64_t Lk, void *p, const void *bias, const int64_t *bst) {
    if (rows == 0 || Lk == 0)
        return cudaSuccess;
    if (dt == MF_F64)
        attn_softmax_kernel<double><<<warp_grid(rows), MF_THREADS, 0, s>>>(
            rows, H, Lq, Lk, (double *)p, (const double *)bias, bst[0], bst[1], bst[2], bst[3]);
    else
        attn_softmax_kernel<float><<<warp_grid(rows), MF_THREADS, 0, s>>>(
            rows, H, Lq, Lk, (float *)p, (const float *)bias, bst[0], bst[1], bst[2], bst[3]);
    return cudaGetLastError();
}

extern "C" cudaError_t mf_cuda_launch_attn_dsoft(cudaStream_t s, int dt, int64_t rows, int64_t Lk, void *ds,
                                                 const void *p) {
    if (rows == 0 || Lk == 0)
        return cudaSuccess;
    if (dt == MF_F64)
        attn_dsoft_kernel<double><<<warp_grid(rows), MF_THREADS, 0, s>>>(rows, Lk, (double *)ds, (const double *)p);
    else
        attn_dsoft_kernel<float><<<warp_grid(rows), MF_THREADS, 0, s>>>(rows, Lk, (float *)ds, (const float *)p);
    return cudaGetLastError();
}
