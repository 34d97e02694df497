/* Gradient-norm clipping with torch.nn.utils.clip_grad_norm_ semantics:
 * one L2 norm over every gradient, scale factor max_norm / (norm + 1e-6)
 * applied only when it is below 1. */
#include <math.h>

#include "core/backend/backend.h"
#include "core/backend/kern_optim.h"
#include "core/ops/internal.h"
#include "medfm/optim.h"

/* Makes p->grad contiguous (kernels need it) and checks its dtype. */
static mf_status grad_ready(mf_tensor *p, int i) {
    mf_tensor *g = p->grad;
    if (g->dtype != MF_F32 && g->dtype != MF_F64)
        return MF_ERR(MF_ERR_DTYPE, "clip_grad_norm: gradient of parameter %d is %s (f32 or f64 expected)", i,
                      mf_dtype_name(g->dtype));
    if (!mf_tensor_is_contiguous(g)) {
        mf_tensor *c;
        MF_TRY(mf__contiguous_raw(g, &c));
        mf_tensor_release(p->grad);
        p->grad = c;
    }
    return MF_OK;
}

mf_status mf_clip_grad_norm(mf_tensor *const *params, int n, double max_norm, double *total_norm) {
    if (!(max_norm >= 0))
        return MF_ERR(MF_ERR_INVALID, "clip_grad_norm: max_norm must be >= 0 (got %g)", max_norm);
    if (n < 0 || (n > 0 && !params))
        return MF_ERR(MF_ERR_INVALID, "clip_grad_norm: bad parameter list (n = %d)", n);
    double sumsq = 0;
    for (int i = 0; i < n; i++) {
        if (!params[i] || !params[i]->grad)
            continue;
        MF_TRY(grad_ready(params[i], i));
        const mf_backend *be;
        MF_TRY(mf_backend_of(params[i]->grad, &be));
        mf_status (*kern)(const mf_tensor *, double *);
        MF_KERNEL(kern, be, optim, sum_squares, "clip_grad_norm");
        double s;
        MF_TRY(kern(params[i]->grad, &s));
        sumsq += s;
    }
    double norm = sqrt(sumsq);
    if (total_norm)
        *total_norm = norm;
    double coef = max_norm / (norm + 1e-6);
    if (!(coef < 1.0) && !isnan(norm))
        return MF_OK;
    for (int i = 0; i < n; i++) {
        if (!params[i] || !params[i]->grad)
            continue;
        const mf_backend *be;
        MF_TRY(mf_backend_of(params[i]->grad, &be));
        mf_status (*kern)(mf_tensor *, double);
        MF_KERNEL(kern, be, optim, scale, "clip_grad_norm");
        MF_TRY(kern(params[i]->grad, coef));
    }
    return MF_OK;
}
