/* The optimiser object shared by sgd.c, adam.c and state.c: parameters
 * with their per-parameter state buffers, groups, and the per-kind update. */
#ifndef MF_OPTIM_OPTIMIZER_H
#define MF_OPTIM_OPTIMIZER_H

#include "medfm/optim.h"

#define MF_OPTIM_MAX_STATE 3

typedef struct {
    double lr, base_lr, weight_decay;
} mf_optim_group;

typedef struct {
    mf_tensor *param; /* owned reference */
    int group;
    int64_t step;
    mf_tensor *state[MF_OPTIM_MAX_STATE]; /* allocated on first update; NULL when unused */
} mf_optim_param;

typedef enum { MF_OPTIM_SGD, MF_OPTIM_ADAM, MF_OPTIM_ADAMW } mf_optim_kind;

struct mf_optimizer {
    mf_optim_kind kind;
    const char *name;
    mf_sgd_options sgd;
    mf_adam_options adam;
    mf_optim_param *params;
    int n_params, cap_params;
    mf_optim_group *groups;
    int n_groups, cap_groups;
    /* Names of the state buffers, in slot order (for state files). */
    const char *state_names[MF_OPTIM_MAX_STATE];
    int n_state;
    /* Updates one parameter whose (contiguous) gradient is `grad`. */
    mf_status (*update)(mf_optimizer *opt, mf_optim_param *p, const mf_tensor *grad, const mf_optim_group *g);
};

/* Shared constructor: validates params and fills group 0. */
mf_status mf__optim_create(mf_optim_kind kind, mf_tensor *const *params, int n, double lr, double weight_decay,
                           mf_optimizer **out);

#endif
