/* nn.LayerNorm over the trailing dims, with elementwise affine weight
 * (ones) and bias (zeros) of the normalised shape. */
#include <string.h>

#include "core/nn/internal.h"

typedef struct {
    mf_module base;
    int n;
    int64_t shape[MF_MAX_DIMS];
    double eps;
    int w, b;
} ln_module;

static mf_status ln_forward(mf_module *m, const mf_tensor *x, mf_tensor **out) {
    ln_module *ln = (ln_module *)m;
    bool ok = x->ndim >= ln->n;
    for (int d = 0; ok && d < ln->n; d++)
        ok = x->shape[x->ndim - ln->n + d] == ln->shape[d];
    if (!ok)
        return MF_ERR(MF_ERR_SHAPE, "LayerNorm(%s): input %s does not end in the normalised shape",
                      mf_shape_str(ln->n, ln->shape), MF_SHAPE(x));
    return mf_layer_norm(x, ln->n, mf_module_param(m, ln->w), mf_module_param(m, ln->b), ln->eps, out);
}

static const mf_module_vtable ln_vt = {"LayerNorm", ln_forward, NULL};

mf_status mf_nn_layer_norm_new(int n_dims, const int64_t *normalized_shape, const mf_norm_spec *spec,
                               mf_module **out) {
    *out = NULL;
    mf_norm_spec s = spec ? *spec : mf_norm_spec_default();
    if (n_dims < 1 || n_dims > MF_MAX_DIMS || !normalized_shape || !(s.eps > 0))
        return MF_ERR(MF_ERR_INVALID, "LayerNorm: %d normalised dims or eps %g invalid", n_dims, s.eps);
    for (int d = 0; d < n_dims; d++)
        if (normalized_shape[d] <= 0)
            return MF_ERR(MF_ERR_INVALID, "LayerNorm: normalised shape %s must be positive",
                          mf_shape_str(n_dims, normalized_shape));
    mf_module *m;
    MF_TRY(mf_module_alloc(sizeof(ln_module), &ln_vt, &m));
    ln_module *ln = (ln_module *)m;
    ln->n = n_dims;
    memcpy(ln->shape, normalized_shape, (size_t)n_dims * sizeof(int64_t));
    ln->eps = s.eps;
    ln->w = ln->b = -1;
    mf_status st = MF_OK;
    if (s.affine) {
        MF_CHECK(mf__nn_param_const(m, "weight", n_dims, normalized_shape, 1.0, &ln->w));
        MF_CHECK(mf__nn_param_const(m, "bias", n_dims, normalized_shape, 0.0, &ln->b));
    }
cleanup:
    if (st != MF_OK)
        mf_module_free(m);
    else
        *out = m;
    return st;
}
