/* Kernel table of the attention family: scaled dot-product attention with
 * an additive bias, forward and fused backward. q (B,H,Lq,D), k (B,H,Lk,D),
 * v (B,H,Lk,Dv), out (B,H,Lq,Dv) and the probabilities p (B,H,Lq,Lk) are
 * contiguous and share one float dtype; bias is any view of shape
 * (B,H,Lq,Lk) (stride 0 in broadcast dims) or NULL. A row whose scores are
 * all -inf gets p = 0 (output 0, gradients 0) instead of NaN. */
#ifndef MF_KERN_ATTENTION_H
#define MF_KERN_ATTENTION_H

#include "medfm/tensor.h"

struct mf_kern_attention {
    mf_status (*forward)(mf_tensor *out, mf_tensor *p, const mf_tensor *q, const mf_tensor *k, const mf_tensor *v,
                         const mf_tensor *bias, double scale);
    /* Any of gq, gk, gv, gs may be NULL (not needed). gs (B,H,Lq,Lk) receives
     * the gradient of the pre-softmax scores (that of the bias). */
    mf_status (*backward)(mf_tensor *gq, mf_tensor *gk, mf_tensor *gv, mf_tensor *gs, const mf_tensor *gout,
                          const mf_tensor *q, const mf_tensor *k, const mf_tensor *v, const mf_tensor *p,
                          double scale);
};

#endif
