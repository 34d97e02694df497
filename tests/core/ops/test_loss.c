/* Losses: cross_entropy in every option, bce_with_logits, mse and l1
 * against torch float64 golden values (forward and backward), finite-
 * difference gradients, the f32 kernel against f64, and bad input. */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "tests/support/fixture.h"
#include "tests/support/testing.h"

#define FIX "loss.safetensors"

static mf_tensor *fx(const char *prefix, const char *what) {
    char name[128];
    snprintf(name, sizeof name, "%s.%s", prefix, what);
    return t_fixture(FIX, name);
}

/* The fixture writer stores 0-d arrays as [1]; view them as 0-d again. */
static mf_tensor *as_scalar_if(mf_tensor *want, const mf_tensor *got) {
    if (got->ndim == 0 && want->ndim == 1 && want->shape[0] == 1)
        want->ndim = 0;
    return want;
}

static mf_reduction red_of(const char *s) {
    return !strcmp(s, "mean") ? MF_REDUCE_MEAN : !strcmp(s, "sum") ? MF_REDUCE_SUM : MF_REDUCE_NONE;
}

static const char *reds[] = {"mean", "sum", "none"};

/* ------------------------------------------------------------ cross entropy */

static void ce_golden(const char *prefix, mf_ce_params p) {
    mf_tensor *x = t_param(fx(prefix, "x")), *t = fx(prefix, "t"), *want = fx(prefix, "out");
    mf_tensor *w = fx(prefix, "w"), *gwant = fx(prefix, "grad_x"), *y;
    MF_OK_OR_FAIL(mf_cross_entropy(x, t, &p, &y));
    t_assert_close(y, as_scalar_if(want, y), 1e-12, 1e-10, prefix);
    MF_OK_OR_FAIL(mf_backward(y, as_scalar_if(w, y), false));
    t_assert_close(x->grad, gwant, 1e-12, 1e-10, prefix);
    mf_tensor *all[] = {x, t, want, w, gwant, y};
    for (size_t i = 0; i < sizeof all / sizeof *all; i++)
        mf_tensor_release(all[i]);
}

Test(loss, cross_entropy_matches_torch_for_every_option_and_reduction) {
    mf_tensor *weight = t_fixture(FIX, "ce.weight");
    const char *cases[] = {"plain", "weight", "smooth", "weight_smooth"};
    for (int c = 0; c < 4; c++) {
        for (int r = 0; r < 3; r++) {
            mf_ce_params p = mf_ce_params_default();
            p.reduction = red_of(reds[r]);
            if (strstr(cases[c], "weight"))
                p.weight = weight;
            if (!strcmp(cases[c], "smooth"))
                p.label_smoothing = 0.2;
            if (!strcmp(cases[c], "weight_smooth"))
                p.label_smoothing = 0.3;
            char prefix[64];
            snprintf(prefix, sizeof prefix, "ce2.%s.%s", cases[c], reds[r]);
            ce_golden(prefix, p);
            snprintf(prefix, sizeof prefix, "ce4.%s.%s", cases[c], reds[r]);
            ce_golden(prefix, p);
        }
    }
    mf_tensor_release(weight);
}

Test(loss, cross_entropy_honours_an_ignore_index_inside_the_class_range) {
    mf_tensor *weight = t_fixture(FIX, "ce.weight");
    mf_ce_params p = mf_ce_params_default();
    p.ignore_index = 3;
    p.weight = weight;
    p.label_smoothing = 0.1;
    ce_golden("ce2.ignore3.mean", p);
    mf_tensor_release(weight);
}

typedef struct {
    mf_tensor *target;
    mf_ce_params p;
} ce_ctx;

static mf_status call_ce(void *ctx, mf_tensor *const *in, mf_tensor **out) {
    ce_ctx *c = ctx;
    return mf_cross_entropy(in[0], c->target, &c->p, out);
}

