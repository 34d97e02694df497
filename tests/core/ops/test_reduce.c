/* Reductions beyond sum/mean: values against float64 torch fixtures
 * (tools/fixtures/gen_reduce.py), finite-difference gradients, tie rules,
 * and bad input. */
#include <math.h>
#include <string.h>

#include "tests/support/fixture.h"
#include "tests/support/testing.h"

#define FX "reduce.safetensors"

/* x^T over dims 0 and 2, a non-contiguous [5, 4, 3] view */
static mf_tensor *transposed(const mf_tensor *x) {
    mf_tensor *t;
    MF_OK_OR_FAIL(mf_transpose(x, 0, 2, &t));
    cr_assert(!mf_tensor_is_contiguous(t));
    return t;
}

static void expect_fixture(const mf_tensor *got, const char *name, double tol) {
    mf_tensor *want = t_fixture(FX, name), *g = NULL;
    if (got->ndim == 0) /* the fixture writer stores scalars as [1] */
        MF_OK_OR_FAIL(mf_reshape(got, 1, (int64_t[]){1}, &g));
    t_assert_close(g ? g : got, want, tol, tol, name);
    mf_tensor_release(g);
    mf_tensor_release(want);
}

/* ----------------------------------------------------------------- values */

Test(reduce, var_matches_torch_for_dim_sets_corrections_and_strides) {
    mf_tensor *x = t_fixture(FX, "x"), *xt = transposed(x), *a, *b, *c;
    MF_OK_OR_FAIL(mf_var(x, 2, (int[]){0, 2}, 1, false, &a));
    MF_OK_OR_FAIL(mf_var(x, 0, NULL, 0, false, &b));
    MF_OK_OR_FAIL(mf_var(xt, 1, (int[]){1}, 1, true, &c));
    expect_fixture(a, "var_d02_c1", 1e-12);
    expect_fixture(b, "var_all_c0", 1e-12);
    expect_fixture(c, "var_t_d1_c1_keep", 1e-12);
    t_release_all((mf_tensor *[]){x, xt, a, b, c}, 5);
}

Test(reduce, var_in_f32_accumulates_in_double) {
    /* a large offset ruins a naive f32 one-pass variance */
    double v[4] = {10000.1, 10000.2, 10000.3, 10000.4};
    mf_tensor *x = t_from(1, (int64_t[]){4}, MF_F32, v), *y;
    MF_OK_OR_FAIL(mf_var(x, 0, NULL, 1, false, &y));
    cr_assert_eq(y->dtype, MF_F32);
    double want = 0.0, fv[4], m = 0; /* exact variance of the stored f32 values */
    for (int i = 0; i < 4; i++) {
        fv[i] = mf_tensor_get_flat(x, i);
        m += fv[i] / 4;
    }
    for (int i = 0; i < 4; i++)
        want += (fv[i] - m) * (fv[i] - m) / 3;
    cr_assert(fabs(mf_tensor_get_flat(y, 0) - want) <= 1e-6 * want, "var %.10g, want %.10g", mf_tensor_get_flat(y, 0), want);
    t_release_all((mf_tensor *[]){x, y}, 2);
}

Test(reduce, max_and_min_along_a_dim_match_torch_values_and_indices) {
    mf_tensor *x = t_fixture(FX, "x"), *mv, *mi, *nv, *ni;
    MF_OK_OR_FAIL(mf_max(x, 1, false, &mv, &mi));
    MF_OK_OR_FAIL(mf_min(x, -1, false, &nv, &ni));
    cr_assert_eq(mi->dtype, MF_I64);
    expect_fixture(mv, "max_d1_values", 0);
    expect_fixture(mi, "max_d1_indices", 0);
    expect_fixture(nv, "min_dm1_values", 0);
    expect_fixture(ni, "min_dm1_indices", 0);
    t_release_all((mf_tensor *[]){x, mv, mi, nv, ni}, 5);
}

Test(reduce, max_keepdim_keeps_the_reduced_dim_as_one) {
    mf_tensor *x = t_fixture(FX, "x"), *v, *i;
    MF_OK_OR_FAIL(mf_max(x, 1, true, &v, &i));
    int64_t want[3] = {3, 1, 5};
    cr_assert_eq(v->ndim, 3);
    cr_assert_eq(i->ndim, 3);
    for (int d = 0; d < 3; d++)
        cr_assert(v->shape[d] == want[d] && i->shape[d] == want[d]);
    t_release_all((mf_tensor *[]){x, v, i}, 3);
}

