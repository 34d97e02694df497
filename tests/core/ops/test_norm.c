/* Batch, layer and group norm: PyTorch golden values for outputs, input
 * and affine gradients and running statistics (f64, and f32 for the fast
 * path), finite-difference gradients, bad input. Cases mirror
 * tools/fixtures/gen_norm.py. */
#include <math.h>
#include <string.h>

#include "tests/core/ops/golden.h"

#define FX "norm.safetensors"

typedef enum { BN, LN, GN } kind;

typedef struct {
    const char *name;
    kind k;
    bool affine;
    bool training;
    double momentum, eps;
    int64_t arg; /* layer norm: n_norm; group norm: groups */
    mf_tensor *rm, *rv; /* batch norm running stats (may be NULL) */
} ncase;

/* inputs: x, weight, bias (weight/bias NULL without affine) */
static mf_status run_case(void *ctx, mf_tensor *const *in, mf_tensor **out) {
    const ncase *c = ctx;
    const mf_tensor *w = c->affine ? in[1] : NULL, *b = c->affine ? in[2] : NULL;
    switch (c->k) {
    case BN: return mf_batch_norm(in[0], c->rm, c->rv, w, b, c->training, c->momentum, c->eps, out);
    case LN: return mf_layer_norm(in[0], (int)c->arg, w, b, c->eps, out);
    case GN: return mf_group_norm(in[0], c->arg, w, b, c->eps, out);
    }
    return MF_ERR_INVALID;
}

static ncase cases[] = {
    {"bn_train", BN, true, true, 0.1, 1e-5, 0, NULL, NULL},
    {"bn_eval", BN, true, false, 0.1, 1e-5, 0, NULL, NULL},
    {"bn_plain", BN, false, true, 0.1, 1e-3, 0, NULL, NULL},
    {"ln_affine", LN, true, false, 0, 1e-5, 2, NULL, NULL},
    {"ln_plain", LN, false, false, 0, 1e-3, 1, NULL, NULL},
    {"gn_affine", GN, true, false, 0, 1e-5, 3, NULL, NULL},
    {"gn_plain", GN, false, false, 0, 1e-3, 2, NULL, NULL},
};
#define N_CASES (sizeof cases / sizeof cases[0])

/* Running stats of a batch norm case in dtype dt: the pre-update values
 * for training cases, the fixed ones for eval. */
static void load_running(ncase *c, mf_dtype dt) {
    c->rm = c->rv = NULL;
    if (c->k != BN || !strcmp(c->name, "bn_plain"))
        return;
    bool train = c->training;
    c->rm = t_golden_load(FX, c->name, train ? "rm0" : "rm", dt);
    c->rv = t_golden_load(FX, c->name, train ? "rv0" : "rv", dt);
}

static void check_case(ncase *c, mf_dtype dt) {
    double atol = dt == MF_F64 ? 1e-12 : 2e-5, rtol = dt == MF_F64 ? 1e-10 : 1e-4;
    load_running(c, dt);
    mf_tensor *in[3] = {t_param(t_golden_load(FX, c->name, "x", dt)), NULL, NULL};
    if (c->affine) {
        in[1] = t_param(t_golden_load(FX, c->name, "w", dt));
        in[2] = t_param(t_golden_load(FX, c->name, "b", dt));
    }
    mf_tensor *y;
    MF_OK_OR_FAIL(run_case(c, in, &y));
    const char *fields[] = {"y", "gx", "gw", "gb"};
    mf_tensor *got[4] = {y, NULL, NULL, NULL};
    mf_tensor *g = t_golden_load(FX, c->name, "g", dt);
    MF_OK_OR_FAIL(mf_backward(y, g, false));
    for (int i = 0; i < 3; i++)
        got[i + 1] = in[i] ? in[i]->grad : NULL;
    char what[128];
    for (int i = 0; i < 4; i++) {
        if (!got[i] && i >= 2)
            continue;
        cr_assert_not_null(got[i], "%s: missing %s", c->name, fields[i]);
        mf_tensor *want = t_golden_load(FX, c->name, fields[i], MF_F64);
        snprintf(what, sizeof what, "%s.%s (%s)", c->name, fields[i], mf_dtype_name(dt));
        t_assert_close(got[i], want, atol, rtol, what);
        mf_tensor_release(want);
    }
    if (c->training && c->rm) { /* updated in place, unbiased variance */
        mf_tensor *rm = t_golden_load(FX, c->name, "rm", MF_F64), *rv = t_golden_load(FX, c->name, "rv", MF_F64);
        snprintf(what, sizeof what, "%s running_mean (%s)", c->name, mf_dtype_name(dt));
        t_assert_close(c->rm, rm, atol, rtol, what);
        snprintf(what, sizeof what, "%s running_var (%s)", c->name, mf_dtype_name(dt));
        t_assert_close(c->rv, rv, atol, rtol, what);
        mf_tensor_release(rm);
        mf_tensor_release(rv);
    }
    for (int i = 0; i < 3; i++)
        mf_tensor_release(in[i]);
    mf_tensor_release(y);
    mf_tensor_release(g);
    mf_tensor_clear(&c->rm);
    mf_tensor_clear(&c->rv);
}

