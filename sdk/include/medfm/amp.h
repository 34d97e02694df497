/* Mixed precision: an autocast scope in which matrix products, convolutions
 * and attention compute in bf16 or f16 while the parameters (the "master
 * weights"), losses, normalisations and the optimiser stay f32, plus a
 * dynamic loss scaler for f16.
 *
 *   MF_TRY(mf_autocast_enter(MF_BF16));
 *   st = forward_and_loss(..., &loss);   // linear/conv outputs are bf16
 *   mf_autocast_exit();
 *   mf_backward(loss, NULL, false);      // outside the scope; grads of f32
 *                                        // parameters come back f32
 *
 * The scope is thread-local and nests like a stack. Ops apply one of three
 * per-op policies at entry (see mf_autocast_args):
 *   lower precision: matmul, bmm, linear, conv (1-3D, transposed), attention
 *                    cast f32 inputs to the autocast dtype;
 *   f32:             softmax/log_softmax, losses, layer/group norm,
 *                    sum/mean, logsumexp, exp/log cast bf16/f16 inputs up;
 *   as is:           batch norm takes bf16/f16 data with f32 parameters
 *                    and statistics, its output in the data's dtype;
 *   promote:         binary elementwise ops and concat with mixed float
 *                    dtypes compute in the widest one (outside a scope mixed
 *                    dtypes stay an error).
 * Casts go through mf_to_dtype, so gradients flow back in the input's dtype. */
#ifndef MEDFM_AMP_H
#define MEDFM_AMP_H

#include "medfm/optim.h"
#include "medfm/tensor.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Opens a scope computing the lower-precision ops in `lowp` (MF_BF16 or
 * MF_F16; anything else is MF_ERR_DTYPE). Scopes nest up to 16 deep. */
mf_status mf_autocast_enter(mf_dtype lowp);
/* Closes the innermost scope (MF_ERR_STATE when none is open). */
mf_status mf_autocast_exit(void);
/* The innermost scope's dtype, or MF_F32 outside any scope. */
mf_dtype mf_autocast_dtype(void);
bool mf_autocast_active(void);

typedef enum mf_amp_policy {
    MF_AMP_LOWP, /* f32 floats -> the autocast dtype */
    MF_AMP_F32,  /* bf16/f16 -> f32 */
    MF_AMP_WIDEST /* mixed floats -> the widest of them */
} mf_amp_policy;

/* Op entry helper: outs[i] is a new reference to ins[i] cast per `policy`
 * (ins[i] itself when no cast applies or outside autocast; NULL stays
 * NULL). Non-float tensors are never cast. Release with
 * mf_autocast_release(n, outs). On failure nothing is left allocated. */
mf_status mf_autocast_args(mf_amp_policy policy, int n, const mf_tensor *const *ins, mf_tensor **outs);
void mf_autocast_release(int n, mf_tensor **ts);

/* ------------------------------------------------- dynamic loss scaling */

/* Scales the loss so small f16 gradients do not flush to zero. Dynamic:
 * when a step's gradients hold inf/NaN the step is skipped and the scale
 * multiplied by `backoff`; after `interval` clean steps in a row it is
 * multiplied by `growth`. A fixed scaler (dynamic = false) keeps its scale
 * and still skips non-finite steps. */
typedef struct mf_loss_scaler {
    double scale;
    double growth, backoff; /* 2.0, 0.5 */
    int64_t interval;       /* 2000 */
    int64_t good_steps;     /* clean steps since the last change */
    int64_t skipped;        /* steps skipped so far (for logs) */
    bool dynamic;
} mf_loss_scaler;

/* Dynamic scaler starting at init_scale (65536 is the usual start). */
mf_loss_scaler mf_loss_scaler_dynamic(double init_scale);
/* Fixed scale. */
mf_loss_scaler mf_loss_scaler_fixed(double scale);
/* Error unless the settings make sense (scale > 0, growth > 1, 0 < backoff < 1, interval >= 1). */
mf_status mf_loss_scaler_check(const mf_loss_scaler *s);
/* *out = loss * scale (differentiable). */
mf_status mf_loss_scaler_scale(const mf_loss_scaler *s, const mf_tensor *loss, mf_tensor **out);
/* Divides every gradient of params by the scale in place and reports
 * whether all of them are finite (params without a gradient are skipped). */
mf_status mf_loss_scaler_unscale(const mf_loss_scaler *s, mf_tensor *const *params, int n, bool *finite);
/* Updates the scale after a step whose gradients were (not) finite;
 * returns through *do_step whether the optimiser should step. */
void mf_loss_scaler_update(mf_loss_scaler *s, bool finite, bool *do_step);
/* unscale + (optimiser step when finite) + update, in one call. */
mf_status mf_loss_scaler_step(mf_loss_scaler *s, mf_optimizer *opt, mf_tensor *const *params, int n,
                              bool *stepped);

/* TF32 for f32 matmul and convolutions on CUDA (config: `train.tf32`), like
 * torch.backends.cuda.matmul.allow_tf32 and cudnn.allow_tf32: 1 lets them
 * use TF32 tensor cores (10-bit mantissas, the default), 0 keeps exact f32
 * (to compare a GPU run with a CPU one: differences of nearly equal
 * embeddings, such as LVM-Med's edge vectors, lose most of their digits
 * under TF32), -1 follows the environment (MEDFM_CUDA_TF32=0 forbids).
 * Process-wide for every CUDA device; `dev` must be a cuda device that can
 * be had. */
#define MF_TF32_FROM_ENV (-1)
mf_status mf_tf32_set(mf_device dev, int allow);

#ifdef __cplusplus
}
#endif
#endif
