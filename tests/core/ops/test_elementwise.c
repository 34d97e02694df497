/* Elementwise ops: values, broadcasting, and finite-difference gradients. */
#include <math.h>

#include "tests/support/testing.h"

typedef mf_status (*binop)(const mf_tensor *, const mf_tensor *, mf_tensor **);
typedef mf_status (*unop)(const mf_tensor *, mf_tensor **);

static mf_status call_bin(void *ctx, mf_tensor *const *in, mf_tensor **out) { return ((binop)ctx)(in[0], in[1], out); }
static mf_status call_un(void *ctx, mf_tensor *const *in, mf_tensor **out) { return ((unop)ctx)(in[0], out); }

Test(elementwise, add_broadcasts_row_against_matrix) {
    mf_tensor *a = t_from(2, (int64_t[]){2, 3}, MF_F32, (double[]){1, 2, 3, 4, 5, 6});
    mf_tensor *b = t_from(1, (int64_t[]){3}, MF_F32, (double[]){10, 20, 30});
    mf_tensor *c;
    MF_OK_OR_FAIL(mf_add(a, b, &c));
    mf_tensor *want = t_from(2, (int64_t[]){2, 3}, MF_F32, (double[]){11, 22, 33, 14, 25, 36});
    t_assert_close(c, want, 0, 0, "add");
    mf_tensor_release(a);
    mf_tensor_release(b);
    mf_tensor_release(c);
    mf_tensor_release(want);
}

Test(elementwise, incompatible_shapes_give_a_shape_error_naming_both) {
    mf_tensor *a = t_uniform(1, 2, (int64_t[]){2, 3}, MF_F32, 0, 1);
    mf_tensor *b = t_uniform(2, 2, (int64_t[]){2, 4}, MF_F32, 0, 1);
    mf_tensor *c = NULL;
    cr_assert_eq(mf_mul(a, b, &c), MF_ERR_SHAPE);
    cr_assert(strstr(mf_last_error(), "[2, 3]") && strstr(mf_last_error(), "[2, 4]"), "%s", mf_last_error());
    cr_assert_null(c);
    mf_tensor_release(a);
    mf_tensor_release(b);
}

Test(elementwise, mixed_dtypes_are_rejected) {
    mf_tensor *a = t_uniform(1, 1, (int64_t[]){3}, MF_F32, 0, 1);
    mf_tensor *b = t_uniform(2, 1, (int64_t[]){3}, MF_F64, 0, 1);
    mf_tensor *c = NULL;
    cr_assert_eq(mf_add(a, b, &c), MF_ERR_DTYPE);
    cr_assert(strstr(mf_last_error(), "f32") && strstr(mf_last_error(), "f64"));
    mf_tensor_release(a);
    mf_tensor_release(b);
}

Test(elementwise, binary_grads_match_finite_difference_with_broadcast) {
    struct {
        const char *name;
        binop f;
        double lo;
    } ops[] = {{"add", mf_add, -1}, {"sub", mf_sub, -1}, {"mul", mf_mul, -1}, {"div", mf_div, 0.5},
               {"pow", mf_pow, 0.5}, {"maximum", mf_maximum, -1}, {"minimum", mf_minimum, -1}};
    for (size_t i = 0; i < sizeof ops / sizeof ops[0]; i++) {
        mf_tensor *a = t_param(t_uniform(3 + i, 3, (int64_t[]){2, 3, 4}, MF_F64, ops[i].lo, 2));
        mf_tensor *b = t_param(t_uniform(7 + i, 2, (int64_t[]){1, 4}, MF_F64, ops[i].lo, 2));
        mf_tensor *in[2] = {a, b};
        t_gradcheck(ops[i].name, call_bin, (void *)ops[i].f, 2, in, 1e-6, 1e-7, 1e-5);
        mf_tensor_release(a);
        mf_tensor_release(b);
    }
}

