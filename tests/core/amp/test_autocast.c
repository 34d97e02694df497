/* The autocast scope and its per-op policies: which ops compute in the low
 * dtype, which in f32, how mixed operands promote, and that nothing changes
 * outside a scope. */
#include <string.h>

#include "tests/support/testing.h"

static mf_tensor *u(uint64_t seed, int ndim, const int64_t *shape) {
    return t_uniform(seed, ndim, shape, MF_F32, -1, 1);
}

static mf_tensor *as(const mf_tensor *x, mf_dtype dt) {
    mf_tensor *y;
    MF_OK_OR_FAIL(mf_to_dtype(x, dt, &y));
    return y;
}

/* A uniform tensor in the low dtype dt. */
static mf_tensor *u_as(uint64_t seed, int ndim, const int64_t *shape, mf_dtype dt) {
    mf_tensor *x = u(seed, ndim, shape), *y = as(x, dt);
    mf_tensor_release(x);
    return y;
}

Test(autocast, is_off_by_default_and_reports_f32) {
    cr_expect(!mf_autocast_active());
    cr_expect_eq(mf_autocast_dtype(), MF_F32);
}

Test(autocast, nests_like_a_stack_and_exit_restores_the_outer_dtype) {
    MF_OK_OR_FAIL(mf_autocast_enter(MF_BF16));
    MF_OK_OR_FAIL(mf_autocast_enter(MF_F16));
    cr_expect_eq(mf_autocast_dtype(), MF_F16);
    MF_OK_OR_FAIL(mf_autocast_exit());
    cr_expect_eq(mf_autocast_dtype(), MF_BF16);
    MF_OK_OR_FAIL(mf_autocast_exit());
    cr_expect(!mf_autocast_active());
    cr_expect_eq(mf_autocast_dtype(), MF_F32);
}

Test(autocast, rejects_a_dtype_that_is_not_bf16_or_f16) {
    cr_expect_eq(mf_autocast_enter(MF_F32), MF_ERR_DTYPE);
    cr_expect(strstr(mf_last_error(), "bf16 or f16"), "%s", mf_last_error());
    cr_expect_eq(mf_autocast_enter(MF_I32), MF_ERR_DTYPE);
    cr_expect(!mf_autocast_active());
}

Test(autocast, exit_without_enter_is_a_state_error) { cr_expect_eq(mf_autocast_exit(), MF_ERR_STATE); }

Test(autocast, linear_matmul_bmm_and_conv_outputs_are_bf16) {
    mf_tensor *x = u(1, 2, (int64_t[]){4, 3}), *w = u(2, 2, (int64_t[]){5, 3}), *b = u(3, 1, (int64_t[]){5});
    mf_tensor *a3 = u(4, 3, (int64_t[]){2, 3, 4}), *b3 = u(5, 3, (int64_t[]){2, 4, 2});
    mf_tensor *img = u(6, 4, (int64_t[]){1, 2, 5, 5}), *k = u(7, 4, (int64_t[]){3, 2, 3, 3});
    mf_tensor *y1, *y2, *y3, *y4, *y5;
    mf_conv_params p = mf_conv_params_default();
    MF_OK_OR_FAIL(mf_autocast_enter(MF_BF16));
    MF_OK_OR_FAIL(mf_linear(x, w, b, &y1));
    MF_OK_OR_FAIL(mf_matmul(a3, b3, &y2));
    MF_OK_OR_FAIL(mf_bmm(a3, b3, false, false, &y3));
    MF_OK_OR_FAIL(mf_conv(img, k, NULL, &p, &y4));
    MF_OK_OR_FAIL(mf_conv_transpose(y4, k, NULL, &p, &y5));
    MF_OK_OR_FAIL(mf_autocast_exit());
    mf_tensor *ys[] = {y1, y2, y3, y4, y5};
    for (int i = 0; i < 5; i++) {
        cr_expect_eq(ys[i]->dtype, MF_BF16, "output %d is %s", i, mf_dtype_name(ys[i]->dtype));
        mf_tensor_release(ys[i]);
    }
    mf_tensor *ts[] = {x, w, b, a3, b3, img, k};
    for (int i = 0; i < 7; i++)
        mf_tensor_release(ts[i]);
}