Test(norm, outputs_and_grads_match_torch_in_f64) {
    for (size_t i = 0; i < N_CASES; i++)
        check_case(&cases[i], MF_F64);
}

Test(norm, outputs_and_grads_match_torch_in_f32) {
    for (size_t i = 0; i < N_CASES; i++)
        check_case(&cases[i], MF_F32);
}

Test(norm, grads_match_finite_difference_for_every_op_and_mode) {
    for (size_t i = 0; i < N_CASES; i++) {
        ncase *c = &cases[i];
        load_running(c, MF_F64);
        mf_tensor *in[3] = {t_param(t_golden_load(FX, c->name, "x", MF_F64)), NULL, NULL};
        int n = 1;
        if (c->affine) {
            in[1] = t_param(t_golden_load(FX, c->name, "w", MF_F64));
            in[2] = t_param(t_golden_load(FX, c->name, "b", MF_F64));
            n = 3;
        }
        if (c->training) { /* running stats would drift across the perturbed evaluations */
            mf_tensor_clear(&c->rm);
            mf_tensor_clear(&c->rv);
        }
        t_gradcheck(c->name, run_case, c, n, in, 1e-6, 1e-8, 1e-5);
        for (int k = 0; k < 3; k++)
            mf_tensor_release(in[k]);
        mf_tensor_clear(&c->rm);
        mf_tensor_clear(&c->rv);
    }
}

Test(norm, batch_norm_running_stats_match_torch_after_three_steps) {
    mf_dtype dts[2] = {MF_F64, MF_F32};
    for (int t = 0; t < 2; t++) {
        mf_tensor *rm = t_golden_load(FX, "bn_steps", "rm0", dts[t]), *rv = t_golden_load(FX, "bn_steps", "rv0", dts[t]);
        for (int step = 0; step < 3; step++) {
            char f[8];
            snprintf(f, sizeof f, "x%d", step);
            mf_tensor *x = t_golden_load(FX, "bn_steps", f, dts[t]), *y;
            MF_OK_OR_FAIL(mf_batch_norm(x, rm, rv, NULL, NULL, true, 0.3, 1e-5, &y));
            mf_tensor_release(x);
            mf_tensor_release(y);
        }
        mf_tensor *wm = t_golden_load(FX, "bn_steps", "rm", MF_F64), *wv = t_golden_load(FX, "bn_steps", "rv", MF_F64);
        double tol = dts[t] == MF_F64 ? 1e-12 : 1e-5;
        t_assert_close(rm, wm, tol, tol, "running_mean after 3 steps");
        t_assert_close(rv, wv, tol, tol, "running_var after 3 steps");
        mf_tensor_release(rm);
        mf_tensor_release(rv);
        mf_tensor_release(wm);
        mf_tensor_release(wv);
    }
}

/* A channels-last input (4-D and 5-D) gives the contiguous one's output,
 * running statistics and gradients of x, weight and bias, in training and
 * eval, with and without the fused relu. */