static mf_status softplus2(const mf_tensor *x, mf_tensor **o) { return mf_softplus(x, 2.0, 20.0, o); }
static mf_status leaky(const mf_tensor *x, mf_tensor **o) { return mf_leaky_relu(x, 0.1, o); }
static mf_status pow3(const mf_tensor *x, mf_tensor **o) { return mf_pow_scalar(x, 3.0, o); }
static mf_status clampab(const mf_tensor *x, mf_tensor **o) { return mf_clamp(x, -0.5, 0.7, o); }
static mf_status aff(const mf_tensor *x, mf_tensor **o) { return mf_affine(x, -2.5, 0.3, o); }

Test(elementwise, unary_grads_match_finite_difference) {
    struct {
        const char *name;
        unop f;
        double lo, hi;
    } ops[] = {{"neg", mf_neg, -2, 2},       {"relu", mf_relu, -2, 2},       {"gelu", mf_gelu, -3, 3},
               {"sigmoid", mf_sigmoid, -4, 4}, {"tanh", mf_tanh, -2, 2},   {"exp", mf_exp, -2, 2},
               {"log", mf_log, 0.2, 3},       {"log1p", mf_log1p, -0.5, 3}, {"sqrt", mf_sqrt, 0.2, 3},
               {"rsqrt", mf_rsqrt, 0.2, 3},   {"abs", mf_abs, -2, 2},       {"square", mf_square, -2, 2},
               {"reciprocal", mf_reciprocal, 0.3, 2}, {"sin", mf_sin, -3, 3}, {"cos", mf_cos, -3, 3},
               {"erf", mf_erf, -2, 2},        {"silu", mf_silu, -3, 3},     {"softplus", softplus2, -3, 3},
               {"leaky_relu", leaky, -2, 2},  {"pow_scalar", pow3, -2, 2},  {"clamp", clampab, -2, 2},
               {"affine", aff, -2, 2}};
    for (size_t i = 0; i < sizeof ops / sizeof ops[0]; i++) {
        mf_tensor *x = t_param(t_uniform(11 + i, 2, (int64_t[]){3, 5}, MF_F64, ops[i].lo, ops[i].hi));
        t_gradcheck(ops[i].name, call_un, (void *)ops[i].f, 1, &x, 1e-6, 1e-7, 1e-5);
        mf_tensor_release(x);
    }
}

Test(elementwise, gelu_matches_erf_formula_in_f32) {
    mf_tensor *x = t_from(1, (int64_t[]){4}, MF_F32, (double[]){-2, -0.5, 0.5, 3});
    mf_tensor *y;
    MF_OK_OR_FAIL(mf_gelu(x, &y));
    double want[4];
    double xs[4] = {-2, -0.5, 0.5, 3};
    for (int i = 0; i < 4; i++)
        want[i] = 0.5 * xs[i] * (1 + erf(xs[i] / sqrt(2.0)));
    mf_tensor *w = t_from(1, (int64_t[]){4}, MF_F32, want);
    t_assert_close(y, w, 1e-6, 1e-6, "gelu");
    mf_tensor_release(x);
    mf_tensor_release(y);
    mf_tensor_release(w);
}

Test(elementwise, comparisons_and_where_select_elementwise) {
    mf_tensor *a = t_from(1, (int64_t[]){4}, MF_F64, (double[]){1, 5, 3, 3});
    mf_tensor *b = t_from(1, (int64_t[]){4}, MF_F64, (double[]){2, 2, 3, 4});
    mf_tensor *gt, *y;
    MF_OK_OR_FAIL(mf_gt(a, b, &gt));
    cr_assert_eq(gt->dtype, MF_BOOL);
    MF_OK_OR_FAIL(mf_where(gt, a, b, &y));
    mf_tensor *want = t_from(1, (int64_t[]){4}, MF_F64, (double[]){2, 5, 3, 4});
    t_assert_close(y, want, 0, 0, "where");
    mf_tensor_release(a);
    mf_tensor_release(b);
    mf_tensor_release(gt);
    mf_tensor_release(y);
    mf_tensor_release(want);
}

