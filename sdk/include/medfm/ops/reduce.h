/* Reductions. `dims` lists the reduced dims (negative counts from the end);
 * n_dims == 0 reduces over every dim. keepdim keeps them as size 1. */
#ifndef MEDFM_OPS_REDUCE_H
#define MEDFM_OPS_REDUCE_H

#include "medfm/tensor.h"

#ifdef __cplusplus
extern "C" {
#endif

mf_status mf_sum(const mf_tensor *x, int n_dims, const int *dims, bool keepdim, mf_tensor **out);
mf_status mf_mean(const mf_tensor *x, int n_dims, const int *dims, bool keepdim, mf_tensor **out);
/* Sums x down to `shape` (the inverse of broadcasting), as autograd needs. */
mf_status mf_sum_to_shape(const mf_tensor *x, int ndim, const int64_t *shape, mf_tensor **out);
/* Variance with `correction` (0 = population, 1 = unbiased). */
mf_status mf_var(const mf_tensor *x, int n_dims, const int *dims, int64_t correction, bool keepdim, mf_tensor **out);
/* Max/min along one dim with int64 indices (indices may be NULL); the
 * gradient goes to the first maximal element. */
mf_status mf_max(const mf_tensor *x, int dim, bool keepdim, mf_tensor **values, mf_tensor **indices);
mf_status mf_min(const mf_tensor *x, int dim, bool keepdim, mf_tensor **values, mf_tensor **indices);
/* Max/min over dims (all when n_dims == 0); the gradient is split evenly
 * among ties, like torch.amax. */
mf_status mf_amax(const mf_tensor *x, int n_dims, const int *dims, bool keepdim, mf_tensor **out);
mf_status mf_amin(const mf_tensor *x, int n_dims, const int *dims, bool keepdim, mf_tensor **out);
mf_status mf_argmax(const mf_tensor *x, int dim, bool keepdim, mf_tensor **out);
mf_status mf_argmin(const mf_tensor *x, int dim, bool keepdim, mf_tensor **out);
mf_status mf_logsumexp(const mf_tensor *x, int n_dims, const int *dims, bool keepdim, mf_tensor **out);
/* p-norm (p = 1, 2, any p > 0, or INFINITY) over dims. */
mf_status mf_norm(const mf_tensor *x, double p, int n_dims, const int *dims, bool keepdim, mf_tensor **out);
/* Whether every element of a float tensor is finite (no inf, no NaN), like
 * torch.isfinite(x).all(); one pass on the tensor's device, no gradient. */
mf_status mf_all_finite(const mf_tensor *x, bool *finite);

#ifdef __cplusplus
}
#endif
#endif
