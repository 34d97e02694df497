/* Fused (flash-style) attention kernels (host side: attention_flash.c).
 * A block is 8 warps; in every kernel warp w owns one query row of a tile
 * of 8 rows and lane j one key of a tile of 32 keys, so a thread computes
 * one score s = scale q.k + bias at a time from shared-memory tiles (f32,
 * whatever the storage dtype) and the Lq x Lk matrix never exists.
 * Forward: an online softmax over the key tiles (running max m and sum l
 * per row), out = acc / l and lse = m + log l. Backward, after the
 * forward's rule P = exp(s - lse): the dQ kernel (a block per query tile)
 * also writes delta = rowsum(dO O) and adds dS = P (dP - delta) into the
 * bias gradient; the dK/dV kernel (a block per key tile) reads delta and
 * walks the query tiles. No atomics but the bias gradient's. A row whose
 * scores are all -inf has lse -inf, P 0: output 0, gradients 0. */
#include <math.h>

#include "core/backend/cuda/device_util.cuh"
#include "core/backend/cuda/nn_internal.h"

#define FL_BQ 8   /* query rows per tile: one per warp */
#define FL_BK 32  /* keys per tile: one per lane */
#define FL_THREADS (FL_BQ * 32)
#define FL_MAXD MF_FLASH_MAX_DIM
#define FL_PAD (FL_MAXD + 1) /* rows read across lanes: no bank conflicts */
#define FL_RC (FL_MAXD / 32) /* head-dim columns per lane */

/* rows [r0, r0 + nr) of a (L, d) head at base (elements) into dst (row
 * pitch `pitch`), zeros past L. */
template <int DT>
__device__ __forceinline__ void fl_tile(float *dst, int pitch, int nr, const void *src, int64_t base, int64_t r0,
                                        int64_t L, int64_t d) {
    for (int64_t e = threadIdx.x; e < nr * d; e += blockDim.x) {
        int64_t r = e / d, c = e - r * d;
        dst[r * pitch + c] = r0 + r < L ? mf_ld_f<DT>(src, base + (r0 + r) * d + c) : 0.0f;
    }
}

__device__ __forceinline__ float fl_warp_max(float v) {
    for (int o = 16; o > 0; o >>= 1) {
        float u = __shfl_xor_sync(0xffffffffu, v, o);
        v = u > v ? u : v;
    }
    return v;
}

__device__ __forceinline__ float fl_warp_sum(float v) {
    for (int o = 16; o > 0; o >>= 1)
        v += __shfl_xor_sync(0xffffffffu, v, o);
    return v;
}

/* The score of query row i (tile row w) and key j (tile row `lane` of sk). */
template <int DT>
__device__ __forceinline__ float fl_score(const mf_flash_args &a, const float *qrow, const float *krow, int64_t b,
                                          int64_t h, int64_t i, int64_t j) {
    float dot = 0;
    for (int64_t c = 0; c < a.D; c++)
        dot += qrow[c] * krow[c];
    float s = dot * a.scale;
    if (a.bias)
        s += mf_ld_f<DT>(a.bias, b * a.bst[0] + h * a.bst[1] + i * a.bst[2] + j * a.bst[3]);
    return s;
}

/* This block's tile: blocks run over (batch x head) x ceil(L / T) tiles of
 * T rows; bh = b * H + h, and r0 is the tile's first row. */
struct fl_pos {
    int64_t bh, b, h, r0;
};
__device__ __forceinline__ fl_pos fl_block_pos(int64_t L, int64_t T, int64_t H) {
    int64_t tiles = (L + T - 1) / T;
    fl_pos p;
    p.bh = blockIdx.x / tiles;
    p.r0 = (int64_t)(blockIdx.x % tiles) * T;
    p.b = p.bh / H;
    p.h = p.bh % H;
    return p;
}