Test(reduce, argmax_of_a_strided_view_matches_torch) {
    mf_tensor *x = t_fixture(FX, "x"), *xt = transposed(x), *a;
    MF_OK_OR_FAIL(mf_argmax(xt, 0, false, &a));
    expect_fixture(a, "argmax_t_d0", 0);
    t_release_all((mf_tensor *[]){x, xt, a}, 3);
}

Test(reduce, argmax_and_argmin_pick_the_first_of_tied_elements) {
    mf_tensor *x = t_from(2, (int64_t[]){2, 5}, MF_F32, (double[]){1, 7, 3, 7, 7, 2, 0, 5, 0, 2}), *a, *b;
    MF_OK_OR_FAIL(mf_argmax(x, 1, false, &a));
    MF_OK_OR_FAIL(mf_argmin(x, 1, false, &b));
    cr_assert_eq(mf_tensor_get_flat(a, 0), 1);
    cr_assert_eq(mf_tensor_get_flat(a, 1), 2);
    cr_assert_eq(mf_tensor_get_flat(b, 0), 0);
    cr_assert_eq(mf_tensor_get_flat(b, 1), 1);
    t_release_all((mf_tensor *[]){x, a, b}, 3);
}

Test(reduce, argmax_works_on_integer_tensors) {
    mf_tensor *x = t_from(1, (int64_t[]){4}, MF_I32, (double[]){-3, 9, 9, 2}), *a;
    MF_OK_OR_FAIL(mf_argmax(x, 0, false, &a));
    cr_assert_eq(a->ndim, 0);
    cr_assert_eq(mf_tensor_get_flat(a, 0), 1);
    t_release_all((mf_tensor *[]){x, a}, 2);
}

Test(reduce, amax_and_amin_match_torch_over_dim_sets) {
    mf_tensor *x = t_fixture(FX, "x"), *xt = transposed(x), *a, *b, *c;
    MF_OK_OR_FAIL(mf_amax(x, 1, (int[]){1}, false, &a));
    MF_OK_OR_FAIL(mf_amax(x, 0, NULL, false, &b));
    MF_OK_OR_FAIL(mf_amin(xt, 2, (int[]){0, -1}, false, &c));
    expect_fixture(a, "amax_d1", 0);
    expect_fixture(b, "amax_all", 0);
    expect_fixture(c, "amin_t_d02", 0);
    t_release_all((mf_tensor *[]){x, xt, a, b, c}, 5);
}

Test(reduce, logsumexp_matches_torch_and_does_not_overflow) {
    mf_tensor *x = t_fixture(FX, "x"), *a, *big, *b;
    MF_OK_OR_FAIL(mf_logsumexp(x, 2, (int[]){0, 2}, false, &a));
    expect_fixture(a, "lse_d02", 1e-12);
    MF_OK_OR_FAIL(mf_affine(x, 100.0, 1000.0, &big));
    MF_OK_OR_FAIL(mf_logsumexp(big, 1, (int[]){1}, false, &b));
    expect_fixture(b, "lse_big_d1", 1e-12);
    t_release_all((mf_tensor *[]){x, a, big, b}, 4);
}

Test(reduce, logsumexp_in_f32_survives_values_near_float_max) {
    mf_tensor *x = t_from(1, (int64_t[]){2}, MF_F32, (double[]){88.0, 88.0}), *y;
    MF_OK_OR_FAIL(mf_logsumexp(x, 0, NULL, false, &y));
    cr_assert_float_eq(mf_tensor_get_flat(y, 0), 88.0 + log(2.0), 1e-4);
    t_release_all((mf_tensor *[]){x, y}, 2);
}

