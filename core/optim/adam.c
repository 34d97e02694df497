/* Adam and AdamW, exactly as torch.optim.Adam/AdamW (single-tensor path):
 * bias-corrected moments, eps added outside the square root, optional
 * AMSGrad; Adam adds weight decay to the gradient, AdamW decays the
 * parameter by lr * wd before the update. */
#include "core/backend/backend.h"
#include "core/backend/kern_optim.h"
#include "core/optim/optimizer.h"

mf_adam_options mf_adam_defaults(double lr) {
    return (mf_adam_options){.lr = lr, .beta1 = 0.9, .beta2 = 0.999, .eps = 1e-8, .weight_decay = 0, .amsgrad = false};
}

mf_adam_options mf_adamw_defaults(double lr) {
    mf_adam_options o = mf_adam_defaults(lr);
    o.weight_decay = 0.01;
    return o;
}

static mf_status adam_update(mf_optimizer *opt, mf_optim_param *p, const mf_tensor *grad, const mf_optim_group *g) {
    const mf_backend *be;
    MF_TRY(mf_backend_of(p->param, &be));
    mf_status (*kern)(mf_tensor *, const mf_tensor *, mf_tensor *, mf_tensor *, mf_tensor *, const mf_adam_hparams *);
    MF_KERNEL(kern, be, optim, adam, opt->name);
    int n_buf = opt->adam.amsgrad ? 3 : 2;
    for (int s = 0; s < n_buf; s++)
        if (!p->state[s])
            MF_TRY(mf_tensor_zeros_like(p->param, &p->state[s]));
    mf_adam_hparams h = {.lr = g->lr,
                         .beta1 = opt->adam.beta1,
                         .beta2 = opt->adam.beta2,
                         .eps = opt->adam.eps,
                         .weight_decay = g->weight_decay,
                         .decoupled = opt->kind == MF_OPTIM_ADAMW,
                         .amsgrad = opt->adam.amsgrad,
                         .step = p->step + 1};
    MF_TRY(kern(p->param, grad, p->state[0], p->state[1], opt->adam.amsgrad ? p->state[2] : NULL, &h));
    p->step++;
    return MF_OK;
}

static mf_status adam_create(mf_optim_kind kind, mf_tensor *const *params, int n, const mf_adam_options *o,
                             mf_optimizer **out) {
    const char *name = kind == MF_OPTIM_ADAMW ? "adamw" : "adam";
    if (!(o->beta1 >= 0 && o->beta1 < 1) || !(o->beta2 >= 0 && o->beta2 < 1))
        return MF_ERR(MF_ERR_INVALID, "%s: betas must be in [0, 1) (got %g, %g)", name, o->beta1, o->beta2);
    if (!(o->eps >= 0))
        return MF_ERR(MF_ERR_INVALID, "%s: eps must be >= 0 (got %g)", name, o->eps);
    mf_optimizer *opt;
    MF_TRY(mf__optim_create(kind, params, n, o->lr, o->weight_decay, &opt));
    opt->adam = *o;
    opt->state_names[0] = "exp_avg";
    opt->state_names[1] = "exp_avg_sq";
    opt->state_names[2] = "max_exp_avg_sq";
    opt->n_state = 3;
    opt->update = adam_update;
    *out = opt;
    return MF_OK;
}

mf_status mf_adam_new(mf_tensor *const *params, int n, const mf_adam_options *o, mf_optimizer **out) {
    return adam_create(MF_OPTIM_ADAM, params, n, o, out);
}

mf_status mf_adamw_new(mf_tensor *const *params, int n, const mf_adam_options *o, mf_optimizer **out) {
    return adam_create(MF_OPTIM_ADAMW, params, n, o, out);
}
