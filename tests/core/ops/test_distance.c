/* Distance ops: l2_normalize, cosine_similarity and pairwise_distance
 * against torch float64 references, finite-difference gradients, and the
 * zero-distance and zero-norm cases where a naive sqrt would give NaN. */
#include <math.h>
#include <string.h>

#include "core/ops/distance_internal.h"
#include "tests/support/fixture.h"
#include "tests/support/testing.h"

#define FIX "index.safetensors"

Test(distance, l2_normalize_matches_torch) {
    mf_tensor *x = t_fixture(FIX, "x"), *want = t_fixture(FIX, "l2n_x"), *y;
    MF_OK_OR_FAIL(mf_l2_normalize(x, 1, 1e-12, &y));
    t_assert_close(y, want, 1e-15, 1e-13, "l2_normalize");
    mf_tensor_release(x);
    mf_tensor_release(want);
    mf_tensor_release(y);
}

Test(distance, l2_normalize_of_a_zero_row_is_zero_with_zero_grad) {
    mf_tensor *x = t_param(t_from(2, (int64_t[]){2, 2}, MF_F64, (double[]){0, 0, 3, 4}));
    mf_tensor *y, *s;
    MF_OK_OR_FAIL(mf_l2_normalize(x, 1, 1e-12, &y));
    cr_assert_eq(mf_tensor_get_flat(y, 0), 0.0);
    cr_assert_float_eq(mf_tensor_get_flat(y, 3), 0.8, 1e-15);
    MF_OK_OR_FAIL(mf_sum(y, 0, NULL, false, &s));
    MF_OK_OR_FAIL(mf_backward(s, NULL, false));
    for (int k = 0; k < 4; k++)
        cr_assert(isfinite(mf_tensor_get_flat(x->grad, k)), "grad %d is %g", k, mf_tensor_get_flat(x->grad, k));
    mf_tensor_release(x);
    mf_tensor_release(y);
    mf_tensor_release(s);
}

Test(distance, cosine_similarity_broadcasts_like_torch) {
    mf_tensor *a = t_fixture(FIX, "cos_a"), *b = t_fixture(FIX, "cos_b"), *want = t_fixture(FIX, "cos_ab"), *y;
    MF_OK_OR_FAIL(mf_cosine_similarity(a, b, -1, 1e-8, &y));
    t_assert_close(y, want, 1e-15, 1e-13, "cosine_similarity");
    mf_tensor_release(a);
    mf_tensor_release(b);
    mf_tensor_release(want);
    mf_tensor_release(y);
}

Test(distance, cosine_similarity_clamps_each_norm_by_eps) {
    /* torch >= 1.12: tiny vectors are divided by eps, not by their norm:
     * [1e-9, 2e-9] . [1e-9, 1e-9] / (1e-8 * 1e-8) = 0.03 */
    mf_tensor *a = t_from(1, (int64_t[]){2}, MF_F64, (double[]){1e-9, 2e-9});
    mf_tensor *b = t_from(1, (int64_t[]){2}, MF_F64, (double[]){1e-9, 1e-9});
    mf_tensor *y;
    MF_OK_OR_FAIL(mf_cosine_similarity(a, b, 0, 1e-8, &y));
    cr_assert_float_eq(mf_tensor_get_flat(y, 0), 0.03, 1e-15);
    mf_tensor_release(a);
    mf_tensor_release(b);
    mf_tensor_release(y);
}

static mf_status call_l2n(void *ctx, mf_tensor *const *in, mf_tensor **out) {
    return mf_l2_normalize(in[0], -1, 1e-12, out);
}
static mf_status call_cos(void *ctx, mf_tensor *const *in, mf_tensor **out) {
    return mf_cosine_similarity(in[0], in[1], 1, 1e-8, out);
}

Test(distance, l2_normalize_and_cosine_grads_match_finite_difference) {
    mf_tensor *x = t_param(t_uniform(1, 2, (int64_t[]){3, 4}, MF_F64, -1, 1));
    t_gradcheck("l2_normalize", call_l2n, NULL, 1, &x, 1e-6, 1e-8, 1e-6);
    mf_tensor *a = t_param(t_uniform(2, 3, (int64_t[]){2, 5, 3}, MF_F64, -1, 1));
    mf_tensor *b = t_param(t_uniform(3, 2, (int64_t[]){5, 1}, MF_F64, 0.2, 1));
    mf_tensor *in[2] = {a, b};
    t_gradcheck("cosine_similarity", call_cos, NULL, 2, in, 1e-6, 1e-8, 1e-6);
    mf_tensor_release(x);
    mf_tensor_release(a);
    mf_tensor_release(b);
}

