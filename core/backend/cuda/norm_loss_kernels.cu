/* Norm and loss kernels of the CUDA module (host side: norm.c, loss.c);
 * batch norm's are in batch_norm_kernels.cu. Row norm
 * (layer/group norm): one block per row, and a separate reduction over
 * rows for the weight and bias gradients. Softmax: a warp per row when the
 * dim is innermost, else a thread per column. Cross-entropy: a thread per
 * position (n, s), classes S apart, as in the CPU kernel. */
#include <math.h>

#include "core/backend/cuda/device_util.cuh"
#include "core/backend/cuda/nn_internal.h"

#define NB 256

template <typename T> __device__ __forceinline__ double pget(const T *p, int64_t st, int64_t i, double dflt) {
    return p ? (double)p[i * st] : dflt;
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
    mf_block_sum2(s1, s2);
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
    mf_block_sum2(s1, s2);
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
    mf_block_sum2(sw, sb);
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
