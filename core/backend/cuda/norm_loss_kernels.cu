/* Norm and loss kernels of the CUDA module (host side: norm.c, loss.c).
 * Batch norm: two passes over blocks of (range of a channel, channel):
 * partial sums, then the statistics and the elementwise map (relu fused
 * when asked: its gradient masks g in the backward passes). Row norm
 * (layer/group norm): one block per row, and a separate reduction over
 * rows for the weight and bias gradients. Softmax: a warp per row when the
 * dim is innermost, else a thread per column. Cross-entropy: a thread per
 * position (n, s), classes S apart, as in the CPU kernel. */
#include <math.h>

#include "core/backend/cuda/device_util.cuh"
#include "core/backend/cuda/nn_internal.h"

#define NB 256

/* Block-wide sum of two doubles; every thread gets the totals. */
__device__ __forceinline__ void block_sum2(double &a, double &b) {
    __shared__ double sa[NB / 32], sb[NB / 32];
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

template <typename T> __device__ __forceinline__ double pget(const T *p, int64_t st, int64_t i, double dflt) {
    return p ? (double)p[i * st] : dflt;
}

/* ---------------------------------------------------------- batch norm */
/* A channel's N * S values are split into a.parts ranges of the flat index
 * (row n = i / S, done in 32 bits when M fits), a block per (range,
 * channel): one block per channel left most SMs idle on the large early
 * layers (64 channels of 3.2M values in ResNet-50 at batch 256). Pass 1
 * writes each range's sums (shifted by the channel's first value, in
 * double, as the CPU kernels do) to a.partial; pass 2 adds a channel's
 * partials in range order (the same bits on any GPU), and applies. */
__device__ __forceinline__ int64_t bn_off(const mf_bn_args &a, int64_t c, int64_t i) {
    int64_t n = a.narrow ? (int64_t)((uint32_t)i / (uint32_t)a.S) : i / a.S;
    return (n * a.C + c) * a.S + (i - n * a.S);
}

/* Block b covers range p = b % parts of channel c = b / parts; ranges
 * are whole vectors of V values. */
template <int V>
__device__ __forceinline__ void bn_range(const mf_bn_args &a, int64_t *c, int64_t *p, int64_t *lo, int64_t *hi) {
    int64_t M = a.N * a.S, L = (M + a.parts - 1) / a.parts;
    L = (L + V - 1) / V * V;
    *c = (int64_t)blockIdx.x / a.parts;
    *p = (int64_t)blockIdx.x - *c * a.parts;
    *lo = *p * L < M ? *p * L : M;
    *hi = *lo + L < M ? *lo + L : M;
}

/* The block's two sums into a.partial (thread 0 holds them after
 * block_sum2), and a channel's sums added over its ranges in range order. */
__device__ __forceinline__ void bn_put_partial(const mf_bn_args &a, int64_t c, int64_t p, double u, double v) {
    if (threadIdx.x == 0) {
        a.partial[(c * a.parts + p) * 2] = u;
        a.partial[(c * a.parts + p) * 2 + 1] = v;
    }
}

__device__ __forceinline__ void bn_sum_partials(const mf_bn_args &a, int64_t c, double *u, double *v) {
    *u = 0, *v = 0;
    for (int64_t q = 0; q < a.parts; q++) {
        *u += a.partial[(c * a.parts + q) * 2];
        *v += a.partial[(c * a.parts + q) * 2 + 1];
    }
}

/* Each thread takes BN_U(V) vectors of V values of its block's range per
 * step (a block's threads interleaved, so a warp's loads stay coalesced)
 * and issues their loads before using any: one small load in flight per
 * thread leaves HBM mostly idle. V > 1 (16-byte loads of f32 or bf16)
 * when every row of S values holds whole aligned vectors. o[u]: the
 * vectors' element offsets, -1 past the range. */
#define BN_U(V) ((V) > 1 ? 2 : 4)
#define BN_LOOP(lo, hi, o)                                                                                   \
    for (int64_t j0 = (lo) / V + threadIdx.x, o[BN_U(V)]; j0 < (hi) / V && bn_offsets<V>(a, c, j0, (hi) / V, o); \
         j0 += BN_U(V) * (int64_t)blockDim.x)

template <int V>
__device__ __forceinline__ bool bn_offsets(const mf_bn_args &a, int64_t c, int64_t j0, int64_t jhi, int64_t *o) {
#pragma unroll
    for (int u = 0; u < BN_U(V); u++) {
        int64_t j = j0 + u * (int64_t)blockDim.x;
        o[u] = j < jhi ? bn_off(a, c, j * V) : -1;
    }
    return true;
}

/* The V values at element offset o, and their store (mf_store's rounding). */
template <int DT, int V> __device__ __forceinline__ void bn_load(const void *p, int dt, int64_t o, double *v) {
    if (V == 1) {
        v[0] = mf_load<DT>(p, dt, o);
    } else {
        vec16 r = *(const vec16 *)((const char *)p + o * (16 / V));
#pragma unroll
        for (int k = 0; k < V; k++)
            v[k] = vget<DT>(r, k);
    }
}

template <int DT, int V> __device__ __forceinline__ void bn_store(void *p, int dt, int64_t o, const double *v) {
    if (V == 1) {
        mf_store<DT>(p, dt, o, v[0]);
    } else {
        vec16 r;
#pragma unroll
        for (int k = 0; k < V; k++)
            vset<DT>(r, k, v[k]);
        *(vec16 *)((char *)p + o * (16 / V)) = r;
    }
}

/* Data (x, y, g, gx) in DT; parameters, running and saved statistics and
 * parameter gradients in PT: DT itself, or f32 for bf16/f16 data (autocast
 * keeps activations low and master weights f32, as cuDNN's batch norm). */
#define XL(p, i) mf_load<DT>((p), a.dt, (i))
#define PV(p, st, c, dflt) ((p) ? mf_load<PT>((p), PT, (c) * (st)) : (dflt))

/* The forward's output value (relu's formula: NaN stays NaN). */
__device__ __forceinline__ double bn_out(const mf_bn_args &a, double v) { return a.relu && v <= 0 ? 0.0 : v; }

/* g and x of vector u (x = `fill` past the range), g masked by a fused
 * relu's output: gy * [y > 0], the unfused relu backward's products. */
template <int DT, int V>
__device__ __forceinline__ void bn_load_gx(const mf_bn_args &a, int64_t o, double fill, double *gv, double *xv) {
    if (o < 0) {
#pragma unroll
        for (int k = 0; k < V; k++)
            gv[k] = 0.0, xv[k] = fill;
        return;
    }
    bn_load<DT, V>(a.g, a.dt, o, gv);
    bn_load<DT, V>(a.x, a.dt, o, xv);
    if (a.ry) {
        double r[V];
        bn_load<DT, V>(a.ry, a.dt, o, r);
#pragma unroll
        for (int k = 0; k < V; k++)
            gv[k] *= r[k] > 0 ? 1.0 : 0.0;
    }
}

/* Pass 1 of the forward (training): shifted sums of x per range. */
template <int DT, int PT, int V> __global__ void bn_stats_kernel(mf_bn_args a) {
    int64_t c, p, lo, hi;
    bn_range<V>(a, &c, &p, &lo, &hi);
    double k = XL(a.x, c * a.S), s1 = 0, s2 = 0;
    BN_LOOP(lo, hi, o) {
        double v[BN_U(V)][V];
#pragma unroll
        for (int u = 0; u < BN_U(V); u++)
            if (o[u] >= 0)
                bn_load<DT, V>(a.x, a.dt, o[u], v[u]);
            else
                for (int q = 0; q < V; q++)
                    v[u][q] = k;
#pragma unroll
        for (int u = 0; u < BN_U(V); u++)
#pragma unroll
            for (int q = 0; q < V; q++) {
                double d = v[u][q] - k;
                s1 += d;
                s2 += d * d;
            }
    }
    block_sum2(s1, s2);
    bn_put_partial(a, c, p, s1, s2);
}

/* Pass 2 of the forward: the channel's statistics (training: from the
 * partials; eval: the running ones), then y over the block's range. */
template <int DT, int PT, int V> __global__ void bn_apply_kernel(mf_bn_args a) {
    int64_t c, p, lo, hi, M = a.N * a.S;
    bn_range<V>(a, &c, &p, &lo, &hi);
    __shared__ double stat[2];
    if (threadIdx.x == 0) {
        if (a.training) {
            double s1, s2, k = XL(a.x, c * a.S);
            bn_sum_partials(a, c, &s1, &s2);
            double d = s1 / (double)M, var = s2 / (double)M - d * d;
            if (var < 0)
                var = 0;
            double mean = k + d;
            stat[0] = mean;
            stat[1] = 1.0 / sqrt(var + a.eps);
            if (p == 0 && a.rm)
                mf_store<PT>(a.rm, PT, c * a.rm_st,
                             (1.0 - a.momentum) * mf_load<PT>(a.rm, PT, c * a.rm_st) + a.momentum * mean);
            if (p == 0 && a.rv)
                mf_store<PT>(a.rv, PT, c * a.rv_st,
                             (1.0 - a.momentum) * mf_load<PT>(a.rv, PT, c * a.rv_st) +
                                 a.momentum * var * (double)M / (double)(M - 1));
        } else {
            stat[0] = PV(a.rm, a.rm_st, c, 0.0);
            stat[1] = 1.0 / sqrt(PV(a.rv, a.rv_st, c, 1.0) + a.eps);
        }
        if (p == 0) {
            mf_store<PT>(a.mean, PT, c * a.mean_st, stat[0]);
            mf_store<PT>(a.invstd, PT, c * a.invstd_st, stat[1]);
        }
    }
    __syncthreads();
    double mean = stat[0], invstd = stat[1];
    double A = invstd * PV(a.w, a.w_st, c, 1.0), B = PV(a.b, a.b_st, c, 0.0);
    BN_LOOP(lo, hi, o) {
        double v[BN_U(V)][V];
#pragma unroll
        for (int u = 0; u < BN_U(V); u++)
            if (o[u] >= 0)
                bn_load<DT, V>(a.x, a.dt, o[u], v[u]);
#pragma unroll
        for (int u = 0; u < BN_U(V); u++)
            if (o[u] >= 0) {
#pragma unroll
                for (int q = 0; q < V; q++)
                    v[u][q] = bn_out(a, (v[u][q] - mean) * A + B);
                bn_store<DT, V>(a.y, a.dt, o[u], v[u]);
            }
    }
}

/* Pass 1 of the backward: sums of g and g (x - mean) per range. */
template <int DT, int PT, int V> __global__ void bn_gstats_kernel(mf_bn_args a) {
    int64_t c, p, lo, hi;
    bn_range<V>(a, &c, &p, &lo, &hi);
    double mean = mf_load<PT>(a.mean, PT, c * a.mean_st), sg = 0, sd = 0;
    BN_LOOP(lo, hi, o) {
        double gv[BN_U(V)][V], xv[BN_U(V)][V];
#pragma unroll
        for (int u = 0; u < BN_U(V); u++)
            bn_load_gx<DT, V>(a, o[u], mean, gv[u], xv[u]);
#pragma unroll
        for (int u = 0; u < BN_U(V); u++)
#pragma unroll
            for (int q = 0; q < V; q++) {
                sg += gv[u][q];
                sd += gv[u][q] * (xv[u][q] - mean);
            }
    }
    block_sum2(sg, sd);
    bn_put_partial(a, c, p, sg, sd);
}

/* Pass 2 of the backward: weight and bias gradients (first range's block),
 * gx over the block's range. */
template <int DT, int PT, int V> __global__ void bn_grad_kernel(mf_bn_args a) {
    int64_t c, p, lo, hi, M = a.N * a.S;
    bn_range<V>(a, &c, &p, &lo, &hi);
    double mean = mf_load<PT>(a.mean, PT, c * a.mean_st), invstd = mf_load<PT>(a.invstd, PT, c * a.invstd_st);
    double sg = 0, sd = 0;
    if (a.partial)
        bn_sum_partials(a, c, &sg, &sd);
    if (threadIdx.x == 0 && p == 0) {
        if (a.gw)
            mf_store<PT>(a.gw, PT, c * a.gw_st, sd * invstd);
        if (a.gb)
            mf_store<PT>(a.gb, PT, c * a.gb_st, sg);
    }
    if (!a.gx)
        return;
    double A = PV(a.w, a.w_st, c, 1.0) * invstd, B = 0, Cc = 0;
    if (a.training) {
        B = -A * invstd * invstd * sd / (double)M;
        Cc = -A * sg / (double)M;
    }
    BN_LOOP(lo, hi, o) {
        double gv[BN_U(V)][V], xv[BN_U(V)][V];
#pragma unroll
        for (int u = 0; u < BN_U(V); u++)
            bn_load_gx<DT, V>(a, o[u], 0.0, gv[u], xv[u]);
#pragma unroll
        for (int u = 0; u < BN_U(V); u++)
            if (o[u] >= 0) {
#pragma unroll
                for (int q = 0; q < V; q++)
                    gv[u][q] = gv[u][q] * A + (xv[u][q] - mean) * B + Cc;
                bn_store<DT, V>(a.gx, a.dt, o[u], gv[u]);
            }
    }
}

#undef XL
#undef PV

template <int DT, int PT, int V> static void bn_launch_v(cudaStream_t s, int backward, const mf_bn_args *a) {
    unsigned grid = (unsigned)(a->parts * a->C);
    if (backward) {
        if (a->partial)
            bn_gstats_kernel<DT, PT, V><<<grid, NB, 0, s>>>(*a);
        bn_grad_kernel<DT, PT, V><<<grid, NB, 0, s>>>(*a);
    } else {
        if (a->training)
            bn_stats_kernel<DT, PT, V><<<grid, NB, 0, s>>>(*a);
        bn_apply_kernel<DT, PT, V><<<grid, NB, 0, s>>>(*a);
    }
}

static bool aligned16(const void *p) { return !p || !((uintptr_t)p & 15); }

/* 16-byte vectors for f32 and bf16 when every row holds whole aligned ones. */
template <int DT, int PT> static void bn_launch(cudaStream_t s, int backward, const mf_bn_args *a) {
    const int VV = DT == MF_F32 ? 4 : DT == MF_BF16 ? 8 : 1;
    bool vec = VV > 1 && a->S % VV == 0 && aligned16(a->x) && aligned16(a->y) && aligned16(a->g) &&
               aligned16(a->gx) && aligned16(a->ry);
    if (!vec)
        bn_launch_v<DT, PT, 1>(s, backward, a);
    else if (DT == MF_F32)
        bn_launch_v<DT, PT, (DT == MF_F32 ? 4 : 1)>(s, backward, a);
    else
        bn_launch_v<DT, PT, (DT == MF_BF16 ? 8 : 1)>(s, backward, a);
}

extern "C" cudaError_t mf_cuda_launch_bn(cudaStream_t s, int dt, int backward, const mf_bn_args *a) {
    if (a->C == 0 || a->N * a->S == 0)
        return cudaSuccess;
    if (dt == MF_F64)
        bn_launch<MF_F64, MF_F64>(s, backward, a);
    else if (dt == MF_BF16)
        bn_launch<MF_BF16, MF_F32>(s, backward, a);
    else if (dt == MF_F16)
        bn_launch<MF_DYN, MF_F32>(s, backward, a);
    else
        bn_launch<MF_F32, MF_F32>(s, backward, a);
    return cudaGetLastError();
}

/* ------------------------------------------------------------ row norm */
template <typename T> __global__ void row_fwd_kernel(mf_row_args a) {
    const T *x = (const T *)a.x;
    T *y = (T *)a.y;
    int64_t r = blockIdx.x, K = a.cg * a.s;
    const T *xr = x + r * K;
    double k = (double)xr[0], s1 = 0, s2 = 0;
    for (int64_t i = threadIdx.x; i < K; i += blockDim.x) {
        double v = (double)xr[i] - k;
        s1 += v;
        s2 += v * v;
    }
    block_sum2(s1, s2);
    double d = s1 / (double)K, var = s2 / (double)K - d * d;
    if (var < 0)
        var = 0;
    double mean = k + d, rstd = 1.0 / sqrt(var + a.eps);
    if (threadIdx.x == 0) {
        ((T *)a.mean)[r * a.mean_st] = (T)mean;
        ((T *)a.rstd)[r * a.rstd_st] = (T)rstd;
    }
    int64_t ch0 = (r % a.groups) * a.cg;
    for (int64_t i = threadIdx.x; i < K; i += blockDim.x) {
        int64_t ch = ch0 + i / a.s;
        double v = ((double)xr[i] - mean) * rstd * pget((const T *)a.w, a.w_st, ch, 1.0) +
                   pget((const T *)a.b, a.b_st, ch, 0.0);
        y[r * K + i] = (T)v;
    }
}

template <typename T> __global__ void row_bwd_kernel(mf_row_args a) {
    const T *x = (const T *)a.x, *g = (const T *)a.g;
    int64_t r = blockIdx.x, K = a.cg * a.s, ch0 = (r % a.groups) * a.cg;
    double mean = (double)((const T *)a.mean)[r * a.mean_st], rstd = (double)((const T *)a.rstd)[r * a.rstd_st];
    double s1 = 0, s2 = 0;
    for (int64_t i = threadIdx.x; i < K; i += blockDim.x) {
        double gw = (double)g[r * K + i] * pget((const T *)a.w, a.w_st, ch0 + i / a.s, 1.0);
        s1 += gw;
        s2 += gw * ((double)x[r * K + i] - mean);
    }
    block_sum2(s1, s2);
    double B = -rstd * rstd * rstd * s2 / (double)K, Cc = -rstd * s1 / (double)K;
    T *gx = (T *)a.gx;
    for (int64_t i = threadIdx.x; i < K; i += blockDim.x) {
        double A = rstd * pget((const T *)a.w, a.w_st, ch0 + i / a.s, 1.0);
        gx[r * K + i] = (T)((double)g[r * K + i] * A + ((double)x[r * K + i] - mean) * B + Cc);
    }
}

/* gw, gb of channel ch = sum over the rows of its group and its S positions. */
template <typename T> __global__ void row_wb_kernel(mf_row_args a) {
    const T *x = (const T *)a.x, *g = (const T *)a.g;
    int64_t ch = blockIdx.x, grp = ch / a.cg, c = ch - grp * a.cg, K = a.cg * a.s;
    int64_t per = a.rows / a.groups, total = per * a.s;
    double sw = 0, sb = 0;
    for (int64_t i = threadIdx.x; i < total; i += blockDim.x) {
        int64_t n = i / a.s, s = i - n * a.s, r = n * a.groups + grp, o = r * K + c * a.s + s;
        double mean = (double)((const T *)a.mean)[r * a.mean_st], rstd = (double)((const T *)a.rstd)[r * a.rstd_st];
        double gv = (double)g[o];
        sw += gv * ((double)x[o] - mean) * rstd;
        sb += gv;
    }
    block_sum2(sw, sb);
    if (threadIdx.x == 0) {
        if (a.gw)
            ((T *)a.gw)[ch * a.gw_st] = (T)sw;
        if (a.gb)
            ((T *)a.gb)[ch * a.gb_st] = (T)sb;
    }
}

/* Layer norm (S == 1): a thread per channel walks the rows, so reads
 * coalesce across the threads of a warp. */
template <typename T> __global__ void row_wb_cols_kernel(mf_row_args a) {
    const T *x = (const T *)a.x, *g = (const T *)a.g;
    int64_t CA = a.groups * a.cg, K = a.cg;
    MF_GRID_LOOP(ch, CA) {
        int64_t grp = ch / a.cg, c = ch - grp * a.cg, per = a.rows / a.groups;
        double sw = 0, sb = 0;
        for (int64_t n = 0; n < per; n++) {
            int64_t r = n * a.groups + grp, o = r * K + c;
            double mean = (double)((const T *)a.mean)[r * a.mean_st], rstd = (double)((const T *)a.rstd)[r * a.rstd_st];
            double gv = (double)g[o];
            sw += gv * ((double)x[o] - mean) * rstd;
            sb += gv;
        }
        if (a.gw)
            ((T *)a.gw)[ch * a.gw_st] = (T)sw;
        if (a.gb)
            ((T *)a.gb)[ch * a.gb_st] = (T)sb;
    }
}

extern "C" cudaError_t mf_cuda_launch_rownorm(cudaStream_t s, int dt, int backward, const mf_row_args *a) {
    int64_t CA = a->groups * a->cg;
    bool f64 = dt == MF_F64;
    if (!backward) {
        if (a->rows > 0)
            f64 ? row_fwd_kernel<double><<<(unsigned)a->rows, NB, 0, s>>>(*a)
                : row_fwd_kernel<float><<<(unsigned)a->rows, NB, 0, s>>>(*a);
        return cudaGetLastError();
    }
    if (a->gx && a->rows > 0)
        f64 ? row_bwd_kernel<double><<<(unsigned)a->rows, NB, 0, s>>>(*a)
            : row_bwd_kernel<float><<<(unsigned)a->rows, NB, 0, s>>>(*a);
    if ((a->gw || a->gb) && CA > 0) {
        if (a->s == 1 && CA >= 128)
            f64 ? row_wb_cols_kernel<double><<<mf_grid_for(CA), MF_THREADS, 0, s>>>(*a)
                : row_wb_cols_kernel<float><<<mf_grid_for(CA), MF_THREADS, 0, s>>>(*a);
        else
            f64 ? row_wb_kernel<double><<<(unsigned)CA, NB, 0, s>>>(*a)
                : row_wb_kernel<float><<<(unsigned)CA, NB, 0, s>>>(*a);
    }
    return cudaGetLastError();
}

/* ------------------------------------------------------------- softmax */
/* A warp per row of n contiguous elements. */
template <typename T> __global__ void softmax_rows_kernel(int64_t rows, int64_t n, T *y, const T *x, int log) {
    int64_t warp = ((int64_t)blockIdx.x * blockDim.x + threadIdx.x) >> 5;
    int lane = threadIdx.x & 31;
    if (warp >= rows)
        return;
    int64_t base = warp * n;
    T mx = -INFINITY;
    for (int64_t i = lane; i < n; i += 32)
        mx = x[base + i] > mx ? x[base + i] : mx;
    for (int o = 16; o > 0; o >>= 1) {
        T v = __shfl_xor_sync(0xffffffffu, mx, o);
        mx = v > mx ? v : mx;
    }
    if (mx == -INFINITY)
        mx = 0;
    T sum = 0;
    for (int64_t i = lane; i < n; i += 32)
        sum += exp(x[base + i] - mx);
    for (int o = 16; o > 0; o >>= 1)
        sum += __shfl_xor_sync(0xffffffffu, sum, o);
    if (log) {
        T ls = ::log(sum);
        for (int64_t i = lane; i < n; i += 32)
            y[base + i] = (x[base + i] - mx) - ls;
    } else {
        T inv = (T)1 / sum;
        for (int64_t i = lane; i < n; i += 32)
            y[base + i] = exp(x[base + i] - mx) * inv;
    }
}

template <typename T>
__global__ void softmax_bwd_rows_kernel(int64_t rows, int64_t n, T *gx, const T *gy, const T *y, int log) {
    int64_t warp = ((int64_t)blockIdx.x * blockDim.x + threadIdx.x) >> 5;
    int lane = threadIdx.x & 31;
    if (warp >= rows)
        return;
    int64_t base = warp * n;
    T sum = 0;
    for (int64_t i = lane; i < n; i += 32)
        sum += log ? gy[base + i] : gy[base + i] * y[base + i];
    for (int o = 16; o > 0; o >>= 1)
        sum += __shfl_xor_sync(0xffffffffu, sum, o);
    for (int64_t i = lane; i < n; i += 32)
        gx[base + i] = log ? gy[base + i] - exp(y[base + i]) * sum : y[base + i] * (gy[base + i] - sum);
}

/* A thread per (outer, inner) column of n elements `inner` apart. */
template <typename T>
__global__ void softmax_cols_kernel(int64_t outer, int64_t n, int64_t inner, T *y, const T *x, int log) {
    MF_GRID_LOOP(p, outer * inner) {
        int64_t o = p / inner, c = p - o * inner, base = o * n * inner + c;
        T mx = -INFINITY;
        for (int64_t i = 0; i < n; i++)
            mx = x[base + i * inner] > mx ? x[base + i * inner] : mx;
        if (mx == -INFINITY)
            mx = 0;
        T sum = 0;
        for (int64_t i = 0; i < n; i++)
            sum += exp(x[base + i * inner] - mx);
        T k = log ? ::log(sum) : (T)1 / sum;
        for (int64_t i = 0; i < n; i++)
            y[base + i * inner] = log ? (x[base + i * inner] - mx) - k : exp(x[base + i * inner] - mx) * k;
    }
}

template <typename T>
__global__ void softmax_bwd_cols_kernel(int64_t outer, int64_t n, int64_t inner, T *gx, const T *gy, const T *y,
                                        int log) {
    MF_GRID_LOOP(p, outer * inner) {
        int64_t o = p / inner, c = p - o * inner, base = o * n * inner + c;
        T sum = 0;
        for (int64_t i = 0; i < n; i++)
            sum += log ? gy[base + i * inner] : gy[base + i * inner] * y[base + i * inner];
        for (int64_t i = 0; i < n; i++) {
            int64_t q = base + i * inner;
            gx[q] = log ? gy[q] - exp(y[q]) * sum : y[q] * (gy[q] - sum);
        }
    }
}

template <typename T>
static void softmax_launch(cudaStream_t s, int64_t outer, int64_t n, int64_t inner, void *out, const void *in,
                           const void *y, int log, int backward) {
    if (inner == 1) {
        int64_t threads = outer * 32;
        unsigned grid = (unsigned)((threads + MF_THREADS - 1) / MF_THREADS);
        if (backward)
            softmax_bwd_rows_kernel<T>
                <<<grid, MF_THREADS, 0, s>>>(outer, n, (T *)out, (const T *)in, (const T *)y, log);
        else
            softmax_rows_kernel<T><<<grid, MF_THREADS, 0, s>>>(outer, n, (T *)out, (const T *)in, log);
    } else if (backward) {
        softmax_bwd_cols_kernel<T><<<mf_grid_for(outer * inner), MF_THREADS, 0, s>>>(outer, n, inner, (T *)out,
                                                                                     (const T *)in, (const T *)y, log);
    } else {
        softmax_cols_kernel<T>
            <<<mf_grid_for(outer * inner), MF_THREADS, 0, s>>>(outer, n, inner, (T *)out, (const T *)in, log);
    }
}

extern "C" cudaError_t mf_cuda_launch_softmax(cudaStream_t s, int dt, int64_t outer, int64_t n, int64_t inner,
                                              void *out, const void *in, const void *y, int log, int backward) {
    if (outer * inner == 0 || n == 0)
        return cudaSuccess;
    if (dt == MF_F64)
        softmax_launch<double>(s, outer, n, inner, out, in, y, log, backward);
    else
        softmax_launch<float>(s, outer, n, inner, out, in, y, log, backward);
    return cudaGetLastError();
}

/* ------------------------------------------------------- cross-entropy */
template <typename T> __global__ void ce_fwd_kernel(mf_ce_args a) {
    int64_t C = a.C, S = a.S;
    const T *w = (const T *)a.w;
    MF_GRID_LOOP(p, a.N * S) {
        int64_t n = p / S, s = p - n * S;
        const T *x = (const T *)a.x + n * C * S + s;
        T *lp = (T *)a.logp + n * C * S + s;
        T mx = -INFINITY, sum = 0;
        for (int64_t c = 0; c < C; c++)
            mx = x[c * S] > mx ? x[c * S] : mx;
        if (mx == -INFINITY)
            mx = 0;
        for (int64_t c = 0; c < C; c++)
            sum += exp(x[c * S] - mx);
        T ls = ::log(sum);
        for (int64_t c = 0; c < C; c++)
            lp[c * S] = (x[c * S] - mx) - ls;
        int64_t t = a.t[p];
        T l = 0, wt = 0;
        if (t != a.ignore) {
            if (t < 0 || t >= C) {
                if (!a.bad) { /* no check record: a NaN loss stops the run */
                    ((T *)a.loss)[p] = (T)NAN;
                    ((T *)a.wt)[p] = (T)1;
                    continue;
                }
                if (atomicAdd(&a.bad[0], 1ull) == 0ull) {
                    a.bad[1] = (unsigned long long)t;
                    a.bad[2] = (unsigned long long)p;
                    a.bad[3] = (unsigned long long)C;
                }
                t = 0;
            }
            wt = w ? w[t] : (T)1;
            l = -(T)(1.0 - a.eps) * wt * lp[t * S];
            if (a.eps > 0) {
                T sm = 0;
                for (int64_t c = 0; c < C; c++)
                    sm += (w ? w[c] : (T)1) * lp[c * S];
                l -= (T)(a.eps / (double)C) * sm;
            }
        }
        ((T *)a.loss)[p] = l;
        ((T *)a.wt)[p] = wt;
    }
}

template <typename T> __global__ void ce_bwd_kernel(mf_ce_args a) {
    int64_t C = a.C, S = a.S;
    const T *w = (const T *)a.w;
    T ae = (T)(a.eps / (double)C);
    MF_GRID_LOOP(p, a.N * S) {
        int64_t n = p / S, s = p - n * S;
        const T *lp = (const T *)a.logp + n * C * S + s;
        T *gx = (T *)a.gx + n * C * S + s;
        int64_t t = a.t[p];
        if (t == a.ignore || t < 0 || t >= C) {
            for (int64_t c = 0; c < C; c++)
                gx[c * S] = 0;
            continue;
        }
        T W = (T)C;
        if (w) {
            double ws = 0;
            for (int64_t c = 0; c < C; c++)
                ws += (double)w[c];
            W = (T)ws;
        }
        T gs = ((const T *)a.g)[n * a.gs0 + s * a.gs1];
        T b = (T)(1.0 - a.eps) * (w ? w[t] : (T)1);
        for (int64_t c = 0; c < C; c++) {
            T pc = exp(lp[c * S]);
            gx[c * S] = gs * (b * pc + ae * (W * pc - (w ? w[c] : (T)1)));
        }
        gx[t * S] -= gs * b;
    }
}

extern "C" cudaError_t mf_cuda_launch_ce(cudaStream_t s, int dt, int backward, const mf_ce_args *a) {
    int64_t np = a->N * a->S;
    if (np == 0)
        return cudaSuccess;
    if (dt == MF_F64)
        backward ? ce_bwd_kernel<double><<<mf_grid_for(np), MF_THREADS, 0, s>>>(*a)
                 : ce_fwd_kernel<double><<<mf_grid_for(np), MF_THREADS, 0, s>>>(*a);
    else
        backward ? ce_bwd_kernel<float><<<mf_grid_for(np), MF_THREADS, 0, s>>>(*a)
                 : ce_fwd_kernel<float><<<mf_grid_for(np), MF_THREADS, 0, s>>>(*a);
    return cudaGetLastError();
}