static mf_status where_fn(void *ctx, mf_tensor *const *in, mf_tensor **out) {
    return mf_where((const mf_tensor *)ctx, in[0], in[1], out);
}

Test(elementwise, where_grad_routes_by_condition) {
    mf_tensor *a = t_param(t_uniform(1, 2, (int64_t[]){2, 3}, MF_F64, -1, 1));
    mf_tensor *b = t_param(t_uniform(2, 1, (int64_t[]){3}, MF_F64, -1, 1));
    mf_tensor *c = t_from(2, (int64_t[]){2, 3}, MF_BOOL, (double[]){1, 0, 1, 0, 0, 1});
    mf_tensor *in[2] = {a, b};
    t_gradcheck("where", where_fn, c, 2, in, 1e-6, 1e-8, 1e-6);
    mf_tensor_release(a);
    mf_tensor_release(b);
    mf_tensor_release(c);
}

Test(elementwise, in_place_add_accumulates_with_broadcast) {
    mf_tensor *d = t_from(2, (int64_t[]){2, 2}, MF_F32, (double[]){1, 2, 3, 4});
    mf_tensor *s = t_from(1, (int64_t[]){2}, MF_F32, (double[]){10, 100});
    MF_OK_OR_FAIL(mf_add_(d, s));
    MF_OK_OR_FAIL(mf_axpy_(d, 0.5, s));
    mf_tensor *want = t_from(2, (int64_t[]){2, 2}, MF_F32, (double[]){16, 152, 18, 154});
    t_assert_close(d, want, 0, 0, "add_");
    mf_tensor_release(d);
    mf_tensor_release(s);
    mf_tensor_release(want);
}

Test(elementwise, bf16_and_f16_round_trip_through_casts) {
    mf_tensor *x = t_from(1, (int64_t[]){5}, MF_F32, (double[]){1.0, -2.5, 0.1, 65504.0, 1e-6});
    mf_tensor *h, *b, *xh, *xb;
    MF_OK_OR_FAIL(mf_to_dtype(x, MF_F16, &h));
    MF_OK_OR_FAIL(mf_to_dtype(x, MF_BF16, &b));
    MF_OK_OR_FAIL(mf_to_dtype(h, MF_F32, &xh));
    MF_OK_OR_FAIL(mf_to_dtype(b, MF_F32, &xb));
    t_assert_close(xh, x, 1e-7, 1e-3, "f16 round trip");
    t_assert_close(xb, x, 1e-9, 8e-3, "bf16 round trip");
    cr_assert_float_eq(mf_tensor_get_flat(xh, 3), 65504.0, 0.0);
    mf_tensor_release(x);
    mf_tensor_release(h);
    mf_tensor_release(b);
    mf_tensor_release(xh);
    mf_tensor_release(xb);
}

Test(elementwise, relu_passes_nan_through_like_torch_so_divergence_shows) {
    for (int dt = 0; dt < 2; dt++) {
        mf_tensor *x, *y;
        MF_OK_OR_FAIL(mf_tensor_zeros(1, (int64_t[]){40}, dt ? MF_F64 : MF_F32, MF_DEVICE_CPU, &x));
        for (int64_t i = 0; i < 40; i++)
            mf_tensor_set_flat(x, i, i % 3 == 0 ? NAN : (i % 3 == 1 ? -1.5 : 2.5));
        MF_OK_OR_FAIL(mf_relu(x, &y));
        for (int64_t i = 0; i < 40; i++) {
            double v = mf_tensor_get_flat(y, i);
            if (i % 3 == 0)
                cr_assert(isnan(v), "relu(nan) = %g at %lld (%s)", v, (long long)i, dt ? "f64" : "f32");
            else
                cr_assert_eq(v, i % 3 == 1 ? 0.0 : 2.5);
        }
        mf_tensor_release(x);
        mf_tensor_release(y);
    }
}
