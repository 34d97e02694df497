/* Launchers of the index and random kernels of the CUDA module
 * (index_random_kernels.cu), used by index.c and random.c. */
#ifndef MF_CUDA_INDEX_INTERNAL_H
#define MF_CUDA_INDEX_INTERNAL_H

#include "core/backend/cuda/cuda_internal.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Pairwise distances: batch dims (nb, bshape) with strides of a, b, out
 * (or g), d; matrix strides of each. */
typedef struct {
    int32_t nb, l1;
    int64_t batch, N, M, D;
    int64_t bshape[MF_MAX_DIMS], bst[4][MF_MAX_DIMS];
    int64_t as0, as1, bs0, bs1, os0, os1, ds0, ds1;
} mf_cdist_args;

/* res: a device-check record (cuda_internal.h), written when an index is
 * outside [0, size). */
cudaError_t mf_cuda_launch_bounds(cudaStream_t s, const mf_cuda_layout *L, const int64_t *idx, int64_t size,
                                  unsigned long long *res);
/* Layout ops: out, index, x (x's stride along dim set to 0); an index
 * outside [0, size) gathers 0. */
cudaError_t mf_cuda_launch_gather(cudaStream_t s, const mf_cuda_layout *L, int esize, void *out, const void *x,
                                  const int64_t *idx, int64_t size, int64_t xdim_stride);
/* Layout over the lines (every dim but dim): ops index, src, out; an
 * index outside [0, size) adds nothing. */
cudaError_t mf_cuda_launch_scatter_add(cudaStream_t s, const mf_cuda_layout *L, int dt, void *out, const void *src,
                                       const int64_t *idx, int64_t len, int64_t size, int64_t isd, int64_t ssd,
                                       int64_t osd);
cudaError_t mf_cuda_launch_cdist(cudaStream_t s, int dt, const mf_cdist_args *a, void *out, const void *A,
                                 const void *B);
cudaError_t mf_cuda_launch_cdist_bwd(cudaStream_t s, int dt, const mf_cdist_args *a, int is_a, void *grad,
                                     const void *A, const void *B, const void *G, const void *D);
/* Layout ops: p. */
cudaError_t mf_cuda_launch_random(cudaStream_t s, const mf_cuda_layout *L, int dt, int kind, void *p, uint64_t seed,
                                  uint64_t offset, const double prm[4]);

#ifdef __cplusplus
}
#endif
#endif