Test(loss, cross_entropy_grads_match_finite_difference_for_every_option) {
    mf_tensor *x2 = t_param(t_uniform(21, 2, (int64_t[]){5, 4}, MF_F64, -3, 3));
    mf_tensor *t2 = t_from(1, (int64_t[]){5}, MF_I64, (double[]){0, 3, -100, 2, 3});
    mf_tensor *x4 = t_param(t_uniform(22, 4, (int64_t[]){2, 4, 3, 2}, MF_F64, -3, 3));
    mf_tensor *t4 = t_from(3, (int64_t[]){2, 3, 2}, MF_I64, (double[]){0, 1, 2, 3, -100, 1, 3, 3, 0, 2, 1, -100});
    mf_tensor *w = t_from(1, (int64_t[]){4}, MF_F64, (double[]){0.5, 2.0, 1.0, 1.5});
    for (int r = 0; r < 3; r++) {
        for (int opt = 0; opt < 4; opt++) {
            ce_ctx c = {.p = mf_ce_params_default()};
            c.p.reduction = (mf_reduction)r;
            c.p.weight = opt & 1 ? w : NULL;
            c.p.label_smoothing = opt & 2 ? 0.25 : 0.0;
            c.target = t2;
            t_gradcheck("cross_entropy (N,C)", call_ce, &c, 1, &x2, 1e-6, 1e-8, 1e-6);
            c.target = t4;
            t_gradcheck("cross_entropy (N,C,d1,d2)", call_ce, &c, 1, &x4, 1e-6, 1e-8, 1e-6);
        }
    }
    mf_tensor *all[] = {x2, t2, x4, t4, w};
    for (size_t i = 0; i < sizeof all / sizeof *all; i++)
        mf_tensor_release(all[i]);
}

Test(loss, cross_entropy_accepts_unbatched_logits) {
    mf_tensor *x = t_from(1, (int64_t[]){3}, MF_F64, (double[]){1, 2, 3});
    mf_tensor *t = t_from(0, NULL, MF_I64, (double[]){2});
    mf_tensor *y;
    MF_OK_OR_FAIL(mf_cross_entropy(x, t, NULL, &y));
    double v;
    MF_OK_OR_FAIL(mf_tensor_item(y, &v));
    cr_assert_float_eq(v, log(exp(1) + exp(2) + exp(3)) - 3, 1e-12);
    mf_tensor_release(x);
    mf_tensor_release(t);
    mf_tensor_release(y);
}

Test(loss, cross_entropy_f32_kernels_match_f64_with_spatial_dims_and_ignored_targets) {
    int64_t shape[4] = {4, 7, 9, 11};
    mf_tensor *x64 = t_param(t_uniform(31, 4, shape, MF_F64, -8, 8));
    mf_tensor *x32 = t_param(t_uniform(31, 4, shape, MF_F32, -8, 8));
    mf_tensor *tf = t_uniform(32, 3, (int64_t[]){4, 9, 11}, MF_F64, 0, 7);
    mf_tensor *t;
    MF_OK_OR_FAIL(mf_to_dtype(tf, MF_I64, &t));
    for (int64_t i = 3; i < mf_tensor_numel(t); i += 37) /* ignored positions in vector groups and tails */
        mf_tensor_set_flat(t, i, -100);
    mf_tensor *w64 = t_uniform(33, 1, (int64_t[]){7}, MF_F64, 0.5, 2);
    mf_tensor *w32 = t_uniform(33, 1, (int64_t[]){7}, MF_F32, 0.5, 2);
    mf_ce_params p = mf_ce_params_default();
    p.label_smoothing = 0.1;
    p.weight = w64;
    mf_tensor *y64, *y32, *y32d, *g32d;
    MF_OK_OR_FAIL(mf_cross_entropy(x64, t, &p, &y64));
    p.weight = w32;
    MF_OK_OR_FAIL(mf_cross_entropy(x32, t, &p, &y32));
    MF_OK_OR_FAIL(mf_to_dtype(y32, MF_F64, &y32d));
    t_assert_close(y32d, y64, 1e-6, 1e-5, "f32 cross_entropy");
    MF_OK_OR_FAIL(mf_backward(y64, NULL, false));
    MF_OK_OR_FAIL(mf_backward(y32, NULL, false));
    MF_OK_OR_FAIL(mf_to_dtype(x32->grad, MF_F64, &g32d));
    t_assert_close(g32d, x64->grad, 1e-8, 1e-4, "f32 cross_entropy grad");
    mf_tensor *all[] = {x64, x32, tf, t, w64, w32, y64, y32, y32d, g32d};
    for (size_t i = 0; i < sizeof all / sizeof *all; i++)
        mf_tensor_release(all[i]);
}