Test(norm, batch_norm_of_a_channels_last_input_equals_that_of_the_contiguous_one) {
    const int64_t shapes[2][5] = {{3, 5, 4, 6}, {2, 4, 3, 2, 5}};
    for (int sh = 0; sh < 2; sh++)
        for (int m = 0; m < 4; m++) {
            bool training = m < 2, relu = m % 2;
            int nd = shapes[sh][4] ? 5 : 4;
            int64_t C = shapes[sh][1];
            mf_tensor *x0 = t_uniform(70 + sh, nd, shapes[sh], MF_F32, -2, 3);
            mf_tensor *r = t_uniform(71, nd, shapes[sh], MF_F32, -1, 1), *x[2], *w[2], *b[2], *rm[2], *rv[2], *y[2];
            for (int k = 0; k < 2; k++) {
                if (k) {
                    MF_OK_OR_FAIL(mf_contiguous_channels_last(x0, &x[k]));
                    cr_assert(mf_tensor_is_channels_last(x[k]) && !mf_tensor_is_contiguous(x[k]));
                    MF_OK_OR_FAIL(mf_tensor_set_requires_grad(x[k], true));
                } else {
                    x[k] = t_param(t_uniform(70 + sh, nd, shapes[sh], MF_F32, -2, 3)); /* x0 again */
                }
                w[k] = t_param(t_uniform(72, 1, &C, MF_F32, 0.5, 1.5));
                b[k] = t_param(t_uniform(73, 1, &C, MF_F32, -1, 1));
                rm[k] = t_uniform(74, 1, &C, MF_F32, -1, 1);
                rv[k] = t_uniform(75, 1, &C, MF_F32, 0.5, 2);
                MF_OK_OR_FAIL((relu ? mf_batch_norm_relu : mf_batch_norm)(x[k], rm[k], rv[k], w[k], b[k], training,
                                                                          0.1, 1e-5, &y[k]));
                mf_tensor *p, *l;
                MF_OK_OR_FAIL(mf_mul(y[k], r, &p));
                MF_OK_OR_FAIL(mf_sum(p, 0, NULL, false, &l));
                MF_OK_OR_FAIL(mf_backward(l, NULL, false));
                mf_tensor_release(p), mf_tensor_release(l);
            }
            t_assert_close(y[1], y[0], 0, 0, "y");
            t_assert_close(rm[1], rm[0], 0, 0, "running mean");
            t_assert_close(rv[1], rv[0], 0, 0, "running var");
            t_assert_close(x[1]->grad, x[0]->grad, 0, 0, "x gradient");
            t_assert_close(w[1]->grad, w[0]->grad, 0, 0, "weight gradient");
            t_assert_close(b[1]->grad, b[0]->grad, 0, 0, "bias gradient");
            mf_tensor *all[] = {x0, r, x[0], x[1], w[0], w[1], b[0], b[1], rm[0], rm[1], rv[0], rv[1], y[0], y[1]};
            t_release_all(all, sizeof all / sizeof *all);
        }
}

Test(norm, layer_norm_rows_have_zero_mean_and_unit_variance_in_f32) {
    mf_tensor *x = t_uniform(4, 2, (int64_t[]){64, 257}, MF_F32, 100, 101), *y, *m, *v;
    MF_OK_OR_FAIL(mf_layer_norm(x, 1, NULL, NULL, 0.0, &y));
    MF_OK_OR_FAIL(mf_mean(y, 1, (int[]){1}, false, &m));
    for (int64_t i = 0; i < 64; i++)
        cr_assert(fabs(mf_tensor_get_flat(m, i)) < 1e-5, "row %lld mean %g", (long long)i, mf_tensor_get_flat(m, i));
    MF_OK_OR_FAIL(mf_mul(y, y, &v));
    mf_tensor_release(m);
    MF_OK_OR_FAIL(mf_mean(v, 1, (int[]){1}, false, &m));
    for (int64_t i = 0; i < 64; i++)
        cr_assert(fabs(mf_tensor_get_flat(m, i) - 1) < 1e-3, "row %lld var %g", (long long)i,
                  mf_tensor_get_flat(m, i));
    mf_tensor_release(x);
    mf_tensor_release(y);
    mf_tensor_release(m);
    mf_tensor_release(v);
}

Test(norm, weight_channel_mismatch_is_a_shape_error) {
    mf_tensor *x = t_uniform(1, 4, (int64_t[]){2, 3, 4, 4}, MF_F32, 0, 1), *w = t_uniform(2, 1, (int64_t[]){4}, MF_F32, 0, 1);
    mf_tensor *y = NULL;
    cr_assert_eq(mf_batch_norm(x, NULL, NULL, w, NULL, true, 0.1, 1e-5, &y), MF_ERR_SHAPE);
    cr_assert(strstr(mf_last_error(), "batch_norm") && strstr(mf_last_error(), "[4]"), "%s", mf_last_error());
    cr_assert_eq(mf_group_norm(x, 3, w, NULL, 1e-5, &y), MF_ERR_SHAPE);
    cr_assert(strstr(mf_last_error(), "group_norm"), "%s", mf_last_error());
    cr_assert_eq(mf_layer_norm(x, 2, w, NULL, 1e-5, &y), MF_ERR_SHAPE);
    cr_assert(strstr(mf_last_error(), "layer_norm"), "%s", mf_last_error());
    cr_assert_null(y);
    mf_tensor_release(x);
    mf_tensor_release(w);
}

