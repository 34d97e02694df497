/* Pool kernels of the CUDA module (host side: pool.c): a thread per output
 * element for every forward; backwards scatter into a zeroed gradient with
 * atomic adds (windows may overlap). Window bounds follow the CPU tables of
 * core/backend/cpu/pool.c and pool_linear.c exactly. */
#include <math.h>

#include "core/backend/cuda/device_util.cuh"
#include "core/backend/cuda/nn_internal.h"

/* Taps of output o along dim d: first index, count, step; `size` is the
 * avg divisor contribution. */
__device__ __forceinline__ void window(const mf_pool_args &g, int d, int64_t o, bool is_max, int64_t &lo,
                                       int64_t &count, int64_t &step, int64_t &size) {
    int64_t n = g.out[d], in = g.in[d], k = g.k[d], s = g.st[d], pad = g.pad[d];
    int64_t dil = is_max ? g.dil[d] : 1, hi;
    if (g.adaptive) {
        lo = o * in / n;
        hi = ((o + 1) * in + n - 1) / n;
        size = hi - lo;
    } else if (is_max) {
        int64_t start = o * s - pad;
        lo = start;
        if (lo < 0)
            lo += (-lo + dil - 1) / dil * dil;
        hi = start + (k - 1) * dil + 1;
        if (hi > in)
            hi = in;
        size = 1;
    } else {
        int64_t start = o * s - pad;
        int64_t end_pad = start + k < in + pad ? start + k : in + pad;
        lo = start > 0 ? start : 0;
        hi = start + k < in ? start + k : in;
        size = g.include_pad ? end_pad - start : hi - lo;
    }
    step = dil;
    count = hi > lo ? (hi - lo + dil - 1) / dil : 0;
}

__device__ __forceinline__ void split_out(const mf_pool_args &g, int64_t i, int64_t &p, int64_t *o) {
    o[2] = i % g.out[2];
    i /= g.out[2];
    o[1] = i % g.out[1];
    i /= g.out[1];
    o[0] = i % g.out[0];
    p = i / g.out[0];
}

template <typename T> __global__ void max_fwd_kernel(mf_pool_args g, T *y, int64_t *idx, const T *x) {
    int64_t n = g.planes * g.out[0] * g.out[1] * g.out[2], plane = g.in[0] * g.in[1] * g.in[2];
    MF_GRID_LOOP(i, n) {
        int64_t p, o[3], lo[3], cnt[3], stp[3], sz;
        split_out(g, i, p, o);
        for (int d = 0; d < 3; d++)
            window(g, d, o[d], true, lo[d], cnt[d], stp[d], sz);
        const T *xp = x + p * plane;
        int64_t best = (lo[0] * g.in[1] + lo[1]) * g.in[2] + lo[2];
        T bv = -INFINITY;
        for (int64_t a = 0; a < cnt[0]; a++)
            for (int64_t b = 0; b < cnt[1]; b++) {
                int64_t row = ((lo[0] + a * stp[0]) * g.in[1] + lo[1] + b * stp[1]) * g.in[2] + lo[2];
                for (int64_t c = 0; c < cnt[2]; c++) {
                    T v = xp[row + c * stp[2]];
                    if (v > bv || isnan(v)) {
                        bv = v;
                        best = row + c * stp[2];
                    }
                }
            }
        y[i] = bv;
        idx[i] = best;
    }
}

template <typename T> __global__ void max_bwd_kernel(mf_pool_args g, T *gx, const T *gy, const int64_t *idx) {
    int64_t n = g.planes * g.out[0] * g.out[1] * g.out[2], plane = g.in[0] * g.in[1] * g.in[2],
            oplane = g.out[0] * g.out[1] * g.out[2];
    MF_GRID_LOOP(i, n) atomicAdd(gx + (i / oplane) * plane + idx[i], gy[i]);
}

template <typename T> __global__ void avg_kernel(mf_pool_args g, T *y, const T *x, int backward) {
    int64_t n = g.planes * g.out[0] * g.out[1] * g.out[2], plane = g.in[0] * g.in[1] * g.in[2];
    MF_GRID_LOOP(i, n) {
        int64_t p, o[3], lo[3], cnt[3], stp[3], sz[3];
        split_out(g, i, p, o);
        for (int d = 0; d < 3; d++)
            window(g, d, o[d], false, lo[d], cnt[d], stp[d], sz[d]);
        double size = (double)(sz[0] * sz[1] * sz[2]);
        if (backward) {
            /* here y is gx (input-sized) and x is gy (output-sized) */
            T v = (T)((double)x[i] / size);
            T *gp = y + p * plane;
            for (int64_t a = 0; a < cnt[0]; a++)
                for (int64_t b = 0; b < cnt[1]; b++) {
                    int64_t row = ((lo[0] + a) * g.in[1] + lo[1] + b) * g.in[2] + lo[2];
                    for (int64_t c = 0; c < cnt[2]; c++)
                        atomicAdd(gp + row + c, v);
                }
            continue;
        }
        const T *xp = x + p * plane;
        double acc = 0;
        for (int64_t a = 0; a < cnt[0]; a++)
            for (int64_t b = 0; b < cnt[1]; b++) {
                int64_t row = ((lo[0] + a) * g.in[1] + lo[1] + b) * g.in[2] + lo[2];
                for (int64_t c = 0; c < cnt[2]; c++)
                    acc += (double)xp[row + c];
            }
        y[i] = (T)(acc / size);
    }
}

