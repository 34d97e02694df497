/* Pool kernels of the CUDA module (host side: pool.c): a thread per output
 * element (in the output's memory order: contiguous planes, or for max and
 * average pooling also channels-last, where a warp's threads take
 * consecutive channels of one position) for every forward; backwards scatter into a zeroed gradient with
 * atomic adds (windows may overlap). Window bounds follow the CPU tables of
 * core/backend/cpu/pool.c and pool_linear.c exactly. Kernels take the data
 * dtype DT (f32, f64, bf16, f16) and compute in acc_t<DT>: f64 for f64 data,
 * else f32, rounding once on store as the CPU's f32 twins of bf16/f16 data
 * do. Backward gradients accumulate in acc_t<DT> (an f32 scratch for bf16
 * and f16, see pool.c); gy is read in DT. */
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

/* Output i (an index in the output's memory order) as its window position
 * o, and where its plane's values lie in the input: x[base + q * step] is
 * position q (flat within the plane). Contiguous planes: base = p * plane,
 * step 1; channels-last: base = n * plane * C + c, step C. */
__device__ __forceinline__ void locate(const mf_pool_args &g, int64_t i, int64_t plane, int64_t *o, int64_t &base,
                                       int64_t &step) {
    int64_t p;
    if (g.cl) {
        int64_t c = i % g.C;
        split_out(g, i / g.C, p, o); /* p: the image */
        base = p * plane * g.C + c;
        step = g.C;
    } else {
        split_out(g, i, p, o);
        base = p * plane;
        step = 1;
    }
}

/* What DT data computes and accumulates in. */
template <int DT> struct acc_of {
    typedef float T;
};
template <> struct acc_of<MF_F64> {
    typedef double T;
};
template <int DT> using acc_t = typename acc_of<DT>::T;

/* One element of DT data as acc_t<DT> (exact). */
template <int DT> __device__ __forceinline__ acc_t<DT> ld(const void *p, int64_t i) {
    return (acc_t<DT>)mf_load<DT>(p, DT, i);
}

template <int DT> __global__ void max_fwd_kernel(mf_pool_args g, void *y, int64_t *idx, const void *x) {
    typedef acc_t<DT> T;
    int64_t n = g.planes * g.out[0] * g.out[1] * g.out[2], plane = g.in[0] * g.in[1] * g.in[2];
    MF_GRID_LOOP(i, n) {
        int64_t o[3], lo[3], cnt[3], stp[3], sz, base, step;
        locate(g, i, plane, o, base, step);
        for (int d = 0; d < 3; d++)
            window(g, d, o[d], true, lo[d], cnt[d], stp[d], sz);
        int64_t best = (lo[0] * g.in[1] + lo[1]) * g.in[2] + lo[2];
        T bv = -INFINITY;
        for (int64_t a = 0; a < cnt[0]; a++)
            for (int64_t b = 0; b < cnt[1]; b++) {
                int64_t row = ((lo[0] + a * stp[0]) * g.in[1] + lo[1] + b * stp[1]) * g.in[2] + lo[2];
                for (int64_t c = 0; c < cnt[2]; c++) {
                    T v = ld<DT>(x, base + (row + c * stp[2]) * step);
                    if (v > bv || isnan(v)) {
                        bv = v;
                        best = row + c * stp[2];
                    }
                }
            }
        mf_store<DT>(y, DT, i, bv);
        idx[i] = best;
    }
}

template <int DT> __global__ void max_bwd_kernel(mf_pool_args g, void *gx, const void *gy, const int64_t *idx) {
    int64_t n = g.planes * g.out[0] * g.out[1] * g.out[2], plane = g.in[0] * g.in[1] * g.in[2];
    MF_GRID_LOOP(i, n) {
        int64_t o[3], base, step;
        locate(g, i, plane, o, base, step);
        atomicAdd((acc_t<DT> *)gx + base + idx[i] * step, ld<DT>(gy, i));
    }
}

/* Forward: y = window means of x. Backward: y is gx (input-sized, acc_t)
 * and x is gy (output-sized, DT). */
