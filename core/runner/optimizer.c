/* The `optim:` section made real: optimiser, weight decay, betas and the
 * learning-rate schedule. */
#include <string.h>

#include "core/runner/internal.h"

mf_status mf__runner_make_optimizer(const mf_cfg *cfg, mf_tensor *const *params, int n, mf_optimizer **opt,
                                    mf_lr_schedule *sched, int64_t total_steps) {
    const char *name, *sname;
    double lr, wd, mom, eps, b1 = 0.9, b2 = 0.999;
    bool nesterov;
    MF_TRY(mf_cfg_get_string(cfg, "optim.name", "adam", &name));
    MF_TRY(mf_cfg_get_float(cfg, "optim.lr", 1e-3, &lr));
    MF_TRY(mf_cfg_get_float(cfg, "optim.weight_decay", 0, &wd));
    MF_TRY(mf_cfg_get_float(cfg, "optim.momentum", 0.9, &mom));
    MF_TRY(mf_cfg_get_float(cfg, "optim.eps", 1e-8, &eps));
    MF_TRY(mf_cfg_get_bool(cfg, "optim.nesterov", false, &nesterov));
    const mf_cfg *betas = mf_cfg_find(cfg, "optim.betas");
    if (betas && betas->kind == MF_CFG_LIST && betas->n == 2) {
        MF_TRY(mf_cfg_as_float(betas->items[0], &b1));
        MF_TRY(mf_cfg_as_float(betas->items[1], &b2));
    }
    MF_TRY(mf_cfg_get_string(cfg, "optim.schedule.name", "constant", &sname));
    memset(sched, 0, sizeof *sched);
    MF_TRY(mf_lr_kind_parse(sname, &sched->kind));
    int64_t i64;
    MF_TRY(mf_cfg_get_int(cfg, "optim.schedule.step_size", 1, &sched->step_size));
    MF_TRY(mf_cfg_get_float(cfg, "optim.schedule.gamma", 0.1, &sched->gamma));
    MF_TRY(mf_cfg_get_int(cfg, "optim.schedule.times", 4, &i64));
    sched->times = (int)i64;
    MF_TRY(mf_cfg_get_int(cfg, "optim.schedule.warmup_steps", 0, &sched->warmup_steps));
    MF_TRY(mf_cfg_get_float(cfg, "optim.schedule.min_lr", 0, &sched->min_lr));
    MF_TRY(mf_cfg_get_float(cfg, "optim.schedule.power", 0.9, &sched->power));
    if (mf_lr_schedule_check(sched, total_steps) != MF_OK)
        return mf_error_context(MF_ERR_CONFIG, "%s: optim.schedule", mf_cfg_where(mf_cfg_find(cfg, "optim.schedule")));
    if (!opt)
        return MF_OK;
    *opt = NULL;
    if (!strcmp(name, "sgd")) {
        mf_sgd_options o = mf_sgd_defaults(lr);
        o.momentum = mom;
        o.weight_decay = wd;
        o.nesterov = nesterov;
        return mf_sgd_new(params, n, &o, opt);
    }
    mf_adam_options o = !strcmp(name, "adamw") ? mf_adamw_defaults(lr) : mf_adam_defaults(lr);
    o.beta1 = b1;
    o.beta2 = b2;
    o.eps = eps;
    o.weight_decay = wd;
    return !strcmp(name, "adamw") ? mf_adamw_new(params, n, &o, opt) : mf_adam_new(params, n, &o, opt);
}
