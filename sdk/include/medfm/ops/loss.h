/* Losses with PyTorch semantics. */
#ifndef MEDFM_OPS_LOSS_H
#define MEDFM_OPS_LOSS_H

#include "medfm/tensor.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum { MF_REDUCE_MEAN, MF_REDUCE_SUM, MF_REDUCE_NONE } mf_reduction;

typedef struct mf_ce_params {
    int64_t ignore_index;   /* targets equal to it contribute nothing (default -100) */
    const mf_tensor *weight; /* per-class weights (C) or NULL */
    double label_smoothing;  /* in [0, 1] */
    mf_reduction reduction;
} mf_ce_params;

mf_ce_params mf_ce_params_default(void);

/* logits (N, C) or (N, C, d1, ...); target int64 class indices (N) or
 * (N, d1, ...). Weighted mean divides by the sum of the weights of the
 * counted targets, as torch does; label smoothing follows torch's formula
 * (1-eps) nll + eps/C sum_c w_c (-logp_c), normalised the same way. A mean
 * over only ignored targets is NaN, as in torch. A target outside [0, C)
 * other than ignore_index is MF_ERR_INVALID naming the value and C. The
 * gradient flows to the logits only. p == NULL means the defaults. */
mf_status mf_cross_entropy(const mf_tensor *logits, const mf_tensor *target, const mf_ce_params *p,
                           mf_tensor **out);
/* Numerically stable BCE on logits; pos_weight (broadcast to the last
 * dim) and weight may be NULL. Gradients reach logits, target, weight and
 * pos_weight. */
mf_status mf_bce_with_logits(const mf_tensor *logits, const mf_tensor *target, const mf_tensor *weight,
                             const mf_tensor *pos_weight, mf_reduction reduction, mf_tensor **out);
mf_status mf_mse_loss(const mf_tensor *input, const mf_tensor *target, mf_reduction reduction, mf_tensor **out);
mf_status mf_l1_loss(const mf_tensor *input, const mf_tensor *target, mf_reduction reduction, mf_tensor **out);

#ifdef __cplusplus
}
#endif
#endif
