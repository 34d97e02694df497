/* Distance ops: l2_normalize, cosine_similarity and pairwise_distance
 * against torch float64 references, finite-difference gradients, and the
 * zero-distance and zero-norm cases where a naive sqrt would give NaN. */
#include <math.h>
#include <string.h>

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

Test(distance, bad_inputs_are_rejected_naming_the_op) {
    mf_tensor *a = t_uniform(1, 2, (int64_t[]){3, 4}, MF_F32, -1, 1);
    mf_tensor *b = t_uniform(2, 2, (int64_t[]){3, 5}, MF_F32, -1, 1);
    mf_tensor *c = t_uniform(3, 1, (int64_t[]){4}, MF_F32, -1, 1);
    mf_tensor *y = NULL;
    cr_assert_eq(mf_pairwise_distance(a, b, 2, &y), MF_ERR_SHAPE);
    cr_assert(strstr(mf_last_error(), "pairwise_distance") && strstr(mf_last_error(), "[3, 5]"), "%s",
              mf_last_error());
    cr_assert_eq(mf_pairwise_distance(a, c, 2, &y), MF_ERR_SHAPE);
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