Test(norm, groups_that_do_not_divide_channels_are_a_shape_error) {
    mf_tensor *x = t_uniform(1, 3, (int64_t[]){2, 6, 5}, MF_F32, 0, 1), *y = NULL;
    cr_assert_eq(mf_group_norm(x, 4, NULL, NULL, 1e-5, &y), MF_ERR_SHAPE);
    cr_assert(strstr(mf_last_error(), "group_norm") && strstr(mf_last_error(), "4 groups"), "%s", mf_last_error());
    cr_assert_eq(mf_group_norm(x, 0, NULL, NULL, 1e-5, &y), MF_ERR_SHAPE);
    cr_assert_null(y);
    mf_tensor_release(x);
}

Test(norm, wrong_rank_and_degenerate_batches_are_rejected) {
    mf_tensor *v = t_uniform(1, 1, (int64_t[]){5}, MF_F32, 0, 1), *one = t_uniform(2, 3, (int64_t[]){1, 3, 1}, MF_F32, 0, 1);
    mf_tensor *y = NULL;
    cr_assert_eq(mf_batch_norm(v, NULL, NULL, NULL, NULL, true, 0.1, 1e-5, &y), MF_ERR_SHAPE);
    cr_assert(strstr(mf_last_error(), "batch_norm") && strstr(mf_last_error(), "[5]"), "%s", mf_last_error());
    cr_assert_eq(mf_batch_norm(one, NULL, NULL, NULL, NULL, true, 0.1, 1e-5, &y), MF_ERR_SHAPE);
    cr_assert(strstr(mf_last_error(), "more than one value"), "%s", mf_last_error());
    cr_assert_eq(mf_batch_norm(one, NULL, NULL, NULL, NULL, false, 0.1, 1e-5, &y), MF_ERR_INVALID);
    cr_assert_eq(mf_layer_norm(v, 2, NULL, NULL, 1e-5, &y), MF_ERR_SHAPE);
    cr_assert(strstr(mf_last_error(), "layer_norm"), "%s", mf_last_error());
    cr_assert_eq(mf_group_norm(v, 1, NULL, NULL, 1e-5, &y), MF_ERR_SHAPE);
    cr_assert_null(y);
    mf_tensor_release(v);
    mf_tensor_release(one);
}

Test(norm, strided_input_gives_the_same_result_as_contiguous) {
    mf_tensor *x = t_uniform(8, 4, (int64_t[]){3, 4, 6, 5}, MF_F32, -1, 1);
    mf_tensor *xt, *xc, *a, *b;
    MF_OK_OR_FAIL(mf_transpose(x, 2, 3, &xt));
    MF_OK_OR_FAIL(mf_contiguous(xt, &xc));
    MF_OK_OR_FAIL(mf_group_norm(xt, 2, NULL, NULL, 1e-5, &a));
    MF_OK_OR_FAIL(mf_group_norm(xc, 2, NULL, NULL, 1e-5, &b));
    t_assert_close(a, b, 1e-6, 1e-5, "group_norm on a transposed view");
    mf_tensor_release(a);
    mf_tensor_release(b);
    MF_OK_OR_FAIL(mf_layer_norm(xt, 2, NULL, NULL, 1e-5, &a));
    MF_OK_OR_FAIL(mf_layer_norm(xc, 2, NULL, NULL, 1e-5, &b));
    t_assert_close(a, b, 1e-6, 1e-5, "layer_norm on a transposed view");
    mf_tensor_release(x);
    mf_tensor_release(xt);
    mf_tensor_release(xc);
    mf_tensor_release(a);
    mf_tensor_release(b);
}

Test(norm, eval_mode_leaves_the_running_stats_alone) {
    mf_tensor *x = t_uniform(8, 3, (int64_t[]){4, 2, 5}, MF_F32, -1, 1), *y;
    mf_tensor *rm = t_from(1, (int64_t[]){2}, MF_F32, (double[]){0.25, -0.5});
    mf_tensor *rv = t_from(1, (int64_t[]){2}, MF_F32, (double[]){2.0, 0.5});
    MF_OK_OR_FAIL(mf_batch_norm(x, rm, rv, NULL, NULL, false, 0.1, 0.0, &y));
    cr_assert(mf_tensor_get_flat(rm, 0) == 0.25 && mf_tensor_get_flat(rv, 1) == 0.5);
    /* y = (x - rm) / sqrt(rv) */
    double want = (mf_tensor_get_flat(x, 5) + 0.5) / sqrt(0.5);
    cr_assert(fabs(mf_tensor_get_flat(y, 5) - want) < 1e-6, "%g vs %g", mf_tensor_get_flat(y, 5), want);
    mf_tensor_release(x);
    mf_tensor_release(y);
    mf_tensor_release(rm);
    mf_tensor_release(rv);
}

