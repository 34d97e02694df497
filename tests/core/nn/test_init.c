/* Initialisation: torch's bounds and spreads, and one seed giving the same
 * weights every time. */
#include <math.h>

#include "core/nn/internal.h"
#include "tests/core/nn/nn_expect.h"

typedef struct {
    double min, max, mean, var;
} stats;

static stats stats_of(const mf_tensor *t) {
    int64_t n = mf_tensor_numel(t);
    stats s = {INFINITY, -INFINITY, 0, 0};
    for (int64_t i = 0; i < n; i++) {
        double v = mf_tensor_get_flat(t, i);
        s.min = fmin(s.min, v);
        s.max = fmax(s.max, v);
        s.mean += v;
    }
    s.mean /= (double)n;
    for (int64_t i = 0; i < n; i++) {
        double d = mf_tensor_get_flat(t, i) - s.mean;
        s.var += d * d;
    }
    s.var /= (double)(n - 1);
    return s;
}

/* Uniform in +-bound: inside the bounds, reaching near them, variance bound^2/3. */
static void assert_uniform(const mf_tensor *t, double bound, const char *what) {
    stats s = stats_of(t);
    cr_assert(s.min >= -bound && s.max <= bound, "%s: [%g, %g] outside +-%g", what, s.min, s.max, bound);
    cr_assert(s.min < -0.95 * bound && s.max > 0.95 * bound, "%s: [%g, %g] does not fill +-%g", what, s.min, s.max,
              bound);
    cr_assert(fabs(s.var / (bound * bound / 3) - 1) < 0.1, "%s: variance %g, want %g", what, s.var,
              bound * bound / 3);
    cr_assert(fabs(s.mean) < 0.05 * bound, "%s: mean %g", what, s.mean);
}

Test(nn_init, linear_weight_and_bias_are_uniform_within_one_over_sqrt_fan_in) {
    mf_rng rng;
    mf_rng_init(&rng, 1);
    mf_module *m;
    MF_OK_OR_FAIL(mf_nn_linear_new(256, 64, true, &rng, &m));
    assert_uniform(mf_module_param(m, 0), 1.0 / 16, "Linear weight");
    stats b = stats_of(mf_module_param(m, 1));
    cr_assert(b.min >= -1.0 / 16 && b.max <= 1.0 / 16 && b.max > b.min);
    mf_module_free(m);
}

Test(nn_init, conv_fan_in_counts_the_receptive_field) {
    mf_rng rng;
    mf_rng_init(&rng, 2);
    mf_module *m;
    mf_conv_spec s = mf_conv_spec_make(2, 16, 32, 3, 1, 1);
    MF_OK_OR_FAIL(mf_nn_conv_new(&s, &rng, &m));
    assert_uniform(mf_module_param(m, 0), 1.0 / 12, "Conv2d(16, 32, 3) weight"); /* fan_in 144 */
    mf_module_free(m);
    /* Transposed weight (in, out, k, k): fan_in is out * k * k = 8 * 16. */
    s = mf_conv_spec_make(2, 16, 8, 4, 2, 1);
    MF_OK_OR_FAIL(mf_nn_conv_transpose_new(&s, &rng, &m));
    assert_uniform(mf_module_param(m, 0), 1.0 / sqrt(128.0), "ConvTranspose2d weight");
    stats b = stats_of(mf_module_param(m, 1));
    cr_assert(b.min >= -1.0 / sqrt(128.0) && b.max <= 1.0 / sqrt(128.0));
    mf_module_free(m);
}

Test(nn_init, the_same_seed_gives_the_same_weights_and_another_seed_others) {
    mf_rng r1, r2, r3;
    mf_rng_init(&r1, 42);
    mf_rng_init(&r2, 42);
    mf_rng_init(&r3, 43);
    mf_module *a, *b, *c;
    MF_OK_OR_FAIL(mf_nn_linear_new(32, 16, true, &r1, &a));
    MF_OK_OR_FAIL(mf_nn_linear_new(32, 16, true, &r2, &b));
    MF_OK_OR_FAIL(mf_nn_linear_new(32, 16, true, &r3, &c));
    t_assert_close(mf_module_param(a, 0), mf_module_param(b, 0), 0, 0, "same seed weight");
    t_assert_close(mf_module_param(a, 1), mf_module_param(b, 1), 0, 0, "same seed bias");
    cr_assert(t_close_ratio(mf_module_param(a, 0), mf_module_param(c, 0), 0, 0) > 1, "other seed, same weights");
    mf_module_free(a);
    mf_module_free(b);
    mf_module_free(c);
}

Test(nn_init, xavier_uniform_and_normal_follow_fan_in_plus_fan_out) {
    mf_rng rng;
    mf_rng_init(&rng, 3);
    mf_tensor *t;
    MF_OK_OR_FAIL(mf_tensor_zeros(2, (int64_t[]){300, 200}, MF_F32, MF_DEVICE_CPU, &t));
    MF_OK_OR_FAIL(mf_init_xavier_uniform_(t, &rng, 1.0));
    assert_uniform(t, sqrt(6.0 / 500), "xavier uniform");
    MF_OK_OR_FAIL(mf_init_xavier_normal_(t, &rng, 2.0));
    stats s = stats_of(t);
    double want = 4.0 * 2.0 / 500;
    cr_assert(fabs(s.var / want - 1) < 0.05, "xavier normal variance %g, want %g", s.var, want);
    mf_tensor_release(t);
}

