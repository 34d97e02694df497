/* Reduction kernels of the CUDA module (host side and the choice between
 * them: reduce_sum.c). One accumulator kind per launch (sum, max/min with
 * NaN propagating, squared or exp deviations from a per-output center,
 * norms), merged in double in a fixed order, so results do not depend on
 * scheduling; the finish step follows core/backend/cpu/reduce.c. */
#include "core/backend/cuda/device_util.cuh"

__device__ __forceinline__ double red_init(int kind) {
    return kind == MF_RED_MAX ? -INFINITY : kind == MF_RED_MIN ? INFINITY : 0.0;
}

__device__ __forceinline__ double red_elem(const mf_cuda_red_args &A, double v, int64_t o) {
    switch (A.kind) {
    case MF_RED_SQDEV: {
        double d = v - A.center[o];
        return d * d;
    }
    case MF_RED_EXPDEV: return exp(v - A.center[o]);
    case MF_RED_ABSSUM:
    case MF_RED_ABSMAX: return fabs(v);
    case MF_RED_SQSUM: return v * v;
    case MF_RED_POWSUM: return pow(fabs(v), A.arg);
    default: return v;
    }
}

/* The first NaN met stays: max/min propagate NaN like the CPU. */
__device__ __forceinline__ double red_merge(int kind, double a, double b) {
    switch (kind) {
    case MF_RED_MAX:
    case MF_RED_ABSMAX: return isnan(a) ? a : (isnan(b) || b > a) ? b : a;
    case MF_RED_MIN: return isnan(a) ? a : (isnan(b) || b < a) ? b : a;
    default: return a + b;
    }
}

__device__ __forceinline__ void red_store(const mf_cuda_red_args &A, int odt, void *out, int64_t o, int64_t oo,
                                          double acc) {
    switch (A.fin) {
    case MF_FIN_DIV: acc = acc / A.arg; break;
    case MF_FIN_LSE: {
        double c = A.center[o];
        acc = (isinf(c) || isnan(c)) ? c : c + log(acc);
        break;
    }
    case MF_FIN_SQRT: acc = sqrt(acc); break;
    case MF_FIN_ROOT: acc = pow(acc, 1.0 / A.arg); break;
    default: break;
    }
    if (A.result)
        A.result[o] = acc;
    else
        mf_store_dyn(out, odt, oo, acc);
}

/* x and out offsets of output o, and x offset of reduced element r. */
__device__ __forceinline__ void kept_offsets(const mf_cuda_sum_plan &P, int64_t o, int64_t *xo, int64_t *oo) {
    int64_t a = 0, b = 0;
    for (int d = P.nk - 1; d >= 0; d--) {
        int64_t q = o / P.kshape[d], c = o - q * P.kshape[d];
        o = q;
        a += c * P.kx[d];
        b += c * P.ko[d];
    }
    *xo = a;
    *oo = b;
}

__device__ __forceinline__ int64_t reduced_offset(const mf_cuda_sum_plan &P, int64_t r) {
    int64_t a = 0;
    for (int d = P.nr - 1; d >= 0; d--) {
        int64_t q = r / P.rshape[d], c = r - q * P.rshape[d];
        r = q;
        a += c * P.rx[d];
    }
    return a;
}

template <int DT>
__global__ void sum_by_thread(mf_cuda_sum_plan P, mf_cuda_red_args A, int xdt, const void *x, int odt, void *out) {
    MF_GRID_LOOP(o, P.nout) {
        int64_t xo, oo;
        kept_offsets(P, o, &xo, &oo);
        double acc = red_init(A.kind);
        for (int64_t r = 0; r < P.nred; r++)
            acc = red_merge(A.kind, acc, red_elem(A, mf_load<DT>(x, xdt, xo + reduced_offset(P, r)), o));
        red_store(A, odt, out, o, oo, acc);
    }
}

/* Block b sums chunk (b % chunks) of output (b / chunks); with one chunk it
 * stores the result, otherwise a partial for sum_partials. */