Test(distance, pairwise_distance_matches_torch_cdist_for_p1_and_p2) {
    mf_tensor *a = t_fixture(FIX, "cd_a"), *b = t_fixture(FIX, "cd_b");
    const char *names[2] = {"cdist_p1", "cdist_p2"};
    for (int p = 1; p <= 2; p++) {
        mf_tensor *want = t_fixture(FIX, names[p - 1]), *y;
        MF_OK_OR_FAIL(mf_pairwise_distance(a, b, p, &y));
        t_assert_close(y, want, 1e-15, 1e-13, names[p - 1]);
        mf_tensor_release(want);
        mf_tensor_release(y);
    }
    mf_tensor_release(a);
    mf_tensor_release(b);
}

Test(distance, pairwise_distance_broadcasts_batch_dims) {
    mf_tensor *a = t_uniform(1, 3, (int64_t[]){2, 4, 3}, MF_F32, -1, 1);
    mf_tensor *b = t_uniform(2, 2, (int64_t[]){5, 3}, MF_F32, -1, 1);
    mf_tensor *y;
    MF_OK_OR_FAIL(mf_pairwise_distance(a, b, 2, &y));
    cr_assert_eq(y->ndim, 3);
    cr_assert(y->shape[0] == 2 && y->shape[1] == 4 && y->shape[2] == 5, "%s", MF_SHAPE(y));
    /* one element by hand */
    double s = 0;
    for (int k = 0; k < 3; k++) {
        double d = mf_tensor_get_flat(a, 1 * 12 + 2 * 3 + k) - mf_tensor_get_flat(b, 3 * 3 + k);
        s += d * d;
    }
    cr_assert_float_eq(mf_tensor_get_flat(y, 1 * 20 + 2 * 5 + 3), sqrt(s), 1e-6);
    mf_tensor_release(a);
    mf_tensor_release(b);
    mf_tensor_release(y);
}

Test(distance, self_distance_grad_is_finite_and_matches_torch) {
    mf_tensor *a0 = t_fixture(FIX, "cd_a"), *w = t_fixture(FIX, "cdist_self_w"), *want = t_fixture(FIX, "cdist_self_grad");
    mf_tensor *a, *d, *dw, *s;
    MF_OK_OR_FAIL(mf_slice(a0, 0, 0, 1, 1, &a));
    MF_OK_OR_FAIL(mf_squeeze(a, 0, &d));
    mf_tensor_release(a);
    MF_OK_OR_FAIL(mf_clone(d, &a));
    mf_tensor_release(d);
    t_param(a);
    MF_OK_OR_FAIL(mf_pairwise_distance(a, a, 2, &d));
    cr_assert_eq(mf_tensor_get_flat(d, 0), 0.0);
    MF_OK_OR_FAIL(mf_mul(d, w, &dw));
    MF_OK_OR_FAIL(mf_sum(dw, 0, NULL, false, &s));
    MF_OK_OR_FAIL(mf_backward(s, NULL, false));
    t_assert_close(a->grad, want, 1e-14, 1e-12, "grad of weighted self cdist");
    mf_tensor_release(a0);
    mf_tensor_release(w);
    mf_tensor_release(want);
    mf_tensor_release(a);
    mf_tensor_release(d);
    mf_tensor_release(dw);
    mf_tensor_release(s);
}

static mf_status call_cdist(void *ctx, mf_tensor *const *in, mf_tensor **out) {
    return mf_pairwise_distance(in[0], in[1], *(double *)ctx, out);
}

Test(distance, pairwise_distance_grads_match_finite_difference) {
    for (int p = 1; p <= 2; p++) {
        double pd = p;
        mf_tensor *a = t_param(t_uniform(4 + p, 3, (int64_t[]){2, 3, 4}, MF_F64, -1, 1));
        mf_tensor *b = t_param(t_uniform(6 + p, 3, (int64_t[]){1, 5, 4}, MF_F64, -1, 1));
        mf_tensor *in[2] = {a, b};
        t_gradcheck(p == 1 ? "cdist p=1" : "cdist p=2", call_cdist, &pd, 2, in, 1e-6, 1e-8, 1e-6);
        mf_tensor_release(a);
        mf_tensor_release(b);
    }
}

