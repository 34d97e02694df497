/* Batch norm kernels of the CUDA module (host side: norm.c): two passes
 * over blocks of (range of a channel, channel): partial sums, then the
 * statistics and the elementwise map (relu fused when asked: its gradient
 * masks g in the backward passes). */
#include <math.h>

#include "core/backend/cuda/device_util.cuh"
#include "core/backend/cuda/nn_internal.h"

#define NB 256

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
 * vectors' element offsets, -1 past the range. The channels-last tiles
 * (CL_LOOP) take as many rows a step. */
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

/* x of the vector at o (`fill` past the range). */
template <int DT, int V>
__device__ __forceinline__ void bn_load_x(const mf_bn_args &a, int64_t o, double fill, double *xv) {
    if (o >= 0) {
        bn_load<DT, V>(a.x, a.dt, o, xv);
        return;
    }
#pragma unroll
    for (int k = 0; k < V; k++)
        xv[k] = fill;
}

/* x of one step's BN_U(V) vectors at offsets o (-1: none, read as `fill`),
 * every load issued before any is used. */
template <int DT, int V>
__device__ __forceinline__ void bn_load_xs(const mf_bn_args &a, const int64_t *o, double fill, double (*v)[V]) {
#pragma unroll
    for (int u = 0; u < BN_U(V); u++)
        bn_load_x<DT, V>(a, o[u], fill, v[u]);
}

/* g and x of vector u (x = `fill` past the range), g masked by a fused
 * relu's output: gy * [y > 0], the unfused relu backward's products. */
template <int DT, int V>
__device__ __forceinline__ void bn_load_gx(const mf_bn_args &a, int64_t o, double fill, double *gv, double *xv) {
    bn_load_x<DT, V>(a, o, fill, xv);
    if (o < 0) {
#pragma unroll
        for (int k = 0; k < V; k++)
            gv[k] = 0.0;
        return;
    }
    bn_load<DT, V>(a.g, a.dt, o, gv);
    if (a.ry) {
        double r[V];
        bn_load<DT, V>(a.ry, a.dt, o, r);
#pragma unroll
        for (int k = 0; k < V; k++)
            gv[k] *= r[k] > 0 ? 1.0 : 0.0;
    }
}

/* The two maps over one step's BN_U(V) vectors at offsets o (-1: none),
 * their loads issued first: y = (x - mean) * A + B (relu fused when
 * asked), and gx = g * A + (x - mean) * B + C. The constants are per
 * vector element: a channel's repeated (NCHW) or V channels' (channels-
 * last). */
template <int DT, int V>
__device__ __forceinline__ void bn_map_y(const mf_bn_args &a, const int64_t *o, const double *mean, const double *A,
                                         const double *B) {
    double v[BN_U(V)][V];
    bn_load_xs<DT, V>(a, o, 0.0, v);
#pragma unroll
    for (int u = 0; u < BN_U(V); u++)
        if (o[u] >= 0) {
#pragma unroll
            for (int q = 0; q < V; q++)
                v[u][q] = bn_out(a, (v[u][q] - mean[q]) * A[q] + B[q]);
            bn_store<DT, V>(a.y, a.dt, o[u], v[u]);
        }
}

template <int DT, int V>
__device__ __forceinline__ void bn_map_gx(const mf_bn_args &a, const int64_t *o, const double *mean, const double *A,
                                          const double *B, const double *C) {
    double gv[BN_U(V)][V], xv[BN_U(V)][V];
#pragma unroll
    for (int u = 0; u < BN_U(V); u++)
        bn_load_gx<DT, V>(a, o[u], 0.0, gv[u], xv[u]);
#pragma unroll
    for (int u = 0; u < BN_U(V); u++)
        if (o[u] >= 0) {
#pragma unroll
            for (int q = 0; q < V; q++)
                gv[u][q] = gv[u][q] * A[q] + (xv[u][q] - mean[q]) * B[q] + C[q];
            bn_store<DT, V>(a.gx, a.dt, o[u], gv[u]);
        }
}

/* V copies of x (one channel's constant for the maps above). */
template <int V> __device__ __forceinline__ void bn_splat(double x, double *k) {
#pragma unroll
    for (int q = 0; q < V; q++)
        k[q] = x;
}

