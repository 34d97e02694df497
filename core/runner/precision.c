/* Mixed precision in the runner: train.precision picks the autocast dtype
 * of forward passes (train and eval), train.loss_scale* the f16 loss
 * scaler. Parameters and optimiser state stay f32 either way. */
#include <stdlib.h>
#include <string.h>

#include "core/runner/internal.h"

/* loss_scale is "dynamic" or a number > 0; *fixed = 0 for dynamic. */
static bool parse_scale(const char *v, double *fixed) {
    if (!strcmp(v, "dynamic")) {
        *fixed = 0;
        return true;
    }
    char *end;
    double x = strtod(v, &end);
    *fixed = x;
    return end != v && !*end && x > 0;
}

mf_status mf__runner_precision(const mf_cfg *cfg, mf_precision *out) {
    const char *prec, *ls = NULL;
    MF_TRY(mf_cfg_get_string(cfg, "train.precision", "f32", &prec));
    out->amp = !strcmp(prec, "bf16") ? MF_BF16 : !strcmp(prec, "f16") ? MF_F16 : MF_F32;
    const mf_cfg *n = mf_cfg_find(cfg, "train.loss_scale");
    if (n && n->kind == MF_CFG_SCALAR)
        ls = n->value;
    out->scaled = out->amp == MF_F16 || ls;
    double init, fixed = 0;
    int64_t interval;
    MF_TRY(mf_cfg_get_float(cfg, "train.loss_scale_init", 65536.0, &init));
    MF_TRY(mf_cfg_get_int(cfg, "train.loss_scale_interval", 2000, &interval));
    if (ls && !parse_scale(ls, &fixed))
        return MF_ERR(MF_ERR_CONFIG, "%s: train.loss_scale: expected 'dynamic' or a number > 0, got '%s'",
                      mf_cfg_where(n), ls);
    out->scaler = fixed > 0 ? mf_loss_scaler_fixed(fixed) : mf_loss_scaler_dynamic(init);
    out->scaler.interval = interval;
    return out->scaled ? mf_loss_scaler_check(&out->scaler) : MF_OK;
}

void mf__runner_check_precision(const mf_cfg *cfg, mf_diag *d) {
    const mf_cfg *n = mf_cfg_find(cfg, "train.loss_scale");
    double fixed;
    if (n && n->kind == MF_CFG_SCALAR && !parse_scale(n->value, &fixed))
        mf_diag_add(d, "%s: train.loss_scale: expected 'dynamic' or a number > 0, got '%s'", mf_cfg_where(n),
                    n->value);
}

mf_status mf__precision_enter(const mf_precision *p) { return p->amp == MF_F32 ? MF_OK : mf_autocast_enter(p->amp); }

void mf__precision_exit(const mf_precision *p) {
    if (p->amp != MF_F32)
        mf_autocast_exit();
}
