/* Optimisers (SGD, Adam, AdamW with PyTorch semantics), learning-rate
 * schedules, gradient-norm clipping, and optimiser state files.
 *
 * An optimiser holds references to its parameters (tensors whose ->grad the
 * backward pass fills) in one or more groups, each with its own lr and
 * weight decay. mf_optim_step() updates every parameter that has a gradient
 * and skips those whose grad is NULL (their state and step count stay). */
#ifndef MEDFM_OPTIM_H
#define MEDFM_OPTIM_H

#include <stdbool.h>
#include <stdint.h>

#include "medfm/tensor.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct mf_optimizer mf_optimizer;

typedef struct mf_sgd_options {
    double lr;
    double momentum;     /* 0 = plain SGD */
    double dampening;    /* applies from the second step on, as in torch */
    double weight_decay; /* L2 term added to the gradient */
    bool nesterov;       /* needs momentum > 0 and dampening == 0 */
} mf_sgd_options;

typedef struct mf_adam_options {
    double lr;
    double beta1, beta2;
    double eps;          /* added to sqrt(v_hat), outside the square root */
    double weight_decay; /* Adam: L2 added to the gradient; AdamW: decoupled */
    bool amsgrad;
} mf_adam_options;

/* Torch defaults: momentum 0 / betas (0.9, 0.999), eps 1e-8, weight decay 0
 * (AdamW: 0.01). */
mf_sgd_options mf_sgd_defaults(double lr);
mf_adam_options mf_adam_defaults(double lr);
mf_adam_options mf_adamw_defaults(double lr);

/* Creates an optimiser over params[0..n) (group 0, with the options' lr and
 * weight decay). Parameters must be f32 or f64; each is retained. */
mf_status mf_sgd_new(mf_tensor *const *params, int n, const mf_sgd_options *opt, mf_optimizer **out);
mf_status mf_adam_new(mf_tensor *const *params, int n, const mf_adam_options *opt, mf_optimizer **out);
mf_status mf_adamw_new(mf_tensor *const *params, int n, const mf_adam_options *opt, mf_optimizer **out);
void mf_optimizer_free(mf_optimizer *opt); /* NULL is fine */

/* Adds a parameter group with its own lr and weight decay; *group (may be
 * NULL) receives its index. A parameter may belong to one group only. */
mf_status mf_optim_add_group(mf_optimizer *opt, mf_tensor *const *params, int n, double lr, double weight_decay,
                             int *group);
/* One update of every parameter with a gradient. */
mf_status mf_optim_step(mf_optimizer *opt);
/* Drops every parameter's gradient. */
void mf_optim_zero_grad(mf_optimizer *opt);

const char *mf_optim_name(const mf_optimizer *opt); /* "sgd", "adam", "adamw" */
int mf_optim_param_count(const mf_optimizer *opt);
int mf_optim_group_count(const mf_optimizer *opt);
/* Current lr of a group, and the lr it was created with (schedules scale it). */
double mf_optim_lr(const mf_optimizer *opt, int group);
double mf_optim_base_lr(const mf_optimizer *opt, int group);
/* Sets the lr of one group, or of every group when group < 0. */
mf_status mf_optim_set_lr(mf_optimizer *opt, int group, double lr);
/* Number of updates applied to parameter i so far. */
int64_t mf_optim_param_steps(const mf_optimizer *opt, int i);

/* ---- learning-rate schedules ---- */

typedef enum mf_lr_kind {
    MF_LR_CONSTANT = 0,
    MF_LR_STEP,        /* base * gamma^floor(step / step_size) */
    MF_LR_HALVING,     /* base * 0.5^k, halved `times` times evenly over `total` steps */
    MF_LR_COSINE,      /* linear warm-up from 0, then cosine from base down to min_lr at `total` */
    MF_LR_POLY,        /* base * (1 - step / total)^power (nnU-Net: power 0.9) */
    MF_LR_EXPONENTIAL, /* base * gamma^step */
} mf_lr_kind;

typedef struct mf_lr_schedule {
    mf_lr_kind kind;
    int64_t step_size;    /* STEP */
    double gamma;         /* STEP, EXPONENTIAL */
    int times;            /* HALVING */
    int64_t warmup_steps; /* COSINE: lr = base * step / warmup_steps before that */
    double min_lr;        /* COSINE: final lr */
    double power;         /* POLY */
} mf_lr_schedule;

/* lr at `step` (0-based) of a run of `total` steps; steps past `total` use
 * the value at `total`. Pure function of its arguments. */
double mf_lr_at(const mf_lr_schedule *s, double base_lr, int64_t step, int64_t total);
/* Checks the schedule's fields for its kind (message names the field). */
mf_status mf_lr_schedule_check(const mf_lr_schedule *s, int64_t total);
/* "constant", "step", "halving", "cosine", "poly", "exponential". */
mf_status mf_lr_kind_parse(const char *name, mf_lr_kind *out);
const char *mf_lr_kind_name(mf_lr_kind kind);
/* Sets each group's lr to mf_lr_at(s, base lr of the group, step, total). */
mf_status mf_optim_apply_schedule(mf_optimizer *opt, const mf_lr_schedule *s, int64_t step, int64_t total);

/* ---- gradient clipping ---- */

/* torch.nn.utils.clip_grad_norm_: the L2 norm over all gradients of
 * params[0..n) (NULL grads skipped) goes to *total_norm (may be NULL); when
 * it exceeds max_norm every gradient is scaled by max_norm / (norm + 1e-6). */
mf_status mf_clip_grad_norm(mf_tensor *const *params, int n, double max_norm, double *total_norm);

/* ---- state files ---- */

/* Saves the optimiser's state as safetensors: per parameter i
 * "state.<i>.step" (i64 scalar) and "state.<i>.<buffer>" (momentum_buffer;
 * exp_avg, exp_avg_sq, max_exp_avg_sq), per group "groups.<g>.lr" (f64);
 * metadata "optimizer" names the kind. Restoring it into an optimiser built
 * the same way continues the run bit for bit. */
mf_status mf_optim_state_save(const mf_optimizer *opt, const char *path);
mf_status mf_optim_state_load(mf_optimizer *opt, const char *path);

#ifdef __cplusplus
}
#endif
#endif