Test(nn_init, kaiming_normal_uses_fan_out_when_asked) {
    mf_rng rng;
    mf_rng_init(&rng, 4);
    mf_tensor *t;
    MF_OK_OR_FAIL(mf_tensor_zeros(4, (int64_t[]){64, 16, 3, 3}, MF_F32, MF_DEVICE_CPU, &t));
    MF_OK_OR_FAIL(mf_init_kaiming_normal_(t, &rng, 0, true));
    stats s = stats_of(t);
    double want = 2.0 / (64 * 9);
    cr_assert(fabs(s.var / want - 1) < 0.1, "kaiming normal fan_out variance %g, want %g", s.var, want);
    mf_tensor_release(t);
}

Test(nn_init, trunc_normal_stays_inside_its_bounds) {
    mf_rng rng;
    mf_rng_init(&rng, 5);
    mf_tensor *t;
    MF_OK_OR_FAIL(mf_tensor_zeros(1, (int64_t[]){20000}, MF_F32, MF_DEVICE_CPU, &t));
    MF_OK_OR_FAIL(mf_init_trunc_normal_(t, &rng, 0.0, 0.02, -0.04, 0.04));
    stats s = stats_of(t);
    cr_assert(s.min >= -0.04 && s.max <= 0.04, "[%g, %g]", s.min, s.max);
    /* A normal truncated at +-2 std keeps about 0.774 of its variance. */
    cr_assert(fabs(s.var / (0.774 * 0.0004) - 1) < 0.1, "variance %g", s.var);
    mf_tensor_release(t);
}

Test(nn_init, constants_and_gains) {
    mf_tensor *t;
    MF_OK_OR_FAIL(mf_tensor_zeros(2, (int64_t[]){3, 4}, MF_F64, MF_DEVICE_CPU, &t));
    MF_OK_OR_FAIL(mf_init_ones_(t));
    cr_assert_eq(mf_tensor_get_flat(t, 11), 1.0);
    MF_OK_OR_FAIL(mf_init_constant_(t, -2.5));
    cr_assert_eq(mf_tensor_get_flat(t, 5), -2.5);
    MF_OK_OR_FAIL(mf_init_zeros_(t));
    cr_assert_eq(mf_tensor_get_flat(t, 0), 0.0);
    mf_tensor_release(t);
    double g;
    MF_OK_OR_FAIL(mf_init_gain("relu", 0, &g));
    cr_assert_float_eq(g, sqrt(2.0), 1e-12);
    MF_OK_OR_FAIL(mf_init_gain("leaky_relu", sqrt(5.0), &g));
    cr_assert_float_eq(g, sqrt(1.0 / 3), 1e-12);
    cr_assert_eq(mf_init_gain("swish", 0, &g), MF_ERR_INVALID);
    cr_assert(strstr(mf_last_error(), "swish"));
}

Test(nn_init, bad_tensors_are_rejected) {
    mf_rng rng;
    mf_rng_init(&rng, 6);
    mf_tensor *v, *i;
    MF_OK_OR_FAIL(mf_tensor_zeros(1, (int64_t[]){5}, MF_F32, MF_DEVICE_CPU, &v));
    MF_OK_OR_FAIL(mf_tensor_zeros(2, (int64_t[]){2, 2}, MF_I64, MF_DEVICE_CPU, &i));
    cr_assert_eq(mf_init_kaiming_uniform_(v, &rng, 0), MF_ERR_SHAPE);
    cr_assert(strstr(mf_last_error(), "[5]"), "%s", mf_last_error());
    cr_assert_eq(mf_init_xavier_uniform_(i, &rng, 1), MF_ERR_DTYPE);
    cr_assert_eq(mf_init_trunc_normal_(v, &rng, 0, 1, 2, -2), MF_ERR_INVALID);
    mf_tensor_release(v);
    mf_tensor_release(i);
}

Test(init, checking_a_config_skips_the_random_draws_and_nothing_else) {
    mf_tensor *t;
    MF_OK_OR_FAIL(mf_tensor_zeros(2, (int64_t[]){8, 8}, MF_F32, MF_DEVICE_CPU, &t));
    mf_rng rng;
    mf_rng_init(&rng, 1);
    cr_assert_eq(mf__init_skip_random(true), false);
    MF_OK_OR_FAIL(mf_init_kaiming_uniform_(t, &rng, 0));
    MF_OK_OR_FAIL(mf_init_xavier_normal_(t, &rng, 1));
    MF_OK_OR_FAIL(mf_init_trunc_normal_(t, &rng, 0, 1, -2, 2));
    for (int64_t i = 0; i < 64; i++)
        cr_assert_eq(mf_tensor_get_flat(t, i), 0.0, "drawn while skipping");
    /* argument errors are still errors, constants still fill */
    cr_assert_eq(mf_init_normal_(t, &rng, 0, -1), MF_ERR_INVALID);
    MF_OK_OR_FAIL(mf_init_ones_(t));
    cr_assert_eq(mf_tensor_get_flat(t, 5), 1.0);
    cr_assert_eq(mf__init_skip_random(false), true);
    MF_OK_OR_FAIL(mf_init_normal_(t, &rng, 0, 1));
    cr_assert_neq(mf_tensor_get_flat(t, 5), 1.0, "draws again once reset");
    mf_tensor_release(t);
}
