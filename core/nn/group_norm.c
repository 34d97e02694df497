/* nn.GroupNorm(groups, channels) with per-channel affine weight (ones) and
 * bias (zeros). */
#include "core/nn/internal.h"

typedef struct {
    mf_module base;
    int64_t groups, channels;
    double eps;
    int w, b;
} gn_module;

static mf_status gn_forward(mf_module *m, const mf_tensor *x, mf_tensor **out) {
    gn_module *gn = (gn_module *)m;
    if (x->ndim < 2 || x->shape[1] != gn->channels)
        return MF_ERR(MF_ERR_SHAPE, "GroupNorm(%lld, %lld): input %s, want (N, %lld, ...)", (long long)gn->groups,
                      (long long)gn->channels, MF_SHAPE(x), (long long)gn->channels);
    return mf_group_norm(x, gn->groups, mf_module_param(m, gn->w), mf_module_param(m, gn->b), gn->eps, out);
}

static const mf_module_vtable gn_vt = {"GroupNorm", gn_forward, NULL};

mf_status mf_nn_group_norm_new(int64_t groups, int64_t channels, const mf_norm_spec *spec, mf_module **out) {
    *out = NULL;
    mf_norm_spec s = spec ? *spec : mf_norm_spec_default();
    if (groups < 1 || channels < 1 || channels % groups || !(s.eps > 0))
        return MF_ERR(MF_ERR_INVALID, "GroupNorm: %lld channels must split into %lld groups (eps %g)",
                      (long long)channels, (long long)groups, s.eps);
    mf_module *m;
    MF_TRY(mf_module_alloc(sizeof(gn_module), &gn_vt, &m));
    gn_module *gn = (gn_module *)m;
    gn->groups = groups;
    gn->channels = channels;
    gn->eps = s.eps;
    gn->w = gn->b = -1;
    mf_status st = MF_OK;
    if (s.affine) {
        MF_CHECK(mf__nn_param_const(m, "weight", 1, &channels, 1.0, &gn->w));
        MF_CHECK(mf__nn_param_const(m, "bias", 1, &channels, 0.0, &gn->b));
    }
cleanup:
    if (st != MF_OK)
        mf_module_free(m);
    else
        *out = m;
    return st;
}
