/* Index and random kernels of the CUDA module (host side: index.c,
 * random.c). gather: a thread per output element. scatter_add: a thread
 * per line along `dim`, adding in index order, so it needs no atomics and
 * is deterministic like the CPU kernel. cdist: a thread per output
 * element, its backward a thread per gradient element (fixed order).
 * Random: Philox4x32-10 with the stream layout of kern_random.h, one
 * element per thread. */
#include <math.h>

#include "core/backend/cuda/device_util.cuh"
#include "core/backend/cuda/index_internal.h"
#include "core/backend/kern_random.h"

/* ---------------------------------------------------------------- bounds */
/* res: a device-check record {count, value, position, size}; the first
 * failing thread (by count) writes the rest. */
__global__ void bounds_kernel(mf_cuda_layout L, const int64_t *idx, int64_t size, unsigned long long *res) {
    MF_GRID_LOOP(i, L.n) {
        int64_t off[1];
        mf_offsets<1>(L, i, off);
        int64_t v = idx[off[0]];
        if (v < 0 || v >= size) {
            if (atomicAdd(&res[0], 1ull) == 0ull) {
                res[1] = (unsigned long long)v;
                res[2] = (unsigned long long)i;
                res[3] = (unsigned long long)size;
            }
        }
    }
}

extern "C" cudaError_t mf_cuda_launch_bounds(cudaStream_t s, const mf_cuda_layout *L, const int64_t *idx, int64_t size,
                                             unsigned long long *res) {
    if (L->n > 0)
        bounds_kernel<<<mf_grid_for(L->n), MF_THREADS, 0, s>>>(*L, idx, size, res);
    return cudaGetLastError();
}

/* ---------------------------------------------------------------- gather */
template <typename T>
__global__ void gather_kernel(mf_cuda_layout L, T *out, const T *x, const int64_t *idx, int64_t size,
                              int64_t xdim_stride) {
    MF_GRID_LOOP(i, L.n) {
        int64_t off[3];
        mf_offsets<3>(L, i, off);
        int64_t v = idx[off[1]];
        out[off[0]] = v >= 0 && v < size ? x[off[2] + v * xdim_stride] : (T)0; /* bad: reported by bounds */
    }
}

extern "C" cudaError_t mf_cuda_launch_gather(cudaStream_t s, const mf_cuda_layout *L, int esize, void *out,
                                             const void *x, const int64_t *idx, int64_t size, int64_t xdim_stride) {
    if (L->n == 0)
        return cudaSuccess;
    unsigned g = mf_grid_for(L->n);
    switch (esize) {
    case 1:
        gather_kernel<uint8_t><<<g, MF_THREADS, 0, s>>>(*L, (uint8_t *)out, (const uint8_t *)x, idx, size, xdim_stride);
        break;
    case 2:
        gather_kernel<uint16_t><<<g, MF_THREADS, 0, s>>>(*L, (uint16_t *)out, (const uint16_t *)x, idx, size, xdim_stride);
        break;
    case 4:
        gather_kernel<uint32_t><<<g, MF_THREADS, 0, s>>>(*L, (uint32_t *)out, (const uint32_t *)x, idx, size, xdim_stride);
        break;
    default:
        gather_kernel<uint64_t><<<g, MF_THREADS, 0, s>>>(*L, (uint64_t *)out, (const uint64_t *)x, idx, size, xdim_stride);
        break;
    }
    return cudaGetLastError();
}

/* ----------------------------------------------------------- scatter_add */
/* Layout ops: index, src, out (out's stride along dim left out). */
template <int DT>
__global__ void scatter_kernel(mf_cuda_layout L, int dt, void *out, const void *src, const int64_t *idx, int64_t len,
                               int64_t size, int64_t isd, int64_t ssd, int64_t osd) {
    MF_GRID_LOOP(l, L.n) {
        int64_t off[3];
        mf_offsets<3>(L, l, off);
        for (int64_t i = 0; i < len; i++) {
            int64_t v = idx[off[0] + i * isd];
            if (v < 0 || v >= size)
                continue; /* reported by bounds */
            int64_t o = off[2] + v * osd;
            mf_store<DT>(out, dt, o, mf_load<DT>(out, dt, o) + mf_load<DT>(src, dt, off[1] + i * ssd));
        }
    }
}

extern "C" cudaError_t mf_cuda_launch_scatter_add(cudaStream_t s, const mf_cuda_layout *L, int dt, void *out,
                                                  const void *src, const int64_t *idx, int64_t len, int64_t size,
                                                  int64_t isd, int64_t ssd, int64_t osd) {
    if (L->n == 0 || len == 0)
        return cudaSuccess;
    unsigned g = mf_grid_for(L->n);
    if (dt == MF_F32)
        scatter_kernel<MF_F32><<<g, MF_THREADS, 0, s>>>(*L, dt, out, src, idx, len, size, isd, ssd, osd);
    else if (dt == MF_F64)
        scatter_kernel<MF_F64><<<g, MF_THREADS, 0, s>>>(*L, dt, out, src, idx, len, size, isd, ssd, osd);
    else
        scatter_kernel<MF_DYN><<<g, MF_THREADS, 0, s>>>(*L, dt, out, src, idx, len, size, isd, ssd, osd);
    return cudaGetLastError();
}