template <int DT> __global__ void flash_fwd_kernel(mf_flash_args a) {
    __shared__ float sq[FL_BQ][FL_MAXD], sk[FL_BK][FL_PAD], sv[FL_BK][FL_MAXD], sp[FL_BQ][FL_BK];
    const fl_pos pos = fl_block_pos(a.Lq, FL_BQ, a.H);
    const int64_t bh = pos.bh, b = pos.b, h = pos.h, q0 = pos.r0;
    int w = threadIdx.x >> 5, lane = threadIdx.x & 31;
    int64_t i = q0 + w;
    bool row = i < a.Lq;
    fl_tile<DT>(&sq[0][0], FL_MAXD, FL_BQ, a.q, bh * a.Lq * a.D, q0, a.Lq, a.D);
    float m = -INFINITY, l = 0, acc[FL_RC];
#pragma unroll
    for (int r = 0; r < FL_RC; r++)
        acc[r] = 0;
    for (int64_t k0 = 0; k0 < a.Lk; k0 += FL_BK) {
        __syncthreads(); /* the previous tile is no longer read */
        fl_tile<DT>(&sk[0][0], FL_PAD, FL_BK, a.k, bh * a.Lk * a.D, k0, a.Lk, a.D);
        fl_tile<DT>(&sv[0][0], FL_MAXD, FL_BK, a.v, bh * a.Lk * a.Dv, k0, a.Lk, a.Dv);
        __syncthreads();
        int64_t j = k0 + lane;
        float s = row && j < a.Lk ? fl_score<DT>(a, sq[w], sk[lane], b, h, i, j) : -INFINITY;
        float mn = fl_warp_max(s);
        mn = m > mn ? m : mn;
        /* mn is -inf only while every score so far is -inf: p and l stay 0 */
        float p = s == -INFINITY ? 0.0f : expf(s - mn);
        float alpha = m == -INFINITY ? 0.0f : expf(m - mn);
        l = l * alpha + fl_warp_sum(p);
        m = mn;
        sp[w][lane] = p;
        __syncthreads();
        int nk = a.Lk - k0 < FL_BK ? (int)(a.Lk - k0) : FL_BK;
#pragma unroll
        for (int r = 0; r < FL_RC; r++) {
            int c = lane + 32 * r;
            if (c < a.Dv) {
                float t = acc[r] * alpha;
                for (int jj = 0; jj < nk; jj++)
                    t += sp[w][jj] * sv[jj][c];
                acc[r] = t;
            }
        }
    }
    if (!row)
        return;
    float inv = l > 0 ? 1.0f / l : 0.0f;
#pragma unroll
    for (int r = 0; r < FL_RC; r++) {
        int c = lane + 32 * r;
        if (c < a.Dv)
            mf_st_f<DT>(a.out, (bh * a.Lq + i) * a.Dv + c, acc[r] * inv);
    }
    if (lane == 0)
        a.lse[bh * a.Lq + i] = l > 0 ? m + logf(l) : -INFINITY;
}

