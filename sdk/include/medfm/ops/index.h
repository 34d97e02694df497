/* Joining, splitting and indexing, PyTorch semantics. Index tensors are
 * int64; out-of-range indices are errors naming the index and the size. */
#ifndef MEDFM_OPS_INDEX_H
#define MEDFM_OPS_INDEX_H

#include "medfm/tensor.h"

#ifdef __cplusplus
extern "C" {
#endif

mf_status mf_concat(int n, mf_tensor *const *xs, int dim, mf_tensor **out);
mf_status mf_stack(int n, mf_tensor *const *xs, int dim, mf_tensor **out);
/* Pieces of `sizes[i]` along dim; outs receives n views. */
mf_status mf_split(const mf_tensor *x, int n, const int64_t *sizes, int dim, mf_tensor **outs);
/* n nearly equal pieces (torch.chunk: ceil(size/n) each, last smaller). The
 * number of pieces made is written to *n_out (may be < n). */
mf_status mf_chunk(const mf_tensor *x, int n, int dim, mf_tensor **outs, int *n_out);
mf_status mf_index_select(const mf_tensor *x, int dim, const mf_tensor *index, mf_tensor **out);
/* out[c] = x[c with c[dim] = index[c]]: index has x's rank and is no larger
 * than x outside dim; out has index's shape. */
mf_status mf_gather(const mf_tensor *x, int dim, const mf_tensor *index, mf_tensor **out);
/* out = x with src added at index along dim (differentiable in x and src). */
mf_status mf_scatter_add(const mf_tensor *x, int dim, const mf_tensor *index, const mf_tensor *src,
                         mf_tensor **out);
/* x with `value` where mask (bool) is true; x and mask broadcast together
 * and the output has the broadcast shape. */
mf_status mf_masked_fill(const mf_tensor *x, const mf_tensor *mask, double value, mf_tensor **out);

#ifdef __cplusplus
}
#endif
#endif
