/* Kernel table of the reduction family. `out` has the input's rank with
 * size 1 in every reduced dim (keepdim form); `mask` has bit d set for each
 * reduced dim d. */
#ifndef MF_KERN_REDUCE_H
#define MF_KERN_REDUCE_H

#include "medfm/tensor.h"

struct mf_kern_reduce {
    /* out = sum over masked dims of x (accumulated in double). */
    mf_status (*sum)(mf_tensor *out, const mf_tensor *x, uint32_t mask);
};

#endif