Test(loss, cross_entropy_mean_over_only_ignored_targets_is_nan_as_in_torch) {
    mf_tensor *x = t_uniform(1, 2, (int64_t[]){2, 3}, MF_F32, -1, 1);
    mf_tensor *t = t_from(1, (int64_t[]){2}, MF_I64, (double[]){-100, -100});
    mf_tensor *y;
    MF_OK_OR_FAIL(mf_cross_entropy(x, t, NULL, &y));
    double v;
    MF_OK_OR_FAIL(mf_tensor_item(y, &v));
    cr_assert(isnan(v));
    mf_tensor_release(x);
    mf_tensor_release(t);
    mf_tensor_release(y);
}

Test(loss, cross_entropy_target_out_of_range_is_invalid_naming_value_and_classes) {
    mf_tensor *x = t_uniform(1, 2, (int64_t[]){2, 3}, MF_F32, -1, 1);
    mf_tensor *t = t_from(1, (int64_t[]){2}, MF_I64, (double[]){1, 7});
    mf_tensor *y = NULL;
    cr_assert_eq(mf_cross_entropy(x, t, NULL, &y), MF_ERR_INVALID);
    cr_assert(strstr(mf_last_error(), "cross_entropy") && strstr(mf_last_error(), "7") &&
                  strstr(mf_last_error(), "3 classes"), "%s", mf_last_error());
    cr_assert_null(y);
    mf_tensor_set_flat(t, 1, -1);
    cr_assert_eq(mf_cross_entropy(x, t, NULL, &y), MF_ERR_INVALID);
    cr_assert(strstr(mf_last_error(), "-1"), "%s", mf_last_error());
    mf_tensor_release(x);
    mf_tensor_release(t);
}

Test(loss, cross_entropy_target_shape_mismatch_is_a_shape_error_naming_both) {
    mf_tensor *x = t_uniform(1, 4, (int64_t[]){2, 3, 4, 5}, MF_F32, -1, 1);
    mf_tensor *t = t_from(2, (int64_t[]){2, 4}, MF_I64, (double[]){0, 0, 0, 0, 0, 0, 0, 0});
    mf_tensor *y = NULL;
    cr_assert_eq(mf_cross_entropy(x, t, NULL, &y), MF_ERR_SHAPE);
    cr_assert(strstr(mf_last_error(), "[2, 3, 4, 5]") && strstr(mf_last_error(), "[2, 4]"), "%s", mf_last_error());
    mf_tensor_release(x);
    mf_tensor_release(t);
}

Test(loss, cross_entropy_float_target_is_a_dtype_error) {
    mf_tensor *x = t_uniform(1, 2, (int64_t[]){2, 3}, MF_F32, -1, 1);
    mf_tensor *t = t_from(1, (int64_t[]){2}, MF_F32, (double[]){0, 1});
    mf_tensor *y = NULL;
    cr_assert_eq(mf_cross_entropy(x, t, NULL, &y), MF_ERR_DTYPE);
    cr_assert(strstr(mf_last_error(), "int64") && strstr(mf_last_error(), "f32"), "%s", mf_last_error());
    mf_tensor_release(x);
    mf_tensor_release(t);
}

Test(loss, cross_entropy_rejects_bad_weight_and_smoothing) {
    mf_tensor *x = t_uniform(1, 2, (int64_t[]){2, 3}, MF_F32, -1, 1);
    mf_tensor *t = t_from(1, (int64_t[]){2}, MF_I64, (double[]){0, 1});
    mf_tensor *w = t_uniform(2, 1, (int64_t[]){4}, MF_F32, 0, 1);
    mf_tensor *y = NULL;
    mf_ce_params p = mf_ce_params_default();
    p.weight = w;
    cr_assert_eq(mf_cross_entropy(x, t, &p, &y), MF_ERR_SHAPE);
    cr_assert(strstr(mf_last_error(), "weight") && strstr(mf_last_error(), "[4]"), "%s", mf_last_error());
    p.weight = NULL;
    p.label_smoothing = 1.5;
    cr_assert_eq(mf_cross_entropy(x, t, &p, &y), MF_ERR_INVALID);
    cr_assert(strstr(mf_last_error(), "label_smoothing"), "%s", mf_last_error());
    mf_tensor_release(x);
    mf_tensor_release(t);
    mf_tensor_release(w);
}