/* ----------------------------------------------------------------- cdist */
__device__ __forceinline__ void batch_offsets(const mf_cdist_args &a, int64_t bi, int64_t *o) {
    for (int k = 0; k < 4; k++)
        o[k] = 0;
    for (int d = a.nb - 1; d >= 0; d--) {
        int64_t c = bi % a.bshape[d];
        bi /= a.bshape[d];
        for (int k = 0; k < 4; k++)
            o[k] += c * a.bst[k][d];
    }
}

template <typename T> __global__ void cdist_kernel(mf_cdist_args a, T *out, const T *A, const T *B) {
    MF_GRID_LOOP(i, a.batch * a.N * a.M) {
        int64_t m = i % a.M, r = i / a.M, n = r % a.N, bi = r / a.N, o[4];
        batch_offsets(a, bi, o);
        double s = 0;
        for (int64_t k = 0; k < a.D; k++) {
            double t = (double)A[o[0] + n * a.as0 + k * a.as1] - (double)B[o[1] + m * a.bs0 + k * a.bs1];
            s += a.l1 ? fabs(t) : t * t;
        }
        out[o[2] + n * a.os0 + m * a.os1] = (T)(a.l1 ? s : sqrt(s));
    }
}

/* grad (contiguous, rows of D) of `self` (a when is_a, else b). */
template <typename T>
__global__ void cdist_bwd_kernel(mf_cdist_args a, int is_a, T *grad, const T *A, const T *B, const T *G, const T *Dd) {
    int64_t nself = is_a ? a.N : a.M, nother = is_a ? a.M : a.N;
    const T *S = is_a ? A : B, *P = is_a ? B : A;
    int64_t ss0 = is_a ? a.as0 : a.bs0, ss1 = is_a ? a.as1 : a.bs1, ps0 = is_a ? a.bs0 : a.as0,
            ps1 = is_a ? a.bs1 : a.as1;
    MF_GRID_LOOP(e, a.batch * nself * a.D) {
        int64_t k = e % a.D, row = e / a.D, i = row % nself, bi = row / nself, o[4];
        batch_offsets(a, bi, o);
        int64_t so = is_a ? o[0] : o[1], po = is_a ? o[1] : o[0];
        double acc = 0, sv = (double)S[so + i * ss0 + k * ss1];
        for (int64_t q = 0; q < nother; q++) {
            int64_t gi = o[2] + (is_a ? i * a.os0 + q * a.os1 : q * a.os0 + i * a.os1);
            int64_t di = o[3] + (is_a ? i * a.ds0 + q * a.ds1 : q * a.ds0 + i * a.ds1);
            double gv = (double)G[gi], dv = (double)Dd[di];
            if (gv == 0 || (!a.l1 && dv == 0))
                continue;
            double w = a.l1 ? gv : gv / dv;
            double t = sv - (double)P[po + q * ps0 + k * ps1];
            acc += a.l1 ? w * (double)((t > 0) - (t < 0)) : w * t;
        }
        grad[e] = (T)acc;
    }
}

extern "C" cudaError_t mf_cuda_launch_cdist(cudaStream_t s, int dt, const mf_cdist_args *a, void *out, const void *A,
                                            const void *B) {
    int64_t n = a->batch * a->N * a->M;
    if (n == 0)
        return cudaSuccess;
    if (dt == MF_F64)
        cdist_kernel<double>
            <<<mf_grid_for(n), MF_THREADS, 0, s>>>(*a, (double *)out, (const double *)A, (const double *)B);
    else
        cdist_kernel<float><<<mf_grid_for(n), MF_THREADS, 0, s>>>(*a, (float *)out, (const float *)A, (const float *)B);
    return cudaGetLastError();
}

extern "C" cudaError_t mf_cuda_launch_cdist_bwd(cudaStream_t s, int dt, const mf_cdist_args *a, int is_a, void *grad,
                                                const void *A, const void *B, const void *G, const void *D) {
    int64_t n = a->batch * (is_a ? a->N : a->M) * a->D;
    if (n == 0)
        return cudaSuccess;
    if (dt == MF_F64)
        cdist_bwd_kernel<double><<<mf_grid_for(n), MF_THREADS, 0, s>>>(
            *a, is_a, (double *)grad, (const double *)A, (const double *)B, (const double *)G, (const double *)D);
    else
        cdist_bwd_kernel<float><<<mf_grid_for(n), MF_THREADS, 0, s>>>(
            *a, is_a, (float *)grad, (const float *)A, (const float *)B, (const float *)G, (const float *)D);
    return cudaGetLastError();
}

