/* Kernel table of the loss family: softmax / log-softmax along one dim and
 * the fused cross-entropy (log-softmax, gather, smoothing and class weights
 * in one pass; backward = softmax - onehot). Every tensor a kernel receives
 * is contiguous, except `gscale` (see ce_backward). Float tensors share one
 * dtype (f32 or f64); targets are int64. */
#ifndef MF_KERN_LOSS_H
#define MF_KERN_LOSS_H

#include <stdbool.h>

#include "medfm/tensor.h"

struct mf_kern_loss {
    /* y = softmax(x) (or log_softmax when `log`) along `dim`. */
    mf_status (*softmax_forward)(mf_tensor *y, const mf_tensor *x, int dim, bool log);
    /* gx from gy and the saved output y:
     *   softmax:     gx = y * (gy - sum(gy * y))
     *   log_softmax: gx = gy - exp(y) * sum(gy) */
    mf_status (*softmax_backward)(mf_tensor *gx, const mf_tensor *gy, const mf_tensor *y, int dim, bool log);
    /* logits (N, C, S) -> logp (N, C, S) = log_softmax over C, and per
     * position (N, S): loss = (1-eps) w[t] (-logp[t]) + eps/C sum_c w[c] (-logp[c])
     * and wt = w[t] (1 without weights); both 0 where t == ignore_index.
     * weight (C) may be NULL. A target outside [0, C) other than
     * ignore_index is MF_ERR_INVALID naming the value and C. */
    mf_status (*ce_forward)(mf_tensor *loss, mf_tensor *wt, mf_tensor *logp, const mf_tensor *logits,
                            const mf_tensor *target, const mf_tensor *weight, int64_t ignore_index,
                            double smoothing);
    /* gx (N, C, S) = gscale[n, s] * d loss[n, s] / d logits[n, :, s], with
     * gscale any (N, S) view (stride 0 allowed: a broadcast scalar). */
    mf_status (*ce_backward)(mf_tensor *gx, const mf_tensor *gscale, const mf_tensor *logp,
                             const mf_tensor *target, const mf_tensor *weight, int64_t ignore_index,
                             double smoothing);
};

#endif
