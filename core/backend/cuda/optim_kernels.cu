/* Optim kernels of the CUDA module (host side: optim.c): fused SGD and
 * Adam steps with the operation order of core/backend/cpu/optim.c, and the
 * sum of squares and scaling that gradient clipping needs. The sum of
 * squares adds fixed 8192-element blocks, then the block sums in order,
 * so it is deterministic. */
#include "core/backend/cuda/device_util.cuh"
#include "core/backend/kern_optim.h"

#define SUMSQ_BLOCK 8192

template <typename T>
__global__ void sgd_kernel(int64_t n, T *p, const T *g, T *buf, mf_sgd_hparams h) {
    const T lr = (T)h.lr, wd = (T)h.weight_decay, mom = (T)h.momentum, damp1 = (T)(1.0 - h.dampening);
    MF_GRID_LOOP(i, n) {
        T d = g[i];
        if (h.weight_decay != 0)
            d = d + wd * p[i];
        if (buf) {
            T bi = h.first ? d : mom * buf[i] + damp1 * d;
            buf[i] = bi;
            d = h.nesterov ? d + mom * bi : bi;
        }
        p[i] = p[i] - lr * d;
    }
}

template <typename T>
__global__ void adam_kernel(int64_t n, T *p, const T *g, T *m, T *v, T *vmax, mf_adam_hparams h, T step_size,
                            T bc2s) {
    const T b1 = (T)h.beta1, b2 = (T)h.beta2, eps = (T)h.eps, wd = (T)h.weight_decay;
    const T omb1 = (T)(1.0 - h.beta1), omb2 = (T)(1.0 - h.beta2);
    const T decay = (T)(1.0 - h.lr * h.weight_decay);
    MF_GRID_LOOP(i, n) {
        T gi = g[i], pi = p[i];
        if (h.weight_decay != 0) {
            if (h.decoupled)
                pi = pi * decay;
            else
                gi = gi + wd * pi;
        }
        T mi = m[i] * b1 + omb1 * gi;
        T vi = v[i] * b2 + omb2 * gi * gi;
        m[i] = mi;
        v[i] = vi;
        if (vmax) {
            vi = vmax[i] > vi || isnan(vmax[i]) ? vmax[i] : vi;
            vmax[i] = vi;
        }
        T denom = sqrt(vi) / bc2s + eps;
        p[i] = pi + (-step_size) * mi / denom;
    }
}

/* Block b sums x[b * SUMSQ_BLOCK ...] squared into partial[b]. */
template <typename T>
__global__ void sumsq_block_kernel(int64_t n, const T *x, int64_t nblocks, double *partial) {
    __shared__ double warp_sums[MF_THREADS / 32];
    for (int64_t b = blockIdx.x; b < nblocks; b += gridDim.x) {
        int64_t i0 = b * SUMSQ_BLOCK, i1 = i0 + SUMSQ_BLOCK < n ? i0 + SUMSQ_BLOCK : n;
        double acc = 0.0;
        for (int64_t i = i0 + threadIdx.x; i < i1; i += blockDim.x)
            acc += (double)x[i] * (double)x[i];
        for (int k = 16; k > 0; k >>= 1)
            acc += __shfl_down_sync(0xffffffffu, acc, k);
        if ((threadIdx.x & 31) == 0)
            warp_sums[threadIdx.x >> 5] = acc;
        __syncthreads();
        if (threadIdx.x == 0) {
            double t = 0.0;
            for (int w = 0; w < MF_THREADS / 32; w++)
                t += warp_sums[w];
            partial[b] = t;
        }
        __syncthreads();
    }
}

__global__ void sumsq_total_kernel(int64_t nblocks, double *partial) {
    if (blockIdx.x == 0 && threadIdx.x == 0) {
        double t = 0.0;
        for (int64_t b = 0; b < nblocks; b++)
            t += partial[b];
        partial[nblocks] = t;
    }
}

template <typename T> __global__ void scale_kernel(int64_t n, T *x, T s) {
    MF_GRID_LOOP(i, n) { x[i] *= s; }
}

extern "C" cudaError_t mf_cuda_launch_sgd(cudaStream_t s, int64_t n, int dt, void *p, const void *g, void *buf,
                                          const mf_sgd_hparams *h) {
    unsigned grid = mf_grid_for(n);
    if (dt == MF_F32)
        sgd_kernel<float><<<grid, MF_THREADS, 0, s>>>(n, (float *)p, (const float *)g, (float *)buf, *h);
    else
        sgd_kernel<double><<<grid, MF_THREADS, 0, s>>>(n, (double *)p, (const double *)g, (double *)buf, *h);
    return cudaGetLastError();
}

extern "C" cudaError_t mf_cuda_launch_adam(cudaStream_t s, int64_t n, int dt, void *p, const void *g, void *m,
                                           void *v, void *vmax, const mf_adam_hparams *h, double step_size,
                                           double bc2_sqrt) {
    unsigned grid = mf_grid_for(n);
    if (dt == MF_F32)
        adam_kernel<float><<<grid, MF_THREADS, 0, s>>>(n, (float *)p, (const float *)g, (float *)m, (float *)v,
                                                       (float *)vmax, *h, (float)step_size, (float)bc2_sqrt);
    else
        adam_kernel<double><<<grid, MF_THREADS, 0, s>>>(n, (double *)p, (const double *)g, (double *)m,
                                                        (double *)v, (double *)vmax, *h, step_size, bc2_sqrt);
    return cudaGetLastError();
}

extern "C" int64_t mf_cuda_sumsq_blocks(int64_t n) { return (n + SUMSQ_BLOCK - 1) / SUMSQ_BLOCK; }

extern "C" cudaError_t mf_cuda_launch_sum_squares(cudaStream_t s, int64_t n, int dt, const void *x,
                                                  double *partial) {
    int64_t nb = mf_cuda_sumsq_blocks(n);
    if (nb > 0) {
        unsigned grid = (unsigned)(nb < 65535LL * 16 ? nb : 65535LL * 16);
        if (dt == MF_F32)
            sumsq_block_kernel<float><<<grid, MF_THREADS, 0, s>>>(n, (const float *)x, nb, partial);
        else
            sumsq_block_kernel<double><<<grid, MF_THREADS, 0, s>>>(n, (const double *)x, nb, partial);
        cudaError_t e = cudaGetLastError();
        if (e != cudaSuccess)
            return e;
    }
    sumsq_total_kernel<<<1, 1, 0, s>>>(nb, partial);
    return cudaGetLastError();
}

extern "C" cudaError_t mf_cuda_launch_scale(cudaStream_t s, int64_t n, int dt, void *x, double scale) {
    unsigned grid = mf_grid_for(n);
    if (dt == MF_F32)
        scale_kernel<float><<<grid, MF_THREADS, 0, s>>>(n, (float *)x, (float)scale);
    else
        scale_kernel<double><<<grid, MF_THREADS, 0, s>>>(n, (double *)x, scale);
    return cudaGetLastError();
}