Test(reduce, norm_matches_torch_for_p_1_2_3_half_and_infinity) {
    mf_tensor *x = t_fixture(FX, "x"), *xt = transposed(x), *a, *b, *c, *d, *e;
    MF_OK_OR_FAIL(mf_norm(x, 1.0, 1, (int[]){1}, false, &a));
    MF_OK_OR_FAIL(mf_norm(x, 2.0, 2, (int[]){0, 2}, false, &b));
    MF_OK_OR_FAIL(mf_norm(x, 3.0, 1, (int[]){2}, false, &c));
    MF_OK_OR_FAIL(mf_norm(xt, INFINITY, 1, (int[]){1}, false, &d));
    MF_OK_OR_FAIL(mf_norm(x, 0.5, 0, NULL, false, &e));
    expect_fixture(a, "norm_p1_d1", 1e-12);
    expect_fixture(b, "norm_p2_d02", 1e-12);
    expect_fixture(c, "norm_p3_d2", 1e-12);
    expect_fixture(d, "norm_pinf_t_d1", 0);
    expect_fixture(e, "norm_p05_all", 1e-12);
    t_release_all((mf_tensor *[]){x, xt, a, b, c, d, e}, 7);
}

/* -------------------------------------------------------------- gradients */

typedef struct {
    int which; /* see red_fn */
    double p;
    bool transpose;
    bool keepdim;
} red_case;

static mf_status red_fn(void *ctx, mf_tensor *const *in, mf_tensor **out) {
    const red_case *c = ctx;
    mf_tensor *x = in[0], *t = NULL, *idx = NULL;
    if (c->transpose) {
        MF_TRY(mf_transpose(in[0], 0, 2, &t));
        x = t;
    }
    int d02[2] = {0, 2};
    mf_status st = MF_OK;
    switch (c->which) {
    case 0: st = mf_var(x, 2, d02, 1, c->keepdim, out); break;
    case 1: st = mf_var(x, 1, d02 + 1, 0, c->keepdim, out); break;
    case 2: st = mf_max(x, 1, c->keepdim, out, &idx); break;
    case 3: st = mf_min(x, -1, c->keepdim, out, NULL); break;
    case 4: st = mf_amax(x, 2, d02, c->keepdim, out); break;
    case 5: st = mf_amin(x, 1, d02 + 1, c->keepdim, out); break;
    case 6: st = mf_logsumexp(x, 2, d02, c->keepdim, out); break;
    case 7: st = mf_norm(x, c->p, 2, d02, c->keepdim, out); break;
    }
    mf_tensor_release(t);
    mf_tensor_release(idx);
    return st;
}

Test(reduce, grads_match_finite_difference_for_every_differentiable_reduction) {
    const char *names[] = {"var_c1", "var_c0", "max", "min", "amax", "amin", "logsumexp", "norm"};
    /* distinct values: ties are tested separately below */
    for (int which = 0; which < 8; which++)
        for (int tr = 0; tr < 2; tr++) {
            red_case c = {.which = which, .p = 2.0, .transpose = tr, .keepdim = tr};
            mf_tensor *x = t_param(t_uniform(40 + which, 3, (int64_t[]){3, 4, 5}, MF_F64, -2, 2));
            t_gradcheck(names[which], red_fn, &c, 1, &x, 1e-6, 1e-8, 1e-5);
            mf_tensor_release(x);
        }
}

Test(reduce, norm_grads_match_finite_difference_for_each_p) {
    double ps[] = {1.0, 2.0, 3.0, 0.7, INFINITY};
    for (size_t k = 0; k < sizeof ps / sizeof ps[0]; k++) {
        red_case c = {.which = 7, .p = ps[k], .transpose = k % 2};
        /* away from 0 so |x|^p is smooth under the finite-difference step */
        mf_tensor *x = t_param(t_uniform(60 + k, 3, (int64_t[]){3, 4, 5}, MF_F64, 0.2, 2));
        for (int64_t i = 0; i < 60; i += 3) /* both signs */
            mf_tensor_set_flat(x, i, -mf_tensor_get_flat(x, i));
        t_gradcheck("norm", red_fn, &c, 1, &x, 1e-6, 1e-8, 1e-5);
        mf_tensor_release(x);
    }
}

static void backward_of_sum(mf_tensor *y) {
    mf_tensor *s;
    MF_OK_OR_FAIL(mf_sum(y, 0, NULL, false, &s));
    MF_OK_OR_FAIL(mf_backward(s, NULL, false));
    mf_tensor_release(s);
}