template <int DT> __global__ void avg_kernel(mf_pool_args g, void *y, const void *x, int backward) {
    typedef acc_t<DT> T;
    int64_t n = g.planes * g.out[0] * g.out[1] * g.out[2], plane = g.in[0] * g.in[1] * g.in[2];
    MF_GRID_LOOP(i, n) {
        int64_t o[3], lo[3], cnt[3], stp[3], sz[3], base, step;
        locate(g, i, plane, o, base, step);
        for (int d = 0; d < 3; d++)
            window(g, d, o[d], false, lo[d], cnt[d], stp[d], sz[d]);
        double size = (double)(sz[0] * sz[1] * sz[2]);
        if (backward) {
            T v = (T)((double)ld<DT>(x, i) / size);
            T *gp = (T *)y + base;
            for (int64_t a = 0; a < cnt[0]; a++)
                for (int64_t b = 0; b < cnt[1]; b++) {
                    int64_t row = ((lo[0] + a) * g.in[1] + lo[1] + b) * g.in[2] + lo[2];
                    for (int64_t c = 0; c < cnt[2]; c++)
                        atomicAdd(gp + (row + c) * step, v);
                }
            continue;
        }
        double acc = 0;
        for (int64_t a = 0; a < cnt[0]; a++)
            for (int64_t b = 0; b < cnt[1]; b++) {
                int64_t row = ((lo[0] + a) * g.in[1] + lo[1] + b) * g.in[2] + lo[2];
                for (int64_t c = 0; c < cnt[2]; c++)
                    acc += (double)ld<DT>(x, base + (row + c) * step);
            }
        mf_store<DT>(y, DT, i, (T)(acc / size));
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

/* Forward: y = interpolation of x. Backward: y is gx (acc_t), x is gy (DT). */
template <int DT> __global__ void linear_kernel(mf_pool_args g, void *y, const void *x, int backward) {
    typedef acc_t<DT> T;
    int64_t n = g.planes * g.out[0] * g.out[1] * g.out[2], plane = g.in[0] * g.in[1] * g.in[2];
    bool align = g.align_corners;
    MF_GRID_LOOP(i, n) {
        int64_t p, o[3], id[3][2];
        double wt[3][2];
        split_out(g, i, p, o);
        for (int d = 0; d < 3; d++)
            lin_src(g.in[d], g.out[d], o[d], align, id[d], wt[d]);
        if (backward) {
            T *gp = (T *)y + p * plane;
            double v = (double)ld<DT>(x, i);
            for (int a = 0; a < 2; a++)
                for (int b = 0; b < 2; b++)
                    for (int c = 0; c < 2; c++) {
                        double w = wt[0][a] * wt[1][b] * wt[2][c];
                        if (w != 0.0)
                            atomicAdd(gp + (id[0][a] * g.in[1] + id[1][b]) * g.in[2] + id[2][c], (T)(w * v));
                    }
            continue;
        }
        int64_t base = p * plane;
        double acc = 0;
        for (int a = 0; a < 2; a++)
            for (int b = 0; b < 2; b++)
                for (int c = 0; c < 2; c++)
                    acc += wt[0][a] * wt[1][b] * wt[2][c] *
                           (double)ld<DT>(x, base + (id[0][a] * g.in[1] + id[1][b]) * g.in[2] + id[2][c]);
        mf_store<DT>(y, DT, i, (T)acc);
    }
}

/* Elements of DT data as raw bits: the gather moves them unconverted. */
template <int DT> struct bits_of {
    typedef float T;
};
template <> struct bits_of<MF_F64> {
    typedef double T;
};
template <> struct bits_of<MF_BF16> {
    typedef uint16_t T;
};
template <> struct bits_of<MF_F16> {
    typedef uint16_t T;
};

/* Forward: y = x through the maps (raw elements), fill where unmapped.
 * Backward: y is gx (acc_t), x is gy (DT). */
template <int DT> __global__ void gather_kernel(mf_gather_args a, void *y, const void *x, int backward) {
    typedef typename bits_of<DT>::T E;
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
                atomicAdd((acc_t<DT> *)y + off, ld<DT>(x, i));
        } else if (valid) {
            ((E *)y)[i] = ((const E *)x)[off];
        } else {
            mf_store<DT>(y, DT, i, a.fill);
        }
    }
}

/* Launches KERNEL<dt> (f32 for any dtype but f64, bf16 and f16: the host
 * side lets no other through). */
#define LAUNCH(KERNEL, DT, n, ...)                                                                                     \
    do {                                                                                                               \
        if ((n) > 0)                                                                                                   \
            KERNEL<DT><<<mf_grid_for(n), MF_THREADS, 0, s>>>(__VA_ARGS__);                                             \
        return cudaGetLastError();                                                                                     \
    } while (0)
#define DISPATCH(KERNEL, dt, n, ...)                                                                                   \
    do {                                                                                                               \
        switch (dt) {                                                                                                  \
        case MF_F64: LAUNCH(KERNEL, MF_F64, n, __VA_ARGS__);                                                           \
        case MF_BF16: LAUNCH(KERNEL, MF_BF16, n, __VA_ARGS__);                                                         \
        case MF_F16: LAUNCH(KERNEL, MF_F16, n, __VA_ARGS__);                                                           \
        default: LAUNCH(KERNEL, MF_F32, n, __VA_ARGS__);                                                               \
        }                                                                                                              \
    } while (0)

static int64_t out_count(const mf_pool_args *g) { return g->planes * g->out[0] * g->out[1] * g->out[2]; }

extern "C" cudaError_t mf_cuda_launch_maxpool(cudaStream_t s, int dt, const mf_pool_args *g, void *y, int64_t *idx,
                                              const void *x) {
    DISPATCH(max_fwd_kernel, dt, out_count(g), *g, y, idx, x);
}

extern "C" cudaError_t mf_cuda_launch_maxpool_bwd(cudaStream_t s, int dt, const mf_pool_args *g, void *gx,
                                                  const void *gy, const int64_t *idx) {
    DISPATCH(max_bwd_kernel, dt, out_count(g), *g, gx, gy, idx);
}

extern "C" cudaError_t mf_cuda_launch_avgpool(cudaStream_t s, int dt, const mf_pool_args *g, void *y, const void *x,
                                              int backward) {
    DISPATCH(avg_kernel, dt, out_count(g), *g, y, x, backward);
}

extern "C" cudaError_t mf_cuda_launch_linear(cudaStream_t s, int dt, const mf_pool_args *g, void *y, const void *x,
                                             int backward) {
    DISPATCH(linear_kernel, dt, out_count(g), *g, y, x, backward);
}

extern "C" cudaError_t mf_cuda_launch_pool_gather(cudaStream_t s, int dt, const mf_gather_args *a, void *y,
                                                  const void *x, int backward) {
    int64_t n = 1;
    for (int d = 0; d < a->ndim; d++)
        n *= a->shape[d];
    DISPATCH(gather_kernel, dt, n, *a, y, x, backward);
}
