/* Kernel table of the optim family: fused in-place parameter updates and
 * the reductions gradient clipping needs. The optimiser code in core/optim
 * keeps the state and the hyper-parameters; kernels get contiguous tensors
 * of one float dtype (f32 or f64) on one device, all of the same shape. */
#ifndef MF_KERN_OPTIM_H
#define MF_KERN_OPTIM_H

#include <stdbool.h>

#include "medfm/tensor.h"

/* One SGD step, torch semantics:
 *   d = g + wd * p
 *   buf = first ? d : momentum * buf + (1 - dampening) * d   (momentum != 0)
 *   d = nesterov ? d + momentum * buf : buf                    (momentum != 0)
 *   p -= lr * d */
typedef struct mf_sgd_hparams {
    double lr, momentum, dampening, weight_decay;
    bool nesterov;
    bool first; /* the momentum buffer is uninitialised: set it to d */
} mf_sgd_hparams;

/* One Adam/AdamW step, torch semantics, `step` already incremented (>= 1):
 *   g += wd * p (Adam) | p *= 1 - lr * wd (AdamW, decoupled)
 *   m = b1 m + (1 - b1) g;  v = b2 v + (1 - b2) g^2;  vmax = max(vmax, v)
 *   p -= lr / (1 - b1^t) * m / (sqrt(v or vmax) / sqrt(1 - b2^t) + eps) */
typedef struct mf_adam_hparams {
    double lr, beta1, beta2, eps, weight_decay;
    bool decoupled;
    bool amsgrad;
    int64_t step;
} mf_adam_hparams;

struct mf_kern_optim {
    /* buf is NULL when momentum == 0. */
    mf_status (*sgd)(mf_tensor *param, const mf_tensor *grad, mf_tensor *buf, const mf_sgd_hparams *h);
    /* vmax is NULL unless h->amsgrad. */
    mf_status (*adam)(mf_tensor *param, const mf_tensor *grad, mf_tensor *exp_avg, mf_tensor *exp_avg_sq,
                      mf_tensor *vmax, const mf_adam_hparams *h);
    /* *out = sum of x^2, accumulated in double in a fixed order (so the
     * result does not depend on the thread count). */
    mf_status (*sum_squares)(const mf_tensor *x, double *out);
    /* x *= s in place. */
    mf_status (*scale)(mf_tensor *x, double s);
};

#endif
