/* Plumbing shared by the reductions in core/ops/reduce_*.c: argument
 * checks, the squeeze from keepdim form, and the gradient's keepdim form.
 * Kernels always write keepdim-form outputs; ops squeeze afterwards. */
#ifndef MF_OPS_REDUCE_COMMON_H
#define MF_OPS_REDUCE_COMMON_H

#include "core/ops/internal.h"

/* Dims -> mask, rejecting bool tensors, and (when need_nonempty) a reduced
 * dim of size 0 ("op: cannot reduce over dim d of size 0 in [..]"). */
mf_status mf__reduce_prepare(const char *op, const mf_tensor *x, int n_dims, const int *dims, bool need_nonempty,
                             uint32_t *mask);
/* A fresh keepdim-form output of reduction `mask` of x, with dtype dt. */
mf_status mf__reduce_alloc(const mf_tensor *x, uint32_t mask, mf_dtype dt, mf_tensor **out);
/* Drops the reduced dims of a contiguous keepdim-form output in place. */
void mf__reduce_squeeze(mf_tensor *y, const mf_tensor *x, uint32_t mask);
/* Mask -> a list of dims (returns the count). */
int mf__mask_dims(uint32_t mask, int ndim, int *dims);
/* t (the output or its gradient, either form) reshaped to the keepdim form
 * of node input 0 under `mask`. */
mf_status mf__reduce_keep(const mf_node *n, uint32_t mask, const mf_tensor *t, mf_tensor **out);
/* Number of elements reduced by `mask`. */
int64_t mf__reduce_count(const mf_tensor *x, uint32_t mask);

#endif
