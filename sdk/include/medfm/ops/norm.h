/* Normalisation layers' ops, PyTorch semantics. */
#ifndef MEDFM_OPS_NORM_H
#define MEDFM_OPS_NORM_H

#include "medfm/tensor.h"

#ifdef __cplusplus
extern "C" {
#endif

/* x (N, C, ...). training: normalise with batch statistics and update
 * running_mean/var in place (unbiased variance, momentum) when they are
 * non-NULL; eval: use the running statistics. weight/bias (C) may be NULL. */
mf_status mf_batch_norm(const mf_tensor *x, mf_tensor *running_mean, mf_tensor *running_var,
                        const mf_tensor *weight, const mf_tensor *bias, bool training, double momentum, double eps,
                        mf_tensor **out);
/* relu(mf_batch_norm(...)) fused: one pass writes the activated output
 * and the backward applies relu's gradient inside batch norm's, so the
 * pre-activation tensor is never made. Same values as the two ops. */
mf_status mf_batch_norm_relu(const mf_tensor *x, mf_tensor *running_mean, mf_tensor *running_var,
                             const mf_tensor *weight, const mf_tensor *bias, bool training, double momentum,
                             double eps, mf_tensor **out);
/* Normalises over the last n_norm dims; weight/bias of that trailing shape
 * (may be NULL). */
mf_status mf_layer_norm(const mf_tensor *x, int n_norm, const mf_tensor *weight, const mf_tensor *bias, double eps,
                        mf_tensor **out);
/* x (N, C, ...), C divisible by groups; weight/bias (C) may be NULL. */
mf_status mf_group_norm(const mf_tensor *x, int64_t groups, const mf_tensor *weight, const mf_tensor *bias,
                        double eps, mf_tensor **out);

#ifdef __cplusplus
}
#endif
#endif
