/* Scaled dot-product attention. */
#ifndef MEDFM_OPS_ATTENTION_H
#define MEDFM_OPS_ATTENTION_H

#include "medfm/tensor.h"

#ifdef __cplusplus
extern "C" {
#endif

/* q (B, H, Lq, D), k and v (B, H, Lk, D[v]) -> (B, H, Lq, Dv).
 * softmax(q k^T * scale + bias) v, where `bias` (broadcastable to
 * (B, H, Lq, Lk), may be NULL) is added before the softmax; it carries a
 * gradient (relative-position bias tables), and masks are biases of -inf.
 * scale <= 0 means 1/sqrt(D).
 * A query row whose scores are all -inf (fully masked) attends to nothing:
 * its output row is 0 and every gradient through it is 0. (torch's math
 * path gives NaN there and poisons the gradients of the whole batch.)
 * Gradients reach q, k, v and bias; the bias gradient is summed back over
 * its broadcast dims. */
mf_status mf_attention(const mf_tensor *q, const mf_tensor *k, const mf_tensor *v, const mf_tensor *bias,
                       double scale, mf_tensor **out);

#ifdef __cplusplus
}
#endif
#endif