/* -------------------------------------------------- bce, mse, l1 (composed) */

typedef mf_status (*loss2_fn)(const mf_tensor *, const mf_tensor *, mf_reduction, mf_tensor **);

/* Golden check with optional weight / pos_weight (bce) or a two-input loss. */
static void golden2(const char *prefix, loss2_fn f, bool bce, bool full, mf_reduction r) {
    mf_tensor *x = t_param(fx(prefix, "x")), *yt = t_param(fx(prefix, "y"));
    mf_tensor *wt = full ? fx(prefix, "wt") : NULL, *pw = full ? fx(prefix, "pw") : NULL;
    mf_tensor *want = fx(prefix, "out"), *w = fx(prefix, "w");
    mf_tensor *gx = fx(prefix, "grad_x"), *gy = fx(prefix, "grad_y"), *out;
    if (bce)
        MF_OK_OR_FAIL(mf_bce_with_logits(x, yt, wt, pw, r, &out));
    else
        MF_OK_OR_FAIL(f(x, yt, r, &out));
    t_assert_close(out, as_scalar_if(want, out), 1e-12, 1e-10, prefix);
    MF_OK_OR_FAIL(mf_backward(out, as_scalar_if(w, out), false));
    t_assert_close(x->grad, gx, 1e-12, 1e-10, prefix);
    t_assert_close(yt->grad, gy, 1e-12, 1e-10, prefix);
    mf_tensor *all[] = {x, yt, wt, pw, want, w, gx, gy, out};
    for (size_t i = 0; i < sizeof all / sizeof *all; i++)
        mf_tensor_release(all[i]);
}

Test(loss, bce_with_logits_matches_torch_with_weight_and_pos_weight) {
    for (int r = 0; r < 3; r++) {
        char prefix[64];
        snprintf(prefix, sizeof prefix, "bce.plain.%s", reds[r]);
        golden2(prefix, NULL, true, false, red_of(reds[r]));
        snprintf(prefix, sizeof prefix, "bce.full.%s", reds[r]);
        golden2(prefix, NULL, true, true, red_of(reds[r]));
    }
}

Test(loss, mse_and_l1_match_torch) {
    for (int r = 0; r < 3; r++) {
        char prefix[64];
        snprintf(prefix, sizeof prefix, "mse.%s", reds[r]);
        golden2(prefix, mf_mse_loss, false, false, red_of(reds[r]));
        snprintf(prefix, sizeof prefix, "l1.%s", reds[r]);
        golden2(prefix, mf_l1_loss, false, false, red_of(reds[r]));
    }
}

static mf_status call_bce(void *ctx, mf_tensor *const *in, mf_tensor **out) {
    return mf_bce_with_logits(in[0], in[1], in[2], in[3], *(mf_reduction *)ctx, out);
}

Test(loss, bce_with_logits_grads_match_finite_difference_for_all_inputs) {
    mf_tensor *in[4] = {t_param(t_uniform(41, 2, (int64_t[]){4, 3}, MF_F64, -4, 4)),
                        t_param(t_uniform(42, 2, (int64_t[]){4, 3}, MF_F64, 0, 1)),
                        t_param(t_uniform(43, 2, (int64_t[]){4, 1}, MF_F64, 0.5, 1.5)),
                        t_param(t_uniform(44, 1, (int64_t[]){3}, MF_F64, 0.5, 3))};
    for (int r = 0; r < 3; r++) {
        mf_reduction red = (mf_reduction)r;
        t_gradcheck("bce_with_logits", call_bce, &red, 4, in, 1e-6, 1e-8, 1e-6);
    }
    for (int i = 0; i < 4; i++)
        mf_tensor_release(in[i]);
}

