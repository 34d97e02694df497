/* nn.Linear: y = x W^T + b with torch's default init (kaiming uniform with
 * a = sqrt 5, fan-in uniform bias). */
#include "core/nn/internal.h"

typedef struct {
    mf_module base;
    int64_t in, out;
    int w, b;
} linear_module;

static mf_status linear_forward(mf_module *m, const mf_tensor *x, mf_tensor **out) {
    linear_module *l = (linear_module *)m;
    if (x->ndim < 1 || x->shape[x->ndim - 1] != l->in)
        return MF_ERR(MF_ERR_SHAPE, "Linear(%lld, %lld): input %s does not end in %lld features", (long long)l->in,
                      (long long)l->out, MF_SHAPE(x), (long long)l->in);
    return mf_linear(x, mf_module_param(m, l->w), mf_module_param(m, l->b), out);
}

static const mf_module_vtable linear_vt = {"Linear", linear_forward, NULL};

mf_status mf_nn_linear_new(int64_t in_features, int64_t out_features, bool bias, mf_rng *rng, mf_module **out) {
    *out = NULL;
    if (in_features <= 0 || out_features <= 0)
        return MF_ERR(MF_ERR_INVALID, "Linear: features (%lld, %lld) must be positive", (long long)in_features,
                      (long long)out_features);
    mf_module *m;
    MF_TRY(mf_module_alloc(sizeof(linear_module), &linear_vt, &m));
    linear_module *l = (linear_module *)m;
    l->in = in_features;
    l->out = out_features;
    l->b = -1;
    mf_status st = mf__nn_weight_bias(m, 2, (int64_t[]){out_features, in_features}, bias ? out_features : 0, rng,
                                      &l->w, &l->b);
    if (st != MF_OK)
        mf_module_free(m);
    else
        *out = m;
    return st;
}