/* ---------------------------------------------------------------- random */
__device__ __forceinline__ void philox(uint64_t key, uint64_t ctr_hi, uint64_t ctr_lo, uint32_t out[4]) {
    uint32_t c0 = (uint32_t)ctr_lo, c1 = (uint32_t)(ctr_lo >> 32), c2 = (uint32_t)ctr_hi, c3 = (uint32_t)(ctr_hi >> 32);
    uint32_t k0 = (uint32_t)key, k1 = (uint32_t)(key >> 32);
#pragma unroll
    for (int r = 0; r < 10; r++) {
        if (r) {
            k0 += 0x9E3779B9u;
            k1 += 0xBB67AE85u;
        }
        uint32_t lo0 = 0xD2511F53u * c0, hi0 = __umulhi(0xD2511F53u, c0);
        uint32_t lo1 = 0xCD9E8D57u * c2, hi1 = __umulhi(0xCD9E8D57u, c2);
        c0 = hi1 ^ c1 ^ k0;
        c1 = lo1;
        c2 = hi0 ^ c3 ^ k1;
        c3 = lo0;
    }
    out[0] = c0;
    out[1] = c1;
    out[2] = c2;
    out[3] = c3;
}

__device__ __forceinline__ double unit(const uint32_t *w, int wpe, int open) {
    if (wpe == 1)
        return ((double)(w[0] >> 8) + (open ? 0.5 : 0.0)) * 0x1p-24;
    uint64_t x = ((uint64_t)w[0] << 32 | w[1]) >> 11;
    return ((double)x + (open ? 0.5 : 0.0)) * 0x1p-53;
}

__device__ __forceinline__ double normal_at(uint64_t seed, uint64_t offset, int wpe, int per, uint64_t attempt,
                                            int64_t i) {
    uint32_t w[4];
    philox(seed, attempt, offset + (uint64_t)i / (uint64_t)per, w);
    const uint32_t *pw = w + (int)((i % per) / 2) * 2 * wpe;
    double u1 = unit(pw, wpe, 1), u2 = unit(pw + wpe, wpe, 0);
    double r = sqrt(-2.0 * log(u1));
    return (i % 2) ? r * sin(6.28318530717958647692 * u2) : r * cos(6.28318530717958647692 * u2);
}

template <typename T>
__global__ void random_kernel(mf_cuda_layout L, int kind, T *p, uint64_t seed, uint64_t offset, int wpe, double p0,
                              double p1, double p2, double p3) {
    int per = 4 / wpe;
    MF_GRID_LOOP(i, L.n) {
        int64_t off[1];
        mf_offsets<1>(L, i, off);
        uint32_t w[4];
        double v = 0;
        switch (kind) {
        case MF_RAND_UNIFORM:
            philox(seed, 0, offset + (uint64_t)i / (uint64_t)per, w);
            v = fma(p1 - p0, unit(w + (i % per) * wpe, wpe, 0), p0); /* as the CPU's, bit for bit */
            break;
        case MF_RAND_NORMAL:
            v = p0 + p1 * normal_at(seed, offset, wpe, per, 0, i);
            break;
        case MF_RAND_GUMBEL:
            philox(seed, 0, offset + (uint64_t)i / (uint64_t)per, w);
            v = p0 - p1 * log(-log(unit(w + (i % per) * wpe, wpe, 1)));
            break;
        case MF_RAND_TRUNC_NORMAL: {
            bool ok = false;
            for (uint64_t k = 0; k < MF_RAND_MAX_ATTEMPTS && !ok; k++) {
                v = p0 + p1 * normal_at(seed, offset, wpe, per, k, i);
                ok = v >= p2 && v <= p3;
            }
            if (!ok)
                v = v < p2 ? p2 : p3;
        } break;
        default:
            philox(seed, 0, offset + (uint64_t)i / 4, w);
            v = unit(w + i % 4, 1, 0) >= p0 ? p1 : 0.0;
            break;
        }
        T t = (T)v;
        if (sizeof(T) == 4 && kind == MF_RAND_UNIFORM && t >= (T)p1 && (T)p1 > (T)p0)
            t = (T)nextafterf((float)p1, (float)p0); /* f32 rounding must not reach the open end */
        p[off[0]] = t;
    }
}

extern "C" cudaError_t mf_cuda_launch_random(cudaStream_t s, const mf_cuda_layout *L, int dt, int kind, void *p,
                                             uint64_t seed, uint64_t offset, const double prm[4]) {
    if (L->n == 0)
        return cudaSuccess;
    int wpe = mf_rand_words_per_elem((mf_rand_kind)kind, (mf_dtype)dt);
    if (dt == MF_F64)
        random_kernel<double><<<mf_grid_for(L->n), MF_THREADS, 0, s>>>(*L, kind, (double *)p, seed, offset, wpe, prm[0],
                                                                       prm[1], prm[2], prm[3]);
    else
        random_kernel<float><<<mf_grid_for(L->n), MF_THREADS, 0, s>>>(*L, kind, (float *)p, seed, offset, wpe, prm[0],
                                                                      prm[1], prm[2], prm[3]);
    return cudaGetLastError();
}
