/* SGD with momentum, dampening, Nesterov and L2 weight decay, exactly as
 * torch.optim.SGD: the momentum buffer starts as the first (decayed)
 * gradient, dampening applies from the second step on. */
#include "core/backend/backend.h"
#include "core/backend/kern_optim.h"
#include "core/optim/optimizer.h"

mf_sgd_options mf_sgd_defaults(double lr) {
    return (mf_sgd_options){.lr = lr, .momentum = 0, .dampening = 0, .weight_decay = 0, .nesterov = false};
}

static mf_status sgd_update(mf_optimizer *opt, mf_optim_param *p, const mf_tensor *grad, const mf_optim_group *g) {
    const mf_backend *be;
    MF_TRY(mf_backend_of(p->param, &be));
    mf_status (*kern)(mf_tensor *, const mf_tensor *, mf_tensor *, const mf_sgd_hparams *);
    MF_KERNEL(kern, be, optim, sgd, "sgd");
    bool first = false;
    if (opt->sgd.momentum != 0 && !p->state[0]) {
        MF_TRY(mf_tensor_empty_like(p->param, &p->state[0]));
        first = true;
    }
    mf_sgd_hparams h = {.lr = g->lr,
                        .momentum = opt->sgd.momentum,
                        .dampening = opt->sgd.dampening,
                        .weight_decay = g->weight_decay,
                        .nesterov = opt->sgd.nesterov,
                        .first = first};
    MF_TRY(kern(p->param, grad, p->state[0], &h));
    p->step++;
    return MF_OK;
}

mf_status mf_sgd_new(mf_tensor *const *params, int n, const mf_sgd_options *o, mf_optimizer **out) {
    if (!(o->momentum >= 0))
        return MF_ERR(MF_ERR_INVALID, "sgd: momentum must be >= 0 (got %g)", o->momentum);
    if (!(o->dampening >= 0 && o->dampening <= 1))
        return MF_ERR(MF_ERR_INVALID, "sgd: dampening must be in [0, 1] (got %g)", o->dampening);
    if (o->nesterov && (o->momentum <= 0 || o->dampening != 0))
        return MF_ERR(MF_ERR_INVALID, "sgd: nesterov needs momentum > 0 and dampening 0 (got momentum %g, dampening %g)",
                      o->momentum, o->dampening);
    mf_optimizer *opt;
    MF_TRY(mf__optim_create(MF_OPTIM_SGD, params, n, o->lr, o->weight_decay, &opt));
    opt->sgd = *o;
    opt->state_names[0] = "momentum_buffer";
    opt->n_state = 1;
    opt->update = sgd_update;
    *out = opt;
    return MF_OK;
}