/* bf16 x with f32 parameters (autocast's case): y and gx stay bf16, the
 * statistics, running statistics and parameter gradients are f32, and all
 * equal the f32 computation on the same (bf16-rounded) x to bf16 precision. */
Test(norm, batch_norm_of_a_bf16_input_with_f32_parameters_matches_f32_to_bf16_precision) {
    int64_t shape[4] = {3, 4, 5, 6}, C = 4;
    mf_tensor *xb, *x32, *x0 = t_uniform(1, 4, shape, MF_F32, -2, 3);
    MF_OK_OR_FAIL(mf_to_dtype(x0, MF_BF16, &xb));
    MF_OK_OR_FAIL(mf_to_dtype(xb, MF_F32, &x32));
    mf_tensor *xs[2] = {t_param(xb), t_param(x32)}, *ws[2], *bs[2], *rms[2], *rvs[2], *ys[2];
    mf_tensor *r = t_uniform(9, 4, shape, MF_F32, -1, 1);
    for (int k = 0; k < 2; k++) {
        ws[k] = t_param(t_uniform(2, 1, &C, MF_F32, 0.5, 1.5));
        bs[k] = t_param(t_uniform(3, 1, &C, MF_F32, -1, 1));
        rms[k] = t_uniform(4, 1, &C, MF_F32, -1, 1);
        rvs[k] = t_uniform(5, 1, &C, MF_F32, 0.5, 2);
        MF_OK_OR_FAIL(mf_batch_norm(xs[k], rms[k], rvs[k], ws[k], bs[k], true, 0.1, 1e-5, &ys[k]));
        mf_tensor *y32, *p, *l;
        MF_OK_OR_FAIL(mf_to_dtype(ys[k], MF_F32, &y32));
        MF_OK_OR_FAIL(mf_mul(y32, r, &p));
        MF_OK_OR_FAIL(mf_sum(p, 0, NULL, false, &l));
        MF_OK_OR_FAIL(mf_backward(l, NULL, false));
        mf_tensor_release(y32), mf_tensor_release(p), mf_tensor_release(l);
    }
    cr_assert_eq(ys[0]->dtype, MF_BF16);
    cr_assert_eq(xs[0]->grad->dtype, MF_BF16);
    cr_assert(ws[0]->grad->dtype == MF_F32 && bs[0]->grad->dtype == MF_F32 && rms[0]->dtype == MF_F32);
    mf_tensor *y0;
    MF_OK_OR_FAIL(mf_to_dtype(ys[0], MF_F32, &y0));
    t_assert_close(y0, ys[1], 2e-2, 1e-2, "y");
    mf_tensor *gx0;
    MF_OK_OR_FAIL(mf_to_dtype(xs[0]->grad, MF_F32, &gx0));
    t_assert_close(gx0, xs[1]->grad, 2e-2, 1e-2, "gx");
    /* the incoming gradient is rounded to bf16 at y: bf16-close sums */
    t_assert_close(ws[0]->grad, ws[1]->grad, 2e-2, 1e-2, "weight gradient");
    t_assert_close(bs[0]->grad, bs[1]->grad, 2e-2, 1e-2, "bias gradient");
    /* the statistics see the same x values: f32-close, not just bf16-close */
    t_assert_close(rms[0], rms[1], 1e-6, 1e-6, "running mean");
    t_assert_close(rvs[0], rvs[1], 1e-6, 1e-6, "running var");
    mf_tensor *bad = NULL, *y = NULL;
    MF_OK_OR_FAIL(mf_to_dtype(ws[1], MF_BF16, &bad));
    cr_assert_eq(mf_batch_norm(xb, NULL, NULL, bad, NULL, true, 0.1, 1e-5, &y), MF_ERR_DTYPE);
    cr_assert(strstr(mf_last_error(), "weight") && strstr(mf_last_error(), "f32"), "%s", mf_last_error());
    cr_assert_null(y);
    mf_tensor *all[] = {x0, xb, x32, r, y0, gx0, bad, ys[0], ys[1], ws[0], ws[1], bs[0], bs[1], rms[0], rms[1],
                        rvs[0], rvs[1]};
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++)
        mf_tensor_release(all[i]);
}
