/* What every optimiser shares: parameter groups, the step loop that checks
 * each gradient and hands it to the kind's update, lr access, zero_grad. */
#include <stdlib.h>
#include <string.h>

#include "core/ops/internal.h"
#include "core/optim/optimizer.h"

static mf_status check_param(const mf_optimizer *opt, const mf_tensor *p, int i) {
    if (!p)
        return MF_ERR(MF_ERR_INVALID, "%s: parameter %d is NULL", opt->name, i);
    if (p->dtype != MF_F32 && p->dtype != MF_F64)
        return MF_ERR(MF_ERR_DTYPE, "%s: parameter %d is %s; optimisers update f32 or f64 parameters", opt->name, i,
                      mf_dtype_name(p->dtype));
    if (!mf_tensor_is_contiguous(p))
        return MF_ERR(MF_ERR_INVALID, "%s: parameter %d (shape %s) is not contiguous", opt->name, i, MF_SHAPE(p));
    for (int k = 0; k < opt->n_params; k++)
        if (opt->params[k].param == p)
            return MF_ERR(MF_ERR_INVALID, "%s: a parameter (shape %s) appears in more than one place", opt->name,
                          MF_SHAPE(p));
    return MF_OK;
}

mf_status mf__optim_create(mf_optim_kind kind, mf_tensor *const *params, int n, double lr, double weight_decay,
                           mf_optimizer **out) {
    static const char *const names[] = {"sgd", "adam", "adamw"};
    mf_optimizer *o = calloc(1, sizeof *o);
    if (!o)
        return MF_ERR(MF_ERR_NOMEM, "%s: out of memory", names[kind]);
    o->kind = kind;
    o->name = names[kind];
    mf_status st = mf_optim_add_group(o, params, n, lr, weight_decay, NULL);
    if (st != MF_OK) {
        mf_optimizer_free(o);
        return st;
    }
    *out = o;
    return MF_OK;
}

mf_status mf_optim_add_group(mf_optimizer *opt, mf_tensor *const *params, int n, double lr, double weight_decay,
                             int *group) {
    if (n < 0 || (n > 0 && !params))
        return MF_ERR(MF_ERR_INVALID, "%s: bad parameter list (n = %d)", opt->name, n);
    if (!(lr >= 0))
        return MF_ERR(MF_ERR_INVALID, "%s: lr must be >= 0 (got %g)", opt->name, lr);
    if (!(weight_decay >= 0))
        return MF_ERR(MF_ERR_INVALID, "%s: weight_decay must be >= 0 (got %g)", opt->name, weight_decay);
    for (int i = 0; i < n; i++) {
        MF_TRY(check_param(opt, params[i], i));
        for (int k = 0; k < i; k++)
            if (params[k] == params[i])
                return MF_ERR(MF_ERR_INVALID, "%s: parameters %d and %d are the same tensor", opt->name, k, i);
    }
    if (opt->n_groups == opt->cap_groups) {
        int cap = opt->cap_groups ? 2 * opt->cap_groups : 4;
        mf_optim_group *g = realloc(opt->groups, sizeof *g * (size_t)cap);
        if (!g)
            return MF_ERR(MF_ERR_NOMEM, "%s: out of memory", opt->name);
        opt->groups = g;
        opt->cap_groups = cap;
    }
    if (opt->n_params + n > opt->cap_params) {
        int cap = opt->n_params + n + 8;
        mf_optim_param *p = realloc(opt->params, sizeof *p * (size_t)cap);
        if (!p)
            return MF_ERR(MF_ERR_NOMEM, "%s: out of memory", opt->name);
        opt->params = p;
        opt->cap_params = cap;
    }
    int g = opt->n_groups++;
    opt->groups[g] = (mf_optim_group){.lr = lr, .base_lr = lr, .weight_decay = weight_decay};
    for (int i = 0; i < n; i++)
        opt->params[opt->n_params++] = (mf_optim_param){.param = mf_tensor_retain(params[i]), .group = g};
    if (group)
        *group = g;
    return MF_OK;
}

void mf_optimizer_free(mf_optimizer *opt) {
    if (!opt)
        return;
    for (int i = 0; i < opt->n_params; i++) {
        mf_tensor_release(opt->params[i].param);
        for (int s = 0; s < MF_OPTIM_MAX_STATE; s++)
            mf_tensor_release(opt->params[i].state[s]);
    }
    free(opt->params);
    free(opt->groups);
    free(opt);
}

mf_status mf_optim_step(mf_optimizer *opt) {
    for (int i = 0; i < opt->n_params; i++) {
        mf_optim_param *p = &opt->params[i];
        const mf_tensor *g = p->param->grad;
        if (!g)
            continue;
        if (g->dtype != p->param->dtype || !mf_tensor_same_shape(g, p->param))
            return MF_ERR(MF_ERR_SHAPE, "%s: parameter %d is %s %s but its gradient is %s %s", opt->name, i,
                          mf_dtype_name(p->param->dtype), MF_SHAPE(p->param), mf_dtype_name(g->dtype), MF_SHAPE(g));
        MF_TRY(mf__same_device(opt->name, p->param, g));
        mf_tensor *gc;
        MF_TRY(mf__contiguous_raw(g, &gc));
        mf_status st = opt->update(opt, p, gc, &opt->groups[p->group]);
        mf_tensor_release(gc);
        if (st != MF_OK)
            return mf_error_context(st, "%s: updating parameter %d", opt->name, i);
    }
    return MF_OK;
}

void mf_optim_zero_grad(mf_optimizer *opt) {
    for (int i = 0; i < opt->n_params; i++)
        mf_tensor_zero_grad(opt->params[i].param);
}

const char *mf_optim_name(const mf_optimizer *opt) { return opt->name; }
int mf_optim_param_count(const mf_optimizer *opt) { return opt->n_params; }
int mf_optim_group_count(const mf_optimizer *opt) { return opt->n_groups; }

double mf_optim_lr(const mf_optimizer *opt, int group) {
    return group >= 0 && group < opt->n_groups ? opt->groups[group].lr : 0.0;
}

double mf_optim_base_lr(const mf_optimizer *opt, int group) {
    return group >= 0 && group < opt->n_groups ? opt->groups[group].base_lr : 0.0;
}

mf_status mf_optim_set_lr(mf_optimizer *opt, int group, double lr) {
    if (!(lr >= 0))
        return MF_ERR(MF_ERR_INVALID, "%s: lr must be >= 0 (got %g)", opt->name, lr);
    if (group >= opt->n_groups)
        return MF_ERR(MF_ERR_INVALID, "%s: no parameter group %d (have %d)", opt->name, group, opt->n_groups);
    for (int g = 0; g < opt->n_groups; g++)
        if (group < 0 || g == group)
            opt->groups[g].lr = lr;
    return MF_OK;
}

int64_t mf_optim_param_steps(const mf_optimizer *opt, int i) {
    return i >= 0 && i < opt->n_params ? opt->params[i].step : 0;
}

mf_status mf_optim_apply_schedule(mf_optimizer *opt, const mf_lr_schedule *s, int64_t step, int64_t total) {
    MF_TRY(mf_lr_schedule_check(s, total));
    for (int g = 0; g < opt->n_groups; g++)
        opt->groups[g].lr = mf_lr_at(s, opt->groups[g].base_lr, step, total);
    return MF_OK;
}