Test(autocast, attention_output_is_f16_under_an_f16_scope) {
    int64_t s[4] = {1, 2, 3, 4};
    mf_tensor *q = u(1, 4, s), *k = u(2, 4, s), *v = u(3, 4, s), *y;
    MF_OK_OR_FAIL(mf_autocast_enter(MF_F16));
    MF_OK_OR_FAIL(mf_attention(q, k, v, NULL, 0, &y));
    MF_OK_OR_FAIL(mf_autocast_exit());
    cr_expect_eq(y->dtype, MF_F16);
    mf_tensor *ref;
    MF_OK_OR_FAIL(mf_attention(q, k, v, NULL, 0, &ref));
    mf_tensor *y32 = as(y, MF_F32);
    t_assert_close(y32, ref, 1e-2, 1e-2, "f16 attention vs f32");
    mf_tensor *ts[] = {q, k, v, y, ref, y32};
    for (int i = 0; i < 6; i++)
        mf_tensor_release(ts[i]);
}

Test(autocast, softmax_cross_entropy_layer_and_group_norms_and_sums_run_in_f32) {
    mf_tensor *x = u(1, 2, (int64_t[]){4, 6}), *xb = as(x, MF_BF16);
    mf_tensor *img = u_as(2, 4, (int64_t[]){2, 4, 3, 3}, MF_BF16);
    mf_tensor *tgt;
    MF_OK_OR_FAIL(mf_tensor_from_data(1, (int64_t[]){4}, MF_I64, (int64_t[]){0, 5, 2, 3}, &tgt));
    mf_tensor *ys[8] = {0};
    MF_OK_OR_FAIL(mf_autocast_enter(MF_BF16));
    MF_OK_OR_FAIL(mf_softmax(xb, -1, &ys[0]));
    MF_OK_OR_FAIL(mf_log_softmax(xb, -1, &ys[1]));
    MF_OK_OR_FAIL(mf_cross_entropy(xb, tgt, NULL, &ys[2]));
    MF_OK_OR_FAIL(mf_layer_norm(xb, 1, NULL, NULL, 1e-5, &ys[3]));
    MF_OK_OR_FAIL(mf_group_norm(img, 2, NULL, NULL, 1e-5, &ys[4]));
    MF_OK_OR_FAIL(mf_batch_norm(img, NULL, NULL, NULL, NULL, true, 0.1, 1e-5, &ys[5]));
    MF_OK_OR_FAIL(mf_sum(xb, 0, NULL, false, &ys[6]));
    MF_OK_OR_FAIL(mf_exp(xb, &ys[7]));
    MF_OK_OR_FAIL(mf_autocast_exit());
    for (int i = 0; i < 8; i++) {
        /* batch norm keeps a low-precision input's dtype (its statistics are f32), as cuDNN's does */
        mf_dtype want = i == 5 ? MF_BF16 : MF_F32;
        cr_expect_eq(ys[i]->dtype, want, "output %d is %s", i, mf_dtype_name(ys[i]->dtype));
        mf_tensor_release(ys[i]);
    }
    mf_tensor_release(x);
    mf_tensor_release(xb);
    mf_tensor_release(img);
    mf_tensor_release(tgt);
}

Test(autocast, mixed_dtype_add_promotes_to_the_widest_float) {
    mf_tensor *a = u_as(1, 2, (int64_t[]){3, 4}, MF_BF16), *b = u(2, 1, (int64_t[]){4});
    mf_tensor *h = as(b, MF_F16), *y, *z, *m;
    MF_OK_OR_FAIL(mf_autocast_enter(MF_BF16));
    MF_OK_OR_FAIL(mf_add(a, b, &y));
    MF_OK_OR_FAIL(mf_mul(b, a, &z));
    MF_OK_OR_FAIL(mf_sub(a, h, &m));
    MF_OK_OR_FAIL(mf_autocast_exit());
    cr_expect_eq(y->dtype, MF_F32);
    cr_expect_eq(z->dtype, MF_F32);
    cr_expect_eq(m->dtype, MF_F32, "bf16 with f16 meets in f32");
    /* the value is the f32 sum of the bf16 operand and the f32 one */
    mf_tensor *a32 = as(a, MF_F32), *ref;
    MF_OK_OR_FAIL(mf_add(a32, b, &ref));
    t_assert_close(y, ref, 0, 0, "promoted add");
    mf_tensor *ts[] = {a, b, h, y, z, m, a32, ref};
    for (int i = 0; i < 8; i++)
        mf_tensor_release(ts[i]);
}

