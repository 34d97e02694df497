/* Sum kernels of the CUDA module (host side and the choice between them:
 * reduce_sum.c). Every path accumulates in double in a fixed order, so
 * results do not depend on scheduling. */
#include "core/backend/cuda/device_util.cuh"

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
__global__ void sum_by_thread(mf_cuda_sum_plan P, int xdt, const void *x, int odt, void *out) {
    MF_GRID_LOOP(o, P.nout) {
        int64_t xo, oo;
        kept_offsets(P, o, &xo, &oo);
        double acc = 0.0;
        for (int64_t r = 0; r < P.nred; r++)
            acc += mf_load<DT>(x, xdt, xo + reduced_offset(P, r));
        mf_store_dyn(out, odt, oo, acc);
    }
}

/* Block b sums chunk (b % chunks) of output (b / chunks); with one chunk it
 * stores the result, otherwise a partial for sum_partials. */
template <int DT>
__global__ void sum_by_block(mf_cuda_sum_plan P, int xdt, const void *x, int odt, void *out, int chunks,
                             double *partial) {
    __shared__ double warp_sums[MF_THREADS / 32];
    int64_t nblocks = P.nout * chunks;
    int64_t per = (P.nred + chunks - 1) / chunks;
    for (int64_t b = blockIdx.x; b < nblocks; b += gridDim.x) {
        int64_t o = b / chunks, c = b - o * chunks;
        int64_t xo, oo;
        kept_offsets(P, o, &xo, &oo);
        int64_t r0 = c * per, r1 = r0 + per < P.nred ? r0 + per : P.nred;
        double acc = 0.0;
        for (int64_t r = r0 + threadIdx.x; r < r1; r += blockDim.x)
            acc += mf_load<DT>(x, xdt, xo + reduced_offset(P, r));
        for (int k = 16; k > 0; k >>= 1)
            acc += __shfl_down_sync(0xffffffffu, acc, k);
        if ((threadIdx.x & 31) == 0)
            warp_sums[threadIdx.x >> 5] = acc;
        __syncthreads();
        if (threadIdx.x == 0) {
            double t = 0.0;
            for (int w = 0; w < MF_THREADS / 32; w++)
                t += warp_sums[w];
            if (chunks == 1)
                mf_store_dyn(out, odt, oo, t);
            else
                partial[b] = t;
        }
        __syncthreads(); /* warp_sums is reused by the next b */
    }
}

__global__ void sum_partials(mf_cuda_sum_plan P, int odt, void *out, int chunks, const double *partial) {
    MF_GRID_LOOP(o, P.nout) {
        int64_t xo, oo;
        kept_offsets(P, o, &xo, &oo);
        double t = 0.0;
        for (int c = 0; c < chunks; c++)
            t += partial[o * chunks + c];
        mf_store_dyn(out, odt, oo, t);
    }
}

extern "C" cudaError_t mf_cuda_launch_sum(cudaStream_t s, const mf_cuda_sum_plan *P, int x_dt, const void *x,
                                          int out_dt, void *out, int by_thread, int chunks, double *partial) {
    if (by_thread) {
        unsigned g = mf_grid_for(P->nout);
        if (x_dt == MF_F32)
            sum_by_thread<MF_F32><<<g, MF_THREADS, 0, s>>>(*P, x_dt, x, out_dt, out);
        else if (x_dt == MF_F64)
            sum_by_thread<MF_F64><<<g, MF_THREADS, 0, s>>>(*P, x_dt, x, out_dt, out);
        else
            sum_by_thread<MF_DYN><<<g, MF_THREADS, 0, s>>>(*P, x_dt, x, out_dt, out);
        return cudaGetLastError();
    }
    int64_t nb = P->nout * chunks;
    unsigned g = (unsigned)(nb < 65535LL * 16 ? nb : 65535LL * 16);
    if (x_dt == MF_F32)
        sum_by_block<MF_F32><<<g, MF_THREADS, 0, s>>>(*P, x_dt, x, out_dt, out, chunks, partial);
    else if (x_dt == MF_F64)
        sum_by_block<MF_F64><<<g, MF_THREADS, 0, s>>>(*P, x_dt, x, out_dt, out, chunks, partial);
    else
        sum_by_block<MF_DYN><<<g, MF_THREADS, 0, s>>>(*P, x_dt, x, out_dt, out, chunks, partial);
    cudaError_t e = cudaGetLastError();
    if (e != cudaSuccess || chunks == 1)
        return e;
    sum_partials<<<mf_grid_for(P->nout), MF_THREADS, 0, s>>>(*P, out_dt, out, chunks, partial);
    return cudaGetLastError();
}