/* dQ = scale sum_j dS K, delta, and the bias gradient. */
template <int DT> __global__ void flash_bwd_dq_kernel(mf_flash_args a) {
    __shared__ float sq[FL_BQ][FL_MAXD], sdo[FL_BQ][FL_MAXD], sk[FL_BK][FL_PAD], sv[FL_BK][FL_PAD],
        sds[FL_BQ][FL_BK];
    const fl_pos pos = fl_block_pos(a.Lq, FL_BQ, a.H);
    const int64_t bh = pos.bh, b = pos.b, h = pos.h, q0 = pos.r0;
    int w = threadIdx.x >> 5, lane = threadIdx.x & 31;
    int64_t i = q0 + w;
    bool row = i < a.Lq;
    fl_tile<DT>(&sq[0][0], FL_MAXD, FL_BQ, a.q, bh * a.Lq * a.D, q0, a.Lq, a.D);
    fl_tile<DT>(&sdo[0][0], FL_MAXD, FL_BQ, a.gout, bh * a.Lq * a.Dv, q0, a.Lq, a.Dv);
    __syncthreads();
    float dl = 0;
    if (row)
        for (int64_t c = lane; c < a.Dv; c += 32)
            dl += sdo[w][c] * mf_ld_f<DT>(a.out, (bh * a.Lq + i) * a.Dv + c);
    dl = fl_warp_sum(dl);
    if (row && lane == 0)
        a.delta[bh * a.Lq + i] = dl;
    float lse = row ? a.lse[bh * a.Lq + i] : -INFINITY;
    float dq[FL_RC];
#pragma unroll
    for (int r = 0; r < FL_RC; r++)
        dq[r] = 0;
    for (int64_t k0 = 0; k0 < a.Lk; k0 += FL_BK) {
        __syncthreads();
        fl_tile<DT>(&sk[0][0], FL_PAD, FL_BK, a.k, bh * a.Lk * a.D, k0, a.Lk, a.D);
        fl_tile<DT>(&sv[0][0], FL_PAD, FL_BK, a.v, bh * a.Lk * a.Dv, k0, a.Lk, a.Dv);
        __syncthreads();
        int64_t j = k0 + lane;
        float ds = 0;
        if (row && j < a.Lk && lse != -INFINITY) {
            float s = fl_score<DT>(a, sq[w], sk[lane], b, h, i, j);
            if (s != -INFINITY) {
                float dp = 0;
                for (int64_t c = 0; c < a.Dv; c++)
                    dp += sdo[w][c] * sv[lane][c];
                ds = expf(s - lse) * (dp - dl);
            }
        }
        if (a.gbias && ds != 0)
            atomicAdd(a.gbias + b * a.gbst[0] + h * a.gbst[1] + i * a.gbst[2] + j * a.gbst[3], ds);
        sds[w][lane] = ds;
        __syncthreads();
        int nk = a.Lk - k0 < FL_BK ? (int)(a.Lk - k0) : FL_BK;
#pragma unroll
        for (int r = 0; r < FL_RC; r++) {
            int c = lane + 32 * r;
            if (c < a.D) {
                float t = dq[r];
                for (int jj = 0; jj < nk; jj++)
                    t += sds[w][jj] * sk[jj][c];
                dq[r] = t;
            }
        }
    }
    if (!row || !a.gq)
        return;
#pragma unroll
    for (int r = 0; r < FL_RC; r++) {
        int c = lane + 32 * r;
        if (c < a.D)
            mf_st_f<DT>(a.gq, (bh * a.Lq + i) * a.D + c, dq[r] * a.scale);
    }
}

/* dV = sum_i P dO and dK = scale sum_i dS Q for a tile of keys; warp w
 * accumulates keys 4w .. 4w + 3 of the tile. */