Test(autocast, mixed_dtype_concat_promotes_under_autocast_only) {
    mf_tensor *a = u_as(1, 2, (int64_t[]){1, 4}, MF_BF16), *b = u(2, 2, (int64_t[]){2, 4}), *y;
    mf_tensor *xs[2] = {b, a};
    cr_expect_eq(mf_concat(2, xs, 0, &y), MF_ERR_DTYPE);
    MF_OK_OR_FAIL(mf_autocast_enter(MF_BF16));
    MF_OK_OR_FAIL(mf_concat(2, xs, 0, &y));
    MF_OK_OR_FAIL(mf_autocast_exit());
    cr_expect_eq(y->dtype, MF_F32);
    cr_expect_eq(y->shape[0], 3);
    mf_tensor_release(y);
    mf_tensor_release(a);
    mf_tensor_release(b);
}

Test(autocast, outside_a_scope_mixed_dtypes_stay_an_error_and_f32_stays_f32) {
    mf_tensor *a = u_as(1, 2, (int64_t[]){3, 4}, MF_BF16), *b = u(2, 2, (int64_t[]){3, 4});
    mf_tensor *w = u(3, 2, (int64_t[]){2, 4}), *y;
    cr_expect_eq(mf_add(a, b, &y), MF_ERR_DTYPE);
    cr_expect(strstr(mf_last_error(), "different dtypes"), "%s", mf_last_error());
    MF_OK_OR_FAIL(mf_linear(b, w, NULL, &y));
    cr_expect_eq(y->dtype, MF_F32);
    mf_tensor_release(y);
    MF_OK_OR_FAIL(mf_autocast_enter(MF_BF16));
    MF_OK_OR_FAIL(mf_autocast_exit());
    cr_expect_eq(mf_add(a, b, &y), MF_ERR_DTYPE, "a closed scope leaves no promotion behind");
    mf_tensor_release(a);
    mf_tensor_release(b);
    mf_tensor_release(w);
}

Test(autocast, f64_inputs_are_left_alone) {
    mf_tensor *x = t_uniform(1, 2, (int64_t[]){2, 3}, MF_F64, -1, 1), *w = t_uniform(2, 2, (int64_t[]){4, 3}, MF_F64, -1, 1);
    mf_tensor *y;
    MF_OK_OR_FAIL(mf_autocast_enter(MF_BF16));
    MF_OK_OR_FAIL(mf_linear(x, w, NULL, &y));
    MF_OK_OR_FAIL(mf_autocast_exit());
    cr_expect_eq(y->dtype, MF_F64);
    mf_tensor_release(x);
    mf_tensor_release(w);
    mf_tensor_release(y);
}

Test(autocast, gradients_reach_f32_leaves_as_f32_through_the_casts) {
    mf_tensor *x = t_param(u(1, 2, (int64_t[]){4, 3})), *w = t_param(u(2, 2, (int64_t[]){5, 3}));
    mf_tensor *b = t_param(u(3, 1, (int64_t[]){5})), *y, *l;
    MF_OK_OR_FAIL(mf_autocast_enter(MF_BF16));
    MF_OK_OR_FAIL(mf_linear(x, w, b, &y));
    MF_OK_OR_FAIL(mf_sum(y, 0, NULL, false, &l));
    MF_OK_OR_FAIL(mf_autocast_exit());
    cr_expect_eq(y->dtype, MF_BF16);
    MF_OK_OR_FAIL(mf_backward(l, NULL, false));
    cr_assert(x->grad && w->grad && b->grad);
    cr_expect_eq(x->grad->dtype, MF_F32);
    cr_expect_eq(w->grad->dtype, MF_F32);
    cr_expect_eq(b->grad->dtype, MF_F32);
    /* d sum / d b = number of rows, exact in bf16 */
    for (int i = 0; i < 5; i++)
        cr_expect_eq(mf_tensor_get_flat(b->grad, i), 4.0);
    mf_tensor *ts[] = {x, w, b, y, l};
    for (int i = 0; i < 5; i++)
        mf_tensor_release(ts[i]);
}