Test(reduce, amax_splits_the_gradient_evenly_among_ties) {
    mf_tensor *x = t_param(t_from(2, (int64_t[]){2, 3}, MF_F64, (double[]){4, 1, 4, 2, 2, 2})), *y;
    MF_OK_OR_FAIL(mf_amax(x, 1, (int[]){1}, false, &y));
    backward_of_sum(y);
    mf_tensor *want = t_from(2, (int64_t[]){2, 3}, MF_F64, (double[]){0.5, 0, 0.5, 1.0 / 3, 1.0 / 3, 1.0 / 3});
    t_assert_close(x->grad, want, 1e-15, 0, "amax ties");
    t_release_all((mf_tensor *[]){x, y, want}, 3);
}

Test(reduce, max_along_a_dim_gives_the_whole_gradient_to_the_first_tie) {
    mf_tensor *x = t_param(t_from(2, (int64_t[]){2, 3}, MF_F64, (double[]){4, 1, 4, 2, 2, 2})), *v;
    MF_OK_OR_FAIL(mf_max(x, 1, false, &v, NULL));
    backward_of_sum(v);
    mf_tensor *want = t_from(2, (int64_t[]){2, 3}, MF_F64, (double[]){1, 0, 0, 1, 0, 0});
    t_assert_close(x->grad, want, 0, 0, "max ties");
    t_release_all((mf_tensor *[]){x, v, want}, 3);
}

Test(reduce, infinity_norm_splits_the_gradient_among_ties_with_sign) {
    mf_tensor *x = t_param(t_from(1, (int64_t[]){4}, MF_F64, (double[]){-3, 1, 3, 2})), *y;
    MF_OK_OR_FAIL(mf_norm(x, INFINITY, 0, NULL, false, &y));
    backward_of_sum(y);
    mf_tensor *want = t_from(1, (int64_t[]){4}, MF_F64, (double[]){-0.5, 0, 0.5, 0});
    t_assert_close(x->grad, want, 1e-15, 0, "inf norm ties");
    t_release_all((mf_tensor *[]){x, y, want}, 3);
}

Test(reduce, two_norm_of_zeros_has_a_zero_gradient) {
    mf_tensor *x = t_param(t_from(1, (int64_t[]){3}, MF_F64, (double[]){0, 0, 0})), *y;
    MF_OK_OR_FAIL(mf_norm(x, 2.0, 0, NULL, false, &y));
    backward_of_sum(y);
    for (int i = 0; i < 3; i++)
        cr_assert_eq(mf_tensor_get_flat(x->grad, i), 0.0);
    t_release_all((mf_tensor *[]){x, y}, 2);
}

/* -------------------------------------------------------------- bad input */

static void expect_error(mf_status st, mf_status want, const char *op) {
    cr_assert_eq(st, want, "%s: got %s", op, mf_status_name(st));
    cr_assert(strstr(mf_last_error(), op), "message does not name %s: %s", op, mf_last_error());
}

Test(reduce, out_of_range_dims_give_shape_errors_naming_the_op) {
    mf_tensor *x = t_uniform(1, 2, (int64_t[]){2, 3}, MF_F32, 0, 1), *y = NULL, *i = NULL;
    expect_error(mf_var(x, 1, (int[]){2}, 1, false, &y), MF_ERR_SHAPE, "var");
    expect_error(mf_max(x, -3, false, &y, &i), MF_ERR_SHAPE, "max");
    expect_error(mf_argmin(x, 5, false, &i), MF_ERR_SHAPE, "argmin");
    expect_error(mf_amax(x, 2, (int[]){0, 0}, false, &y), MF_ERR_SHAPE, "amax");
    expect_error(mf_logsumexp(x, 1, (int[]){7}, false, &y), MF_ERR_SHAPE, "logsumexp");
    expect_error(mf_norm(x, 2.0, 1, (int[]){-4}, false, &y), MF_ERR_SHAPE, "norm");
    cr_assert_null(y);
    cr_assert_null(i);
    mf_tensor_release(x);
}

