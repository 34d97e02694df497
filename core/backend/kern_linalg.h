/* Kernel table of the linalg family: one batched GEMM that every matrix op
 * (matmul, bmm, linear and their backwards) lowers to. */
#ifndef MF_KERN_LINALG_H
#define MF_KERN_LINALG_H

#include "medfm/tensor.h"

struct mf_kern_linalg {
    /* out[...] = a[...] @ b[...] + beta * out[...] over the batch dims.
     * a (..., M, K), b (..., K, N), out (..., M, N) contiguous; all three have
     * the same ndim (>= 2) and batch dims (a and b may be stride-0
     * broadcasts). a and b may have any strides: a transposed view is passed
     * to BLAS as a transpose flag, anything else is copied. */
    mf_status (*matmul)(mf_tensor *out, const mf_tensor *a, const mf_tensor *b, double beta);
};

#endif
