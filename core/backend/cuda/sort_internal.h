/* Launchers of sort_kernels.cu (cumsum, sort/topk, arg_extreme), used by
 * sort.c. Layouts run over the lines (every dim but the sorted one). */
#ifndef MF_CUDA_SORT_INTERNAL_H
#define MF_CUDA_SORT_INTERNAL_H

#include "core/backend/cuda/cuda_internal.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Layout ops: x, out. */
cudaError_t mf_cuda_launch_cumsum(cudaStream_t s, const mf_cuda_layout *L, int xdt, int odt, const void *x, void *out,
                                  int64_t n, int64_t sx, int64_t so, int reverse);
/* Layout ops: x, values, indices. */
cudaError_t mf_cuda_launch_sort(cudaStream_t s, const mf_cuda_layout *L, int dt, const void *x, void *values,
                                int64_t *indices, int64_t n, int64_t sx, int64_t sv, int64_t si, int64_t k, int desc);
/* Layout ops: x, values, indices. */
cudaError_t mf_cuda_launch_arg_extreme(cudaStream_t s, const mf_cuda_layout *L, int dt, const void *x, void *values,
                                       int vdt, int64_t *indices, int64_t n, int64_t sx, int want_max);

#ifdef __cplusplus
}
#endif
#endif