Test(reduce, max_over_an_empty_dim_is_a_shape_error_naming_the_op) {
    mf_tensor *x = t_uniform(1, 2, (int64_t[]){2, 0}, MF_F32, 0, 1), *y = NULL, *i = NULL;
    expect_error(mf_max(x, 1, false, &y, &i), MF_ERR_SHAPE, "max");
    expect_error(mf_argmax(x, 1, false, &i), MF_ERR_SHAPE, "argmax");
    expect_error(mf_amin(x, 0, NULL, false, &y), MF_ERR_SHAPE, "amin");
    cr_assert(strstr(mf_last_error(), "size 0"), "%s", mf_last_error());
    cr_assert_null(y);
    mf_tensor_release(x);
}

Test(reduce, reductions_over_empty_dims_give_torch_identities) {
    mf_tensor *x = t_uniform(1, 2, (int64_t[]){2, 0}, MF_F64, 0, 1), *l, *n;
    MF_OK_OR_FAIL(mf_logsumexp(x, 1, (int[]){1}, false, &l));
    MF_OK_OR_FAIL(mf_norm(x, 2.0, 1, (int[]){1}, false, &n));
    cr_assert(isinf(mf_tensor_get_flat(l, 0)) && mf_tensor_get_flat(l, 0) < 0);
    cr_assert_eq(mf_tensor_get_flat(n, 1), 0.0);
    t_release_all((mf_tensor *[]){x, l, n}, 3);
}

Test(reduce, float_only_reductions_reject_integer_and_bool_tensors) {
    mf_tensor *xi = t_from(1, (int64_t[]){3}, MF_I64, (double[]){1, 2, 3});
    mf_tensor *xb = t_from(1, (int64_t[]){3}, MF_BOOL, (double[]){1, 0, 1});
    mf_tensor *y = NULL, *i = NULL;
    expect_error(mf_var(xi, 0, NULL, 1, false, &y), MF_ERR_DTYPE, "var");
    expect_error(mf_logsumexp(xi, 0, NULL, false, &y), MF_ERR_DTYPE, "logsumexp");
    expect_error(mf_norm(xi, 2.0, 0, NULL, false, &y), MF_ERR_DTYPE, "norm");
    expect_error(mf_argmax(xb, 0, false, &i), MF_ERR_DTYPE, "argmax");
    expect_error(mf_amax(xb, 0, NULL, false, &y), MF_ERR_DTYPE, "amax");
    cr_assert_null(y);
    cr_assert_null(i);
    t_release_all((mf_tensor *[]){xi, xb}, 2);
}

Test(reduce, bad_norm_order_and_negative_correction_are_invalid) {
    mf_tensor *x = t_uniform(1, 1, (int64_t[]){3}, MF_F32, 0, 1), *y = NULL;
    expect_error(mf_norm(x, 0.0, 0, NULL, false, &y), MF_ERR_INVALID, "norm");
    expect_error(mf_norm(x, NAN, 0, NULL, false, &y), MF_ERR_INVALID, "norm");
    expect_error(mf_var(x, 0, NULL, -1, false, &y), MF_ERR_INVALID, "var");
    cr_assert_null(y);
    mf_tensor_release(x);
}

Test(reduce, leading_dim_reductions_of_a_wide_tensor_match_torch) {
    mf_tensor *w = t_fixture(FX, "w"), *a, *b, *c, *d;
    MF_OK_OR_FAIL(mf_var(w, 1, (int[]){0}, 1, false, &a));
    MF_OK_OR_FAIL(mf_amax(w, 1, (int[]){0}, false, &b));
    MF_OK_OR_FAIL(mf_logsumexp(w, 1, (int[]){0}, false, &c));
    MF_OK_OR_FAIL(mf_norm(w, 3.0, 1, (int[]){0}, false, &d));
    expect_fixture(a, "w_var_d0", 1e-12);
    expect_fixture(b, "w_amax_d0", 0);
    expect_fixture(c, "w_lse_d0", 1e-12);
    expect_fixture(d, "w_norm_p3_d0", 1e-12);
    t_release_all((mf_tensor *[]){w, a, b, c, d}, 5);
}

