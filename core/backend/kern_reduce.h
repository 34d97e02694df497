/* Kernel table of the reduction family. `out` has the input's rank with
 * size 1 in every reduced dim (keepdim form); `mask` has bit d set for each
 * reduced dim d. */
#ifndef MF_KERN_REDUCE_H
#define MF_KERN_REDUCE_H

#include <stdbool.h>

#include "medfm/tensor.h"

struct mf_kern_reduce {
    /* out = sum over masked dims of x (accumulated in double). */
    mf_status (*sum)(mf_tensor *out, const mf_tensor *x, uint32_t mask);
    /* out = max (want_max) or min over masked dims; NaN propagates. */
    mf_status (*extreme)(mf_tensor *out, const mf_tensor *x, uint32_t mask, bool want_max);
    /* Along one dim: the first maximal (or minimal) element. `values` (may
     * be NULL) has x's dtype, `indices` (may be NULL) is int64; both in
     * keepdim form. A NaN counts as the extreme. */
    mf_status (*arg_extreme)(mf_tensor *values, mf_tensor *indices, const mf_tensor *x, int dim, bool want_max);
    /* out = sum (x - mean)^2 / divisor over masked dims (two passes in double). */
    mf_status (*var)(mf_tensor *out, const mf_tensor *x, uint32_t mask, double divisor);
    /* out = m + log sum exp(x - m), m the max over masked dims. */
    mf_status (*logsumexp)(mf_tensor *out, const mf_tensor *x, uint32_t mask);
    /* out = (sum |x|^p)^(1/p) over masked dims; p = INFINITY gives max |x|. */
    mf_status (*norm)(mf_tensor *out, const mf_tensor *x, uint32_t mask, double p);
};

#endif