/* Pass 1 of the forward (training): shifted sums of x per range. */
template <int DT, int PT, int V> __global__ void bn_stats_kernel(mf_bn_args a) {
    int64_t c, p, lo, hi;
    bn_range<V>(a, &c, &p, &lo, &hi);
    double k = XL(a.x, c * a.S), s1 = 0, s2 = 0;
    BN_LOOP(lo, hi, o) {
        double v[BN_U(V)][V];
        bn_load_xs<DT, V>(a, o, k, v);
#pragma unroll
        for (int u = 0; u < BN_U(V); u++)
#pragma unroll
            for (int q = 0; q < V; q++) {
                double d = v[u][q] - k;
                s1 += d;
                s2 += d * d;
            }
    }
    mf_block_sum2(s1, s2);
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
    double mean[V], A[V], B[V];
    bn_splat<V>(stat[0], mean);
    bn_splat<V>(stat[1] * PV(a.w, a.w_st, c, 1.0), A);
    bn_splat<V>(PV(a.b, a.b_st, c, 0.0), B);
    BN_LOOP(lo, hi, o) {
        bn_map_y<DT, V>(a, o, mean, A, B);
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
    mf_block_sum2(sg, sd);
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
    double mv[V], Av[V], Bv[V], Cv[V];
    bn_splat<V>(mean, mv);
    bn_splat<V>(A, Av);
    bn_splat<V>(B, Bv);
    bn_splat<V>(Cc, Cv);
    BN_LOOP(lo, hi, o) {
        bn_map_gx<DT, V>(a, o, mv, Av, Bv, Cv);
    }
}

/* ------------------------------------------- batch norm, channels-last */
/* Channels-last data (a.cl): x is M = N * S rows of C values, the channel
 * innermost. Every pass runs over tiles: a thread holds V consecutive
 * channels (one 16-byte vector of f32 or bf16 when C is a multiple of V
 * and the data aligned, else V = 1) and a block's NB threads are W vector
 * lanes by NB / W row lanes, so a warp reads whole stretches of a row, or
 * of consecutive rows when the row is narrower than the warp (coalesced,
 * as reading a channel at stride C per thread would not be). W is 32 for
 * single channels, else the power of two at least C / V (at most 32): the
 * ResNet widths 64 to 2048 leave no lane idle. Block b covers channel tile
 * b % tiles over row range b / tiles (a.parts ranges of the M rows).
 *
 * The sums: each thread sums its rows (shifted by the channel's first
 * value, in double, as the NCHW path), the row lanes are added in order in
 * shared memory, and a range's sums go to a.partial[(range * C + c) * 2].
 * A kernel with a thread per channel then adds the ranges in order
 * (deterministic) into the statistics and the per-channel constants
 * a.coef, which the map passes hold in registers over their rows. */

/* Vector lanes per row of C channels. */
template <int V> __host__ __device__ __forceinline__ int bn_cl_lanes(int64_t C) {
    int w = V == 1 ? 32 : 1;
    while (w < 32 && w * V < C)
        w *= 2;
    return w;
}

/* A thread's place: first channel c0 (c0 >= C: an idle lane), lanes W,
 * row lane rl, range p and its rows [lo, hi). */
typedef struct {
    int64_t c0, p, lo, hi;
    int W, rl;
} bn_cl_pos;

template <int V> __device__ __forceinline__ bn_cl_pos bn_cl_tile(const mf_bn_args &a) {
    bn_cl_pos t;
    t.W = bn_cl_lanes<V>(a.C);
    int64_t tiles = (a.C / V + t.W - 1) / t.W, M = a.N * a.S, L = (M + a.parts - 1) / a.parts;
    t.p = (int64_t)blockIdx.x / tiles;
    t.c0 = (((int64_t)blockIdx.x - t.p * tiles) * t.W + threadIdx.x % t.W) * V;
    t.rl = (int)(threadIdx.x / t.W);
    t.lo = t.p * L < M ? t.p * L : M;
    t.hi = t.lo + L < M ? t.lo + L : M;
    return t;
}

/* The thread's rows BN_U(V) at a time, their row lanes interleaved; o[u]:
 * the element offset of the thread's vector in row r + u * (NB / W), -1
 * past the range. */
#define CL_LOOP(t, o)                                                                                    \
    for (int64_t r = (t).lo + (t).rl, o[BN_U(V)]; r < (t).hi && bn_cl_offsets<V>(a, t, r, o); \
         r += (int64_t)BN_U(V) * (NB / (t).W))

template <int V>
__device__ __forceinline__ bool bn_cl_offsets(const mf_bn_args &a, const bn_cl_pos &t, int64_t r, int64_t *o) {
#pragma unroll
    for (int u = 0; u < BN_U(V); u++) {
        int64_t q = r + u * (NB / t.W);
        o[u] = q < t.hi ? q * a.C + t.c0 : -1;
    }
    return true;
}

/* Adds each of the thread's V channels' two sums over the block's row
 * lanes in lane order (every thread calls it); row lane 0 stores them as
 * range p's partials. */
template <int V>
__device__ __forceinline__ void bn_cl_put_partial(const mf_bn_args &a, const bn_cl_pos &t, const double *u,
                                                  const double *v) {
    __shared__ double su[NB], sv[NB];
    int lane = threadIdx.x % t.W;
#pragma unroll
    for (int k = 0; k < V; k++) {
        if (k > 0)
            __syncthreads();
        su[threadIdx.x] = u[k];
        sv[threadIdx.x] = v[k];
        __syncthreads();
        if (t.rl == 0 && t.c0 < a.C) {
            double s1 = 0, s2 = 0;
            for (int r = 0; r < NB / t.W; r++) {
                s1 += su[r * t.W + lane];
                s2 += sv[r * t.W + lane];
            }
            a.partial[(t.p * a.C + t.c0 + k) * 2] = s1;
            a.partial[(t.p * a.C + t.c0 + k) * 2 + 1] = s2;
        }
    }
}

/* Forward pass 1 (training): shifted sums of x per range and channel. */
template <int DT, int PT, int V> __global__ void bn_cl_stats_kernel(mf_bn_args a) {
    bn_cl_pos t = bn_cl_tile<V>(a);
    double k[V], s1[V] = {}, s2[V] = {};
    if (t.c0 < a.C) {
        bn_load<DT, V>(a.x, a.dt, t.c0, k);
        CL_LOOP(t, o) {
            double v[BN_U(V)][V];
            bn_load_xs<DT, V>(a, o, 0.0, v);
#pragma unroll
            for (int u = 0; u < BN_U(V); u++)
                if (o[u] >= 0) {
#pragma unroll
                    for (int q = 0; q < V; q++) {
                        double d = v[u][q] - k[q];
                        s1[q] += d;
                        s2[q] += d * d;
                    }
                }
        }
    }
    bn_cl_put_partial<V>(a, t, s1, s2);
}

/* Channel c's two sums added over the ranges, in range order. */
__device__ __forceinline__ void bn_cl_sum_partials(const mf_bn_args &a, int64_t c, double *u, double *v) {
    *u = 0, *v = 0;
    for (int64_t q = 0; q < a.parts; q++) {
        *u += a.partial[(q * a.C + c) * 2];
        *v += a.partial[(q * a.C + c) * 2 + 1];
    }
}

/* Forward, a thread per channel: the statistics (training: the ranges'
 * sums in order, running statistics blended; eval: the running ones),
 * then coef = (mean, invstd * w, b). */
template <int DT, int PT> __global__ void bn_cl_finish_kernel(mf_bn_args a) {
    int64_t c = (int64_t)blockIdx.x * NB + threadIdx.x, M = a.N * a.S;
    if (c >= a.C)
        return;
    double mean, invstd;
    if (a.training) {
        double s1, s2, k = XL(a.x, c);
        bn_cl_sum_partials(a, c, &s1, &s2);
        double d = s1 / (double)M, var = s2 / (double)M - d * d;
        if (var < 0)
            var = 0;
        mean = k + d;
        invstd = 1.0 / sqrt(var + a.eps);
        if (a.rm)
            mf_store<PT>(a.rm, PT, c * a.rm_st,
                         (1.0 - a.momentum) * mf_load<PT>(a.rm, PT, c * a.rm_st) + a.momentum * mean);
        if (a.rv)
            mf_store<PT>(a.rv, PT, c * a.rv_st,
                         (1.0 - a.momentum) * mf_load<PT>(a.rv, PT, c * a.rv_st) +
                             a.momentum * var * (double)M / (double)(M - 1));
    } else {
        mean = PV(a.rm, a.rm_st, c, 0.0);
        invstd = 1.0 / sqrt(PV(a.rv, a.rv_st, c, 1.0) + a.eps);
    }
    mf_store<PT>(a.mean, PT, c * a.mean_st, mean);
    mf_store<PT>(a.invstd, PT, c * a.invstd_st, invstd);
    a.coef[c * 4] = mean;
    a.coef[c * 4 + 1] = invstd * PV(a.w, a.w_st, c, 1.0);
    a.coef[c * 4 + 2] = PV(a.b, a.b_st, c, 0.0);
}

/* Field f of the coef of the thread's V channels. */
template <int V> __device__ __forceinline__ void bn_cl_coef(const mf_bn_args &a, int64_t c0, int f, double *k) {
#pragma unroll
    for (int q = 0; q < V; q++)
        k[q] = a.coef[(c0 + q) * 4 + f];
}

/* Forward map: y = (x - mean) * invstd * w + b (relu fused when asked). */
template <int DT, int PT, int V> __global__ void bn_cl_apply_kernel(mf_bn_args a) {
    bn_cl_pos t = bn_cl_tile<V>(a);
    if (t.c0 >= a.C)
        return;
    double mean[V], A[V], B[V];
    bn_cl_coef<V>(a, t.c0, 0, mean);
    bn_cl_coef<V>(a, t.c0, 1, A);
    bn_cl_coef<V>(a, t.c0, 2, B);
    CL_LOOP(t, o) {
        bn_map_y<DT, V>(a, o, mean, A, B);
    }
}

/* Backward pass 1: sums of g and g (x - mean) per range and channel. */
template <int DT, int PT, int V> __global__ void bn_cl_gstats_kernel(mf_bn_args a) {
    bn_cl_pos t = bn_cl_tile<V>(a);
    double sg[V] = {}, sd[V] = {};
    if (t.c0 < a.C) {
        double mean[V];
#pragma unroll
        for (int q = 0; q < V; q++)
            mean[q] = mf_load<PT>(a.mean, PT, (t.c0 + q) * a.mean_st);
        CL_LOOP(t, o) {
            double gv[BN_U(V)][V], xv[BN_U(V)][V];
#pragma unroll
            for (int u = 0; u < BN_U(V); u++)
                bn_load_gx<DT, V>(a, o[u], 0.0, gv[u], xv[u]);
#pragma unroll
            for (int u = 0; u < BN_U(V); u++)
                if (o[u] >= 0) {
#pragma unroll
                    for (int q = 0; q < V; q++) {
                        sg[q] += gv[u][q];
                        sd[q] += gv[u][q] * (xv[u][q] - mean[q]);
                    }
                }
        }
    }
    bn_cl_put_partial<V>(a, t, sg, sd);
}

/* Backward, a thread per channel: weight and bias gradients from the
 * ranges' sums (added in order), coef = (mean, A, B, Cc) of
 * gx = g A + (x - mean) B + Cc. */
template <int DT, int PT> __global__ void bn_cl_gfinish_kernel(mf_bn_args a) {
    int64_t c = (int64_t)blockIdx.x * NB + threadIdx.x, M = a.N * a.S;
    if (c >= a.C)
        return;
    double mean = mf_load<PT>(a.mean, PT, c * a.mean_st), invstd = mf_load<PT>(a.invstd, PT, c * a.invstd_st);
    double sg = 0, sd = 0;
    if (a.partial)
        bn_cl_sum_partials(a, c, &sg, &sd);
    if (a.gw)
        mf_store<PT>(a.gw, PT, c * a.gw_st, sd * invstd);
    if (a.gb)
        mf_store<PT>(a.gb, PT, c * a.gb_st, sg);
    double A = PV(a.w, a.w_st, c, 1.0) * invstd, B = 0, Cc = 0;
    if (a.training) {
        B = -A * invstd * invstd * sd / (double)M;
        Cc = -A * sg / (double)M;
    }
    a.coef[c * 4] = mean;
    a.coef[c * 4 + 1] = A;
    a.coef[c * 4 + 2] = B;
    a.coef[c * 4 + 3] = Cc;
}

/* Backward map: gx. */
template <int DT, int PT, int V> __global__ void bn_cl_grad_kernel(mf_bn_args a) {
    bn_cl_pos t = bn_cl_tile<V>(a);
    if (t.c0 >= a.C)
        return;
    double mean[V], A[V], B[V], Cc[V];
    bn_cl_coef<V>(a, t.c0, 0, mean);
    bn_cl_coef<V>(a, t.c0, 1, A);
    bn_cl_coef<V>(a, t.c0, 2, B);
    bn_cl_coef<V>(a, t.c0, 3, Cc);
    CL_LOOP(t, o) {
        bn_map_gx<DT, V>(a, o, mean, A, B, Cc);
    }
}

#undef CL_LOOP

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

/* Channels-last: the sums over (range, channel tile) blocks, the
 * per-channel kernel, then the map over the same blocks. */
template <int DT, int PT, int V> static void bn_cl_launch(cudaStream_t s, int backward, const mf_bn_args *a) {
    int64_t W = bn_cl_lanes<V>(a->C);
    unsigned tiles = (unsigned)((a->C / V + W - 1) / W * a->parts);
    unsigned chans = (unsigned)((a->C + NB - 1) / NB);
    if (backward) {
        if (a->partial)
            bn_cl_gstats_kernel<DT, PT, V><<<tiles, NB, 0, s>>>(*a);
        bn_cl_gfinish_kernel<DT, PT><<<chans, NB, 0, s>>>(*a);
        if (a->gx)
            bn_cl_grad_kernel<DT, PT, V><<<tiles, NB, 0, s>>>(*a);
    } else {
        if (a->training)
            bn_cl_stats_kernel<DT, PT, V><<<tiles, NB, 0, s>>>(*a);
        bn_cl_finish_kernel<DT, PT><<<chans, NB, 0, s>>>(*a);
        bn_cl_apply_kernel<DT, PT, V><<<tiles, NB, 0, s>>>(*a);
    }
}

/* 16-byte vectors for f32, bf16 and f16 when the data is aligned and every
 * row holds whole vectors: rows of S values (NCHW) or of C channels
 * (channels-last). */
template <int DT, int PT> static void bn_launch(cudaStream_t s, int backward, const mf_bn_args *a) {
    constexpr int VV = DT == MF_F32 || DT == MF_BF16 || DT == MF_F16 ? VEC_ELEMS(DT) : 1;
    bool vec = VV > 1 && (a->cl ? a->C : a->S) % VV == 0 && mf_aligned16(a->x) && mf_aligned16(a->y) &&
               mf_aligned16(a->g) && mf_aligned16(a->gx) && mf_aligned16(a->ry);
    if (a->cl && vec)
        bn_cl_launch<DT, PT, VV>(s, backward, a);
    else if (a->cl)
        bn_cl_launch<DT, PT, 1>(s, backward, a);
    else if (vec)
        bn_launch_v<DT, PT, VV>(s, backward, a);
    else
        bn_launch_v<DT, PT, 1>(s, backward, a);
}

extern "C" cudaError_t mf_cuda_launch_bn(cudaStream_t s, int dt, int backward, const mf_bn_args *a) {
    if (a->C == 0 || a->N * a->S == 0)
        return cudaSuccess;
    if (dt == MF_F64)
        bn_launch<MF_F64, MF_F64>(s, backward, a);
    else if (dt == MF_BF16)
        bn_launch<MF_BF16, MF_F32>(s, backward, a);
    else if (dt == MF_F16)
        bn_launch<MF_F16, MF_F32>(s, backward, a);
    else
        bn_launch<MF_F32, MF_F32>(s, backward, a);
    return cudaGetLastError();
}