__device__ __forceinline__ void lin_src(int64_t in, int64_t out, int64_t o, bool align, int64_t *idx, double *wt) {
    double scale = align ? (out > 1 ? (double)(in - 1) / (double)(out - 1) : 0.0) : (double)in / (double)out;
    double src = align ? scale * (double)o : scale * ((double)o + 0.5) - 0.5;
    if (src < 0)
        src = 0;
    int64_t i0 = (int64_t)floor(src);
    if (i0 > in - 1)
        i0 = in - 1;
    double l1 = src - (double)i0;
    l1 = l1 < 0 ? 0 : (l1 > 1 ? 1 : l1);
    idx[0] = i0;
    idx[1] = i0 + (i0 < in - 1 ? 1 : 0);
    wt[0] = 1.0 - l1;
    wt[1] = l1;
}

template <typename T> __global__ void linear_kernel(mf_pool_args g, T *y, const T *x, int backward) {
    int64_t n = g.planes * g.out[0] * g.out[1] * g.out[2], plane = g.in[0] * g.in[1] * g.in[2];
    bool align = g.align_corners;
    MF_GRID_LOOP(i, n) {
        int64_t p, o[3], id[3][2];
        double wt[3][2];
        split_out(g, i, p, o);
        for (int d = 0; d < 3; d++)
            lin_src(g.in[d], g.out[d], o[d], align, id[d], wt[d]);
        if (backward) {
            T *gp = y + p * plane;
            double v = (double)x[i];
            for (int a = 0; a < 2; a++)
                for (int b = 0; b < 2; b++)
                    for (int c = 0; c < 2; c++) {
                        double w = wt[0][a] * wt[1][b] * wt[2][c];
                        if (w != 0.0)
                            atomicAdd(gp + (id[0][a] * g.in[1] + id[1][b]) * g.in[2] + id[2][c], (T)(w * v));
                    }
            continue;
        }
        const T *xp = x + p * plane;
        double acc = 0;
        for (int a = 0; a < 2; a++)
            for (int b = 0; b < 2; b++)
                for (int c = 0; c < 2; c++)
                    acc += wt[0][a] * wt[1][b] * wt[2][c] *
                           (double)xp[(id[0][a] * g.in[1] + id[1][b]) * g.in[2] + id[2][c]];
        y[i] = (T)acc;
    }
}

template <typename T> __global__ void gather_kernel(mf_gather_args a, T *y, const T *x, int backward) {
    int64_t n = 1;
    for (int d = 0; d < a.ndim; d++)
        n *= a.shape[d];
    MF_GRID_LOOP(i, n) {
        int64_t r = i, off = 0;
        bool valid = true;
        for (int d = a.ndim - 1; d >= 0; d--) {
            int64_t c = r % a.shape[d];
            r /= a.shape[d];
            int64_t m = a.maps[a.moff[d] + c];
            if (m < 0)
                valid = false;
            else
                off += m * a.xs[d];
        }
        if (backward) {
            if (valid)
                atomicAdd(y + off, x[i]);
        } else {
            y[i] = valid ? x[off] : (T)a.fill;
        }
    }
}

#define LAUNCH(KERNEL, T, n, ...)                                                                                      \
    do {                                                                                                               \
        if ((n) > 0)                                                                                                   \
            KERNEL<T><<<mf_grid_for(n), MF_THREADS, 0, s>>>(__VA_ARGS__);                                              \
        return cudaGetLastError();                                                                                     \
    } while (0)

static int64_t out_count(const mf_pool_args *g) { return g->planes * g->out[0] * g->out[1] * g->out[2]; }

extern "C" cudaError_t mf_cuda_launch_maxpool(cudaStream_t s, int dt, const mf_pool_args *g, void *y, int64_t *idx,
                                              const void *x) {
    if (dt == MF_F64)
        LAUNCH(max_fwd_kernel, double, out_count(g), *g, (double *)y, idx, (const double *)x);
    LAUNCH(max_fwd_kernel, float, out_count(g), *g, (float *)y, idx, (const float *)x);
}

extern "C" cudaError_t mf_cuda_launch_maxpool_bwd(cudaStream_t s, int dt, const mf_pool_args *g, void *gx,
                                                  const void *gy, const int64_t *idx) {
    if (dt == MF_F64)
        LAUNCH(max_bwd_kernel, double, out_count(g), *g, (double *)gx, (const double *)gy, idx);
    LAUNCH(max_bwd_kernel, float, out_count(g), *g, (float *)gx, (const float *)gy, idx);
}

extern "C" cudaError_t mf_cuda_launch_avgpool(cudaStream_t s, int dt, const mf_pool_args *g, void *y, const void *x,
                                              int backward) {
    if (dt == MF_F64)
        LAUNCH(avg_kernel, double, out_count(g), *g, (double *)y, (const double *)x, backward);
    LAUNCH(avg_kernel, float, out_count(g), *g, (float *)y, (const float *)x, backward);
}

extern "C" cudaError_t mf_cuda_launch_linear(cudaStream_t s, int dt, const mf_pool_args *g, void *y, const void *x,
                                             int backward) {
    if (dt == MF_F64)
        LAUNCH(linear_kernel, double, out_count(g), *g, (double *)y, (const double *)x, backward);
    LAUNCH(linear_kernel, float, out_count(g), *g, (float *)y, (const float *)x, backward);
}

extern "C" cudaError_t mf_cuda_launch_pool_gather(cudaStream_t s, int dt, const mf_gather_args *a, void *y,
                                                  const void *x, int backward) {
    int64_t n = 1;
    for (int d = 0; d < a->ndim; d++)
        n *= a->shape[d];
    if (dt == MF_F64)
        LAUNCH(gather_kernel, double, n, *a, (double *)y, (const double *)x, backward);
    LAUNCH(gather_kernel, float, n, *a, (float *)y, (const float *)x, backward);
}