static mf_status call_mse(void *ctx, mf_tensor *const *in, mf_tensor **out) {
    return mf_mse_loss(in[0], in[1], *(mf_reduction *)ctx, out);
}
static mf_status call_l1(void *ctx, mf_tensor *const *in, mf_tensor **out) {
    return mf_l1_loss(in[0], in[1], *(mf_reduction *)ctx, out);
}

Test(loss, mse_and_l1_grads_match_finite_difference) {
    mf_tensor *in[2] = {t_param(t_uniform(51, 2, (int64_t[]){3, 4}, MF_F64, -2, 2)),
                        t_param(t_uniform(52, 2, (int64_t[]){3, 4}, MF_F64, -2, 2))};
    for (int r = 0; r < 3; r++) {
        mf_reduction red = (mf_reduction)r;
        t_gradcheck("mse_loss", call_mse, &red, 2, in, 1e-6, 1e-8, 1e-6);
        t_gradcheck("l1_loss", call_l1, &red, 2, in, 1e-6, 1e-8, 1e-6);
    }
    for (int i = 0; i < 2; i++)
        mf_tensor_release(in[i]);
}

Test(loss, bce_with_logits_is_finite_for_extreme_f32_logits) {
    mf_tensor *x = t_from(1, (int64_t[]){4}, MF_F32, (double[]){200, -200, 90, -90});
    mf_tensor *y = t_from(1, (int64_t[]){4}, MF_F32, (double[]){0, 1, 1, 0});
    mf_tensor *l;
    MF_OK_OR_FAIL(mf_bce_with_logits(x, y, NULL, NULL, MF_REDUCE_NONE, &l));
    mf_tensor *want = t_from(1, (int64_t[]){4}, MF_F32, (double[]){200, 200, 0, 0});
    t_assert_close(l, want, 1e-6, 1e-6, "bce extremes");
    mf_tensor_release(x);
    mf_tensor_release(y);
    mf_tensor_release(l);
    mf_tensor_release(want);
}

Test(loss, bce_and_mse_reject_mismatched_targets_naming_the_op) {
    mf_tensor *x = t_uniform(1, 2, (int64_t[]){2, 3}, MF_F32, -1, 1);
    mf_tensor *y = t_uniform(2, 2, (int64_t[]){3, 2}, MF_F32, 0, 1);
    mf_tensor *y64 = t_uniform(2, 2, (int64_t[]){2, 3}, MF_F64, 0, 1);
    mf_tensor *pw = t_uniform(3, 1, (int64_t[]){2}, MF_F32, 0, 1);
    mf_tensor *ok = t_uniform(2, 2, (int64_t[]){2, 3}, MF_F32, 0, 1);
    mf_tensor *l = NULL;
    cr_assert_eq(mf_bce_with_logits(x, y, NULL, NULL, MF_REDUCE_MEAN, &l), MF_ERR_SHAPE);
    cr_assert(strstr(mf_last_error(), "bce_with_logits") && strstr(mf_last_error(), "[3, 2]"), "%s", mf_last_error());
    cr_assert_eq(mf_bce_with_logits(x, y64, NULL, NULL, MF_REDUCE_MEAN, &l), MF_ERR_DTYPE);
    cr_assert_eq(mf_bce_with_logits(x, ok, NULL, pw, MF_REDUCE_MEAN, &l), MF_ERR_SHAPE);
    cr_assert(strstr(mf_last_error(), "pos_weight"), "%s", mf_last_error());
    cr_assert_eq(mf_mse_loss(x, y, MF_REDUCE_MEAN, &l), MF_ERR_SHAPE);
    cr_assert(strstr(mf_last_error(), "mse_loss"), "%s", mf_last_error());
    cr_assert_eq(mf_l1_loss(x, y64, MF_REDUCE_MEAN, &l), MF_ERR_DTYPE);
    cr_assert(strstr(mf_last_error(), "l1_loss"), "%s", mf_last_error());
    cr_assert_null(l);
    mf_tensor *all[] = {x, y, y64, pw, ok};
    for (size_t i = 0; i < sizeof all / sizeof *all; i++)
        mf_tensor_release(all[i]);
}