Test(reduce, argmax_over_a_leading_dim_keeps_first_ties_and_stops_at_nan) {
    /* [3, 20]: column c holds (c % 3, 2, c % 3) with a NaN in column 7 */
    double v[60];
    for (int c = 0; c < 20; c++) {
        v[c] = c % 3;
        v[20 + c] = 2;
        v[40 + c] = c == 7 ? NAN : c % 3;
    }
    mf_tensor *x = t_from(2, (int64_t[]){3, 20}, MF_F64, v), *i, *mv;
    MF_OK_OR_FAIL(mf_argmax(x, 0, false, &i));
    MF_OK_OR_FAIL(mf_max(x, 0, false, &mv, NULL));
    for (int c = 0; c < 20; c++) {
        int64_t want = c == 7 ? 2 : c % 3 == 2 ? 0 : 1;
        cr_assert_eq(mf_tensor_get_flat(i, c), want, "column %d", c);
        cr_assert(c == 7 ? isnan(mf_tensor_get_flat(mv, c)) : mf_tensor_get_flat(mv, c) == 2);
    }
    t_release_all((mf_tensor *[]){x, i, mv}, 3);
}

static mf_status red_any(int which, const mf_tensor *x, mf_tensor **out) {
    int d[2] = {0, 2};
    switch (which) {
    case 0: return mf_var(x, 2, d, 1, false, out);
    case 1: return mf_amax(x, 1, d + 1, true, out);
    case 2: return mf_logsumexp(x, 1, d, false, out);
    case 3: return mf_norm(x, 2.0, 2, d, false, out);
    case 4: return mf_norm(x, 1.5, 0, NULL, false, out);
    default: return mf_max(x, 1, false, out, NULL);
    }
}

Test(reduce, f32_results_agree_with_f64_to_float_precision) {
    mf_tensor *x64 = t_uniform(3, 3, (int64_t[]){6, 7, 8}, MF_F64, -3, 3), *x32;
    MF_OK_OR_FAIL(mf_to_dtype(x64, MF_F32, &x32));
    for (int which = 0; which < 6; which++) {
        mf_tensor *a, *b;
        MF_OK_OR_FAIL(red_any(which, x32, &a));
        MF_OK_OR_FAIL(red_any(which, x64, &b));
        cr_assert_eq(a->dtype, MF_F32);
        t_assert_close(a, b, 1e-6, 1e-6, "f32 vs f64");
        t_release_all((mf_tensor *[]){a, b}, 2);
    }
    t_release_all((mf_tensor *[]){x64, x32}, 2);
}

Test(reduce, indices_never_carry_gradients) {
    mf_tensor *x = t_param(t_uniform(2, 2, (int64_t[]){3, 4}, MF_F64, 0, 1)), *v, *i, *a;
    MF_OK_OR_FAIL(mf_max(x, 0, false, &v, &i));
    MF_OK_OR_FAIL(mf_argmin(x, 1, true, &a));
    cr_assert(v->requires_grad && v->grad_fn);
    cr_assert(!i->requires_grad && !i->grad_fn && i->dtype == MF_I64);
    cr_assert(!a->requires_grad && !a->grad_fn && a->shape[1] == 1);
    t_release_all((mf_tensor *[]){x, v, i, a}, 4);
}

Test(reduce, all_finite_finds_inf_and_nan_in_any_float_view) {
    for (int dt = 0; dt < 2; dt++) {
        mf_tensor *x = t_uniform(3, 2, (int64_t[]){5, 7}, dt ? MF_F64 : MF_F32, -1e30, 1e30), *col;
        bool ok;
        MF_OK_OR_FAIL(mf_all_finite(x, &ok));
        cr_assert(ok, "huge but finite values are finite");
        mf_tensor_set_flat(x, 13, INFINITY);
        MF_OK_OR_FAIL(mf_all_finite(x, &ok));
        cr_assert(!ok, "inf");
        mf_tensor_set_flat(x, 13, NAN);
        MF_OK_OR_FAIL(mf_all_finite(x, &ok));
        cr_assert(!ok, "nan");
        /* a strided column that misses element 13 (row 1, col 6) is finite */
        MF_OK_OR_FAIL(mf_slice(x, 1, 2, 3, 1, &col));
        MF_OK_OR_FAIL(mf_all_finite(col, &ok));
        cr_assert(ok);
        mf_tensor_release(col);
        mf_tensor_release(x);
    }
    mf_tensor *i = t_uniform(1, 1, (int64_t[]){4}, MF_I64, 0, 9);
    bool ok = false;
    MF_OK_OR_FAIL(mf_all_finite(i, &ok));
    cr_assert(ok, "integers are always finite");
    mf_tensor_release(i);
}
