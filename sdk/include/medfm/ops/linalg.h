/* Matrix products (OpenBLAS SGEMM/DGEMM on the CPU). */
#ifndef MEDFM_OPS_LINALG_H
#define MEDFM_OPS_LINALG_H

#include "medfm/tensor.h"

#ifdef __cplusplus
extern "C" {
#endif

/* torch.matmul semantics: 1-D x 1-D dot, 2-D x 2-D, batched with
 * broadcasting of the batch dims. */
mf_status mf_matmul(const mf_tensor *a, const mf_tensor *b, mf_tensor **out);
/* (B, M, K) x (B, K, N) -> (B, M, N), with optional transposes of either
 * operand ((B, K, M) / (B, N, K) when transposed). */
mf_status mf_bmm(const mf_tensor *a, const mf_tensor *b, bool trans_a, bool trans_b, mf_tensor **out);
/* x (..., in) @ w(out, in)^T + bias(out); bias may be NULL. */
mf_status mf_linear(const mf_tensor *x, const mf_tensor *w, const mf_tensor *bias, mf_tensor **out);
/* gelu(x (..., in) @ w(out, in)^T + bias(out)), exact erf GELU (torch's
 * approximate='none'); bias may be NULL. The same result as mf_gelu of
 * mf_linear, with bias add and GELU fused into one pass forward and one
 * backward. Autocast: lower precision, like mf_linear. */
mf_status mf_linear_gelu(const mf_tensor *x, const mf_tensor *w, const mf_tensor *bias, mf_tensor **out);

#ifdef __cplusplus
}
#endif
#endif
