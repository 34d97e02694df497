/* Ordering ops along one dim. Indices are int64. */
#ifndef MEDFM_OPS_SORT_H
#define MEDFM_OPS_SORT_H

#include "medfm/tensor.h"

#ifdef __cplusplus
extern "C" {
#endif

mf_status mf_cumsum(const mf_tensor *x, int dim, mf_tensor **out);
/* Stable sort; values differentiable, indices may be NULL. */
mf_status mf_sort(const mf_tensor *x, int dim, bool descending, mf_tensor **values, mf_tensor **indices);
/* The k largest (or smallest) along dim, sorted. */
mf_status mf_topk(const mf_tensor *x, int64_t k, int dim, bool largest, mf_tensor **values, mf_tensor **indices);

#ifdef __cplusplus
}
#endif
#endif
