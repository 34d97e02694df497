/* The loss scaler for f16 training: scale the loss, check and unscale the
 * gradients, skip non-finite steps and adapt the scale (see medfm/amp.h). */
#include <math.h>

#include "medfm/amp.h"
#include "medfm/autograd.h"
#include "medfm/ops.h"

mf_loss_scaler mf_loss_scaler_dynamic(double init_scale) {
    return (mf_loss_scaler){.scale = init_scale, .growth = 2.0, .backoff = 0.5, .interval = 2000, .dynamic = true};
}

mf_loss_scaler mf_loss_scaler_fixed(double scale) {
    mf_loss_scaler s = mf_loss_scaler_dynamic(scale);
    s.dynamic = false;
    return s;
}

mf_status mf_loss_scaler_check(const mf_loss_scaler *s) {
    if (!(s->scale > 0) || !isfinite(s->scale))
        return MF_ERR(MF_ERR_INVALID, "loss scaler: scale must be a finite number > 0, got %g", s->scale);
    if (s->dynamic && !(s->growth > 1))
        return MF_ERR(MF_ERR_INVALID, "loss scaler: growth factor must be > 1, got %g", s->growth);
    if (s->dynamic && !(s->backoff > 0 && s->backoff < 1))
        return MF_ERR(MF_ERR_INVALID, "loss scaler: backoff factor must be in (0, 1), got %g", s->backoff);
    if (s->dynamic && s->interval < 1)
        return MF_ERR(MF_ERR_INVALID, "loss scaler: growth interval must be >= 1, got %lld", (long long)s->interval);
    return MF_OK;
}

mf_status mf_loss_scaler_scale(const mf_loss_scaler *s, const mf_tensor *loss, mf_tensor **out) {
    return mf_mul_scalar(loss, s->scale, out);
}

mf_status mf_loss_scaler_unscale(const mf_loss_scaler *s, mf_tensor *const *params, int n, bool *finite) {
    *finite = true;
    bool prev = mf_grad_set_enabled(false);
    mf_status st = MF_OK;
    for (int i = 0; st == MF_OK && *finite && i < n; i++)
        if (params[i] && params[i]->grad)
            st = mf_all_finite(params[i]->grad, finite);
    /* a skipped step's gradients are dropped, so only clean ones are unscaled */
    for (int i = 0; st == MF_OK && *finite && i < n; i++)
        if (params[i] && params[i]->grad)
            st = mf_mul_scalar_(params[i]->grad, 1.0 / s->scale);
    mf_grad_set_enabled(prev);
    return st;
}

void mf_loss_scaler_update(mf_loss_scaler *s, bool finite, bool *do_step) {
    *do_step = finite;
    if (!finite) {
        s->skipped++;
        s->good_steps = 0;
        if (s->dynamic)
            s->scale *= s->backoff;
        return;
    }
    s->good_steps++;
    if (s->dynamic && s->good_steps >= s->interval) {
        s->scale *= s->growth;
        s->good_steps = 0;
    }
}

mf_status mf_loss_scaler_step(mf_loss_scaler *s, mf_optimizer *opt, mf_tensor *const *params, int n,
                              bool *stepped) {
    bool finite, go;
    *stepped = false;
    MF_TRY(mf_loss_scaler_unscale(s, params, n, &finite));
    mf_loss_scaler_update(s, finite, &go);
    if (go)
        MF_TRY(mf_optim_step(opt));
    *stepped = go;
    return MF_OK;
}