#define FL_KW (FL_BK / FL_BQ)
template <int DT> __global__ void flash_bwd_dkv_kernel(mf_flash_args a) {
    __shared__ float sq[FL_BQ][FL_MAXD], sdo[FL_BQ][FL_MAXD], sk[FL_BK][FL_PAD], sv[FL_BK][FL_PAD],
        sp[FL_BQ][FL_BK], sds[FL_BQ][FL_BK];
    const fl_pos pos = fl_block_pos(a.Lk, FL_BK, a.H);
    const int64_t bh = pos.bh, b = pos.b, h = pos.h, k0 = pos.r0;
    int w = threadIdx.x >> 5, lane = threadIdx.x & 31;
    int64_t j = k0 + lane;
    fl_tile<DT>(&sk[0][0], FL_PAD, FL_BK, a.k, bh * a.Lk * a.D, k0, a.Lk, a.D);
    fl_tile<DT>(&sv[0][0], FL_PAD, FL_BK, a.v, bh * a.Lk * a.Dv, k0, a.Lk, a.Dv);
    float dk[FL_KW][FL_RC], dv[FL_KW][FL_RC];
#pragma unroll
    for (int kk = 0; kk < FL_KW; kk++)
#pragma unroll
        for (int r = 0; r < FL_RC; r++)
            dk[kk][r] = dv[kk][r] = 0;
    for (int64_t q0 = 0; q0 < a.Lq; q0 += FL_BQ) {
        __syncthreads();
        fl_tile<DT>(&sq[0][0], FL_MAXD, FL_BQ, a.q, bh * a.Lq * a.D, q0, a.Lq, a.D);
        fl_tile<DT>(&sdo[0][0], FL_MAXD, FL_BQ, a.gout, bh * a.Lq * a.Dv, q0, a.Lq, a.Dv);
        __syncthreads();
        int64_t i = q0 + w;
        float p = 0, ds = 0;
        float lse = i < a.Lq ? a.lse[bh * a.Lq + i] : -INFINITY;
        if (j < a.Lk && lse != -INFINITY) {
            float s = fl_score<DT>(a, sq[w], sk[lane], b, h, i, j);
            if (s != -INFINITY) {
                float dp = 0;
                for (int64_t c = 0; c < a.Dv; c++)
                    dp += sdo[w][c] * sv[lane][c];
                p = expf(s - lse);
                ds = p * (dp - a.delta[bh * a.Lq + i]);
            }
        }
        sp[w][lane] = p;
        sds[w][lane] = ds;
        __syncthreads();
        int nq = a.Lq - q0 < FL_BQ ? (int)(a.Lq - q0) : FL_BQ;
#pragma unroll
        for (int kk = 0; kk < FL_KW; kk++) {
            int jl = w * FL_KW + kk;
#pragma unroll
            for (int r = 0; r < FL_RC; r++) {
                int c = lane + 32 * r;
                float tv = dv[kk][r], tk = dk[kk][r];
                for (int ii = 0; ii < nq; ii++) {
                    tv += sp[ii][jl] * sdo[ii][c]; /* past Dv or D: unused */
                    tk += sds[ii][jl] * sq[ii][c];
                }
                dv[kk][r] = tv;
                dk[kk][r] = tk;
            }
        }
    }
#pragma unroll
    for (int kk = 0; kk < FL_KW; kk++) {
        int64_t jk = k0 + w * FL_KW + kk;
        if (jk >= a.Lk)
            continue;
#pragma unroll
        for (int r = 0; r < FL_RC; r++) {
            int c = lane + 32 * r;
            if (a.gk && c < a.D)
                mf_st_f<DT>(a.gk, (bh * a.Lk + jk) * a.D + c, dk[kk][r] * a.scale);
            if (a.gv && c < a.Dv)
                mf_st_f<DT>(a.gv, (bh * a.Lk + jk) * a.Dv + c, dv[kk][r]);
        }
    }
}

template <int DT> static void flash_launch(cudaStream_t s, int backward, const mf_flash_args *a) {
    int64_t bh = a->B * a->H;
    int64_t qblocks = bh * ((a->Lq + FL_BQ - 1) / FL_BQ), kblocks = bh * ((a->Lk + FL_BK - 1) / FL_BK);
    if (!backward) {
        if (qblocks)
            flash_fwd_kernel<DT><<<(unsigned)qblocks, FL_THREADS, 0, s>>>(*a);
        return;
    }
    if (qblocks)
        flash_bwd_dq_kernel<DT><<<(unsigned)qblocks, FL_THREADS, 0, s>>>(*a);
    if (kblocks && (a->gk || a->gv))
        flash_bwd_dkv_kernel<DT><<<(unsigned)kblocks, FL_THREADS, 0, s>>>(*a);
}

extern "C" cudaError_t mf_cuda_launch_flash(cudaStream_t s, int dt, int backward, const mf_flash_args *a) {
    if (dt == MF_F32)
        flash_launch<MF_F32>(s, backward, a);
    else if (dt == MF_BF16)
        flash_launch<MF_BF16>(s, backward, a);
    else if (dt == MF_F16)
        flash_launch<MF_F16>(s, backward, a);
    else
        return cudaErrorInvalidValue;
    return cudaGetLastError();
}
