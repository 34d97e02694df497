/* Sort-family kernels and reduce's arg_extreme (host side: sort.c): a
 * thread per line for cumsum and arg_extreme (in order, in double, like
 * the CPU); sort and topk rank each element by counting the elements that
 * order before it in the CPU's total order (NaNs after the numbers, or
 * before them when descending; ties by position), a thread per element.
 * Ranking is quadratic in the line length: fine for lines up to a few
 * thousand elements. */
#include <math.h>

#include "core/backend/cuda/device_util.cuh"
#include "core/backend/cuda/sort_internal.h"

/* Layout ops: x, out; per line n elements, strides sx, so along dim. */
template <int DT>
__global__ void cumsum_kernel(mf_cuda_layout L, int xdt, int odt, const void *x, void *out, int64_t n, int64_t sx,
                              int64_t so, int reverse) {
    MF_GRID_LOOP(l, L.n) {
        int64_t off[2];
        mf_offsets<2>(L, l, off);
        double acc = 0;
        for (int64_t t = 0; t < n; t++) {
            int64_t i = reverse ? n - 1 - t : t;
            acc += mf_load<DT>(x, xdt, off[0] + i * sx);
            mf_store<DT>(out, odt, off[1] + i * so, acc);
        }
    }
}

extern "C" cudaError_t mf_cuda_launch_cumsum(cudaStream_t s, const mf_cuda_layout *L, int xdt, int odt, const void *x,
                                             void *out, int64_t n, int64_t sx, int64_t so, int reverse) {
    if (L->n == 0 || n == 0)
        return cudaSuccess;
    unsigned g = mf_grid_for(L->n);
    if (xdt == MF_F32 && odt == MF_F32)
        cumsum_kernel<MF_F32><<<g, MF_THREADS, 0, s>>>(*L, xdt, odt, x, out, n, sx, so, reverse);
    else if (xdt == MF_F64 && odt == MF_F64)
        cumsum_kernel<MF_F64><<<g, MF_THREADS, 0, s>>>(*L, xdt, odt, x, out, n, sx, so, reverse);
    else
        cumsum_kernel<MF_DYN><<<g, MF_THREADS, 0, s>>>(*L, xdt, odt, x, out, n, sx, so, reverse);
    return cudaGetLastError();
}

/* Whether (a at position i) orders before (b at position j). */
__device__ __forceinline__ bool before(double a, int64_t i, double b, int64_t j, bool desc) {
    bool na = isnan(a), nb = isnan(b);
    int ca = na ? (desc ? 0 : 2) : 1, cb = nb ? (desc ? 0 : 2) : 1;
    if (ca != cb)
        return ca < cb;
    if (ca == 1) {
        double ka = desc ? -a : a, kb = desc ? -b : b;
        if (ka != kb)
            return ka < kb;
    }
    return i < j;
}

/* Layout ops: x, values, indices (over the lines); element e = line * n + i. */
__global__ void sort_rank_kernel(mf_cuda_layout L, int dt, const void *x, void *values, int64_t *indices, int64_t n,
                                 int64_t sx, int64_t sv, int64_t si, int64_t k, int desc) {
    MF_GRID_LOOP(e, L.n * n) {
        int64_t line = e / n, i = e - line * n, off[3];
        mf_offsets<3>(L, line, off);
        double v = mf_load_dyn(x, dt, off[0] + i * sx);
        int64_t rank = 0;
        for (int64_t j = 0; j < n && rank < k; j++)
            if (j != i && before(mf_load_dyn(x, dt, off[0] + j * sx), j, v, i, desc))
                rank++;
        if (rank < k) {
            if (values)
                mf_store_dyn(values, dt, off[1] + rank * sv, v);
            if (indices)
                indices[off[2] + rank * si] = i;
        }
    }
}

extern "C" cudaError_t mf_cuda_launch_sort(cudaStream_t s, const mf_cuda_layout *L, int dt, const void *x, void *values,
                                           int64_t *indices, int64_t n, int64_t sx, int64_t sv, int64_t si, int64_t k,
                                           int desc) {
    if (L->n * n == 0 || k == 0)
        return cudaSuccess;
    sort_rank_kernel<<<mf_grid_for(L->n * n), MF_THREADS, 0, s>>>(*L, dt, x, values, indices, n, sx, sv, si, k, desc);
    return cudaGetLastError();
}

/* Layout ops: x, values, indices; the first extreme along the line wins, a
 * NaN counts as the extreme. */
__global__ void arg_extreme_kernel(mf_cuda_layout L, int dt, const void *x, void *values, int vdt, int64_t *indices,
                                   int64_t n, int64_t sx, int want_max) {
    MF_GRID_LOOP(l, L.n) {
        int64_t off[3];
        mf_offsets<3>(L, l, off);
        double best = mf_load_dyn(x, dt, off[0]);
        int64_t bi = 0;
        for (int64_t i = 1; i < n && !isnan(best); i++) {
            double v = mf_load_dyn(x, dt, off[0] + i * sx);
            if (isnan(v) || (want_max ? v > best : v < best)) {
                best = v;
                bi = i;
            }
        }
        if (values)
            mf_store_dyn(values, vdt, off[1], best);
        if (indices)
            indices[off[2]] = bi;
    }
}

extern "C" cudaError_t mf_cuda_launch_arg_extreme(cudaStream_t s, const mf_cuda_layout *L, int dt, const void *x,
                                                  void *values, int vdt, int64_t *indices, int64_t n, int64_t sx,
                                                  int want_max) {
    if (L->n == 0 || n == 0)
        return cudaSuccess;
    arg_extreme_kernel<<<mf_grid_for(L->n), MF_THREADS, 0, s>>>(*L, dt, x, values, vdt, indices, n, sx, want_max);
    return cudaGetLastError();
}