/* value and gradients of sum(w * cdist(a, b)) from the kernel and the reference */
static void compare_with_reference(mf_dtype dt, double p, int na, const int64_t *sa, int nb, const int64_t *sb,
                                   bool coincide, double tol) {
    mf_tensor *a = t_param(t_uniform(21, na, sa, dt, -1, 1));
    mf_tensor *b = t_param(t_uniform(22, nb, sb, dt, -1, 1));
    if (coincide) { /* row 0 of b equals row 1 of a's first batch: zero distances */
        int64_t D = sa[na - 1], M = sb[nb - 2], nbatch = mf_tensor_numel(b) / (M * D);
        for (int64_t bi = 0; bi < nbatch; bi++)
            for (int64_t k = 0; k < D; k++)
                mf_tensor_set_flat(b, bi * M * D + k, mf_tensor_get_flat(a, D + k));
    }
    mf_tensor *y[2], *ga[2], *gb[2];
    for (int r = 0; r < 2; r++) {
        mf_tensor *w, *yw, *s;
        MF_OK_OR_FAIL(r ? mf__pairwise_distance_ref(a, b, p, &y[r]) : mf_pairwise_distance(a, b, p, &y[r]));
        w = t_uniform(23, y[r]->ndim, y[r]->shape, dt, -1, 1);
        MF_OK_OR_FAIL(mf_mul(y[r], w, &yw));
        MF_OK_OR_FAIL(mf_sum(yw, 0, NULL, false, &s));
        MF_OK_OR_FAIL(mf_backward(s, NULL, false));
        ga[r] = mf_tensor_retain(a->grad);
        gb[r] = mf_tensor_retain(b->grad);
        mf_tensor_zero_grad(a);
        mf_tensor_zero_grad(b);
        mf_tensor_release(w);
        mf_tensor_release(yw);
        mf_tensor_release(s);
    }
    t_assert_close(y[0], y[1], tol, tol, "cdist kernel vs reference");
    t_assert_close(ga[0], ga[1], tol, tol, "cdist grad a kernel vs reference");
    t_assert_close(gb[0], gb[1], tol, tol, "cdist grad b kernel vs reference");
    for (int r = 0; r < 2; r++) {
        mf_tensor_release(y[r]);
        mf_tensor_release(ga[r]);
        mf_tensor_release(gb[r]);
    }
    mf_tensor_release(a);
    mf_tensor_release(b);
}

Test(distance, cdist_kernel_matches_the_composed_reference) {
    for (int p = 1; p <= 2; p++) {
        compare_with_reference(MF_F64, p, 4, (int64_t[]){2, 1, 7, 300}, 3, (int64_t[]){3, 5, 300}, true, 1e-12);
        compare_with_reference(MF_F32, p, 2, (int64_t[]){9, 33}, 3, (int64_t[]){2, 4, 33}, true, 1e-5);
    }
}

Test(distance, bad_inputs_are_rejected_naming_the_op) {
    mf_tensor *a = t_uniform(1, 2, (int64_t[]){3, 4}, MF_F32, -1, 1);
    mf_tensor *b = t_uniform(2, 2, (int64_t[]){3, 5}, MF_F32, -1, 1);
    mf_tensor *c = t_uniform(3, 1, (int64_t[]){4}, MF_F32, -1, 1);
    mf_tensor *y = NULL;
    cr_assert_eq(mf_pairwise_distance(a, b, 2, &y), MF_ERR_SHAPE);
    cr_assert(strstr(mf_last_error(), "pairwise_distance") && strstr(mf_last_error(), "[3, 5]"), "%s",
              mf_last_error());
    cr_assert_eq(mf_pairwise_distance(a, c, 2, &y), MF_ERR_SHAPE);
    mf_tensor *a3 = t_uniform(4, 3, (int64_t[]){2, 3, 4}, MF_F32, -1, 1);
    mf_tensor *b3 = t_uniform(5, 3, (int64_t[]){3, 3, 4}, MF_F32, -1, 1);
    cr_assert_eq(mf_pairwise_distance(a3, b3, 2, &y), MF_ERR_SHAPE);
    cr_assert(strstr(mf_last_error(), "batch dims") && strstr(mf_last_error(), "[2, 3, 4]"), "%s", mf_last_error());
    mf_tensor_release(a3);
    mf_tensor_release(b3);
    cr_assert_eq(mf_pairwise_distance(a, a, 3, &y), MF_ERR_INVALID);
    cr_assert(strstr(mf_last_error(), "p must be 1 or 2"), "%s", mf_last_error());
    cr_assert_eq(mf_cosine_similarity(a, b, 1, 1e-8, &y), MF_ERR_SHAPE);
    cr_assert(strstr(mf_last_error(), "cosine_similarity"), "%s", mf_last_error());
    cr_assert_eq(mf_l2_normalize(a, 2, 1e-12, &y), MF_ERR_SHAPE);
    cr_assert(strstr(mf_last_error(), "l2_normalize"), "%s", mf_last_error());
    mf_tensor *i = t_from(1, (int64_t[]){2}, MF_I64, (double[]){1, 2});
    cr_assert_eq(mf_l2_normalize(i, 0, 1e-12, &y), MF_ERR_DTYPE);
    cr_assert_null(y);
    mf_tensor_release(a);
    mf_tensor_release(b);
    mf_tensor_release(c);
    mf_tensor_release(i);
}
