/* Kernel table of the sort family: ordering along one dim, prefix sums,
 * and the scatter their backward passes need. Outputs are preallocated by
 * the op; index tensors are int64. */
#ifndef MF_KERN_SORT_H
#define MF_KERN_SORT_H

#include <stdbool.h>

#include "medfm/tensor.h"

struct mf_kern_sort {
    /* out[i] = sum of x[j] for j <= i along dim (j >= i when reverse). */
    mf_status (*cumsum)(mf_tensor *out, const mf_tensor *x, int dim, bool reverse);
    /* Stable sort along dim; writes the first k of each sorted line into
     * values / indices (shape of x with size k in dim). NaN sorts above
     * every number. k == size is a full sort. */
    mf_status (*sort)(mf_tensor *values, mf_tensor *indices, const mf_tensor *x, int dim, int64_t k,
                      bool descending);
    /* out[.., index[.., i, ..], ..] += src[.., i, ..] along dim; index and src
     * share a shape that matches out except in dim. */
    mf_status (*scatter_add)(mf_tensor *out, const mf_tensor *index, const mf_tensor *src, int dim);
};

#endif
