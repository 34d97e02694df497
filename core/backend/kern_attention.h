/* Kernel table of the attention family: scaled dot-product attention with
 * an additive bias, forward and fused backward. q (B,H,Lq,D), k (B,H,Lk,D),
 * v (B,H,Lk,Dv), out (B,H,Lq,Dv) and the probabilities p (B,H,Lq,Lk) are
 * contiguous and share one float dtype; bias is any view of shape
 * (B,H,Lq,Lk) (stride 0 in broadcast dims) or NULL. A row whose scores are
 * all -inf gets p = 0 (output 0, gradients 0) instead of NaN.
 * The optional flash entries never materialise p: the forward keeps the
 * per-row log-sum-exp lse (B,H,Lq) in f32 (-inf for a fully masked row) and
 * the backward recomputes p from it. They take f32, bf16 and f16 (f32
 * accumulation) and head dims D, Dv up to MF_ATTENTION_FLASH_MAX_DIM. */
#ifndef MF_KERN_ATTENTION_H
#define MF_KERN_ATTENTION_H

#include "medfm/tensor.h"

#define MF_ATTENTION_FLASH_MAX_DIM 128

struct mf_kern_attention {
    mf_status (*forward)(mf_tensor *out, mf_tensor *p, const mf_tensor *q, const mf_tensor *k, const mf_tensor *v,
                         const mf_tensor *bias, double scale);
    /* Any of gq, gk, gv, gs may be NULL (not needed). gs (B,H,Lq,Lk) receives
     * the gradient of the pre-softmax scores (that of the bias). */
    mf_status (*backward)(mf_tensor *gq, mf_tensor *gk, mf_tensor *gv, mf_tensor *gs, const mf_tensor *gout,
                          const mf_tensor *q, const mf_tensor *k, const mf_tensor *v, const mf_tensor *p,
                          double scale);
    /* out (B,H,Lq,Dv) and lse (B,H,Lq, f32) from q, k, v, bias as above. */
    mf_status (*flash_forward)(mf_tensor *out, mf_tensor *lse, const mf_tensor *q, const mf_tensor *k,
                               const mf_tensor *v, const mf_tensor *bias, double scale);
    /* Any of gq, gk, gv (shaped like q, k, v) and gbias may be NULL. gbias
     * is f32, contiguous, of the bias's 4-D shape before broadcasting (1 in
     * the broadcast dims) and zeroed by the caller: the score gradient
     * summed over the broadcast dims is added into it. */
    mf_status (*flash_backward)(mf_tensor *gq, mf_tensor *gk, mf_tensor *gv, mf_tensor *gbias, const mf_tensor *gout,
                                const mf_tensor *q, const mf_tensor *k, const mf_tensor *v, const mf_tensor *bias,
                                const mf_tensor *out, const mf_tensor *lse, double scale);
};

#endif
