/* Weight initialisation with torch.nn.init's formulas, drawing from the
 * seeded Philox generator so that one seed reproduces the same weights on
 * any thread count. All fills are in place and never recorded. */
#include <math.h>
#include <string.h>

#include "medfm/nn.h"

mf_status mf_init_fans(const mf_tensor *t, int64_t *fan_in, int64_t *fan_out) {
    if (t->ndim < 2)
        return MF_ERR(MF_ERR_SHAPE, "init: fan in/out need a tensor with at least 2 dims, got %s", MF_SHAPE(t));
    int64_t rf = 1;
    for (int d = 2; d < t->ndim; d++)
        rf *= t->shape[d];
    *fan_in = t->shape[1] * rf;
    *fan_out = t->shape[0] * rf;
    return MF_OK;
}

mf_status mf_init_gain(const char *nl, double param, double *gain) {
    if (!strcmp(nl, "linear") || !strncmp(nl, "conv", 4) || !strcmp(nl, "sigmoid"))
        *gain = 1.0;
    else if (!strcmp(nl, "tanh"))
        *gain = 5.0 / 3.0;
    else if (!strcmp(nl, "relu"))
        *gain = sqrt(2.0);
    else if (!strcmp(nl, "leaky_relu"))
        *gain = sqrt(2.0 / (1.0 + param * param));
    else if (!strcmp(nl, "selu"))
        *gain = 3.0 / 4.0;
    else
        return MF_ERR(MF_ERR_INVALID, "init: unknown nonlinearity '%s'", nl);
    return MF_OK;
}

static mf_status need_float(const char *fn, const mf_tensor *t) {
    if (!t)
        return MF_ERR(MF_ERR_INVALID, "%s: tensor is NULL", fn);
    if (!mf_dtype_is_float(t->dtype))
        return MF_ERR(MF_ERR_DTYPE, "%s: need a float tensor, got %s", fn, mf_dtype_name(t->dtype));
    return MF_OK;
}

/* Set while a config is only being checked: models are built to prove
 * their shapes and names, and drawing millions of random weights (a
 * ResNet-50 per config) would be the whole cost. */
static _Thread_local bool skip_random;

bool mf__init_skip_random(bool skip) {
    bool was = skip_random;
    skip_random = skip;
    return was;
}

static mf_status draw_uniform_(mf_tensor *t, mf_rng *rng, double lo, double hi) {
    return skip_random ? MF_OK : mf_rand_uniform_(t, rng, lo, hi);
}
static mf_status draw_normal_(mf_tensor *t, mf_rng *rng, double mean, double std) {
    return skip_random ? MF_OK : mf_rand_normal_(t, rng, mean, std);
}
static mf_status draw_trunc_normal_(mf_tensor *t, mf_rng *rng, double mean, double std, double a, double b) {
    return skip_random ? MF_OK : mf_rand_trunc_normal_(t, rng, mean, std, a, b);
}

mf_status mf_init_uniform_(mf_tensor *t, mf_rng *rng, double lo, double hi) {
    MF_TRY(need_float("init uniform", t));
    if (!(hi >= lo))
        return MF_ERR(MF_ERR_INVALID, "init uniform: bounds [%g, %g) are reversed", lo, hi);
    return draw_uniform_(t, rng, lo, hi);
}

mf_status mf_init_normal_(mf_tensor *t, mf_rng *rng, double mean, double std) {
    MF_TRY(need_float("init normal", t));
    if (!(std >= 0))
        return MF_ERR(MF_ERR_INVALID, "init normal: std %g is negative", std);
    return draw_normal_(t, rng, mean, std);
}

mf_status mf_init_trunc_normal_(mf_tensor *t, mf_rng *rng, double mean, double std, double a, double b) {
    MF_TRY(need_float("init trunc normal", t));
    if (!(std > 0) || !(b > a))
        return MF_ERR(MF_ERR_INVALID, "init trunc normal: std %g must be > 0 and [a, b] = [%g, %g] non-empty", std, a,
                      b);
    return draw_trunc_normal_(t, rng, mean, std, a, b);
}

mf_status mf_init_constant_(mf_tensor *t, double value) {
    MF_TRY(need_float("init constant", t));
    return mf_tensor_fill_(t, value);
}
mf_status mf_init_zeros_(mf_tensor *t) { return mf_init_constant_(t, 0.0); }
mf_status mf_init_ones_(mf_tensor *t) { return mf_init_constant_(t, 1.0); }

mf_status mf_init_kaiming_uniform_(mf_tensor *t, mf_rng *rng, double a) {
    MF_TRY(need_float("init kaiming uniform", t));
    int64_t fan_in, fan_out;
    MF_TRY(mf_init_fans(t, &fan_in, &fan_out));
    if (fan_in == 0)
        return MF_OK; /* torch warns and leaves a zero-element tensor alone */
    double gain = sqrt(2.0 / (1.0 + a * a));
    double bound = sqrt(3.0) * gain / sqrt((double)fan_in);
    return draw_uniform_(t, rng, -bound, bound);
}

mf_status mf_init_kaiming_normal_(mf_tensor *t, mf_rng *rng, double a, bool fan_out_mode) {
    MF_TRY(need_float("init kaiming normal", t));
    int64_t fan_in, fan_out;
    MF_TRY(mf_init_fans(t, &fan_in, &fan_out));
    int64_t fan = fan_out_mode ? fan_out : fan_in;
    if (fan == 0)
        return MF_OK;
    double gain = sqrt(2.0 / (1.0 + a * a));
    return draw_normal_(t, rng, 0.0, gain / sqrt((double)fan));
}

mf_status mf_init_xavier_uniform_(mf_tensor *t, mf_rng *rng, double gain) {
    MF_TRY(need_float("init xavier uniform", t));
    int64_t fan_in, fan_out;
    MF_TRY(mf_init_fans(t, &fan_in, &fan_out));
    if (fan_in + fan_out == 0)
        return MF_OK;
    double bound = gain * sqrt(6.0 / (double)(fan_in + fan_out));
    return draw_uniform_(t, rng, -bound, bound);
}

mf_status mf_init_xavier_normal_(mf_tensor *t, mf_rng *rng, double gain) {
    MF_TRY(need_float("init xavier normal", t));
    int64_t fan_in, fan_out;
    MF_TRY(mf_init_fans(t, &fan_in, &fan_out));
    if (fan_in + fan_out == 0)
        return MF_OK;
    return draw_normal_(t, rng, 0.0, gain * sqrt(2.0 / (double)(fan_in + fan_out)));
}

mf_status mf_init_torch_default_(mf_tensor *weight, mf_tensor *bias, mf_rng *rng) {
    MF_TRY(mf_init_kaiming_uniform_(weight, rng, sqrt(5.0)));
    if (!bias)
        return MF_OK;
    int64_t fan_in, fan_out;
    MF_TRY(mf_init_fans(weight, &fan_in, &fan_out));
    double bound = fan_in > 0 ? 1.0 / sqrt((double)fan_in) : 0.0;
    return mf_init_uniform_(bias, rng, -bound, bound);
}