template <int DT>
__global__ void sum_by_block(mf_cuda_sum_plan P, mf_cuda_red_args A, int xdt, const void *x, int odt, void *out,
                             int chunks, double *partial) {
    __shared__ double warp_sums[MF_THREADS / 32];
    int64_t nblocks = P.nout * chunks;
    int64_t per = (P.nred + chunks - 1) / chunks;
    for (int64_t b = blockIdx.x; b < nblocks; b += gridDim.x) {
        int64_t o = b / chunks, c = b - o * chunks;
        int64_t xo, oo;
        kept_offsets(P, o, &xo, &oo);
        int64_t r0 = c * per, r1 = r0 + per < P.nred ? r0 + per : P.nred;
        double acc = red_init(A.kind);
        for (int64_t r = r0 + threadIdx.x; r < r1; r += blockDim.x)
            acc = red_merge(A.kind, acc, red_elem(A, mf_load<DT>(x, xdt, xo + reduced_offset(P, r)), o));
        for (int k = 16; k > 0; k >>= 1)
            acc = red_merge(A.kind, acc, __shfl_down_sync(0xffffffffu, acc, k));
        if ((threadIdx.x & 31) == 0)
            warp_sums[threadIdx.x >> 5] = acc;
        __syncthreads();
        if (threadIdx.x == 0) {
            double t = red_init(A.kind);
            for (int w = 0; w < MF_THREADS / 32; w++)
                t = red_merge(A.kind, t, warp_sums[w]);
            if (chunks == 1)
                red_store(A, odt, out, o, oo, t);
            else
                partial[b] = t;
        }
        __syncthreads(); /* warp_sums is reused by the next b */
    }
}

__global__ void sum_partials(mf_cuda_sum_plan P, mf_cuda_red_args A, int odt, void *out, int chunks,
                             const double *partial) {
    MF_GRID_LOOP(o, P.nout) {
        int64_t xo, oo;
        kept_offsets(P, o, &xo, &oo);
        double t = red_init(A.kind);
        for (int c = 0; c < chunks; c++)
            t = red_merge(A.kind, t, partial[o * chunks + c]);
        red_store(A, odt, out, o, oo, t);
    }
}

extern "C" cudaError_t mf_cuda_launch_reduce(cudaStream_t s, const mf_cuda_sum_plan *P, const mf_cuda_red_args *A,
                                             int x_dt, const void *x, int out_dt, void *out, int by_thread, int chunks,
                                             double *partial) {
    if (by_thread) {
        unsigned g = mf_grid_for(P->nout);
        if (x_dt == MF_F32)
            sum_by_thread<MF_F32><<<g, MF_THREADS, 0, s>>>(*P, *A, x_dt, x, out_dt, out);
        else if (x_dt == MF_F64)
            sum_by_thread<MF_F64><<<g, MF_THREADS, 0, s>>>(*P, *A, x_dt, x, out_dt, out);
        else
            sum_by_thread<MF_DYN><<<g, MF_THREADS, 0, s>>>(*P, *A, x_dt, x, out_dt, out);
        return cudaGetLastError();
    }
    int64_t nb = P->nout * chunks;
    unsigned g = (unsigned)(nb < 65535LL * 16 ? nb : 65535LL * 16);
    if (x_dt == MF_F32)
        sum_by_block<MF_F32><<<g, MF_THREADS, 0, s>>>(*P, *A, x_dt, x, out_dt, out, chunks, partial);
    else if (x_dt == MF_F64)
        sum_by_block<MF_F64><<<g, MF_THREADS, 0, s>>>(*P, *A, x_dt, x, out_dt, out, chunks, partial);
    else
        sum_by_block<MF_DYN><<<g, MF_THREADS, 0, s>>>(*P, *A, x_dt, x, out_dt, out, chunks, partial);
    cudaError_t e = cudaGetLastError();
    if (e != cudaSuccess || chunks == 1)
        return e;
    sum_partials<<<mf_grid_for(P->nout), MF_THREADS, 0, s>>>(*P, *A, out_dt, out, chunks, partial);
    return cudaGetLastError();
}
