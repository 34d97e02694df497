/* Kernel table of the linalg family: one batched GEMM that every matrix op
 * (matmul, bmm, linear and their backwards) lowers to, and the fused
 * bias + GELU epilogue of linear_gelu with its backward. */
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
    /* Appended entries (the table only grows at the end; NULL = the op is
     * unsupported on this backend, reported by MF_KERNEL). */

    /* Epilogue of linear_gelu, one pass: pre holds the GEMM output (..., N)
     * on entry and pre + bias on exit (bias (N) broadcast over the rows; NULL
     * leaves pre as is); y = gelu(pre), exact erf form, computed from the
     * unrounded sum. pre and y contiguous, same shape and dtype; bias
     * contiguous, same dtype. */
    mf_status (*bias_gelu)(mf_tensor *y, mf_tensor *pre, const mf_tensor *bias);
    /* gpre = gy * gelu'(pre); gbias (N, may be NULL) = the sum of gpre over
     * all rows, in a fixed order that depends only on the shape (no
     * atomics), accumulated in double. gpre, gy, pre contiguous, same shape
     * and dtype. */
    mf_status (*bias_gelu_backward)(mf_tensor *gpre, mf_tensor *gbias, const mf_tensor *gy, const mf_tensor *pre);
};

#endif
